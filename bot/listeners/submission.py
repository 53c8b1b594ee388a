"""The modal's submission: check it, hand it to the core, and answer within Slack's 3 s."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Actor, Decision, refused_choices
from bot.ledger import AuditAction, AuditOutcome
from bot.listeners.outcome import Asked, ModalAnswer, Reply, field_label
from bot.listeners.parts import ACCESS_WAIT, RETRY_LATER, Parts, denied_view, form_view, requested_by
from bot.logs import set_correlation
from bot.models import REQUESTED_BY, JobForm, ModalContext
from bot.nautobot import NautobotError
from bot.runs.outcome import Ask
from bot.slack import modal

log = logging.getLogger("bot.listeners")

# Nautobot's answer to a run usually arrives in about a second. Waiting this long for it (counted from
# the submission's arrival) lets its field errors appear under the form's fields; Slack wants the
# submission acknowledged within 3 s.
SUBMIT_WAIT = 2.0
ACCESS_TIMEOUT = "The bot could not check your access in time. Nothing was sent; press Run again."

Checked = tuple[JobForm, dict[str, Any], Decision]


async def submission(
    parts: Parts, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, view: dict[str, Any]
) -> None:
    arrived = asyncio.get_running_loop().time()
    context = ModalContext.from_metadata(view.get("private_metadata", ""))
    actor = Actor.from_interaction(body, context.channel_id)
    checked = await _checked(parts, ack, view, actor, context)
    if checked is None:
        return
    form, values, decision = checked
    if parts.binding.confirm and context.values is None:  # checked: now the summary, whose Confirm runs it
        await _summary(parts, ack, form, values, context, actor, decision)
        return
    if form.variable(REQUESTED_BY) is not None:  # the Job learns who asked (older versions of it cannot)
        values = {**values, REQUESTED_BY: requested_by(actor)}
    reply = Reply(client, view["id"], ack)
    set_correlation(view["id"])  # until the request has its id
    answer = ModalAnswer(parts, Asked(form, context, actor, decision), reply)
    asking = asyncio.create_task(
        parts.runs.ask(
            Ask(view["id"], actor.user_id, context.channel_id, form, values, parts.approval_for(form, values)), answer
        )
    )
    if not await _in_time(asking, reply, arrived):  # a busy ledger or a slow Nautobot must not cost Slack's 3 s
        await reply.hold()
    await asking


async def _checked(
    parts: Parts, ack: AsyncAck, view: dict[str, Any], actor: Actor, context: ModalContext
) -> Checked | None:
    """The form, the submitted values and the decision; None when the submission was answered here."""
    try:  # access may have been taken away while the form was open: grants are read again
        decision = await asyncio.wait_for(parts.access.decide(actor, fresh=True), ACCESS_WAIT)
    except TimeoutError:
        first = next(iter((view.get("state") or {}).get("values") or {}), None)
        if first is None:
            await ack(response_action="update", view=modal.unavailable_modal(ACCESS_TIMEOUT, RETRY_LATER))
        else:
            await ack(response_action="errors", errors={first: ACCESS_TIMEOUT})
        await parts.record(AuditAction.SUBMIT, AuditOutcome.FAILED, actor, reason=ACCESS_TIMEOUT)
        return None
    if not decision.allowed:
        parts.metrics.request("denied")
        await ack(response_action="update", view=denied_view(decision))
        log.warning("submission refused user=%s channel=%s: %s", actor.user_id, actor.channel_id, decision.reason)
        await parts.record(AuditAction.SUBMIT, AuditOutcome.DENIED, actor, decision=decision)
        return None
    try:
        form = await parts.forms.get()
    except NautobotError as exc:
        await ack(response_action="update", view=modal.unavailable_modal(str(exc), RETRY_LATER, title="Not run"))
        return None
    if context.values is not None:  # a summary's Confirm: the values it showed, checked again below
        values = dict(context.values)
    else:
        values = modal.read_submission(view["state"]["values"], form, parts.hidden)
    back = _FormBack(parts, ack, form, values, context, decision)
    if await _refused(parts, back, actor, decision, refused_choices(values, form, decision, setting=decision.source)):
        return None
    errors = modal.validate(values, form, email_regex=parts.email_regex, hidden=parts.hidden)
    errors = errors or parts.duration_errors(form, values)
    if errors:
        parts.metrics.request("invalid")
        await back.errors(errors)
        reason = " ".join(errors.values())
        await parts.record(AuditAction.SUBMIT, AuditOutcome.INVALID, actor, decision=decision, reason=reason)
        return None
    return form, values, decision


@dataclass
class _FormBack:
    """Sends a submission back with what is wrong: under the form's fields, or, from a summary (which has no
    fields), as the form again with the values and the errors on top."""

    parts: Parts
    ack: AsyncAck
    form: JobForm
    values: dict[str, Any]
    context: ModalContext
    decision: Decision

    async def errors(self, errors: dict[str, str]) -> None:
        if self.context.values is None:
            await self.ack(response_action="errors", errors=errors)
            return
        named = "; ".join(f"{field_label(self.form, name)}: {text}" for name, text in errors.items())
        notice = f"Not run: {named} Correct the form and submit again."
        view = form_view(self.parts, self.form, self.context, self.decision, values=self.values, notice=notice)
        await self.ack(response_action="update", view=view)


async def _summary(
    parts: Parts,
    ack: AsyncAck,
    form: JobForm,
    values: dict[str, Any],
    context: ModalContext,
    actor: Actor,
    decision: Decision,
) -> None:
    """The checked form becomes its summary (Slack's modals have no confirm dialog on submit); nothing runs yet."""
    try:
        summary = modal.summary_modal(form, values, context)
    except ValueError:
        first = next(iter(values), None)
        problem = "Too much to show in a summary: shorten the longest inputs, then submit again."
        await ack(response_action="errors", errors={first: problem} if first else {})
        await parts.record(AuditAction.SUBMIT, AuditOutcome.INVALID, actor, decision=decision, reason=problem)
        return
    await ack(response_action="update", view=summary)
    log.info("summary shown user=%s command=%s", actor.user_id, parts.slash)


async def _refused(parts: Parts, back: _FormBack, actor: Actor, decision: Decision, refused: dict[str, str]) -> bool:
    """Restricted choices this person may not pick (a form opened before access changed, or forged)."""
    if not refused:
        return False
    parts.metrics.request("denied")
    await back.errors(refused)
    reason = " ".join(refused.values())
    await parts.record(AuditAction.SUBMIT, AuditOutcome.DENIED, actor, decision=decision, reason=reason)
    return True


async def _in_time(asking: asyncio.Task[Any], reply: Reply, arrived: float) -> bool:
    """Whether the outcome is answered (or ``asking`` ended) within the submission's budget, counted from its
    arrival."""
    waited = asyncio.get_running_loop().time() - arrived
    given = asyncio.ensure_future(reply.given.wait())
    try:
        await asyncio.wait(
            {asking, given}, timeout=max(SUBMIT_WAIT - waited, SUBMIT_WAIT / 4), return_when="FIRST_COMPLETED"
        )
    finally:
        given.cancel()
    return reply.given.is_set() or asking.done()
