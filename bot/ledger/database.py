"""Which database holds the ledger, and how the bot connects to it: SQLite or PostgreSQL.

SQLite serves a single bot (WAL, busy timeout, ``synchronous = FULL``); PostgreSQL serves replicas, through a
pool whose connections are checked before use. The URL an operator gives is turned into the async driver's.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.ledger.records import LedgerError

DEFAULT_URL = "sqlite+aiosqlite:///meraki-chatops.sqlite3"
"""A file in the working directory; use ``postgresql+asyncpg://user@host/db`` for several replicas."""

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another process's write to finish before giving up."""
PG_CONNECT_TIMEOUT = 10.0
"""Seconds before an unreachable PostgreSQL counts as down (asyncpg's own default is a minute)."""

_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "postgres": "asyncpg"}
_BACKENDS = {"postgres": "postgresql"}


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
