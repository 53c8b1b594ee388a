"""Durable records of every run request: idempotency, the request state machine, and resume.

Each request is written here before anything is sent to Nautobot, keyed by the Slack view id, so a
double click, a redelivered ``view_submission`` or a reconnect runs the Job once, and a bot that was
killed at any point finds every unfinished request again on start. Every state change is a single
conditional ``UPDATE`` (``WHERE state IN (allowed from-states)``): of two replicas, or of an event
and its replay, only one can advance a request.

SQLite serves a single bot (WAL, busy timeout); PostgreSQL serves replicas. The schema is created
and upgraded on :meth:`Ledger.open` from an ordered list of migration steps.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
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
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.models import InputValue, RunRequest, RunStatus

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
_WRITE_LOCK = "ledger_write_lock"
_ASKED = {"request_id", "requester_id", "channel_id", "job_name", "inputs", "dryrun"}
_MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"meraki-chatops ledger migrations").digest()[:8], "big", signed=True
)
"""The PostgreSQL advisory lock that serialises schema upgrades across replicas."""


class LedgerError(Exception):
    """The ledger cannot do what was asked."""


class UnknownRequest(LedgerError):
    """No request is recorded under that id."""


class IllegalTransition(LedgerError):
    """The request is not in a state this step may follow: it was never there, or another worker moved it."""

    def __init__(self, request_id: str, state: RequestState, action: str):
        super().__init__(f"request {request_id} is {state.value}; cannot {action}")
        self.request_id = request_id
        self.state = state
        self.action = action


class SchemaTooNew(LedgerError):
    """The database was upgraded by a newer bot; writing to it could corrupt that bot's records."""


class LedgerUnavailable(LedgerError):
    """The database could not be reached or refused the statement."""


class RequestState(StrEnum):
    """Where a request stands in the bot's own bookkeeping (not the Job's status in Nautobot)."""

    RECEIVED = "received"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    ANNOUNCED = "announced"
    LOGGED = "logged"
    DONE = "done"
    REFUSED = "refused"
    UNSENT = "unsent"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES: frozenset[RequestState] = frozenset({RequestState.DONE, RequestState.REFUSED})

TRANSITIONS: Mapping[RequestState, frozenset[RequestState]] = {
    RequestState.SUBMITTING: frozenset({RequestState.RECEIVED, RequestState.UNSENT}),
    RequestState.SUBMITTED: frozenset({RequestState.SUBMITTING}),
    RequestState.ANNOUNCED: frozenset({RequestState.SUBMITTED}),
    RequestState.LOGGED: frozenset({RequestState.ANNOUNCED}),
    RequestState.DONE: frozenset({RequestState.LOGGED}),
    RequestState.REFUSED: frozenset({RequestState.RECEIVED, RequestState.SUBMITTING}),
    RequestState.UNSENT: frozenset({RequestState.RECEIVED, RequestState.SUBMITTING}),
}
"""Target state → the states it may be reached from."""

STATUS_STATES: frozenset[RequestState] = frozenset({RequestState.SUBMITTED, RequestState.ANNOUNCED})
"""States in which a new run status may be recorded."""


@dataclass(frozen=True, slots=True)
class Record:
    """One request as the ledger holds it; a detached snapshot, safe to pass anywhere."""

    request_id: str
    requester_id: str
    channel_id: str
    job_name: str
    inputs: dict[str, InputValue]
    dryrun: bool
    state: RequestState
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    result_id: str | None = None
    scheduled_job_id: str | None = None
    message_channel: str | None = None
    message_ts: str | None = None
    run_status: RunStatus | None = None
    log_posted: bool = False
    error: str | None = None
    finished_at: datetime | None = None

    @property
    def final(self) -> bool:
        """Nothing more will happen for this request: a restarted bot leaves it alone."""
        return self.state.final

    def to_request(self) -> RunRequest:
        """The request as it was asked, for resuming it after a restart."""
        return RunRequest(
            request_id=self.request_id,
            requester_id=self.requester_id,
            channel_id=self.channel_id,
            job_name=self.job_name,
            inputs=self.inputs,
            dryrun=self.dryrun,
        )


# -- storage -------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


class AuditAction(StrEnum):
    """What a person did."""

    COMMAND = "command"
    SUBMIT = "submit"
    RETRY = "retry"
    CANCEL = "cancel"


