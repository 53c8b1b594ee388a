"""A Slack workspace and a bot process per test, so a test may kill and restart the bot freely; and replicas, bot
processes sharing one PostgreSQL ledger."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import NautobotStack, free_port
from testbed.slack_flow import bot_env, workspace
from testbed.slack_standin import SlackStandIn
from tests.support.postgres import psql


@pytest.fixture
def slack(stack) -> Iterator[SlackStandIn]:
    with workspace() as standin:
        yield standin


@pytest.fixture
def chatops(slack: SlackStandIn, nautobot: NautobotStack, tmp_path) -> Iterator[BotProcess]:
    """A bot whose ledger survives its restarts (a SQLite file in its working directory)."""
    process = BotProcess(tmp_path, bot_env(slack, nautobot))
    yield process
    process.stop()


LEASE = 4
HEARTBEAT = 1
"""Seconds: a replica's lease, and how often it renews its leases and looks for requests nobody works on."""


@pytest.fixture
def ledger_db() -> Iterator[str]:
    name = f"meraki_chatops_replicas_{secrets.token_hex(6)}"
    psql(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def replica(slack: SlackStandIn, nautobot: NautobotStack, ledger_db: str, tmp_path) -> Iterator:
    """Makes bot processes sharing one ledger; each has its own id, port and working directory."""
    made: list[BotProcess] = []

    def make(replica_id: str) -> BotProcess:
        workdir = tmp_path / replica_id
        workdir.mkdir()
        env = bot_env(slack, nautobot) | {
            "REPLICA_ID": replica_id,
            "WEB_PORT": str(free_port()),
            "STORE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{ledger_db}",
            "LEASE_SECONDS": str(LEASE),
            "HEARTBEAT_SECONDS": str(HEARTBEAT),
        }
        process = BotProcess(workdir, env)
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()
