"""The rate limit's window, on a clock the test moves: the bot's real listeners, the Slack stand-in and the
Nautobot fake. Past the limit nothing costly happens (no form, no access check, no Nautobot call); one refusal
per window is recorded, every one is counted, and the window's end lets the person in again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry

from bot.access.rate import RateLimit
from testbed.manifest import bot_scopes
from testbed.slack_standin import SlackStandIn
from tests.security.listener_harness import USER, Harness, harness, workspace
from tests.support.audit_trail import audit_trail
from tests.support.virtual_time import VirtualClock

pytestmark = pytest.mark.security

LIMIT, WINDOW = 3, 60.0


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(scopes=bot_scopes(), post_message_limit=None, chat_update_limit=None) as slack:
        yield workspace(slack)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1000.0)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest_asyncio.fixture
async def bot(
    standin: SlackStandIn, tmp_path: Path, clock: VirtualClock, registry: CollectorRegistry
) -> AsyncIterator[Harness]:
    rate = RateLimit(LIMIT, WINDOW, registry=registry, clock=clock)
    async with harness(standin, tmp_path, rate=rate) as found:  # its warm-up opens one form: one of the three
        yield found


async def limited_entries(bot: Harness) -> list:
    return [entry for entry in await audit_trail(bot.listeners.ledger, user_id=USER) if entry.outcome == "limited"]


def told(outcome) -> str:
    """What the ack showed the person: its text and its blocks."""
    blocks = [block.to_dict() for block in outcome.ack.get("blocks") or []]
    return outcome.ack.get("text", "") + json.dumps(blocks)


def opened(outcome) -> bool:
    return [call.method for call in outcome.calls] == ["views.open"]


def refused_count(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("meraki_chatops_rate_limited_total", {"command": "/meraki-add-user"}) or 0.0


async def test_past_the_limit_nothing_costly_happens_and_one_refusal_per_window_is_recorded(
    bot: Harness, clock: VirtualClock, registry: CollectorRegistry
):
    for _ in range(LIMIT - 1):  # the warm-up's command was the first
        outcome, _ = await bot.command("bob@example.com")
        assert opened(outcome)
    calls_before, reads_before = len(bot.standin.calls), len(bot.nautobot.requests)
    decided = bot.listeners.main.access.decide_now

    def no_decision(*_args, **_kwargs):
        raise AssertionError("the access policy was asked about a command past the limit")

    bot.listeners.main.access.decide_now = no_decision  # type: ignore[method-assign]
    try:
        outcomes = [await bot.command("x" * 4000) for _ in range(50)]
    finally:
        bot.listeners.main.access.decide_now = decided  # type: ignore[method-assign]

    for outcome, _ in outcomes:
        assert not outcome.calls and not outcome.problems, outcome.problems
        said = told(outcome)
        assert "/meraki-add-user" in said and "Nothing was run" in said and "Try again in 60 seconds" in said
    assert len(bot.standin.calls) == calls_before  # no form, no message: only the ack answered
    assert len(bot.nautobot.requests) == reads_before
    [entry] = await limited_entries(bot)
    assert entry.action == "command" and "3 commands per 60 seconds" in entry.reason
    assert len(entry.inputs["command_text"]) <= 500 and "cut: 4000 characters" in entry.inputs["command_text"]
    assert refused_count(registry) == 50

    clock.now += WINDOW / 2  # still within the window: refused, and not recorded again
    outcome, _ = await bot.command("")
    assert not outcome.calls and "Try again in 30 seconds" in told(outcome)
    assert len(await limited_entries(bot)) == 1

    clock.now += WINDOW / 2  # the window is over: the person is let in again
    outcome, _ = await bot.command("")
    assert opened(outcome)
    for _ in range(LIMIT):
        await bot.command("")
    assert len(await limited_entries(bot)) == 2  # a new window, its first refusal recorded
    assert refused_count(registry) == 50 + 1 + 1
