"""How a ledger step reaches the database: whole, as one transaction, never on the event loop.

A step is a function of a synchronous SQLAlchemy ``Connection``; it runs inside one transaction,
committed when it returns and rolled back when it raises.

- PostgreSQL: through the async engine (asyncpg), each step on a pooled connection of its own, so
  replicas and concurrent steps go on at once and the database arbitrates.
- SQLite: every step in ONE thread of the ledger's own, with the synchronous sqlite3 driver and one
  connection kept for the process. The aiosqlite driver sends each call (execute, fetch, commit)
  to a thread and back, and its pool's connections contend for SQLite's single write lock by
  sleeping in the busy handler (up to 100 ms a try); here a step costs one hand-over, and the
  steps of this process wait their turn in order instead. A write step starts with
  ``BEGIN IMMEDIATE``: it holds the write lock from its first statement, so its reads and its
  write see one state, and another process's writer is waited for (the busy timeout), not failed.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
Step = Callable[[Connection], T]


class Steps(Protocol):
    async def run(self, step: Step[T], *, write: bool) -> T:
        """Run ``step`` as one transaction; ``write``: it may write (SQLite takes the write lock up front)."""
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


class SqliteThread:
    """Each step in one thread of its own, on one kept connection (SQLite); steps run in the order given."""

    def __init__(self, engine: Engine):
        """``engine``: synchronous, its connections configured without SQLAlchemy's ``BEGIN`` (steps send their own)."""
        self._engine = engine
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        self._conn: Connection | None = None

    async def run(self, step: Step[T], *, write: bool) -> T:
        # A step cancelled before its turn never runs; once begun it runs to its commit or rollback. The thread
        # reads the cancellation from the caller's own future, which Task.cancel() marks at once: a future
        # chained with wrap_future hears of it only on a later turn of the loop, by when the thread may have
        # begun the step. It runs in the caller's context (as asyncio.to_thread does), so what it logs carries
        # the request's correlation id.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()

        def turn() -> None:
            if waiter.cancelled():
                return
            try:
                result = context.run(self._run, step, write)
            except BaseException as exc:  # handed to the caller, whatever it is
                loop.call_soon_threadsafe(_settle, waiter, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, waiter, result, None)

        self._thread.submit(turn)
        return await waiter

    async def close(self) -> None:
        try:
            await asyncio.wrap_future(self._thread.submit(self._close))
        finally:
            self._thread.shutdown(wait=False)

    def _run(self, step: Step[T], write: bool) -> T:
        conn = self._connection()
        with conn.begin():
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
            return step(conn)

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


def _settle(waiter: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    """On the loop: the step's outcome to its caller, unless the caller stopped waiting."""
    if waiter.done():
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(result)  # type: ignore[arg-type]
