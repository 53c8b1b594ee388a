"""Pacing: many runs finishing at once in one channel draw no 429; edits keep to Tier 3 per workspace."""

import asyncio
import time
from itertools import pairwise

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.pacing import DEFAULT_WORKSPACE, ChannelPacer, TokenBucket, WorkspacePacer
from testbed.slack_standin import SlackStandIn
from tests.support.virtual_time import VirtualClock, settle


async def post_all(client: AsyncWebClient, pacer: ChannelPacer, channel: str, count: int) -> None:
    async def post(n: int) -> None:
        await pacer.turn(channel)
        await client.chat_postMessage(channel=channel, text=f"run {n} finished")

    await asyncio.gather(*(post(n) for n in range(count)))


async def test_a_burst_in_one_channel_draws_no_429_and_other_channels_are_not_held_up():
    # Slack's limit scaled down 10x to keep the test short: 10 messages a second per channel, bursts of 2.
    with SlackStandIn(post_message_limit=None) as slack:
        slack.rate_limit("chat.postMessage", per_second=10, burst=2, per="channel")
        slack.add_user("U1")
        for channel in ("C1", "C2"):
            slack.add_channel(channel, name=channel.lower(), members={"U1"}, bot_member=True)
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        pacer = ChannelPacer(interval=0.12)  # a little under the limit, as 1 s is under Slack's
        started = time.monotonic()
        await asyncio.gather(post_all(client, pacer, "C1", 20), post_all(client, pacer, "C2", 5))
        elapsed = time.monotonic() - started

        calls = slack.calls_to("chat.postMessage")
        assert [c.status for c in calls] == [200] * 25
        assert len(slack.messages("C1")) == 20 and len(slack.messages("C2")) == 5
        assert elapsed >= 18 * 0.12  # the pacing, not luck, avoided the 429s: two at once, then one a turn


async def test_without_pacing_the_same_burst_is_rate_limited():
    with SlackStandIn(post_message_limit=None) as slack:
        slack.rate_limit("chat.postMessage", per_second=10, burst=1, per="channel")
        slack.add_user("U1")
        slack.add_channel("C1", name="c1", members={"U1"}, bot_member=True)
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        results = await asyncio.gather(
            *(client.chat_postMessage(channel="C1", text=str(n)) for n in range(20)), return_exceptions=True
        )
        assert any(isinstance(r, Exception) for r in results)


# -- chat.update per workspace: Slack's Tier 3 ---------------------------------------------------


def most_in_any_window(times: list[float], window: float) -> int:
    """The most turns in any ``window`` seconds, windows starting at a turn."""
    return max(sum(1 for t in times[i:] if t < start + window) for i, start in enumerate(times))


async def turns(pacer: WorkspacePacer, clock: VirtualClock, workspace: str, count: int, log: list) -> None:
    async def one() -> None:
        await pacer.turn(workspace)
        log.append((workspace, clock.now))

    await asyncio.gather(*(one() for _ in range(count)))


def times_of(log: list, workspace: str) -> list[float]:
    return [round(at, 6) for name, at in log if name == workspace]  # 50 x 1.2 s is 60 s, not a hair less


async def test_a_workspace_gets_its_burst_at_once_then_its_rate_and_never_more_in_a_minute():
    clock = VirtualClock()
    pacer = WorkspacePacer(per_minute=50, burst=10, clock=clock, sleep=clock.sleep)
    log: list = []

    await turns(pacer, clock, "T1", 200, log)

    times = times_of(log, "T1")
    assert times[:10] == [0.0] * 10
    assert [round(later - earlier, 6) for earlier, later in pairwise(times[10:])] == [1.2] * 189
    assert most_in_any_window(times, 60.0) <= 10 + 50
    assert most_in_any_window(times[60:], 60.0) <= 50  # past the burst, Slack's Tier 3 itself


async def test_another_workspace_is_not_held_up_by_a_busy_one():
    clock = VirtualClock()
    pacer = WorkspacePacer(per_minute=50, burst=10, clock=clock, sleep=clock.sleep)
    log: list = []

    await asyncio.gather(turns(pacer, clock, "T1", 100, log), turns(pacer, clock, "T2", 10, log))

    order = [name for name, _ in log]
    assert order[:20] == ["T1"] * 10 + ["T2"] * 10  # T2's burst is not queued behind T1's backlog
    for workspace in ("T1", "T2"):
        assert most_in_any_window(times_of(log, workspace), 60.0) <= 10 + 50


async def test_the_default_workspace_has_a_bucket_of_its_own():
    clock = VirtualClock()
    pacer = WorkspacePacer(per_minute=60, burst=1, clock=clock, sleep=clock.sleep)

    await pacer.turn()
    await pacer.turn("T1")
    assert clock.slept == []
    await pacer.turn(DEFAULT_WORKSPACE)
    assert clock.slept == [1.0]


async def test_a_cancelled_waiter_uses_up_no_turn_and_the_next_one_is_served():
    clock = VirtualClock()
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await gate.wait()
        await clock.sleep(seconds)

    bucket = TokenBucket(per_second=1.0, burst=1, clock=clock, sleep=sleep)
    await bucket.take()  # the burst is spent: the next turn is due at 1 s
    first = asyncio.create_task(bucket.take())
    second = asyncio.create_task(bucket.take())
    await settle()
    first.cancel()
    await settle()
    gate.set()
    await second

    assert first.cancelled()
    assert clock.now == 1.0  # the turn the cancelled waiter would have had went to the next one


def test_a_bucket_needs_a_rate_and_a_burst():
    with pytest.raises(ValueError):
        TokenBucket(per_second=0, burst=1)
    with pytest.raises(ValueError):
        TokenBucket(per_second=1, burst=0)
