"""What a test Nautobot needs of the machine: PostgreSQL and Redis on loopback, and the machine-wide
lock that keeps to one stack at a time, since every stack uses the same database names and Redis databases."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2

TESTBED = Path(__file__).resolve().parent
CHECKOUT = TESTBED.parent
"""The repository root: the checkout Nautobot syncs as a Git repository."""

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Redis databases of our own, so nothing else on the machine shares the Celery queue or the cache.
REDIS_CACHE_DB, REDIS_BROKER_DB = 10, 11
EVENTS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/12"
"""Where the test Nautobot publishes its events. Pub/sub channels are server-wide: the number only names the URL."""
TEST_DATABASE = "meraki_chatops_nautobot_test"
LOCK_FILE = Path("/tmp/meraki-chatops-nautobot.lock")


class StackError(RuntimeError):
    """Nautobot could not be started; the message carries the relevant log lines."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def services_reachable() -> list[str]:
    """Names of the machine services that do not answer (empty when both do)."""
    missing = []
    for name, port in (("PostgreSQL", PG["port"]), ("Redis", REDIS_PORT)):
        with socket.socket() as s:
            s.settimeout(2)
            if s.connect_ex(("127.0.0.1", port)) != 0:
                missing.append(f"{name} on 127.0.0.1:{port}")
    return missing


@contextlib.contextmanager
def machine_lock(timeout: float = 1800) -> Iterator[None]:
    """One Nautobot stack per machine at a time: they share PostgreSQL names and Redis databases."""
    with LOCK_FILE.open("a+") as handle:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StackError(f"another test Nautobot ({_holder(handle)}) held {LOCK_FILE} too long") from None
                if not announced:
                    print(f"waiting for another test Nautobot ({_holder(handle)}) to stop", file=sys.stderr)
                    announced = True
                time.sleep(1)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder(handle) -> str:
    handle.seek(0)
    return handle.read().strip() or "unknown process"


def run_sql(statement: str, *, database: str = "postgres") -> list[tuple]:
    connection = psycopg2.connect(dbname=database, **PG)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def database_exists(name: str) -> bool:
    return bool(run_sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"))


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"
