"""What a chaos run starts of its own: a Redis server on a free loopback port (never the machine's shared one),
a fresh PostgreSQL database for the replicas' ledger (dropped afterwards), and the replicas themselves."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from bench import ROOT
from bench.processes import free_port
from testbed.bot_process import BotProcess

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
APPLICATION_NAME = "meraki-chatops-chaos"
"""How the run's own connections name themselves, so killing the bot's connections spares them."""
WORKING_STATES = ("received", "submitting", "submitted", "announced", "logged", "asking_approval", "approved")
UNREPORTED_STATES = ("received", "submitting", "submitted", "announced")
"""States in which a request's log is not in its thread yet (``logged`` waits only for the final status)."""


class RedisServer:
    """``redis-server`` on a free loopback port, without persistence; :meth:`restart` keeps the port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.popen: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: the chaos run starts a Redis of its own")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with (self.workdir / "redis.log").open("ab") as out:
            self.popen = subprocess.Popen(argv, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT)
        _until(lambda: _answers(self.port), 10, f"redis-server on port {self.port} did not start")
        return self

    def stop(self) -> None:
        if self.popen is None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)
        self.popen = None


def _answers(port: int) -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _until(condition: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.1)


class LedgerDatabase:
    """A fresh database on the machine's PostgreSQL for the replicas' ledger; :meth:`drop` removes it."""

    def __init__(self) -> None:
        self.name = f"meraki_chatops_chaos_{secrets.token_hex(6)}"

    @property
    def store_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.name}"

    def _connect(self, database: str):
        return psycopg2.connect(dbname=database, connect_timeout=3, application_name=APPLICATION_NAME, **POSTGRES)

    def _admin(self, statement: str) -> None:
        conn = self._connect("postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    def create(self) -> LedgerDatabase:
        self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def query(self, statement: str, *args: object) -> list[tuple]:
        """One query on a connection of its own (a killed one is tried again once)."""
        for attempt in (1, 2):
            try:
                with contextlib.closing(self._connect(self.name)) as conn, conn.cursor() as cursor:
                    cursor.execute(statement, args)
                    return cursor.fetchall()
            except psycopg2.OperationalError:
                if attempt == 2:
                    raise
        return []

    def kill_bot_connections(self) -> int:
        """``pg_terminate_backend`` on every connection to the ledger but the run's own; how many were killed."""
        found = self.query(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND application_name <> %s",
            self.name,
            APPLICATION_NAME,
        )
        return int(found[0][0]) if found else 0

    def owned(self, owner: str) -> dict[str, tuple]:
        """Requests ``owner`` works on: request id → (owner, lease_until, state, updated_at)."""
        rows = self.query(
            "SELECT request_id, owner, lease_until, state, updated_at FROM requests "
            "WHERE owner = %s AND state = ANY(%s)",
            owner,
            list(WORKING_STATES),
        )
        return {row[0]: tuple(row[1:]) for row in rows}

    def rows(self, request_ids: list[str]) -> dict[str, tuple]:
        found = self.query(
            "SELECT request_id, owner, lease_until, state, updated_at FROM requests WHERE request_id = ANY(%s)",
            request_ids,
        )
        return {row[0]: tuple(row[1:]) for row in found}

    def unreported(self) -> int:
        found = self.query("SELECT count(*) FROM requests WHERE state = ANY(%s)", list(UNREPORTED_STATES))
        return int(found[0][0]) if found else 0


@dataclass
class Replicas:
    """The bot's replicas, ``replica-1``…: each a ``meraki-chatops serve`` with a stable REPLICA_ID, its own
    working directory and port, on the one ledger."""

    workdir: Path
    env: dict[str, str]
    count: int
    connected: Callable[[Callable[[], object]], None]
    """Calls the start it is given and waits until the started process holds a Socket Mode connection."""
    processes: dict[str, BotProcess] = field(default_factory=dict)

    def start_all(self) -> None:
        for index in range(1, self.count + 1):
            name = f"replica-{index}"
            workdir = self.workdir / name
            workdir.mkdir(parents=True, exist_ok=True)
            env = self.env | {"REPLICA_ID": name, "WEB_PORT": str(free_port()), "PYTHONPATH": str(ROOT)}
            self.processes[name] = BotProcess(workdir, env)
            self.start(name)

    @property
    def names(self) -> list[str]:
        return sorted(self.processes)

    def start(self, name: str) -> None:
        self.connected(self.processes[name].start)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> int | None:
        return self.processes[name].stop(sig)

    def ensure_running(self) -> list[str]:
        """Start every replica that is not running; which were started."""
        started = [name for name in self.names if not self.processes[name].alive()]
        for name in started:
            self.start(name)
        return started

    def stop_all(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(Exception):
                process.stop()

    def logs(self) -> dict[str, str]:
        return {name: str(process.log) for name, process in self.processes.items()}
