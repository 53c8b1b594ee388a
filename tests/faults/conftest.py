"""A Slack workspace and a bot process per test, so a test may kill and restart the bot freely."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import NautobotStack
from testbed.slack_flow import bot_env, workspace
from testbed.slack_standin import SlackStandIn


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
