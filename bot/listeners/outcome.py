"""The one place a :class:`~bot.runs.SubmitOutcome` becomes what the person sees, a metric and an audit entry.

The modal's submission, a Nautobot answer that came after the submission was acknowledged, and the
Retry button all end here, so each outcome is answered, counted and recorded the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Actor, Decision
from bot.ledger import AuditAction, LedgerError
from bot.listeners.parts import AUDITED, METRIC, Parts, form_view, not_run_view, unrecorded_view
from bot.models import JobForm, ModalContext, RunRequest
from bot.nautobot import JobFieldErrors, NautobotError, Submission
from bot.runs import Sent, SubmitOutcome
from bot.slack import modal
from bot.slack.text import channel_link, truncate

log = logging.getLogger("bot.listeners")

ERROR_MAX = 2000
ALREADY_SENT = modal.message_modal(
    "Already sent",
    "✅ This form was already sent (a second click, or Slack delivered it twice); it runs once. "
    "Its progress appears in the channel where you typed the command.",
)


@dataclass
class Answer:
    """How the modal is answered: through the submission's ``ack`` while Slack waits for it, else ``views.update``."""

    client: AsyncWebClient
    view_id: str
    ack: AsyncAck | None = None

    async def close(self, late: View | None = None) -> None:
        """Nothing more to show: an ack closes the modal; a late answer shows ``late``, if given."""
        if self.ack is not None:
            await self.ack()
        elif late is not None:
            await self._update(late)

    async def replace(self, view: View) -> None:
        if self.ack is not None:
            await self.ack(response_action="update", view=view)
        else:
            await self._update(view)

    async def _update(self, view: View) -> None:
        """A late answer: the person may have closed the modal, or opened another, meanwhile."""
        try:
            await self.client.views_update(view_id=self.view_id, view=view)
        except SlackApiError as exc:
            log.info("modal %s not updated (%s): the person closed it", self.view_id, exc.response.get("error"))


@dataclass
class Asked:
    """One request as the person asked for it: what the outcome is about."""

    request: RunRequest
    form: JobForm | None
    """None when Nautobot could not give the Job's form, so nothing was sent."""
    context: ModalContext
    actor: Actor
    decision: Decision
    action: AuditAction = AuditAction.SUBMIT


async def finish(parts: Parts, outcome: SubmitOutcome, asked: Asked | None, answer: Answer) -> None:
    """``asked`` is None for a duplicate found before it became a request."""
    parts.metrics.request(METRIC[outcome.sent])
    if outcome.sent is Sent.DUPLICATE or asked is None:  # Slack redelivered it, or a second click: it runs once
        await answer.close(late=ALREADY_SENT)
        return
    if isinstance(outcome.error, NautobotError) and not isinstance(outcome.error, JobFieldErrors):
        parts.metrics.nautobot_error(outcome.error)
        log.warning("run refused request=%s: %s", asked.request.request_id, outcome.error)
    elif outcome.error is not None:
        log.error("request=%s not recorded: %s", asked.request.request_id, outcome.error)
    if outcome.submission is not None:
        await _submitted(parts, outcome.submission, asked, answer)
        reason = _described(outcome.submission)
    elif isinstance(outcome.error, JobFieldErrors) and asked.form is not None:
        await answer_field_errors(parts, outcome.error, asked.form, asked, answer)
        reason = str(outcome.error)
    elif isinstance(outcome.error, LedgerError):
        await answer.replace(unrecorded_view(outcome.error))
        reason = str(outcome.error)
    else:
        error = outcome.error or NautobotError("Nautobot did not take the run.")
        await answer.replace(not_run_view(error, asked.request.request_id))
        reason = str(error)
    await parts.record(
        asked.action,
        AUDITED[outcome.sent],
        asked.actor,
        decision=asked.decision,
        reason=reason,
        request_id=asked.request.request_id,
        inputs=dict(asked.request.inputs),
        job_name=asked.request.job_name,
    )


async def _submitted(parts: Parts, submission: Submission, asked: Asked, answer: Answer) -> None:
    if answer.ack is not None:
        await answer.close()
    else:
        where = channel_link(asked.context.channel_id)
        await answer.replace(modal.message_modal("Submitted", f"✅ Submitted. Follow it in {where}."))
    if submission.awaiting_approval:
        log.info("run awaits approval request=%s scheduled=%s", asked.request.request_id, submission.scheduled_job_id)
    await parts.runs.start(asked.request, asked.form, submission.run, submission.scheduled_url)


async def answer_field_errors(parts: Parts, error: JobFieldErrors, form: JobForm, asked: Asked, answer: Answer) -> None:
    """Nautobot's field errors under the fields while Slack waits; else the form again, the errors on top."""
    values = dict(asked.request.inputs)
    on_fields, general = modal.field_errors(error.errors, form, hidden=parts.hidden)
    shows_fields = asked.context.values is None  # a summary's Confirm shows none
    if answer.ack is not None and on_fields and shows_fields:
        await answer.ack(response_action="errors", errors=_with_general(on_fields, general))
        return
    if answer.ack is None or not shows_fields:  # no field can show an error now: each one is named in the notice
        general = [f"{field_label(form, name)}: {text}" for name, text in on_fields.items()] + general
    notice = "Nautobot did not run the Job: " + "; ".join(general) + " Correct the form and submit again."
    await answer.replace(form_view(parts, form, asked.context, asked.decision, values=values, notice=notice))


def _with_general(on_fields: dict[str, str], general: list[str]) -> dict[str, str]:
    if not general:
        return on_fields
    first = next(iter(on_fields))
    return {**on_fields, first: truncate(f"{on_fields[first]} ({'; '.join(general)})", ERROR_MAX)}


def field_label(form: JobForm, name: str) -> str:
    var = form.variable(name)
    return var.display_label if var else name


def _described(submission: Submission) -> str:
    if submission.run is not None:
        return f"JobResult {submission.run.result_id} ({submission.run.url})"
    return f"awaiting approval: scheduled job {submission.scheduled_job_id} ({submission.scheduled_url})"


async def send_unattended(parts: Parts, asked: Asked, form: JobForm, *, note: str = "") -> tuple[SubmitOutcome, str]:
    """Send a request no modal waits for (a command's text, a button) and announce it once Nautobot takes it;
    counted and audited (``note`` leads the audit's reason). The outcome, and what became of it in words."""
    outcome = await parts.runs.send(asked.request.request_id, form)
    parts.metrics.request(METRIC[outcome.sent])
    if outcome.submission is not None:
        await parts.runs.start(asked.request, form, outcome.submission.run, outcome.submission.scheduled_url)
        reason = _described(outcome.submission)
    else:
        reason = str(outcome.error or "Nautobot did not take the run.")
    if outcome.sent is not Sent.DUPLICATE:  # the delivery that sends it records it
        await parts.record(
            asked.action,
            AUDITED[outcome.sent],
            asked.actor,
            decision=asked.decision,
            reason=f"{note}: {reason}" if note else reason,
            request_id=asked.request.request_id,
            inputs=dict(asked.request.inputs),
            job_name=asked.request.job_name,
        )
    return outcome, reason
