"""Fixtures the in-process tests share (tests/conftest.py makes them available everywhere)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import NoReturn

import pytest

import bot.nautobot.rest
from testbed.fake_slack import Events, FakeAck


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
    monkeypatch.setattr(bot.nautobot.rest, "RETRY_DELAY", 0)


IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_missing(message: str) -> NoReturn:
    """A service a test needs does not answer: in CI (CI=true) the test fails; elsewhere it is skipped."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of the tests' own, on loopback, for the event source's tests.

    Pub/sub channels are server-wide: on the machine's Redis, a test Nautobot or a benchmark running
    beside the tests publishes the same Job topics, and a test counting events would count theirs.
    """
    server = shutil.which("redis-server")
    if server is None:
        service_missing("redis-server is not installed; install Redis as the README says")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    argv = [
        server,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(folder),
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                service_missing(f"a private redis-server on 127.0.0.1:{port} did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0
