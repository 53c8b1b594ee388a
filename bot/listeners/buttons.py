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
from bot.listeners.parts import Parts, denied_view
from bot.logs import set_correlation
from bot.models import ModalContext
from bot.nautobot import NautobotError
from bot.runs import SubmitOutcome
from bot.slack import messages, modal

log = logging.getLogger("bot.listeners")


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
    decision = await _button_decision(parts, actor, record)
    if not decision.allowed:
        await client.views_update(view_id=view_id, view=denied_view(decision))
        await parts.record(AuditAction.RETRY, AuditOutcome.DENIED, actor, decision=decision, request_id=request_id)
        return
    context = ModalContext(channel_id=record.channel_id, user_id=record.requester_id, job_id="")
    try:
        form = parts.forms.current() or await parts.forms.refresh()
    except NautobotError as exc:  # without the form nothing can be sent: told like Nautobot's own refusal
        asked = Asked(record.to_request(), None, context, actor, decision, AuditAction.RETRY)
        await finish(parts, SubmitOutcome.refused(exc), asked, Answer(client, view_id))
        return
    asked = Asked(record.to_request(), form, context, actor, decision, AuditAction.RETRY)
    await finish(parts, await parts.runs.send(request_id, form), asked, Answer(client, view_id))


async def _button_decision(parts: Parts, actor: Actor, record: Record) -> Decision:
    """The policy for a button on a kept request: the person, and the choices the request holds."""
    decision = await parts.access.decide(actor, fresh=True)
    if not decision.allowed:
        return decision
    form = parts.forms.current()
    refused = policy.refused_choices(dict(record.inputs), form, decision, setting=decision.source) if form else {}
    if not refused:
        return decision
    return Decision(
        allowed=False,
        reason=" ".join(refused.values()),
        remedy="Open a new form with /meraki-add-user and pick a choice you may use.",
        source=decision.source,
    )


async def cancel(parts: Parts, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    await ack()
    request_id, user_id = body["actions"][0]["value"], body["user"]["id"]
    channel = body["container"]["channel_id"]
    set_correlation(request_id)
    record = await parts.ledger.get(request_id)
    if record is None or not record.result_id:
        return
    actor = Actor.from_interaction(body, record.channel_id)
    decision = await parts.access.decide(actor, fresh=True)
    if not decision.allowed:  # the policy first, then the rule that only the requester may cancel
        text, blocks = messages.error_message(
            decision.reason, "Nothing was cancelled; the Job goes on.", decision.remedy
        )
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
