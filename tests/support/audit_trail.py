"""The bot's audit table, read from the SQLite ledger in its working directory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.support.bot_process import BotProcess
from tests.support.polling import wait_until


def audit_rows(process: BotProcess) -> list[dict]:
    with sqlite3.connect(Path(process.workdir) / "meraki-chatops.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM audit ORDER BY id")]


def audited(process: BotProcess, timeout: float = 15, **match: str) -> list[dict]:
    """The rows matching every field given, once there is one: the bot records after it answers Slack."""

    def found() -> list[dict]:
        return [row for row in audit_rows(process) if all(row[key] == value for key, value in match.items())]

    return wait_until(found, timeout)
