"""Durable records of every run request: idempotency, the request state machine, and resume.

Each request is written here before anything is sent to Nautobot, keyed by the Slack view id, so a
double click, a redelivered ``view_submission`` or a reconnect runs the Job once, and a bot that was
killed at any point finds every unfinished request again on start. Every state change is a single
conditional ``UPDATE`` (``WHERE state IN (allowed from-states)``): of two replicas, or of an event
and its replay, only one can advance a request.

How it is stored is :mod:`bot.ledger.schema`; what it holds, :mod:`bot.ledger.records`.

Every step of a request's life writes here, so the statements are SQLAlchemy Core, built once and
run with new parameters: the ORM's unit of work and the building of each statement cost more than
the write itself. Each step is all or nothing, whatever reads follow its write (to explain a
refusal, or to find a request recorded before); how it reaches the database, off the event loop, is
:mod:`bot.ledger.steps`.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Executable,
    Insert,
    Select,
    Update,
    bindparam,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ledger.records import (
    STATUS_STATES,
    TRANSITIONS,
    WORKING_STATES,
    AuditAction,
    AuditEntry,
    AuditOutcome,
    IllegalTransition,
    LedgerError,
    LedgerUnavailable,
    LostLease,
    Record,
    RequestState,
    UnknownRequest,
)
from bot.ledger.schema import (
    AUDIT,
    DEFAULT_URL,
    KEY_MAX,
    REQUESTS,
    SchemaVersionRow,
    async_url,
    create_engine,
    insert_absent,
    now,
    safe_url,
    sqlite_engine,
    to_audit,
    to_record,
    upgrade,
)
from bot.ledger.steps import PooledSteps, SqliteThread, Step, Steps
from bot.models import RunRequest, RunStatus

log = logging.getLogger("bot.ledger")

_ASKED = {"request_id", "requester_id", "channel_id", "job_name", "inputs", "dryrun"}
"""The fields of a :class:`RunRequest` the ledger keeps: what was asked, by whom, where."""


LEASE_SECONDS = 30.0
"""How long a replica holds a request it works on without renewing it; past this, another may take it over."""
_WORKING = [state.value for state in WORKING_STATES]
_IDS_PER_STATEMENT = 500

_GET: Select[Any] = select(REQUESTS).where(REQUESTS.c.request_id == bindparam("key"))
_AUDIT_INSERT: Insert = insert(AUDIT)
"""Its columns are the parameters' keys."""
_PROBE: Update = update(SchemaVersionRow).values(version=SchemaVersionRow.version)

T = TypeVar("T")


class _Probed(Exception):
    """The probe's write went through; raised to roll it back."""


@functools.cache
def _update_statement(allowed: frozenset[str], assigned: tuple[str, ...], incremented: tuple[str, ...]) -> Update:
    """``UPDATE requests SET … WHERE request_id = :key AND state IN allowed AND nobody else holds it RETURNING *``.

    The parameters: ``key``, ``me`` (this replica), ``now``, and ``new_<column>`` for each assigned column;
    each incremented column becomes one more than it was. One statement per shape, kept for the process.
    """
    held_by_nobody_else = or_(
        REQUESTS.c.owner.is_(None), REQUESTS.c.owner == bindparam("me"), REQUESTS.c.lease_until < bindparam("now")
    )
    changes: dict[str, Any] = {name: bindparam(f"new_{name}") for name in assigned}
    changes |= {name: REQUESTS.c[name] + 1 for name in incremented}
    # One parameter per allowed state, fixed here: a list given to in_() is expanded into the SQL text again
    # at every execution (SQLAlchemy's "post-compile" parameters), on the ledger's busiest path.
    in_allowed_state = REQUESTS.c.state.in_([literal(state) for state in sorted(allowed)])
    return (
        update(REQUESTS)
        .where(REQUESTS.c.request_id == bindparam("key"), in_allowed_state, held_by_nobody_else)
        .values(changes)
        .returning(*REQUESTS.c)
    )


