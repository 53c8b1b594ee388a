"""Workflow Builder custom steps: add, find and remove as steps anyone can drop into a workflow.

``manifest.yml`` declares them (:mod:`bot.workflow.specs` is the bot's side of it); a workflow reaching one sends
``function_executed`` (:mod:`bot.workflow.entry`), the person it names confirms it
(:mod:`bot.workflow.confirmation`), its request runs through the core like a command's, and the
step completes once, when the request ends (:mod:`bot.workflow.completion`). The core tells the steps of the
changes it makes through the same watcher as the App Home (:class:`Told`).
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_bolt.async_app import AsyncApp

from bot.home.changes import HomeChanges
from bot.home.service import Watched
from bot.ledger.grant import Grant
from bot.models import RunRequest
from bot.workflow import confirmation
from bot.workflow.completion import StepCompletions
from bot.workflow.entry import WorkflowSteps
from bot.workflow.specs import STEPS


class Told(HomeChanges):
    """Every watcher of the core's changes told of each one (the App Home and the steps)."""

    def __init__(self, watchers: Sequence[HomeChanges]) -> None:
        self.watchers = tuple(watchers)

    def watch(self, *parts: Watched) -> None:
        """Be told by each of ``parts`` (the core, its follower, approvals and grants) of the changes it makes."""
        for part in parts:
            part.home = self

    def changed(self, *about: RunRequest | Grant | None) -> None:
        for watcher in self.watchers:
            watcher.changed(*about)


def register(app: AsyncApp, steps: WorkflowSteps) -> None:
    """Each step's listener. Bolt acknowledges ``function_executed`` itself, before the listener runs."""
    for callback_id in STEPS:
        app.function(callback_id)(steps.executed)
    # The requester's answer to a step's confirmation (a message the step posted: Slack adds the step's data).
    app.action(confirmation.CONFIRM_ACTION_ID)(steps.confirmed)
    app.action(confirmation.DECLINE_ACTION_ID)(steps.declined)


__all__ = ["STEPS", "StepCompletions", "Told", "WorkflowSteps", "register"]