class AuditOutcome(StrEnum):
    """What became of it."""

    ALLOWED = "allowed"
    """The policy let it through (the command opened the form, Cancel was sent)."""
    DENIED = "denied"
    """The access policy (or nautobot-chatops' grants) refused it."""
    INVALID = "invalid"
    """The form was sent back with field errors; nothing was sent to Nautobot."""
    SUBMITTED = "submitted"
    """Nautobot accepted the run."""
    REFUSED = "refused"
    """Nautobot refused the run (input, permissions, disabled Job); nothing ran."""
    UNSENT = "unsent"
    """Nautobot could not be reached; the request was kept for a retry."""
    DUPLICATE = "duplicate"
    """A second delivery of a request already under way."""
    FAILED = "failed"
    """The bot could not carry it out (e.g. Nautobot did not cancel the run)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One request, allowed or not: who, when, what, where, and the outcome."""

    action: AuditAction
    outcome: AuditOutcome
    user_id: str
    user_name: str = ""
    channel_id: str = ""
    team_id: str = ""
    request_id: str | None = None
    job_name: str | None = None
    inputs: dict[str, InputValue] | None = None
    reason: str = ""
    source: str = ""
    """Which policy decided: ``ACCESS_POLICY``, ``ACCESS_POLICY_FILE`` or ``NAUTOBOT_CHATOPS``."""
    nautobot_user: str | None = None
    """The Nautobot user the Slack user linked their account to (nautobot-chatops), if known."""
    at: datetime | None = None
    """When it happened; set by the ledger when recorded."""


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


def _to_audit(row: AuditRow) -> AuditEntry:
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


def _to_record(row: RequestRow) -> Record:
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


MIGRATIONS: Sequence[Migration] = (_v1_create_requests, _v2_create_audit)
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