def default_replica_id() -> str:
    """``host:pid``: unique per process on a host, and the same after a container restarts its one process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Ledger:
    """The request ledger; open with :meth:`open`, share one instance per process.

    Each instance is one replica (``owner``). A request in a working state belongs to the replica
    that last moved it, for ``lease`` seconds at a time: that replica renews the lease while it
    works (:meth:`renew`), and every move requires that nobody else holds a valid lease. A request
    whose lease ran out is taken over by the next replica that looks (:meth:`take_over`).
    """

    def __init__(self, engine: AsyncEngine, *, owner: str | None = None, lease: float = LEASE_SECONDS):
        """``engine``: the ledger's database; on SQLite the steps go through a thread of the ledger's own
        (:class:`~bot.ledger.steps.SqliteThread`), and ``engine`` serves only other readers."""
        self._engine = engine
        self._steps: Steps = (
            SqliteThread(sqlite_engine(engine.url)) if engine.dialect.name == "sqlite" else PooledSteps(engine)
        )
        self._closed = False
        self.owner = owner or default_replica_id()
        self.lease = timedelta(seconds=lease)
        self._leases: dict[str, datetime] = {}
        """Until when this replica holds each request it works on, as it last wrote it (see :meth:`hold`)."""

    @classmethod
    async def open(cls, url: str = DEFAULT_URL, *, owner: str | None = None, lease: float = LEASE_SECONDS) -> Ledger:
        """Connect, and create or upgrade the schema; refuses a schema newer than this code."""
        ledger = cls(create_engine(async_url(url)), owner=owner, lease=lease)
        try:
            await upgrade(ledger._steps, ledger._engine.url)
        except (SQLAlchemyError, OSError) as exc:
            await ledger.close()
            raise LedgerUnavailable(f"cannot open the request ledger at {ledger.url}: {_reason(exc)}") from exc
        except BaseException:
            await ledger.close()
            raise
        return ledger

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self._steps.close()
            finally:
                await self._engine.dispose()

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The database URL without its password, for logs and ``doctor``."""
        return safe_url(self._engine.url)

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, request_id: str) -> Record | None:
        def step(conn: Connection) -> Record | None:
            row = conn.execute(_GET, {"key": request_id}).one_or_none()
            return to_record(row) if row is not None else None

        return await self._run(step, write=False)

    async def unfinished(self) -> list[Record]:
        """Every request not in a final state, oldest first: what a restarted bot resumes."""
        open_states = [state.value for state in RequestState if not state.final]
        query = (
            select(REQUESTS)
            .where(REQUESTS.c.state.in_(open_states))
            .order_by(REQUESTS.c.created_at, REQUESTS.c.request_id)
        )
        return await self._run(lambda conn: [to_record(row) for row in conn.execute(query)], write=False)

    async def writable(self) -> bool:
        """Whether a write would succeed now (for ``/readyz``): a real write, rolled back."""
        if self._closed:
            return False

        def probe(conn: Connection) -> None:
            conn.execute(_PROBE)
            raise _Probed

        try:
            await self._run(probe, write=True)
        except _Probed:
            return True
        except LedgerError as exc:
            log.warning("ledger not writable url=%s: %s", self.url, exc)
        return False

    # -- recording -------------------------------------------------------------------------------

    async def record(self, request: RunRequest) -> tuple[Record, bool]:
        """Record ``request`` unless its key is known; ``(record, created)``, race-safe across replicas."""
        if len(request.request_id) > KEY_MAX:
            raise LedgerError(f"a request id is at most {KEY_MAX} characters, got {len(request.request_id)}")
        stamp = now()
        values = {
            **request.model_dump(mode="json", include=_ASKED),
            "state": RequestState.RECEIVED.value,
            "log_posted": False,
            "attempts": 0,
            "created_at": stamp,
            "updated_at": stamp,
            "owner": self.owner,
            "lease_until": stamp + self.lease,
            "resumes": 0,
        }
        statement = insert_absent(self._engine.dialect.name)

        def step(conn: Connection) -> tuple[Record, bool]:
            row = conn.execute(statement, values).one_or_none()
            if row is not None:
                return to_record(row), True
            row = conn.execute(_GET, {"key": request.request_id}).one_or_none()
            if row is None:
                raise LedgerError(f"request {request.request_id} vanished while it was being recorded")
            return to_record(row), False

        record, created = await self._run(step, write=True)
        self._remember(record)
        return record, created

    # -- the audit trail -------------------------------------------------------------------------

    async def audit(self, entry: AuditEntry) -> AuditEntry:
        """Append one entry to the audit trail (never updated; swept when past its retention); returns it, timed."""
        values = {
            "at": entry.at or now(),
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
        await self._run(functools.partial(_execute, _AUDIT_INSERT, values), write=True)
        return to_audit(SimpleNamespace(**values))

    async def audit_trail(
        self, *, user_id: str | None = None, request_id: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Audit entries, oldest first; optionally only one person's or one request's."""
        query = select(AUDIT).order_by(AUDIT.c.at, AUDIT.c.id).limit(limit)
        if user_id is not None:
            query = query.where(AUDIT.c.user_id == user_id)
        if request_id is not None:
            query = query.where(AUDIT.c.request_id == request_id)
        return await self._run(lambda conn: [to_audit(row) for row in conn.execute(query)], write=False)

    # -- the state machine -----------------------------------------------------------------------

    async def begin_submit(self, request_id: str) -> Record:
        """About to send the run to Nautobot; after a crash in this state, ask Nautobot before re-sending."""
        return await self._move(request_id, RequestState.SUBMITTING, incremented=("attempts",))

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

    async def moved(self, request_id: str, *, channel: str, ts: str) -> Record:
        """The request's messages went on elsewhere (a DM with the requester); later ones go there."""
        allowed = frozenset({RequestState.SUBMITTED, RequestState.ANNOUNCED, RequestState.LOGGED})
        return await self._update(
            request_id, allowed, "record where its messages went", message_channel=channel, message_ts=ts
        )

    async def logged(self, request_id: str) -> Record:
        """The Job's log is in the thread; a restart must not post it again."""
        return await self._move(request_id, RequestState.LOGGED, log_posted=True)

    async def done(self, request_id: str) -> Record:
        """The final status is on the parent message. Final."""
        return await self._move(request_id, RequestState.DONE)

    # -- owners and leases -----------------------------------------------------------------------

    async def take_over(self, *, mine_too: bool = False) -> list[Record]:
        """Working requests nobody holds (lease run out, or no owner), now held by this replica; oldest first.

        ``mine_too``: also those this replica's id still holds, as after a restart with a stable
        ``REPLICA_ID`` (the process that held them is gone, whatever the lease says).
        """
        stamp = now()
        free: ColumnElement[bool] = or_(REQUESTS.c.owner.is_(None), REQUESTS.c.lease_until < stamp)
        if mine_too:
            free = or_(free, REQUESTS.c.owner == self.owner)
        statement = (
            update(REQUESTS)
            .where(REQUESTS.c.state.in_(_WORKING), free)
            .values(owner=self.owner, lease_until=stamp + self.lease, resumes=REQUESTS.c.resumes + 1)
            .returning(*REQUESTS.c)
        )
        rows = await self._run(lambda conn: [to_record(row) for row in conn.execute(statement)], write=True)
        for record in rows:
            self._remember(record)
        return sorted(rows, key=lambda r: (r.created_at, r.request_id))

    async def renew(self, request_ids: Collection[str]) -> set[str]:
        """Extend this replica's leases on ``request_ids``; returns those it still holds (the rest were taken over)."""
        held: set[str] = set()
        for chunk in _chunks(sorted(request_ids)):
            until = now() + self.lease
            statement = (
                update(REQUESTS)
                .where(REQUESTS.c.request_id.in_(chunk), REQUESTS.c.owner == self.owner)
                .where(REQUESTS.c.state.in_(_WORKING))
                .values(lease_until=until)
                .returning(REQUESTS.c.request_id)
            )
            renewed = set(await self._run(functools.partial(_scalars, statement), write=True))
            for request_id in chunk:
                self._remember_lease(request_id, until if request_id in renewed else None)
            held |= renewed
        return held

    async def hold(self, request_id: str) -> None:
        """Make sure this replica holds a request before doing something twice would show (posting its log).

        Another replica takes a request over only once its lease has run out. While the lease this replica last
        wrote has at least half its time left (it is renewed every heartbeat), nothing needs writing; otherwise
        the lease is renewed, or :class:`LostLease` says that another replica holds the request now.
        """
        until = self._leases.get(request_id)
        if until is not None and until - now() >= self.lease / 2:
            return
        await self._update(request_id, WORKING_STATES, "hold it")

    async def postpone(self, request_id: str, seconds: float) -> None:
        """Keep a request this replica could not take up now for ``seconds``: it is tried again after that."""
        self._remember_lease(request_id, None)  # held only for being tried again, not for working on it
        statement = (
            update(REQUESTS)
            .where(REQUESTS.c.request_id == request_id, REQUESTS.c.owner == self.owner)
            .values(lease_until=now() + timedelta(seconds=seconds))
        )
        await self._run(functools.partial(_execute, statement, None), write=True)

    async def release(self) -> int:
        """Give up every lease of this replica (shutdown): other replicas take the requests over at once."""
        statement = (
            update(REQUESTS)
            .where(REQUESTS.c.owner == self.owner, REQUESTS.c.state.in_(_WORKING))
            .values(lease_until=None, owner=None)
        )
        self._leases.clear()
        return await self._run(lambda conn: int(getattr(conn.execute(statement), "rowcount", 0) or 0), write=True)

    # -- internals -------------------------------------------------------------------------------

    async def _move(
        self,
        request_id: str,
        target: RequestState,
        *,
        source: set[RequestState] | None = None,
        incremented: tuple[str, ...] = (),
        **values: Any,
    ) -> Record:
        """``source``: where a step off the usual path (see ``TRANSITIONS``) may start from."""
        stamp = now()
        values |= {"state": target.value, "updated_at": stamp} | ({"finished_at": stamp} if target.final else {})
        allowed = frozenset(source) if source is not None else TRANSITIONS[target]
        return await self._update(request_id, allowed, f"move it to {target.value}", incremented=incremented, **values)

    async def _update(
        self,
        request_id: str,
        allowed: frozenset[RequestState],
        action: str,
        *,
        incremented: tuple[str, ...] = (),
        **values: Any,
    ) -> Record:
        """One conditional UPDATE: it changes the row only if the row is still in an allowed state and no other
        replica holds it. A request left in a working state stays held by this replica; any other is released.
        """
        stamp = now()
        values.setdefault("updated_at", stamp)
        target = values.get("state")
        if target is None or RequestState(target) in WORKING_STATES:
            values |= {"owner": self.owner, "lease_until": stamp + self.lease}
        else:  # waiting for a person, or finished: nobody works on it
            values |= {"owner": None, "lease_until": None}
        statement = _update_statement(frozenset(state.value for state in allowed), tuple(sorted(values)), incremented)
        parameters = {"key": request_id, "me": self.owner, "now": stamp} | {
            f"new_{name}": value for name, value in values.items()
        }

        def step(conn: Connection) -> Record:
            row = conn.execute(statement, parameters).one_or_none()
            if row is None:
                raise self._why_not(conn, request_id, action)
            return to_record(row)

        try:
            record = await self._run(step, write=True)
        except LostLease:
            self._remember_lease(request_id, None)
            raise
        self._remember(record)
        return record

    def _remember(self, record: Record) -> None:
        self._remember_lease(record.request_id, record.lease_until if record.owner == self.owner else None)

    def _remember_lease(self, request_id: str, until: datetime | None) -> None:
        if until is None:
            self._leases.pop(request_id, None)
        else:
            self._leases[request_id] = until

    def _why_not(self, conn: Connection, request_id: str, action: str) -> LedgerError:
        """In the refused step's transaction: the row as the UPDATE saw it."""
        row = conn.execute(_GET, {"key": request_id}).one_or_none()
        if row is None:
            return UnknownRequest(f"no request {request_id} in the ledger")
        if row.owner not in (None, self.owner) and row.lease_until is not None and row.lease_until >= now():
            return LostLease(request_id, RequestState(row.state), row.owner)
        return IllegalTransition(request_id, RequestState(row.state), action)

    async def _run(self, step: Step[T], *, write: bool) -> T:
        """``step``, whole (see :mod:`bot.ledger.steps`); ``write``: it may write."""
        if self._closed:
            raise LedgerError("the ledger is closed")
        try:
            return await self._steps.run(step, write=write)
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerUnavailable(f"the request ledger failed: {_reason(exc)}") from exc


def _execute(statement: Executable, parameters: dict[str, Any] | None, conn: Connection) -> None:
    """A step that writes and returns nothing (no result object leaves the step's thread)."""
    conn.execute(statement, parameters)


def _scalars(statement: Update, conn: Connection) -> list[Any]:
    return list(conn.scalars(statement))


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        yield ids[start : start + _IDS_PER_STATEMENT]


def _run_status(value: RunStatus | str) -> str:
    try:
        return RunStatus(value).value
    except ValueError:
        raise LedgerError(f"{value!r} is not a run status") from None


def _reason(exc: Exception) -> str:
    """The driver's message without the SQL statement and its parameters."""
    message = str(getattr(exc, "orig", None) or exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__
