"""Fixtures the in-process tests share (tests/conftest.py makes them available everywhere)."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest

import bot.nautobot.client
from tests.support.fake_slack import Events, FakeAck


@pytest.fixture
def events() -> Events:
    """What the fakes saw, in order: Slack calls, Nautobot requests, acks."""
    return Events()


@pytest.fixture
def ack(events: Events) -> FakeAck:
    """Bolt's ``ack``, checking the views it answers with as Slack does."""
    return FakeAck(events)


@pytest.fixture
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET that failed in transport is sent again at once, not after the client's pause."""
    monkeypatch.setattr(bot.nautobot.client, "RETRY_DELAY", 0)


IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_missing(message: str) -> NoReturn:
    """A service a test needs does not answer: in CI (CI=true) the test fails; elsewhere it is skipped."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


REDIS_URL = "redis://127.0.0.1:6379/13"
"""The machine's Redis, for tests of the event source (pub/sub channels are server-wide; the number is unused)."""


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis; missing, the test is skipped — and fails in CI, where it must run."""
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex(("127.0.0.1", 6379)) != 0:
            service_missing("Redis is not reachable on 127.0.0.1:6379; start it as the README says")
    return REDIS_URL
