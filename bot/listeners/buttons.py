"""The buttons: Retry on a request Nautobot could not take, Cancel on a run's parent message, and "… for real"
on a dry run that succeeded."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Actor, Decision, refused_choices
from bot.home.clicks import clicked_channel, on_home
from bot.ledger import AuditAction, AuditOutcome, Record, RequestState
from bot.listeners.outcome import Asked, ModalAnswer, PrivateAnswer, Reply
from bot.listeners.parts import RETRY_LATER, Parts, denied_view
from bot.logs import set_correlation
from bot.models import APPROVED_BY, REQUEST_ID, JobForm, ModalContext, RunStatus
from bot.nautobot import NautobotError
from bot.runs.outcome import Ask
from bot.slack import messages, modal

log = logging.getLogger("bot.listeners")

NOTHING_SENT = "Nothing was sent to Nautobot; the request is kept."
NOTHING_CANCELLED = "Nothing was cancelled; the Job goes on."


ForRequest = Callable[[str], Awaitable[tuple[Parts, Record | None]]]
"""The request a button names, and the parts of the command that runs its Job."""


async def retry(find: ForRequest, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    await ack()
    view_id, request_id, user_id = await _answered_in(body, client), body["actions"][0]["value"], body["user"]["id"]
    set_correlation(request_id)
    parts, record = await find(request_id)
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
    context = ModalContext(channel_id=record.channel_id, user_id=record.requester_id, job_id="", command=parts.slash)
    answer = ModalAnswer(parts, Asked(form, context, actor, decision, AuditAction.RETRY), Reply(client, view_id))
    await parts.runs.retry(record.to_request(), form, answer)


async def _answered_in(body: dict[str, Any], client: AsyncWebClient) -> str:
    """The modal a Retry is answered in: the one clicked, or, for a click on the Home (which is not a modal), one
    opened for it now."""
    if not on_home(body):
        return str(body["view"]["id"])
    opened = await client.views_open(
        trigger_id=body["trigger_id"], view=modal.message_modal("Retry", "Sending it again…")
    )
    return str(opened["view"]["id"])


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
    if form.job_name != record.job_name:  # no command runs the request's Job any more: nothing to check it with
        unbound = Decision(
            allowed=False,
            reason=f"The bot no longer runs {record.job_name} from Slack, so it cannot check this request.",
            remedy=f"{nothing_done} Ask the bot's administrator which command runs it now.",
            source=parts.access.setting,
        )
        return unbound, form
    decision = await parts.access.decide(actor, fresh=True)
    if not decision.allowed:
        return decision, form
    refused = refused_choices(dict(record.inputs), form, decision, setting=decision.source)
    refused = refused or parts.duration_errors(form, dict(record.inputs))
    if not refused:
        return decision, form
    kept_back = Decision(
        allowed=False,
        reason=" ".join(refused.values()),
        remedy=f"{nothing_done} Open a new form with {parts.slash} and pick a choice you may use.",
        source=decision.source,
    )
    return kept_back, form


async def _clicked(find: ForRequest, ack: AsyncAck, body: dict[str, Any]) -> tuple[str, str, str, Parts, Record | None]:
    """A button on a run's message, acknowledged: the request it names, who clicked, in which channel, the
    parts of the command that runs the request's Job, and the request's record."""
    await ack()
    request_id, user_id = body["actions"][0]["value"], body["user"]["id"]
    set_correlation(request_id)
    parts, record = await find(request_id)
    return request_id, user_id, clicked_channel(body), parts, record


async def cancel(find: ForRequest, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    request_id, user_id, channel, parts, record = await _clicked(find, ack, body)
    if record is None or not record.result_id:  # e.g. swept from the ledger long after it ended
        gone = messages.error_message(
            "The bot no longer knows this run, so it cannot cancel it.", NOTHING_CANCELLED, "Cancel it in Nautobot."
        )
        await parts.tell(channel, user_id, gone)
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
            run = await parts.runs.cancel(request_id, record.result_id)
            text, blocks = messages.cancel_requested(run.url)
            outcome, reason = AuditOutcome.ALLOWED, f"cancel sent to Nautobot for JobResult {record.result_id}"
        except NautobotError as exc:
            text, blocks = messages.error_message(
                f"Nautobot did not cancel the run: {exc}", "The Job goes on.", "Cancel it in Nautobot."
            )
            outcome, reason = AuditOutcome.FAILED, f"Nautobot did not cancel the run: {exc}"
    await parts.tell(channel, user_id, (text, blocks))
    await parts.record(
        AuditAction.CANCEL,
        outcome,
        actor,
        decision=decision,
        reason=reason,
        request_id=request_id,
        job_name=record.job_name,
    )


NOTHING_RUN = "Nothing was run for real."
FOR_REAL_STATES = frozenset({RequestState.LOGGED, RequestState.DONE})
"""A dry run whose result is posted: what it listed is what the button does."""


async def for_real(find: ForRequest, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    """The dry run's inputs again with dry run off: for its requester, after the same checks as a submission."""
    request_id, user_id, channel, parts, record = await _clicked(find, ack, body)
    if record is not None and user_id != record.requester_id:
        # Before anything about the run is looked at: a stranger hears the same refusal whatever its state.
        await _refuse_stranger(parts, channel, user_id, record, body)
        return
    problem = await _not_a_succeeded_dry_run(parts, record)
    if problem is not None or record is None:
        await parts.tell(channel, user_id, messages.error_message(problem or "", NOTHING_RUN, f"Use {parts.slash}."))
        return
    actor = Actor.from_interaction(body, record.channel_id)
    decision, form = await _button_decision(parts, actor, record, NOTHING_RUN)
    dry = form.dry_run_variable if form is not None else None
    if decision.allowed and dry is None:  # the Job lost its dry run since: "for real" would mean nothing new
        decision = Decision(False, f"{record.job_name} no longer has a dry run.", NOTHING_RUN, decision.source)
    if not decision.allowed or form is None or dry is None:
        await parts.tell(channel, user_id, messages.error_message(decision.reason, NOTHING_RUN, decision.remedy))
        await parts.record(AuditAction.FOR_REAL, AuditOutcome.DENIED, actor, decision=decision, request_id=request_id)
        return
    # A run of its own: its own request id, and its own approval if the policy asks for one (never the dry run's).
    values = {name: value for name, value in record.inputs.items() if name not in (REQUEST_ID, APPROVED_BY)}
    values[dry] = False
    context = ModalContext(channel_id=record.channel_id, user_id=user_id, job_id=form.job_id, command=parts.slash)
    asked = Asked(form, context, actor, decision, AuditAction.FOR_REAL, note=f"for real after the dry run {request_id}")
    ran = messages.error_message("This dry run was already run for real.", "It runs once.", "Follow it above.")
    answer = PrivateAnswer(parts, asked, not_run=(NOTHING_RUN, RETRY_LATER), duplicate=ran)
    # One key per dry run: two clicks (or two replicas receiving one) run it for real once.
    await parts.runs.ask(
        Ask(f"{request_id}/for-real", user_id, record.channel_id, form, values, parts.approval_for(form, values)),
        answer,
    )


