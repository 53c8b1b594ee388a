"""The one place a :class:`~bot.runs.outcome.SubmitOutcome` becomes what the person sees and an audit entry.

Every entry point hands the core an :class:`Answer` of its own: the modal answers through its ``ack`` or
``views.update`` (:class:`ModalAnswer`), a command's text and a button by a message only the person sees
(:class:`PrivateAnswer`). The audit entry is written the same way for all of them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Actor, Decision
from bot.ledger import AuditAction, LedgerError
from bot.listeners.parts import RETRY_LATER, Parts, form_view, not_run_view, unrecorded_view
from bot.models import JobForm, ModalContext
from bot.nautobot import JobFieldErrors, NautobotError, Submission
from bot.runs.outcome import AUDITED, NoApprovers, Sent, SubmitOutcome
from bot.slack import messages, modal
from bot.slack.errors import slack_error
from bot.slack.modal.cached import ViewPayload
from bot.slack.text import channel_link, truncate

log = logging.getLogger("bot.listeners")

ERROR_MAX = 2000
ALREADY_SENT = modal.message_modal(
    "Already sent",
    "✅ This form was already sent (a second click, or Slack delivered it twice); it runs once. "
    "Its progress appears in the channel where you typed the command.",
)
SUBMITTING = modal.message_modal("Submitting", "⏳ Sending the request to Nautobot…")


@dataclass
class Asked:
    """Who asked, with which form and decision: what the outcome is told and audited with."""

    form: JobForm | None
    """None when Nautobot could not give the Job's form, so nothing was sent."""
    context: ModalContext
    actor: Actor
    decision: Decision
    action: AuditAction = AuditAction.SUBMIT
    note: str = ""
    """What leads the audit entry's reason (e.g. which dry run this runs for real)."""


class Audited:
    """The audit entry of an outcome, the same for every entry point."""

    def __init__(self, parts: Parts, asked: Asked) -> None:
        self.parts = parts
        self.asked = asked

    async def record(self, outcome: SubmitOutcome) -> None:
        audited = AUDITED.get(outcome.sent)
        if audited is None or outcome.request is None:  # a duplicate: the delivery that sends it records it
            return
        request, asked = outcome.request, self.asked
        reason = described(outcome)
        await self.parts.record(
            asked.action,
            audited,
            asked.actor,
            decision=asked.decision,
            reason=f"{asked.note}: {reason}" if asked.note else reason,
            request_id=request.request_id,
            inputs=dict(request.inputs),
            job_name=request.job_name,
        )


@dataclass
class Reply:
    """How the modal is answered: through the submission's ``ack`` while Slack waits for it, else ``views.update``.

    The outcome and "Submitting…" (once Slack's wait runs out) may race for the ``ack``: the first one takes it.
    """

    client: AsyncWebClient
    view_id: str
    ack: AsyncAck | None = None
    given: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the outcome was answered."""
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def hold(self) -> None:
        """No outcome in time: acknowledge with "Submitting…", which the outcome replaces later."""
        async with self._turn:
            if self.ack is not None and not self.given.is_set():
                await self.ack(response_action="update", view=SUBMITTING)
                self.ack = None

    async def close(self, late: View | None = None) -> None:
        """Nothing more to show: an ack closes the modal; a late answer shows ``late``, if given."""
        async with self._turn:
            if self.ack is not None:
                await self.ack()
            elif late is not None:
                await self._update(late)
            self.given.set()

    async def replace(self, view: ViewPayload) -> None:
        async with self._turn:
            if self.ack is not None:
                await self.ack(response_action="update", view=view)
            else:
                await self._update(view)
            self.given.set()

    async def errors(self, errors: dict[str, str]) -> bool:
        """Errors under the form's fields, while Slack waits for the ack; False when it no longer does."""
        async with self._turn:
            if self.ack is None:
                return False
            await self.ack(response_action="errors", errors=errors)
            self.given.set()
            return True

    @property
    def waited_for(self) -> bool:
        """Whether Slack still waits for the ack (the modal closes by answering it)."""
        return self.ack is not None

    async def _update(self, view: ViewPayload) -> None:
        """A late answer: the person may have closed the modal, or opened another, meanwhile."""
        try:
            await self.client.views_update(view_id=self.view_id, view=view)
        except SlackApiError as exc:
            log.info("modal %s not updated (%s): the person closed it", self.view_id, slack_error(exc))


