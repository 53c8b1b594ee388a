"""One replica's hold on the requests it works on: its id, its leases, and the conditional update every move
goes through.

A request in a working state belongs to the replica that last moved it, for ``lease`` seconds at a time:
that replica renews the lease while it works, and every move is a single conditional ``UPDATE`` (``WHERE
state IN (allowed from-states)`` and nobody else holds a valid lease), so of two replicas, or of an event and
its replay, only one can advance a request. A request whose lease ran out is taken over by the next replica
that looks. How a step reaches the database, whole and off the event loop, is :mod:`bot.ledger.steps`.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ledger.database import sqlite_engine
from bot.ledger.records import (
    WORKING_STATES,
    IllegalTransition,
    LedgerError,
    LedgerUnavailable,
    LostLease,
    Record,
    RequestState,
    UnknownRequest,
)
from bot.ledger.schema import REQUESTS, now, to_record
from bot.ledger.statements import GET_REQUEST, conditional_update, execute, scalars
from bot.ledger.steps import PooledSteps, SqliteThread, Step, Steps

LEASE_SECONDS = 30.0
"""How long a replica holds a request it works on without renewing it; past this, another may take it over."""
_WORKING = [state.value for state in WORKING_STATES]
_IDS_PER_STATEMENT = 500

T = TypeVar("T")


def default_replica_id() -> str:
    """``host:pid``: unique per process on a host, and the same after a container restarts its one process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Replica:
    """The ledger as one replica (``owner``) sees it: the steps it runs, and the leases it holds.

    :class:`~bot.ledger.store.Ledger` builds a request's life on these.
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
            renewed = set(await self._run(functools.partial(scalars, statement), write=True))
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
        await self._run(functools.partial(execute, statement, None), write=True)

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
        landed = values.setdefault("updated_at", stamp)  # what tells this change from any other
        target = values.get("state")
        if target is None or RequestState(target) in WORKING_STATES:
            values |= {"owner": self.owner, "lease_until": stamp + self.lease}
        else:  # waiting for a person, or finished: nobody works on it
            values |= {"owner": None, "lease_until": None}
        statement = conditional_update(frozenset(state.value for state in allowed), tuple(sorted(values)), incremented)
        parameters = {"key": request_id, "me": self.owner, "now": stamp} | {
            f"new_{name}": value for name, value in values.items()
        }

        def step(conn: Connection) -> Record:
            row = conn.execute(statement, parameters).one_or_none()
            if row is None:
                raise self._why_not(conn, request_id, action, landed=landed)
            return to_record(row)

        try:
            try:
                record = await self._run(step, write=True)
            except LedgerUnavailable:
                # Once more: a connection lost during the COMMIT leaves it unknown whether the change landed, and
                # what the caller did before it (a message posted) must not be done again because the record of it
                # was lost. A change that landed is recognised by its timestamp (``_Landed``).
                record = await self._run(step, write=True)
        except _Landed as already:
            record = already.record
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

    def _why_not(self, conn: Connection, request_id: str, action: str, *, landed: datetime) -> Exception:
        """In the refused step's transaction: the row as the UPDATE saw it (``_Landed`` if it is that very change,
        committed by an earlier try whose answer was lost)."""
        row = conn.execute(GET_REQUEST, {"key": request_id}).one_or_none()
        if row is None:
            return UnknownRequest(f"no request {request_id} in the ledger")
        if row.updated_at == landed:
            return _Landed(to_record(row))
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
            raise LedgerUnavailable(f"the request ledger failed: {failure_reason(exc)}") from exc


class _Landed(Exception):
    """The change a step was retried for is already in the ledger: its first try committed."""

    def __init__(self, record: Record) -> None:
        super().__init__(record.request_id)
        self.record = record


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        yield ids[start : start + _IDS_PER_STATEMENT]


def failure_reason(exc: Exception) -> str:
    """The driver's message without the SQL statement and its parameters."""
    message = str(getattr(exc, "orig", None) or exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__
