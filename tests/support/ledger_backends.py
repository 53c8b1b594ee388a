"""The ledger's backends for its tests: each test gets an empty SQLite file or an emptied PostgreSQL database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from bot.ledger import Ledger
from tests.support.fixtures import service_missing
from tests.support.postgres import psql


@dataclass(frozen=True)
class Backend:
    name: str
    url: str
    read_only: Callable[[], str]
    """Make the database read-only for new connections; returns the URL to open it with."""


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One throwaway database for the session; each test starts from an empty one (see ``backend``)."""
    try:
        psql("SELECT 1")
    except psycopg2.OperationalError as exc:
        service_missing(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {' '.join(str(exc).split())}")
    name = f"meraki_chatops_ledger_test_{secrets.token_hex(6)}"
    psql(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty(database: str) -> None:
    """As good as a new database, and much faster to get than ``CREATE DATABASE``."""
    psql(f'ALTER DATABASE "{database}" RESET ALL')
    psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
        "DROP SCHEMA public CASCADE",
        "CREATE SCHEMA public",
        database=database,
    )


def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "ledger.sqlite3"
    return Backend("sqlite", f"sqlite+aiosqlite:///{path}", lambda: f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return sqlite_backend(tmp_path)
    database: str = request.getfixturevalue("postgres_database")
    _empty(database)

    def read_only() -> str:
        psql(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        return url

    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    return Backend("postgresql", url, read_only)


@pytest.fixture
async def ledger(backend: Backend) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(backend.url)
    yield opened
    await opened.close()


@pytest.fixture
async def sqlite_ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    """A ledger on SQLite alone, for tests of what is built on the ledger rather than of the ledger."""
    opened = await Ledger.open(sqlite_backend(tmp_path).url)
    yield opened
    await opened.close()
