"""The bot's audit table: read from a ledger the test holds, or from the SQLite ledger in a bot process's working
directory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import select

from bot.ledger import AuditEntry, Ledger
from bot.ledger.schema import AUDIT, to_audit
from testbed.bot_process import BotProcess
from tests.support.ledger_reads import rows
from tests.support.polling import wait_until


async def audit_trail(
    ledger: Ledger, *, user_id: str | None = None, request_id: str | None = None, limit: int = 1000
) -> list[AuditEntry]:
    """Audit entries, oldest first; optionally only one person's or one request's."""
    query = select(AUDIT).order_by(AUDIT.c.at, AUDIT.c.id).limit(limit)
    if user_id is not None:
        query = query.where(AUDIT.c.user_id == user_id)
    if request_id is not None:
        query = query.where(AUDIT.c.request_id == request_id)
    return [to_audit(row) for row in await rows(ledger, query)]


def audit_rows(process: BotProcess) -> list[dict]:
    with sqlite3.connect(Path(process.workdir) / "meraki-chatops.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM audit ORDER BY id")]


def audited(process: BotProcess, timeout: float = 15, **match: str) -> list[dict]:
    """The rows matching every field given, once there is one: the bot records after it answers Slack."""

    def found() -> list[dict]:
        return [row for row in audit_rows(process) if all(row[key] == value for key, value in match.items())]

    return wait_until(found, timeout)