class ModalAnswer(Audited):
    """The outcome in the modal that asked: closed, the form again with Nautobot's errors, or why nothing ran."""

    def __init__(self, parts: Parts, asked: Asked, reply: Reply) -> None:
        super().__init__(parts, asked)
        self.reply = reply

    async def tell(self, outcome: SubmitOutcome) -> None:
        reply, asked = self.reply, self.asked
        if outcome.sent is Sent.DUPLICATE:
            await reply.close(late=ALREADY_SENT)
        elif outcome.sent is Sent.AWAITING_APPROVAL:
            where = channel_link(asked.context.channel_id)
            waiting = f"⏳ Sent for approval: nothing runs until it is approved. Follow it in {where}."
            await reply.close(late=modal.message_modal("Sent for approval", waiting))
        elif outcome.accepted:
            where = channel_link(asked.context.channel_id)
            await reply.close(late=modal.message_modal("Submitted", f"✅ Submitted. Follow it in {where}."))
        elif isinstance(outcome.error, NoApprovers):
            await reply.replace(modal.unavailable_modal(f"Not sent: {outcome.error}", NO_APPROVERS, title="Not sent"))
        elif isinstance(outcome.error, JobFieldErrors) and asked.form is not None:
            values = dict(outcome.request.inputs) if outcome.request else {}
            await answer_field_errors(self.parts, outcome.error, values, asked, reply)
        elif outcome.sent is Sent.NOT_RECORDED:
            unrecorded = f"The bot cannot record requests: {outcome.error}"
            await reply.replace(modal.unavailable_modal(unrecorded, RETRY_LATER, title="Not run"))
        elif isinstance(outcome.error, LedgerError):
            await reply.replace(unrecorded_view(outcome.error))
        else:
            error = outcome.error if isinstance(outcome.error, NautobotError) else NautobotError(NOT_TAKEN)
            await reply.replace(not_run_view(error, outcome.request.request_id if outcome.request else ""))


class PrivateAnswer(Audited):
    """A request no modal waits for (a command's text, a button): only what went wrong is told, to the person
    alone; a run that went ahead shows in its channel."""

    def __init__(
        self,
        parts: Parts,
        asked: Asked,
        not_run: tuple[str, str],
        duplicate: tuple[str, list[Block]] | None = None,
    ) -> None:
        super().__init__(parts, asked)
        self.not_run = not_run
        """What was done and what to do, after "Nautobot did not run it: …"."""
        self.duplicate = duplicate
        """What a second delivery tells; None: nothing (the first delivery's outcome shows)."""

    async def tell(self, outcome: SubmitOutcome) -> None:
        if outcome.accepted:
            return
        if outcome.sent is Sent.DUPLICATE:
            message = self.duplicate
        elif outcome.sent is Sent.NOT_RECORDED:
            message = messages.error_message(f"The bot cannot record requests: {outcome.error}", *self.not_run)
        elif isinstance(outcome.error, NoApprovers):
            message = messages.error_message(f"Not sent: {outcome.error}", "Nothing ran.", NO_APPROVERS)
        else:
            message = messages.error_message(f"Nautobot did not run it: {described(outcome)}", *self.not_run)
        if message is not None:
            await self.parts.tell(self.asked.actor.channel_id, self.asked.actor.user_id, message)


async def answer_field_errors(
    parts: Parts, error: JobFieldErrors, values: dict[str, Any], asked: Asked, reply: Reply
) -> None:
    """Nautobot's field errors under the fields while Slack waits; else the form again, the errors on top."""
    form = asked.form
    if form is None:
        raise ValueError("field errors need the form they are about")
    on_fields, general = modal.field_errors(error.errors, form, hidden=parts.hidden)
    shows_fields = asked.context.values is None  # a summary's Confirm shows none
    if on_fields and shows_fields and await reply.errors(_with_general(on_fields, general)):
        return
    if not (reply.waited_for and shows_fields):  # no field can show an error now: each one is named in the notice
        general = [f"{field_label(form, name)}: {text}" for name, text in on_fields.items()] + general
    notice = "Nautobot did not run the Job: " + "; ".join(general) + " Correct the form and submit again."
    await reply.replace(form_view(parts, form, asked.context, asked.decision, values=values, notice=notice))


def _with_general(on_fields: dict[str, str], general: list[str]) -> dict[str, str]:
    if not general:
        return on_fields
    first = next(iter(on_fields))
    return {**on_fields, first: truncate(f"{on_fields[first]} ({'; '.join(general)})", ERROR_MAX)}


def field_label(form: JobForm, name: str) -> str:
    var = form.variable(name)
    return var.display_label if var else name


NOT_TAKEN = "Nautobot did not take the run."
NO_APPROVERS = (
    "Nothing was sent to Nautobot. If too few people may approve it, ask the bot's administrator to name more "
    "approvers in the access policy; otherwise try again in a minute."
)


def described(outcome: SubmitOutcome) -> str:
    """What became of the request, in words (the audit's reason)."""
    submission: Submission | None = outcome.submission
    if outcome.sent is Sent.AWAITING_APPROVAL:
        return "waiting for approval in Slack; nothing was sent to Nautobot yet"
    if submission is None:
        return str(outcome.error or NOT_TAKEN)
    if submission.run is not None:
        return f"JobResult {submission.run.result_id} ({submission.run.url})"
    return f"awaiting approval: scheduled job {submission.scheduled_job_id} ({submission.scheduled_url})"
