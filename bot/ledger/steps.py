"""How a ledger step reaches the database: whole, never on the event loop.

A step is a function of a synchronous SQLAlchemy ``Connection``; all it wrote holds once its caller
hears that it returned, and nothing of it holds when it raised: it runs in a transaction (on SQLite,
in a savepoint of one that steps queued together share; see below).

- PostgreSQL: through the async engine (asyncpg), each step on a pooled connection of its own, so
  replicas and concurrent steps go on at once and the database arbitrates.
- SQLite: every step in ONE thread of the ledger's own, with the synchronous sqlite3 driver and one
  connection kept for the process. The aiosqlite driver sends each call (execute, fetch, commit)
  to a thread and back, and its pool's connections contend for SQLite's single write lock by
  sleeping in the busy handler (up to 100 ms a try); here a step costs one hand-over, and the
  steps of this process wait their turn in order instead. A write step starts with
  ``BEGIN IMMEDIATE``: it holds the write lock from its first statement, so its reads and its
  write see one state, and another process's writer is waited for (the busy timeout), not failed.

  Steps that queued up while the thread was busy (hundreds of runs ending together) share one
  transaction and its one commit, each step in a savepoint of its own: a step that fails leaves
  nothing of what it wrote, the others stand. A commit waits for the disk (``synchronous =
  FULL``), so this is what makes a crowd of steps cheap; every caller hears of its step only once
  the commit is done, and if the commit fails, every step in it fails. A step alone in its round
  needs no savepoint: its transaction is all it would hold.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
Step = Callable[[Connection], T]

MAX_SHARED = 100
"""Steps at most in one transaction: a crowd is committed in a few rounds, none of them long."""


class Steps(Protocol):
    async def run(self, step: Step[T], *, write: bool) -> T:
        """Run ``step`` whole; ``write``: it may write (SQLite takes the write lock up front)."""
        ...

    async def close(self) -> None: ...


class PooledSteps:
    """Each step on a connection of the async engine's pool (PostgreSQL)."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def run(self, step: Step[T], *, write: bool) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(step)

    async def close(self) -> None:
        """Nothing of its own to close: the engine is its ledger's."""


@dataclass
class _Turn(Generic[T]):
    """One step waiting for the thread, and how its caller hears of it."""

    step: Step[T]
    write: bool
    waiter: asyncio.Future[T]
    context: contextvars.Context
    loop: asyncio.AbstractEventLoop

    def settle(self, result: T | None, error: BaseException | None) -> None:
        self.loop.call_soon_threadsafe(_settle, self.waiter, result, error)


class SqliteThread:
    """Each step in one thread of its own, on one kept connection (SQLite); steps run in the order given, those
    that queued up together in one transaction."""

    def __init__(self, engine: Engine):
        """``engine``: synchronous, its connections configured without SQLAlchemy's ``BEGIN`` (steps send their own)."""
        self._engine = engine
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        self._conn: Connection | None = None
        self._waiting: queue.SimpleQueue[_Turn[Any]] = queue.SimpleQueue()
        self._called = False
        """A round is called and has not begun taking the waiting steps: a step queued now is taken along. Set on
        the loop, cleared by the thread before it takes any: a step queued after that calls a round of its own."""

    async def run(self, step: Step[T], *, write: bool) -> T:
        # A step cancelled before its turn never runs; once begun it runs to its commit or rollback. The thread
        # reads the cancellation from the caller's own future, which Task.cancel() marks at once: a future
        # chained with wrap_future hears of it only on a later turn of the loop, by when the thread may have
        # begun the step. It runs in the caller's context (as asyncio.to_thread does), so what it logs carries
        # the request's correlation id.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._waiting.put(_Turn(step, write, waiter, contextvars.copy_context(), loop))
        if not self._called:  # a round not begun yet takes this step along; else one more round is called
            self._called = True
            self._thread.submit(self._take_turns)
        return await waiter

    async def close(self) -> None:
        try:
            await asyncio.wrap_future(self._thread.submit(self._close))
        finally:
            self._thread.shutdown(wait=False)

    def _take_turns(self) -> None:
        """Every step waiting now (up to :data:`MAX_SHARED`), in one transaction."""
        self._called = False
        turns: list[_Turn[Any]] = []
        while len(turns) < MAX_SHARED:
            try:
                turn = self._waiting.get_nowait()
            except queue.Empty:
                break
            if not turn.waiter.cancelled():
                turns.append(turn)
        if len(turns) == MAX_SHARED:  # more may wait, queued while this round was called: one more round for them
            self._called = True
            self._thread.submit(self._take_turns)
        if not turns:
            return
        try:
            outcomes = self._run(turns)
        except BaseException as exc:  # the transaction failed (its BEGIN, or its commit): none of it holds
            for turn in turns:
                turn.settle(None, exc)
            return
        for turn, (result, error) in zip(turns, outcomes, strict=True):
            turn.settle(result, error)

    def _run(self, turns: list[_Turn[Any]]) -> list[tuple[Any, Exception | None]]:
        conn = self._connection()
        with conn.begin():
            conn.exec_driver_sql("BEGIN IMMEDIATE" if any(turn.write for turn in turns) else "BEGIN")
            if len(turns) == 1:  # alone in its transaction, which is all its savepoint would be: it raises through
                return [(turns[0].context.run(turns[0].step, conn), None)]
            return [self._step(conn, turn) for turn in turns]

    @staticmethod
    def _step(conn: Connection, turn: _Turn[T]) -> tuple[T | None, Exception | None]:
        """One step in a savepoint: what it returned, or what it raised with its writes undone.

        The savepoint goes straight to the driver: SQLAlchemy's ``begin_nested`` builds its statements anew each
        time, which cost more than the step's own UPDATE.
        """
        conn.exec_driver_sql("SAVEPOINT step")
        try:
            result = turn.context.run(turn.step, conn)
        except Exception as exc:
            if not _transaction_open(conn):
                raise  # SQLite gave up the whole transaction (an I/O error): the steps before this one are lost too
            conn.exec_driver_sql("ROLLBACK TO step")
            conn.exec_driver_sql("RELEASE step")
            return None, exc
        conn.exec_driver_sql("RELEASE step")
        return result, None

    def _connection(self) -> Connection:
        """The kept connection; a new one after the driver lost it (SQLAlchemy invalidates it then)."""
        if self._conn is not None and (self._conn.closed or self._conn.invalidated):
            self._conn.close()
            self._conn = None
        if self._conn is None:
            self._conn = self._engine.connect()
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()


def _transaction_open(conn: Connection) -> bool:
    """Whether the transaction is still open, in SQLAlchemy's view and in SQLite's own."""
    try:
        return conn.in_transaction() and bool(getattr(conn.connection.dbapi_connection, "in_transaction", False))
    except SQLAlchemyError:  # the connection was invalidated
        return False


def _settle(waiter: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    """On the loop: the step's outcome to its caller, unless the caller stopped waiting."""
    if waiter.done():
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(result)  # type: ignore[arg-type]
