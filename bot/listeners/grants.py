"""The *Revoke now* button of a time-bound grant: checked when clicked (the workspace, as every listener; then
:meth:`bot.runs.grants.Grants.revoke_now`: the grant is the clicker's own and has not ended), answered to the
person alone, and recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.access import Actor
from bot.ledger import AuditAction, AuditOutcome
from bot.listeners.approvals import other_workspace
from bot.listeners.parts import Parts
from bot.logs import set_correlation
from bot.slack import approval_messages

ForGrant = Callable[[str], Awaitable[tuple[Parts, str | None]]]
"""The parts of the command whose Job made the grant (its revoke's scheduled job id), and its request's id."""


async def revoke_now(find: ForGrant, ack: AsyncAck, body: dict[str, Any]) -> None:
    await ack()
    scheduled_job_id = str(body["actions"][0]["value"])
    channel = str((body.get("container") or {}).get("channel_id") or "")
    parts, request_id = await find(scheduled_job_id)
    set_correlation(request_id or scheduled_job_id)
    actor = Actor.from_interaction(body, channel)
    refused = other_workspace(parts, actor) or await parts.runs.grants.revoke_now(scheduled_job_id, actor.user_id)
    told = refused or "Revoking it now: the result follows in the grant's thread."
    await parts.tell(channel, actor.user_id, approval_messages.decided(told))
    outcome = AuditOutcome.DENIED if refused else AuditOutcome.ALLOWED
    await parts.record(AuditAction.REVOKE, outcome, actor, reason=told, request_id=request_id)
