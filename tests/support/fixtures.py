"""Fixtures the in-process tests share (tests/conftest.py makes them available everywhere)."""

from __future__ import annotations

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
