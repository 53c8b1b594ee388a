"""The approvers' buttons (Approve, Deny and its reason) and the requester's Withdraw.

Each click is checked when it is made, by :class:`~bot.runs.approvals.Approvals` (the request still waits, the
button is that request's, the person is an approver and not the requester), after the workspace check every
listener makes; each is answered to the person alone and recorded in the audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Actor
from bot.access.decisions import team_decision
from bot.home.clicks import asked_in, on_home
from bot.ledger import AuditAction, AuditOutcome, Record
from bot.listeners.parts import Parts
from bot.logs import set_correlation
from bot.runs.approvals import Decider
from bot.slack import approval_messages
from bot.slack.thread import Thread

ForRequest = Callable[[str], Awaitable[tuple[Parts, Record | None]]]


async def approve(find: ForRequest, ack: AsyncAck, body: dict[str, Any]) -> None:
    await ack()
    request_id, parts, record = await _find(find, body)
    actor, clicked = _click(body, record)
    await _decide(parts, request_id, actor, clicked, approve=True)


async def deny(find: ForRequest, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    """Deny asks why first (a modal); the click is checked before it opens, and again when the reason is sent."""
    await ack()
    request_id, parts, record = await _find(find, body)
    actor, clicked = _click(body, record)
    refused = other_workspace(parts, actor) or await parts.runs.approvals.refusal(request_id, _decider(actor), clicked)
    if refused is not None:
        await _answer(parts, actor, clicked, request_id, AuditAction.DENY, False, refused)
        return
    job = record.job_name if record is not None else ""
    view = approval_messages.deny_modal(request_id, clicked.channel_id, clicked.ts, job)
    await client.views_open(trigger_id=body["trigger_id"], view=view)


async def deny_reason(find: ForRequest, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    try:
        request_id, channel, ts, reason = approval_messages.denied_from_modal(view)
    except ValueError:
        await ack(response_action="errors", errors={approval_messages.REASON_BLOCK_ID: "This form is not readable."})
        return
    if not reason:
        await ack(response_action="errors", errors={approval_messages.REASON_BLOCK_ID: "Say why you deny it."})
        return
    await ack()
    set_correlation(request_id)
    parts, record = await find(request_id)
    actor = Actor.from_interaction(body, record.channel_id if record else "")
    await _decide(parts, request_id, actor, Thread(channel, ts), approve=False, reason=reason)


async def withdraw(find: ForRequest, ack: AsyncAck, body: dict[str, Any]) -> None:
    await ack()
    request_id, parts, _ = await _find(find, body)
    actor, clicked = _click(body, None)
    refused = other_workspace(parts, actor)
    if refused is not None:
        await _answer(parts, actor, clicked, request_id, AuditAction.WITHDRAW, False, refused)
        return
    withdrawn, told = await parts.runs.approvals.withdraw(request_id, actor.user_id)
    await _answer(parts, actor, clicked, request_id, AuditAction.WITHDRAW, withdrawn, told)


async def _find(find: ForRequest, body: dict[str, Any]) -> tuple[str, Parts, Record | None]:
    """The request a button names, the parts of the command that runs its Job, and its record."""
    request_id = str(body["actions"][0]["value"])
    set_correlation(request_id)
    parts, record = await find(request_id)
    return request_id, parts, record


def _click(body: dict[str, Any], record: Record | None) -> tuple[Actor, Thread]:
    """Who clicked, and the message they clicked in: on the Home, the one that asked them about ``record``
    (none for the requester's Withdraw, answered in a direct message)."""
    container = body.get("container") or {}
    clicked = Thread(str(container.get("channel_id") or ""), str(container.get("message_ts") or ""))
    if on_home(body):
        clicked = Thread(*asked_in(record, str((body.get("user") or {}).get("id") or "")))
    return Actor.from_interaction(body, clicked.channel_id), clicked


def other_workspace(parts: Parts, actor: Actor) -> str | None:
    """People of another workspace decide nothing (nor does anyone while the bot cannot tell workspaces apart)."""
    decision = team_decision(
        parts.access.applying,
        actor,
        parts.access.installed_team,
        command=parts.slash,
        setting=parts.access.setting,
    )
    return f"{decision.reason} {decision.remedy}" if decision is not None else None


async def _decide(
    parts: Parts,
    request_id: str,
    actor: Actor,
    clicked: Thread,
    *,
    approve: bool,
    reason: str = "",
) -> None:
    action = AuditAction.APPROVE if approve else AuditAction.DENY
    refused = other_workspace(parts, actor)
    if refused is not None:
        await _answer(parts, actor, clicked, request_id, action, False, refused)
        return
    counted, told = await parts.runs.approvals.decide(
        request_id, _decider(actor), clicked, approve=approve, reason=reason
    )
    why = f"{told} Their reason: {reason}" if reason else told
    await _answer(parts, actor, clicked, request_id, action, counted, told, why=why)


def _decider(actor: Actor) -> Decider:
    return Decider(user_id=actor.user_id, label=actor.label, name=actor.user_name)


async def _answer(
    parts: Parts,
    actor: Actor,
    clicked: Thread,
    request_id: str,
    action: AuditAction,
    counted: bool,
    told: str,
    *,
    why: str = "",
) -> None:
    """Tell the person alone what became of their click, and record it (``why``: the audit's reason, if more)."""
    await parts.tell(clicked.channel_id, actor.user_id, approval_messages.decided(told))
    outcome = AuditOutcome.ALLOWED if counted else AuditOutcome.DENIED
    await parts.record(action, outcome, actor, reason=why or told, request_id=request_id)
