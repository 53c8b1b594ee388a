"""The buttons of a time-bound grant's warning: *Revoke now* and *Extend*. Each is checked when clicked (the
workspace, as every listener; the grant is the clicker's own), answered to the person alone, and recorded in
the audit trail.

*Revoke now* runs the revoke at once (:meth:`bot.runs.grants.Grants.revoke_now`). *Extend* opens the command's
form filled in with the grant's inputs but its duration: submitted, it is a new request like any other (the same
checks and approvals), and the Job moves the grant's one revoke rather than scheduling a second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Actor, Decision
from bot.home.clicks import clicked_channel
from bot.ledger import AuditAction, AuditOutcome, Record
from bot.listeners.approvals import other_workspace
from bot.listeners.parts import Parts, form_view
from bot.logs import set_correlation
from bot.models import JobForm, ModalContext
from bot.nautobot import NautobotError
from bot.slack import approval_messages

ForGrant = Callable[[str], Awaitable[tuple[Parts, str | None]]]
"""The parts of the command whose Job made the grant (its revoke's scheduled job id), and its request's id."""
DURATION = "duration"
"""The Job variable of a grant's duration, unless the policy's ``durations`` names another."""


async def revoke_now(find: ForGrant, ack: AsyncAck, body: dict[str, Any]) -> None:
    await ack()
    parts, request_id, actor, channel, scheduled_job_id = await _clicked(find, body)
    refused = other_workspace(parts, actor) or await parts.runs.grants.revoke_now(scheduled_job_id, actor.user_id)
    told = refused or "Revoking it now: the result follows in the grant's thread."
    await parts.tell(channel, actor.user_id, approval_messages.decided(told))
    outcome = AuditOutcome.DENIED if refused else AuditOutcome.ALLOWED
    await parts.record(AuditAction.REVOKE, outcome, actor, reason=told, request_id=request_id)


async def extend(find: ForGrant, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    await ack()
    parts, request_id, actor, channel, _ = await _clicked(find, body)
    record = await parts.ledger.get(request_id) if request_id else None
    checked = await _may_extend(parts, actor, record)
    if isinstance(checked, str) or record is None:
        refused = checked if isinstance(checked, str) else ""
        await parts.tell(channel, actor.user_id, approval_messages.decided(refused))
        await parts.record(AuditAction.COMMAND, AuditOutcome.DENIED, actor, reason=refused, request_id=request_id)
        return
    form, decision = checked
    policy = parts.access.applying
    duration = policy.durations.variable if policy is not None and policy.durations is not None else DURATION
    asked = {name: value for name, value in record.inputs.items() if name != duration}
    context = ModalContext(channel_id=record.channel_id, user_id=actor.user_id, job_id="", command=parts.slash)
    view = form_view(parts, form, context, decision, values=parts.default_duration(form, asked))
    await client.views_open(trigger_id=body["trigger_id"], view=view)
    await parts.record(AuditAction.COMMAND, AuditOutcome.ALLOWED, actor, reason="extend", request_id=request_id)


async def _may_extend(parts: Parts, actor: Actor, record: Record | None) -> str | tuple[JobForm, Decision]:
    """The form and the person's access to fill it in with, or why they may not extend this grant."""
    refused = other_workspace(parts, actor)
    if refused is not None:
        return refused
    if record is None or record.requester_id != actor.user_id:
        return "Only the person who asked for this access can extend it."
    if not actor.channel_id:  # clicked on the Home: the access to extend it is the request's, in its channel
        actor = replace(actor, channel_id=record.channel_id)
    try:
        form = await parts.forms.get()
    except NautobotError as exc:
        return f"The bot could not read the Job's form from Nautobot: {exc}. Try again in a moment."
    decision = await parts.access.decide(actor, fresh=True)
    return (form, decision) if decision.allowed else f"{decision.reason} {decision.remedy}"


async def _clicked(find: ForGrant, body: dict[str, Any]) -> tuple[Parts, str | None, Actor, str, str]:
    """The grant a button names: its parts and request, who clicked, in which channel, the grant's key."""
    scheduled_job_id = str(body["actions"][0]["value"])
    channel = clicked_channel(body)
    parts, request_id = await find(scheduled_job_id)
    set_correlation(request_id or scheduled_job_id)
    return parts, request_id, Actor.from_interaction(body, channel), channel, scheduled_job_id
