"""How the ledger is stored: tables, ordered migrations, and the engine for SQLite or PostgreSQL.

SQLite serves a single bot (WAL, busy timeout); PostgreSQL serves replicas. The schema is created
and upgraded when the ledger opens, from an ordered list of migration steps that are never edited,
only appended to; a PostgreSQL advisory lock keeps two replicas from upgrading at once.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.ledger.records import (
    AuditAction,
    AuditEntry,
    AuditOutcome,
    LedgerError,
    Record,
    RequestState,
    SchemaTooNew,
)
from bot.ledger.steps import Steps
from bot.models import RunStatus

log = logging.getLogger("bot.ledger")

DEFAULT_URL = "sqlite+aiosqlite:///meraki-chatops.sqlite3"
"""A file in the working directory; use ``postgresql+asyncpg://user@host/db`` for several replicas."""

KEY_MAX = 255
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another process's write to finish before giving up."""
PG_CONNECT_TIMEOUT = 10.0
"""Seconds before an unreachable PostgreSQL counts as down (asyncpg's own default is a minute)."""

_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "postgres": "asyncpg"}
_BACKENDS = {"postgres": "postgresql"}
_MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"meraki-chatops ledger migrations").digest()[:8], "big", signed=True
)
"""The PostgreSQL advisory lock that serialises schema upgrades across replicas."""


def now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend; SQLite stores no offset, so it gets UTC wall time."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ledger stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class SchemaVersionRow(Base):
    """One row per applied migration step; the highest ``version`` is the schema's version."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RequestRow(Base):
    """The ``requests`` table as the current schema version defines it."""

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_state", "state"),)

    request_id: Mapped[str] = mapped_column(String(KEY_MAX), primary_key=True)
    requester_id: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[str] = mapped_column(String(255))
    job_name: Mapped[str] = mapped_column(String(255))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    dryrun: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(32))
    result_id: Mapped[str | None] = mapped_column(String(255))
    scheduled_job_id: Mapped[str | None] = mapped_column(String(255))
    message_channel: Mapped[str | None] = mapped_column(String(255))
    message_ts: Mapped[str | None] = mapped_column(String(64))
    run_status: Mapped[str | None] = mapped_column(String(32))
    log_posted: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resumes: Mapped[int] = mapped_column(Integer, default=0)


REQUESTS: Table = Base.metadata.tables[RequestRow.__tablename__]


class AuditRow(Base):
    """The ``audit`` table as the current schema version defines it."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(255))
    user_name: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[str] = mapped_column(String(255))
    team_id: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(KEY_MAX))
    job_name: Mapped[str | None] = mapped_column(String(255))
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    nautobot_user: Mapped[str | None] = mapped_column(String(255))


AUDIT: Table = Base.metadata.tables[AuditRow.__tablename__]


def to_audit(row: Any) -> AuditEntry:
    """``row``: anything with the audit table's columns as attributes (a result row, an ``AuditRow``)."""
    return AuditEntry(
        action=AuditAction(row.action),
        outcome=AuditOutcome(row.outcome),
        user_id=row.user_id,
        user_name=row.user_name,
        channel_id=row.channel_id,
        team_id=row.team_id,
        request_id=row.request_id,
        job_name=row.job_name,
        inputs=dict(row.inputs) if row.inputs is not None else None,
        reason=row.reason,
        source=row.source,
        nautobot_user=row.nautobot_user,
        at=row.at,
    )


def to_record(row: Any) -> Record:
    """``row``: anything with the requests table's columns as attributes (a result row, a ``RequestRow``)."""
    return Record(
        request_id=row.request_id,
        requester_id=row.requester_id,
        channel_id=row.channel_id,
        job_name=row.job_name,
        inputs=dict(row.inputs),
        dryrun=row.dryrun,
        state=RequestState(row.state),
        result_id=row.result_id,
        scheduled_job_id=row.scheduled_job_id,
        message_channel=row.message_channel,
        message_ts=row.message_ts,
        run_status=RunStatus(row.run_status) if row.run_status else None,
        log_posted=row.log_posted,
        error=row.error,
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        owner=row.owner,
        lease_until=row.lease_until,
        resumes=row.resumes or 0,
    )


# -- migrations ----------------------------------------------------------------------------------

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


MIGRATIONS: Sequence[Migration] = (_v1_create_requests, _v2_create_audit, _v3_owners_and_leases)
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


# -- engine --------------------------------------------------------------------------------------


def async_url(url: str | URL) -> URL:
    """``sqlite:///x`` → ``sqlite+aiosqlite:///x``; ``postgresql://…`` → ``postgresql+asyncpg://…``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LedgerError(
            "the ledger URL is not a database URL; use sqlite:///path/to/file.sqlite3 or postgresql://user@host/db"
        ) from None
    backend = parsed.drivername.partition("+")[0]
    driver = _ASYNC_DRIVERS.get(backend)
    if driver is None:
        raise LedgerError(f"the ledger supports SQLite and PostgreSQL, not {backend!r} ({safe_url(parsed)})")
    return parsed.set(drivername=f"{_BACKENDS.get(backend, backend)}+{driver}")


def safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def create_engine(url: URL) -> AsyncEngine:
    """The async engine: every step's on PostgreSQL; on SQLite, for other readers of the ledger (its steps
    go through :func:`sqlite_engine`)."""
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, connect_args={"timeout": PG_CONNECT_TIMEOUT})
    engine = create_async_engine(url)
    _configure_sqlite(engine.sync_engine)
    _begin_explicitly(engine.sync_engine)
    return engine


def sqlite_engine(url: URL) -> Engine:
    """The synchronous engine the ledger's SQLite thread uses (:class:`~bot.ledger.steps.SqliteThread`): the
    same file and settings as ``url``, the sqlite3 driver; each step sends its own ``BEGIN``."""
    engine = sqlalchemy.create_engine(url.set(drivername="sqlite+pysqlite"))
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL and a busy timeout let two processes share the file; SQLAlchemy's transactions start a real ``BEGIN``.

    ``synchronous = FULL`` keeps a committed state change through a power cut, not only a crash: losing
    ``submitting`` would let a restarted bot send a run twice.

    The sqlite3 driver's own transaction handling skips ``BEGIN`` before DDL and ``SELECT``, so it is
    turned off and the ``BEGIN`` is sent explicitly (:func:`_begin_explicitly`, or by the step itself).
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _wal(cursor)
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()


def _begin_explicitly(engine: Engine) -> None:
    """``BEGIN`` when SQLAlchemy begins a transaction."""

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def _wal(cursor: Any) -> None:
    """Switch to WAL; SQLite answers "locked" at once, without its busy timeout, while another connection
    creates the same new file, so the switch is tried again for as long as that timeout. This runs in the
    ledger's SQLite thread (or aiosqlite's), not on the event loop."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@functools.cache
def insert_absent(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (request_id) DO NOTHING RETURNING *``: a row back means created. Its columns are
    the parameters' keys."""
    insert_for = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert_for(REQUESTS).on_conflict_do_nothing(index_elements=[REQUESTS.c.request_id]).returning(*REQUESTS.c)