def _migrate(conn: Connection, steps: Sequence[Migration]) -> tuple[int, int]:
    """Apply the missing steps inside the caller's transaction, holding the migration lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    SchemaVersionRow.__table__.create(conn, checkfirst=True)
    before = _schema_version(conn)
    _refuse_newer(before, len(steps))
    for number in range(before + 1, len(steps) + 1):
        steps[number - 1](conn)
        conn.execute(insert(SchemaVersionRow).values(version=number, applied_at=_now()))
    return before, len(steps)


async def _upgrade(engine: AsyncEngine) -> None:
    """Check the version without locking (the usual case: current), then upgrade under the lock."""
    steps = tuple(MIGRATIONS)
    async with engine.connect() as conn:
        current = await conn.run_sync(_schema_version)
    _refuse_newer(current, len(steps))
    if current == len(steps):
        return
    async with engine.connect() as conn:
        await conn.execution_options(**{_WRITE_LOCK: True})
        async with conn.begin():
            before, after = await conn.run_sync(_migrate, steps)
    if after > before:
        log.info("ledger schema upgraded from version %d to %d url=%s", before, after, _safe(engine.url))


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
        raise LedgerError(f"the ledger supports SQLite and PostgreSQL, not {backend!r} ({_safe(parsed)})")
    return parsed.set(drivername=f"{_BACKENDS.get(backend, backend)}+{driver}")


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _create_engine(url: URL) -> AsyncEngine:
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, connect_args={"timeout": PG_CONNECT_TIMEOUT})
    engine = create_async_engine(url)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL and a busy timeout let two processes share the file; real ``BEGIN`` makes DDL transactional.

    ``synchronous = FULL`` keeps a committed state change through a power cut, not only a crash: losing
    ``submitting`` would let a restarted bot send a run twice.

    The sqlite3 driver's own transaction handling skips ``BEGIN`` before DDL and ``SELECT``, so
    SQLAlchemy emits it instead (``BEGIN IMMEDIATE`` where a connection asked for the write lock up
    front, as migrations do).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_LOCK) else "BEGIN")


def _insert_absent(dialect: str, values: Mapping[str, Any]) -> Any:
    """``INSERT … ON CONFLICT (request_id) DO NOTHING RETURNING request_id``: a row back means created."""
    insert_for = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert_for(RequestRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[RequestRow.request_id])
        .returning(RequestRow.request_id)
    )


# -- the ledger ----------------------------------------------------------------------------------


class Ledger:
    """The request ledger; open with :meth:`open`, share one instance per process."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._closed = False

    @classmethod
    async def open(cls, url: str = DEFAULT_URL) -> Ledger:
        """Connect, and create or upgrade the schema; refuses a schema newer than this code."""
        engine = _create_engine(async_url(url))
        try:
            await _upgrade(engine)
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            raise LedgerUnavailable(f"cannot open the request ledger at {_safe(engine.url)}: {_reason(exc)}") from exc
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._engine.dispose()

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The database URL without its password, for logs and ``doctor``."""
        return _safe(self._engine.url)

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, request_id: str) -> Record | None:
        async with self._transaction() as session:
            row = await session.get(RequestRow, request_id)
            return _to_record(row) if row is not None else None

    async def unfinished(self) -> list[Record]:
        """Every request not in a final state, oldest first: what a restarted bot resumes."""
        open_states = [state.value for state in RequestState if not state.final]
        query = (
            select(RequestRow)
            .where(RequestRow.state.in_(open_states))
            .order_by(RequestRow.created_at, RequestRow.request_id)
        )
        async with self._transaction() as session:
            return [_to_record(row) for row in await session.scalars(query)]

    async def writable(self) -> bool:
        """Whether a write would succeed now (for ``/readyz``): a real write, rolled back."""
        if self._closed:
            return False
        try:
            async with self._engine.connect() as conn:
                await conn.execute(update(SchemaVersionRow).values(version=SchemaVersionRow.version))
                await conn.rollback()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("ledger not writable url=%s: %s", self.url, _reason(exc))
            return False
        return True

    # -- recording -------------------------------------------------------------------------------

    async def record(self, request: RunRequest) -> tuple[Record, bool]:
        """Record ``request`` unless its key is known; ``(record, created)``, race-safe across replicas."""
        if len(request.request_id) > KEY_MAX:
            raise LedgerError(f"a request id is at most {KEY_MAX} characters, got {len(request.request_id)}")
        now = _now()
        values = {
            **request.model_dump(mode="json", include=_ASKED),
            "state": RequestState.RECEIVED.value,
            "log_posted": False,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        async with self._transaction() as session:
            created = (await session.execute(_insert_absent(self._engine.dialect.name, values))).first() is not None
            row = await session.get(RequestRow, request.request_id)
            if row is None:
                raise LedgerError(f"request {request.request_id} vanished while it was being recorded")
            return _to_record(row), created

    # -- the audit trail -------------------------------------------------------------------------

    async def audit(self, entry: AuditEntry) -> AuditEntry:
        """Append one entry to the audit trail (never updated or deleted by the bot); returns it with its time."""
        values = {
            "at": entry.at or _now(),
            "action": AuditAction(entry.action).value,
            "outcome": AuditOutcome(entry.outcome).value,
            "user_id": entry.user_id[:255],
            "user_name": entry.user_name[:255],
            "channel_id": entry.channel_id[:255],
            "team_id": entry.team_id[:255],
            "request_id": entry.request_id[:KEY_MAX] if entry.request_id else None,
            "job_name": entry.job_name[:255] if entry.job_name else None,
            "inputs": entry.inputs,
            "reason": entry.reason,
            "source": entry.source[:64],
            "nautobot_user": entry.nautobot_user[:255] if entry.nautobot_user else None,
        }
        async with self._transaction() as session:
            row = AuditRow(**values)
            session.add(row)
            await session.flush()
            return _to_audit(row)

    async def audit_trail(
        self, *, user_id: str | None = None, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Audit entries, oldest first; optionally only one person's or one request's."""
        query = select(AuditRow).order_by(AuditRow.at, AuditRow.id).limit(limit)
        if user_id is not None:
            query = query.where(AuditRow.user_id == user_id)
        if request_id is not None:
            query = query.where(AuditRow.request_id == request_id)
        async with self._transaction() as session:
            return [_to_audit(row) for row in await session.scalars(query)]

    # -- the state machine -----------------------------------------------------------------------

    async def begin_submit(self, request_id: str) -> Record:
        """About to send the run to Nautobot; after a crash in this state, ask Nautobot before re-sending."""
        return await self._move(request_id, RequestState.SUBMITTING, attempts=RequestRow.attempts + 1)

    async def submitted(self, request_id: str, *, result_id: str | None, scheduled_job_id: str | None) -> Record:
        """Nautobot accepted the run: a JobResult to follow, or a scheduled job awaiting approval."""
        if not result_id and not scheduled_job_id:
            raise LedgerError(f"request {request_id}: an accepted run has a result id or a scheduled job id")
        return await self._move(
            request_id, RequestState.SUBMITTED, result_id=result_id, scheduled_job_id=scheduled_job_id, error=None
        )

    async def refused(self, request_id: str, error: str) -> Record:
        """Nautobot refused the run; nothing ran. Final."""
        return await self._move(request_id, RequestState.REFUSED, error=error)

    async def unsent(self, request_id: str, error: str) -> Record:
        """Nautobot could not be reached; kept so a retry can send it again."""
        return await self._move(request_id, RequestState.UNSENT, error=error)

    async def announced(self, request_id: str, *, channel: str, ts: str, run_status: RunStatus | str) -> Record:
        """The parent message is in Slack; later updates and the log thread go under it."""
        return await self._move(
            request_id,
            RequestState.ANNOUNCED,
            message_channel=channel,
            message_ts=ts,
            run_status=_run_status(run_status),
        )

    async def approved(self, request_id: str, result_id: str) -> Record:
        """The approved run has its JobResult; following it goes on under the same parent message."""
        return await self._update(
            request_id, frozenset({RequestState.ANNOUNCED}), "attach the approved run", result_id=result_id
        )

    async def closed_unrun(self, request_id: str, run_status: RunStatus | str) -> Record:
        """Nautobot will never run it (the approval was denied or withdrawn): no log to post. Final."""
        return await self._move(
            request_id, RequestState.DONE, source={RequestState.ANNOUNCED}, run_status=_run_status(run_status)
        )

    async def set_run_status(self, request_id: str, run_status: RunStatus | str) -> Record:
        """Remember the status last shown, so a restarted bot neither repeats nor skips an update."""
        return await self._update(request_id, STATUS_STATES, "record a run status", run_status=_run_status(run_status))

    async def logged(self, request_id: str) -> Record:
        """The Job's log is in the thread; a restart must not post it again."""
        return await self._move(request_id, RequestState.LOGGED, log_posted=True)

    async def done(self, request_id: str) -> Record:
        """The final status is on the parent message. Final."""
        return await self._move(request_id, RequestState.DONE)

    # -- internals -------------------------------------------------------------------------------

    async def _move(
        self, request_id: str, target: RequestState, *, source: set[RequestState] | None = None, **values: Any
    ) -> Record:
        """``source``: where a step off the usual path (see ``TRANSITIONS``) may start from."""
        now = _now()
        values |= {"state": target.value, "updated_at": now} | ({"finished_at": now} if target.final else {})
        allowed = frozenset(source) if source is not None else TRANSITIONS[target]
        return await self._update(request_id, allowed, f"move it to {target.value}", **values)

    async def _update(self, request_id: str, allowed: frozenset[RequestState], action: str, **values: Any) -> Record:
        """One conditional UPDATE: it changes the row only if the row is still in an allowed state."""
        values.setdefault("updated_at", _now())
        statement = (
            update(RequestRow)
            .where(RequestRow.request_id == request_id, RequestRow.state.in_([state.value for state in allowed]))
            .values(**values)
            .returning(RequestRow)
            .execution_options(synchronize_session=False)
        )
        async with self._transaction() as session:
            row = (await session.scalars(statement)).one_or_none()
            if row is None:
                raise await self._why_not(session, request_id, action)
            return _to_record(row)

    async def _why_not(self, session: AsyncSession, request_id: str, action: str) -> LedgerError:
        row = await session.get(RequestRow, request_id)
        if row is None:
            return UnknownRequest(f"no request {request_id} in the ledger")
        return IllegalTransition(request_id, RequestState(row.state), action)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        if self._closed:
            raise LedgerError("the ledger is closed")
        try:
            async with self._sessions.begin() as session:
                yield session
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerUnavailable(f"the request ledger failed: {_reason(exc)}") from exc


def _run_status(value: RunStatus | str) -> str:
    try:
        return RunStatus(value).value
    except ValueError:
        raise LedgerError(f"{value!r} is not a run status") from None


def _reason(exc: Exception) -> str:
    """The driver's message without the SQL statement and its parameters."""
    message = str(getattr(exc, "orig", None) or exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__
