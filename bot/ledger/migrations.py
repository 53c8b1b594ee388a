"""How the ledger's schema comes to be: ordered migration steps, applied when the ledger opens.

The steps are never edited, only appended to: a database is at version ``n`` once the first ``n`` steps ran.
A PostgreSQL advisory lock keeps two replicas from upgrading at once, and a database written by a newer bot
is refused rather than written to.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL

from bot.ledger.database import safe_url
from bot.ledger.records import SchemaTooNew
from bot.ledger.schema import KEY_MAX, Base, SchemaVersionRow, UTCDateTime, now
from bot.ledger.steps import Steps

log = logging.getLogger("bot.ledger")

_MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"meraki-chatops ledger migrations").digest()[:8], "big", signed=True
)
"""The PostgreSQL advisory lock that serialises schema upgrades across replicas."""

Migration = Callable[[Connection], None]


def _v1_create_requests(conn: Connection) -> None:
    """Version 1: the ``requests`` table. Frozen: later changes are new steps, never edits here."""
    metadata = MetaData()
    Table(
        "requests",
        metadata,
        Column("request_id", String(KEY_MAX), primary_key=True),
        Column("requester_id", String(255), nullable=False),
        Column("channel_id", String(255), nullable=False),
        Column("job_name", String(255), nullable=False),
        Column("inputs", JSON, nullable=False),
        Column("dryrun", Boolean, nullable=False),
        Column("state", String(32), nullable=False),
        Column("result_id", String(255)),
        Column("scheduled_job_id", String(255)),
        Column("message_channel", String(255)),
        Column("message_ts", String(64)),
        Column("run_status", String(32)),
        Column("log_posted", Boolean, nullable=False),
        Column("error", Text),
        Column("attempts", Integer, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Column("finished_at", UTCDateTime),
        Index("ix_requests_state", "state"),
    )
    metadata.create_all(conn)


def _v2_create_audit(conn: Connection) -> None:
    """Version 2: the ``audit`` table, one row per request or refusal. Frozen like every step."""
    metadata = MetaData()
    Table(
        "audit",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", UTCDateTime, nullable=False),
        Column("action", String(32), nullable=False),
        Column("outcome", String(32), nullable=False),
        Column("user_id", String(255), nullable=False),
        Column("user_name", String(255), nullable=False),
        Column("channel_id", String(255), nullable=False),
        Column("team_id", String(255), nullable=False),
        Column("request_id", String(KEY_MAX)),
        Column("job_name", String(255)),
        Column("inputs", JSON),
        Column("reason", Text, nullable=False),
        Column("source", String(64), nullable=False),
        Column("nautobot_user", String(255)),
        Index("ix_audit_at", "at"),
        Index("ix_audit_user_id", "user_id"),
        Index("ix_audit_request_id", "request_id"),
    )
    metadata.create_all(conn)


def _v3_owners_and_leases(conn: Connection) -> None:
    """Version 3: which replica works on a request, until when (a lease it renews), and how often it was resumed."""
    columns = (
        Column("owner", String(255)),
        Column("lease_until", UTCDateTime),
        Column("resumes", Integer, nullable=False, server_default="0"),
    )
    for column in columns:
        kind = column.type.compile(dialect=conn.dialect)
        default = " NOT NULL DEFAULT 0" if column.name == "resumes" else ""
        conn.execute(text(f"ALTER TABLE requests ADD COLUMN {column.name} {kind}{default}"))
    conn.execute(text("CREATE INDEX ix_requests_lease ON requests (state, lease_until)"))


def _v4_approvals(conn: Connection) -> None:
    """Version 4: the approval a request needs and how it stands (JSON), and when its next timer fires."""
    for name, kind in (("approval", JSON()), ("approval_due", UTCDateTime())):
        conn.execute(text(f"ALTER TABLE requests ADD COLUMN {name} {kind.compile(dialect=conn.dialect)}"))
    conn.execute(text("CREATE INDEX ix_requests_approval_due ON requests (state, approval_due)"))


def _v5_nautobot_approvals(conn: Connection) -> None:
    """Version 5: where the bot told Nautobot's approvers of a run Nautobot holds for approval (JSON)."""
    conn.execute(text(f"ALTER TABLE requests ADD COLUMN nautobot_approval {JSON().compile(dialect=conn.dialect)}"))


def _v6_grants(conn: Connection) -> None:
    """Version 6: time-bound grants the bot follows to their revoke, and when each one's next timer fires."""
    metadata = MetaData()
    Table(
        "grants",
        metadata,
        Column("scheduled_job_id", String(KEY_MAX), primary_key=True),
        Column("state", String(32), nullable=False),
        Column("due", UTCDateTime),
        Column("grant", JSON, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Index("ix_grants_due", "state", "due"),
    )
    metadata.create_all(conn)


def _v7_workflow_steps(conn: Connection) -> None:
    """Version 7: Workflow Builder steps, each with the request it asked for, its own token until it is completed,
    and how it ends (outputs or an error) once that is known."""
    metadata = MetaData()
    Table(
        "workflow_steps",
        metadata,
        Column("execution_id", String(KEY_MAX), primary_key=True),
        Column("callback_id", String(255), nullable=False),
        Column("requester_id", String(255), nullable=False),
        Column("request_id", String(KEY_MAX)),
        Column("token", Text),
        Column("state", String(32), nullable=False),
        Column("ending", JSON),
        Column("owner", String(255)),
        Column("lease_until", UTCDateTime),
        Column("deadline", UTCDateTime, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Index("ix_workflow_steps_state", "state"),
    )
    metadata.create_all(conn)


MIGRATIONS: Sequence[Migration] = (
    _v1_create_requests,
    _v2_create_audit,
    _v3_owners_and_leases,
    _v4_approvals,
    _v5_nautobot_approvals,
    _v6_grants,
    _v7_workflow_steps,
)
"""Step ``n`` (1-based) brings the schema from version ``n - 1`` to ``n``; only ever append."""


def _schema_version(conn: Connection) -> int:
    if not inspect(conn).has_table(SchemaVersionRow.__tablename__):
        return 0
    return conn.scalar(select(func.max(SchemaVersionRow.version))) or 0


def _refuse_newer(version: int, known: int) -> None:
    if version > known:
        raise SchemaTooNew(
            f"the ledger database has schema version {version}, but this bot knows only up to {known}: "
            "a newer bot wrote it. Run that newer bot, or point this one at another database."
        )


def _migrate(conn: Connection, *, steps: Sequence[Migration]) -> tuple[int, int]:
    """Apply the missing steps inside the caller's transaction, holding the migration lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    Base.metadata.tables[SchemaVersionRow.__tablename__].create(conn, checkfirst=True)
    before = _schema_version(conn)
    _refuse_newer(before, len(steps))
    for number in range(before + 1, len(steps) + 1):
        steps[number - 1](conn)
        conn.execute(insert(SchemaVersionRow).values(version=number, applied_at=now()))
    return before, len(steps)


async def upgrade(steps: Steps, url: URL) -> None:
    """Check the version without locking (the usual case: current), then upgrade under the lock."""
    migrations = tuple(MIGRATIONS)
    current = await steps.run(_schema_version, write=False)
    _refuse_newer(current, len(migrations))
    if current == len(migrations):
        return
    before, after = await steps.run(functools.partial(_migrate, steps=migrations), write=True)
    if after > before:
        log.info("ledger schema upgraded from version %d to %d url=%s", before, after, safe_url(url))
