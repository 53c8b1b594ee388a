"""What the ledger keeps, and for how long: finished requests (and ended grants) and audit entries older than their
settings are deleted by a periodic sweep; ``doctor`` shows how big the ledger is.

The sweep deletes in small batches, each one short statement in its own transaction (off the event loop, as
every ledger step), with a pause between them, so requests being worked on never wait long for it. It never
deletes an unfinished request: the state is checked in the same statement that deletes, and a finished request
never moves again. On PostgreSQL several replicas may sweep at once: each batch skips the rows another
replica's batch holds (``FOR UPDATE SKIP LOCKED``) instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, delete, func, select, text

from bot.ledger.grant import GrantState
from bot.ledger.records import FINAL_STATES, LedgerError
from bot.ledger.schema import AUDIT, GRANTS, REQUESTS, WORKFLOW_STEPS, now
from bot.ledger.store import Ledger
from bot.ledger.workflow_steps import StepState

log = logging.getLogger("bot.ledger")

BATCH = 500
"""Rows one statement deletes at most: a batch holds SQLite's write lock for milliseconds."""
BATCH_PAUSE = 0.05
"""Seconds between two batches, so that the ledger's other steps go on while a large backlog is swept."""
SWEEP_EVERY = 3600.0
"""Seconds between two sweeps: what is swept is days old, an hour more or less does not matter."""
FIRST_SWEEP_AFTER = 60.0
"""Seconds after the start before the first sweep: starting up (resuming requests) comes first."""
_FINAL = [state.value for state in FINAL_STATES]


@dataclass(frozen=True)
class Retention:
    """How many days finished requests and audit entries are kept; 0 keeps them for ever."""

    requests_days: int
    audit_days: int


@dataclass(frozen=True)
class Swept:
    requests: int = 0
    audit: int = 0
    grants: int = 0
    """Ended time-bound grants, kept as long as finished requests."""


async def sweep(ledger: Ledger, retention: Retention) -> Swept:
    """Delete the finished requests and audit entries older than ``retention`` says, batch after batch."""
    stamp = now()
    requests = audit = grants = 0
    if retention.requests_days > 0:
        cutoff = stamp - timedelta(days=retention.requests_days)
        old = REQUESTS.c.state.in_(_FINAL) & (REQUESTS.c.finished_at < cutoff)
        requests = await _delete_all(ledger, REQUESTS, REQUESTS.c.request_id, old)
        ended = (GRANTS.c.state == GrantState.ENDED.value) & (GRANTS.c.updated_at < cutoff)
        grants = await _delete_all(ledger, GRANTS, GRANTS.c.scheduled_job_id, ended)
        final = [state.value for state in StepState if state.final]  # Workflow Builder steps, as long as requests
        done = WORKFLOW_STEPS.c.state.in_(final) & (WORKFLOW_STEPS.c.updated_at < cutoff)
        await _delete_all(ledger, WORKFLOW_STEPS, WORKFLOW_STEPS.c.execution_id, done)
    if retention.audit_days > 0:
        audit = await _delete_all(ledger, AUDIT, AUDIT.c.id, AUDIT.c.at < stamp - timedelta(days=retention.audit_days))
    return Swept(requests, audit, grants)


async def sweep_forever(
    ledger: Ledger, retention: Retention, *, every: float = SWEEP_EVERY, first: float = FIRST_SWEEP_AFTER
) -> None:
    """Sweep every ``every`` seconds (the first after ``first``); a ledger that fails is tried at the next sweep."""
    if retention.requests_days <= 0 and retention.audit_days <= 0:
        return
    await asyncio.sleep(first)
    while True:
        try:
            swept = await sweep(ledger, retention)
        except LedgerError as exc:
            log.warning("cannot sweep the ledger (trying again in %g s): %s", every, exc)
        else:
            if swept.requests or swept.audit or swept.grants:
                log.info(
                    "ledger swept: %d finished requests and %d ended grants older than %d days, %d audit entries "
                    "older than %d days",
                    swept.requests,
                    swept.grants,
                    retention.requests_days,
                    swept.audit,
                    retention.audit_days,
                )
        await asyncio.sleep(every)


async def _delete_all(ledger: Ledger, table: Table, key: Any, old: ColumnElement[bool]) -> int:
    deleted = 0
    while True:
        count = await ledger._run(functools.partial(_delete_batch, table, key, old), write=True)
        deleted += count
        if count < BATCH:
            return deleted
        await asyncio.sleep(BATCH_PAUSE)


def _delete_batch(table: Table, key: Any, old: ColumnElement[bool], conn: Connection) -> int:
    """``DELETE … WHERE key IN (SELECT key … WHERE old LIMIT BATCH [FOR UPDATE SKIP LOCKED])``: how many went."""
    batch = select(key).where(old).limit(BATCH)
    if conn.dialect.name == "postgresql":  # SQLite has one writer at a time, and no row locks to skip
        batch = batch.with_for_update(skip_locked=True)
    result = conn.execute(delete(table).where(key.in_(batch.scalar_subquery())))
    return int(result.rowcount or 0)


# -- size ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerSize:
    rows: dict[str, int]
    """Rows per table."""
    bytes: int | None
    """The database's size on disk (SQLite: its files; PostgreSQL: the bot's tables with their indexes and
    TOAST); None when it cannot be read cheaply."""

    def describe(self) -> str:
        """``"12 requests, 3,456 audit entries, 1.2 MiB"``."""
        requests, audit = self.rows.get("requests", 0), self.rows.get("audit", 0)
        parts = [
            f"{requests:,} request{'' if requests == 1 else 's'}",
            f"{audit:,} audit {'entry' if audit == 1 else 'entries'}",
        ]
        if self.bytes is not None:
            parts.append(_human(self.bytes))
        return ", ".join(parts)


async def ledger_size(ledger: Ledger) -> LedgerSize:
    """Rows per table and bytes on disk (for ``doctor``: a count reads each table once)."""
    database = ledger._engine.url.database

    def step(conn: Connection) -> LedgerSize:
        rows = {
            table.name: int(conn.scalar(select(func.count()).select_from(table)) or 0) for table in (REQUESTS, AUDIT)
        }
        if conn.dialect.name == "postgresql":
            size = conn.scalar(text("SELECT pg_total_relation_size('requests') + pg_total_relation_size('audit')"))
            return LedgerSize(rows, int(size or 0))
        return LedgerSize(rows, _sqlite_bytes(database))

    return await ledger._run(step, write=False)


def _sqlite_bytes(database: str | None) -> int | None:
    """The database file and its write-ahead log; None for an in-memory database."""
    if not database or database == ":memory:":
        return None
    return sum(os.path.getsize(path) for path in (database, f"{database}-wal") if os.path.exists(path))


def _human(size: int) -> str:
    amount = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:,.0f} {unit}" if unit == "bytes" else f"{amount:,.1f} {unit}"
        amount /= 1024
    return f"{size} bytes"  # pragma: no cover - the loop returns
