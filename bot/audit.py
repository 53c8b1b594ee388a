"""The audit trail: every request, allowed or refused, goes into the ledger, and into nautobot-chatops' command log.

The ledger entry is written before :meth:`Audit.record` returns. The command log lives in Nautobot,
so it is written in the background: a slow or unreachable Nautobot must not hold up Slack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.ledger import AuditAction, AuditEntry, AuditOutcome, Ledger, LedgerError
from bot.nautobot import ChatOpsApp, CommandLogEntry, CommandStatus, LinkedUser, NautobotError

log = logging.getLogger("bot.audit")

LINK_TTL = 300.0
"""Seconds an account link (or its absence) is remembered."""
LINK_WAIT = 2.0
"""Seconds the audit waits for Nautobot to name the linked user before recording without it."""

_STATUS: dict[AuditOutcome, CommandStatus] = {
    AuditOutcome.DENIED: CommandStatus.BLOCKED,
    AuditOutcome.LIMITED: CommandStatus.BLOCKED,  # the first refusal of a window: the ledger keeps only that one
    AuditOutcome.SUBMITTED: CommandStatus.SUCCEEDED,
    AuditOutcome.AWAITING_APPROVAL: CommandStatus.SUCCEEDED,  # taken: what its approvers decide is logged apart
    AuditOutcome.REFUSED: CommandStatus.FAILED,
    AuditOutcome.FAILED: CommandStatus.FAILED,
    AuditOutcome.UNSENT: CommandStatus.ERRORED,
}
"""Outcomes the command log gets, as its statuses. Like nautobot-chatops, it skips commands that only
opened a form or were sent back for corrections (``allowed`` on the command, ``invalid``)."""


DECISIONS = frozenset(
    {AuditAction.CANCEL, AuditAction.APPROVE, AuditAction.DENY, AuditAction.WITHDRAW, AuditAction.REVOKE}
)
"""A person's decision on a request: the command log gets it once it took effect."""


def command_log_status(entry: AuditEntry) -> CommandStatus | None:
    if entry.action in DECISIONS and entry.outcome is AuditOutcome.ALLOWED:
        return CommandStatus.SUCCEEDED
    return _STATUS.get(entry.outcome)


class Audit:
    def __init__(self, ledger: Ledger, chatops: ChatOpsApp | None = None, *, command: str = "", subcommand: str = ""):
        self.ledger = ledger
        self.chatops = chatops
        self.command = command
        self.subcommand = subcommand
        self.tasks: set[asyncio.Task] = set()
        self._links: dict[str, tuple[float, LinkedUser | None]] = {}

    async def record(self, entry: AuditEntry, *, started: datetime | None = None) -> AuditEntry | None:
        """Write ``entry`` to the ledger (with the linked Nautobot user when nautobot-chatops knows one).

        Never raises: a request must not fail because its audit could not be written; that is logged.
        """
        linked = await self._linked_user(self.chatops, entry.user_id) if self.chatops else None
        if linked is not None:
            entry = replace(entry, nautobot_user=linked.label)
        try:
            recorded = await self.ledger.audit(entry)
        except LedgerError as exc:
            log.error(
                "cannot write the audit entry action=%s outcome=%s user=%s: %s",
                entry.action,
                entry.outcome,
                entry.user_id,
                exc,
            )
            recorded = replace(entry, at=datetime.now(UTC))
        log.info(
            "audit action=%s outcome=%s user=%s channel=%s request=%s",
            recorded.action,
            recorded.outcome,
            recorded.user_id,
            recorded.channel_id,
            recorded.request_id,
        )
        status = command_log_status(recorded)
        if self.chatops is not None and status is not None:
            self._background(self._log_command(self.chatops, recorded, status, linked, started))
        return recorded

    async def drain(self) -> None:
        """Wait for the command-log writes under way (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def _background(self, work) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _linked_user(self, chatops: ChatOpsApp, user_id: str) -> LinkedUser | None:
        known = self._links.get(user_id)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        try:
            linked = await asyncio.wait_for(chatops.linked_user(user_id), LINK_WAIT)
        except (NautobotError, TimeoutError) as exc:
            log.warning("cannot look up the Nautobot account link of user=%s: %s", user_id, exc)
            return None
        self._links[user_id] = (time.monotonic() + LINK_TTL, linked)
        return linked

    async def _log_command(
        self,
        chatops: ChatOpsApp,
        entry: AuditEntry,
        status: CommandStatus,
        linked: LinkedUser | None,
        started: datetime | None,
    ) -> None:
        at = entry.at or datetime.now(UTC)
        start = started or at
        params = [(str(name), _param(value)) for name, value in (entry.inputs or {}).items()]
        if entry.action is not AuditAction.SUBMIT:
            params.insert(0, ("action", entry.action.value))
        if entry.request_id:
            params.append(("request", entry.request_id))
        row = CommandLogEntry(
            user_id=entry.user_id,
            user_name=entry.user_name,
            command=self.command,
            subcommand=self.subcommand,
            status=status,
            details=entry.reason,
            start_time=start,
            runtime=max(at - start, timedelta(0)),
            params=params,
            nautobot_user=linked,
        )
        try:
            await chatops.log_command(row)
        except NautobotError as exc:
            log.warning("cannot write the ChatOps command log action=%s user=%s: %s", entry.action, entry.user_id, exc)


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)