async def _refuse_stranger(parts: Parts, channel: str, user_id: str, record: Record, body: dict[str, Any]) -> None:
    """Only the requester may run a dry run for real: anyone else is told so, and nothing about the run."""
    await parts.tell(channel, user_id, messages.only_requester_may_run_for_real(record.requester_id))
    actor = Actor.from_interaction(body, record.channel_id)
    reason = f"only {record.requester_id}, who asked for the dry run, may run it for real"
    await parts.record(AuditAction.FOR_REAL, AuditOutcome.DENIED, actor, reason=reason, request_id=record.request_id)


async def _not_a_succeeded_dry_run(parts: Parts, record: Record | None) -> str | None:
    """Why this request cannot be run for real, or None: a dry run whose log is posted and which, as Nautobot
    says (the ledger keeps no final status), succeeded."""
    if record is None or not record.dryrun or record.state not in FOR_REAL_STATES or not record.result_id:
        return "This is not a finished dry run the bot knows, so it cannot be run for real from here."
    try:
        status = await parts.runs.status(record.result_id)
    except NautobotError as exc:
        return f"The bot could not ask Nautobot how the dry run ended: {exc}"
    if status is not RunStatus.SUCCEEDED:
        return f"The dry run did not succeed ({status.value}): fix what it reported and run a new dry run."
    return None
