"""The buttons: Retry on a request Nautobot could not take, Cancel on a run's parent message."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot import access as policy
from bot.access import Actor, Decision
from bot.ledger import AuditAction, AuditOutcome, Record, RequestState
from bot.listeners.outcome import Answer, Asked, finish
from bot.listeners.parts import RETRY_LATER, Parts, denied_view
from bot.logs import set_correlation
from bot.models import JobForm, ModalContext
from bot.nautobot import NautobotError
from bot.slack import messages, modal

log = logging.getLogger("bot.listeners")

NOTHING_SENT = "Nothing was sent to Nautobot; the request is kept."
NOTHING_CANCELLED = "Nothing was cancelled; the Job goes on."


async def retry(parts: Parts, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    await ack()
    view_id, request_id, user_id = body["view"]["id"], body["actions"][0]["value"], body["user"]["id"]
    set_correlation(request_id)
    record = await parts.ledger.get(request_id)
    if record is None or record.requester_id != user_id or record.state is not RequestState.UNSENT:
        done = modal.message_modal("Not run", "This request is no longer waiting for a retry.")
        await client.views_update(view_id=view_id, view=done)
        if record is not None and record.requester_id != user_id:
            reason = f"only {record.requester_id}, who asked for it, may retry it"
            actor = Actor.from_interaction(body, record.channel_id)
            await parts.record(AuditAction.RETRY, AuditOutcome.DENIED, actor, reason=reason, request_id=request_id)
        return
    actor = Actor.from_interaction(body, record.channel_id)
    decision, form = await _button_decision(parts, actor, record, NOTHING_SENT)
    if form is None or not decision.allowed:  # unchecked (Nautobot or Slack failed): the request stays for a Retry
        kept = modal.unavailable_modal(decision.reason, decision.remedy, title="Not run", retry=request_id)
        await client.views_update(view_id=view_id, view=kept if decision.unavailable else denied_view(decision))
        await parts.record(AuditAction.RETRY, AuditOutcome.DENIED, actor, decision=decision, request_id=request_id)
        return
    context = ModalContext(channel_id=record.channel_id, user_id=record.requester_id, job_id="")
    asked = Asked(record.to_request(), form, context, actor, decision, AuditAction.RETRY)
    await finish(parts, await parts.runs.send(request_id, form), asked, Answer(client, view_id))


async def _button_decision(
    parts: Parts, actor: Actor, record: Record, nothing_done: str
) -> tuple[Decision, JobForm | None]:
    """What the submission checked, again, for a button on a kept request: the person and the choices it holds.

    With or without a cached form: one is read when none is, and a form that cannot be read refuses (the form is
    None then, and only then).
    """
    try:  # read first, so that the policy is checked against the Job's form before deciding
        form = await parts.forms.get()
    except NautobotError as exc:
        log.warning("cannot check a button user=%s request=%s: %s", actor.user_id, record.request_id, exc)
        unreadable = Decision(
            allowed=False,
            reason=f"The bot could not read the Job's form from Nautobot to check your request: {exc}",
            remedy=f"{nothing_done} {RETRY_LATER}",
            source=parts.access.setting,
            unavailable=True,
        )
        return unreadable, None
    decision = await parts.access.decide(actor, fresh=True)
    if not decision.allowed:
        return decision, form
    refused = policy.refused_choices(dict(record.inputs), form, decision, setting=decision.source)
    if not refused:
        return decision, form
    kept_back = Decision(
        allowed=False,
        reason=" ".join(refused.values()),
        remedy=f"{nothing_done} Open a new form with {parts.access.slash_command} and pick a choice you may use.",
        source=decision.source,
    )
    return kept_back, form


async def cancel(parts: Parts, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    await ack()
    request_id, user_id = body["actions"][0]["value"], body["user"]["id"]
    channel = body["container"]["channel_id"]
    set_correlation(request_id)
    record = await parts.ledger.get(request_id)
    if record is None or not record.result_id:
        return
    actor = Actor.from_interaction(body, record.channel_id)
    decision, _ = await _button_decision(parts, actor, record, NOTHING_CANCELLED)
    if not decision.allowed:  # the policy first, then the rule that only the requester may cancel
        text, blocks = messages.error_message(decision.reason, NOTHING_CANCELLED, decision.remedy)
        outcome, reason = AuditOutcome.DENIED, decision.reason
    elif user_id != record.requester_id:
        text, blocks = messages.only_requester_may_cancel(record.requester_id)
        outcome, reason = AuditOutcome.DENIED, f"only {record.requester_id}, who asked for the run, may cancel it"
    else:
        try:
            run = await parts.runs.cancel(record.result_id)
            log.info("cancel requested request=%s result=%s", request_id, record.result_id)
            text, blocks = messages.cancel_requested(run.url)
            outcome, reason = AuditOutcome.ALLOWED, f"cancel sent to Nautobot for JobResult {record.result_id}"
        except NautobotError as exc:
            text, blocks = messages.error_message(
                f"Nautobot did not cancel the run: {exc}", "The Job goes on.", "Cancel it in Nautobot."
            )
            outcome, reason = AuditOutcome.FAILED, f"Nautobot did not cancel the run: {exc}"
    await client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks)
    await parts.record(
        AuditAction.CANCEL,
        outcome,
        actor,
        decision=decision,
        reason=reason,
        request_id=request_id,
        job_name=record.job_name,
    )
