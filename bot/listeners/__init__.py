"""The bot's Slack surfaces, one module each: the command, the modal's submission, the buttons, long option lists.

Each asks :class:`bot.access.Access` first, hands the request to the core (:mod:`bot.runs.core`), and
turns what comes back into Slack's answer (:mod:`bot.listeners.outcome`), recording it in the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.home.service import Home
from bot.ledger import Ledger, Record
from bot.listeners import approvals, buttons, grants, options, slash_command, submission
from bot.listeners.parts import Parts
from bot.metrics import Metrics
from bot.models import ModalContext
from bot.runs.core import Runs
from bot.slack import approval_messages, grant_messages, messages, modal
from bot.slack.errors import slack_error

log = logging.getLogger("bot.listeners")

if TYPE_CHECKING:  # the steps build on the listeners' parts: registered by the wiring (bot.app)
    from bot.workflow.entry import WorkflowSteps


class Listeners:
    """The handlers of every command; each Slack event is handed to the parts of the command it belongs to."""

    def __init__(self, commands: Sequence[Parts], home: Home | None = None):
        """``home``: each person's App Home (None: the app has none)."""
        if not commands:
            raise ValueError("no command to listen for")
        self.commands: dict[str, Parts] = {parts.slash: parts for parts in commands}
        self.main = commands[0]
        """The first command: a form opened before the bot knew several (its metadata names none) is its."""
        self.runs: Runs = self.main.runs
        self.ledger: Ledger = self.main.ledger
        self.metrics: Metrics = self.main.metrics
        self.home = home
        self.steps: WorkflowSteps | None = None
        """The Workflow Builder steps (None: the app offers none)."""

    def for_job(self, job_name: str) -> Parts | None:
        """The command that runs ``job_name`` (each Job is bound to one command at most)."""
        return next((parts for parts in self.commands.values() if parts.binding.job == job_name), None)

    def for_view(self, view: dict[str, Any]) -> Parts | None:
        """The command a modal belongs to, by what its metadata names; None for one no longer offered."""
        try:
            named = ModalContext.from_metadata(view.get("private_metadata", "")).command
        except ValueError:
            return None
        return self.commands.get(named) if named else self.main

    async def slash_command(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        parts = self.commands.get(str(body.get("command") or self.main.slash))
        if parts is None:  # only registered commands arrive; one the bot does not know is refused
            await ack(text="The bot does not offer this command. Nothing was run.")
            return
        try:
            await slash_command.typed(parts, ack, body, client)
        except SlackApiError as exc:  # Slack did not open the form (a 5xx, the trigger expired): nothing was asked
            error = slack_error(exc)
            log.warning("the form of %s was not opened for user=%s: %s", parts.slash, body.get("user_id"), error)
            told = messages.error_message(
                f"Slack could not open the form of {parts.slash} ({error}).", "Nothing ran.", "Type the command again."
            )
            await parts.tell(str(body.get("channel_id") or ""), str(body.get("user_id") or ""), told)

    async def submission(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, view: dict[str, Any]
    ) -> None:
        parts = self.for_view(view)
        if parts is None:
            await ack(response_action="update", view=NOT_OFFERED)
            return
        await submission.submission(parts, ack, body, client, view)

    async def options(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        parts = self.for_view(body.get("view") or {})
        if parts is None:
            await ack(options=[])
            return
        await options.options(parts, ack, body)

    async def retry(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await buttons.retry(self._for_request, ack, body, client)

    async def cancel(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await buttons.cancel(self._for_request, ack, body, client)

    async def for_real(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await buttons.for_real(self._for_request, ack, body, client)

    async def approve(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await approvals.approve(self._for_request, ack, body)

    async def deny(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await approvals.deny(self._for_request, ack, body, client)

    async def deny_reason(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await approvals.deny_reason(self._for_request, ack, body, view)

    async def withdraw(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await approvals.withdraw(self._for_request, ack, body)

    async def home_opened(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        """A person opened the app's Home tab: it is drawn for them from the ledger, whichever replica they reach."""
        if self.home is not None and event.get("tab") == "home":
            self.home.opened(str(event.get("user") or ""), str(body.get("team_id") or ""))

    async def revoke_now(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await grants.revoke_now(self._for_grant, ack, body)

    async def extend(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await grants.extend(self._for_grant, ack, body, client)

    async def _for_grant(self, scheduled_job_id: str) -> tuple[Parts, str | None]:
        """A grant's parts are those of the request that made it (the main command's when it is unknown)."""
        found = await self.ledger.get_grant(scheduled_job_id)
        if found is None:
            return self.main, None
        parts, _ = await self._for_request(found[0].request_id)
        return parts, found[0].request_id

    async def _for_request(self, request_id: str) -> tuple[Parts, Record | None]:
        """The request a button is about, and the parts of the command that runs its Job (the main one's when
        none does any more: its checks then refuse, as the Job's form is not the command's)."""
        record = await self.ledger.get(request_id)
        parts = self.for_job(record.job_name) if record is not None else None
        return parts or self.main, record


NOT_OFFERED = modal.unavailable_modal(
    "This form belongs to a command the bot no longer offers. Nothing was run.",
    "Close it and type the command again; the bot's administrator knows which commands it offers.",
    title="Not run",
)


def register(app: AsyncApp, listeners: Listeners) -> None:
    for slash in listeners.commands:
        app.command(slash)(listeners.slash_command)
    app.view(modal.CALLBACK_ID)(listeners.submission)
    app.options(modal.ACTION_ID)(listeners.options)
    app.action(modal.RETRY_ACTION_ID)(listeners.retry)
    app.action(messages.CANCEL_ACTION_ID)(listeners.cancel)
    app.action(messages.FOR_REAL_ACTION_ID)(listeners.for_real)
    app.action(approval_messages.APPROVE_ACTION_ID)(listeners.approve)
    app.action(approval_messages.DENY_ACTION_ID)(listeners.deny)
    app.view(approval_messages.DENY_CALLBACK_ID)(listeners.deny_reason)
    app.action(approval_messages.WITHDRAW_ACTION_ID)(listeners.withdraw)
    app.action(grant_messages.REVOKE_NOW_ACTION_ID)(listeners.revoke_now)
    app.action(grant_messages.EXTEND_ACTION_ID)(listeners.extend)
    app.event("app_home_opened")(listeners.home_opened)
