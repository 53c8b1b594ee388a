"""Whatever is published on Nautobot's Redis, the subscription to its events goes on: a hostile message is
counted and ignored, a flood costs one look per followed run per window, and a subscription that dies of a
fault of the bot's own is started again, with readiness and /metrics saying so meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as redis

from bot.metrics import Metrics
from bot.nautobot.events import JOB_COMPLETED, EventSource
from bot.supervise import supervised

pytestmark = [pytest.mark.security, pytest.mark.asyncio]

RESULT_ID = str(uuid.uuid4())
HOSTILE = [
    "[" * 100_000,  # over the size cap: every follow looks instead
    "[" * 60_000,  # under it: too deep to parse (json.loads raised RecursionError on it)
    '{"job_result_id": ' + "{" * 50_000,
    '{"job_result_id": "' + RESULT_ID + '", "job_output": ' + "[" * 65 + "]" * 65 + "}",
    '"' + "\\" * 1001,
    '{"job_result_id": {"__class__": "x"}}',
    "\udcff not utf-8",
]


def event(result_id: str) -> str:
    return json.dumps({"job_result_id": result_id, "job_name": "Create Meraki User", "einfo": None})


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(f"meraki_chatops_{name}", labels or None) or 0.0


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def supervising(source: EventSource) -> AsyncIterator[None]:
    task = asyncio.create_task(supervised(source.run, stopped=source.stopped, first_pause=0.2))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_hostile_messages_are_counted_and_ignored_and_the_next_event_still_wakes_its_follow(redis_url) -> None:
    metrics = Metrics()
    source = EventSource(redis_url, metrics=metrics)
    async with supervising(source), redis.from_url(redis_url) as publisher:
        await until(lambda: source.subscribed)
        for data in HOSTILE:
            await publisher.publish(JOB_COMPLETED, data.encode("utf-8", "surrogateescape"))
        await until(lambda: sample(metrics, "nautobot_events_total") >= len(HOSTILE))

        with source.wakeups.following(RESULT_ID):
            await source.wakeups.wait(RESULT_ID, 0.01)  # what the hostile messages left pending
            await asyncio.sleep(source.wakeups.window)  # so the window of their wake-up is over
            await publisher.publish(JOB_COMPLETED, event(RESULT_ID))
            assert await source.wakeups.wait(RESULT_ID, 10) == JOB_COMPLETED

    assert sample(metrics, "nautobot_events_unusable_total", reason="too_large") == 1
    assert sample(metrics, "nautobot_events_unusable_total", reason="too_deep") == 3
    assert sample(metrics, "nautobot_events_unusable_total", reason="not_json") == 2
    assert sample(metrics, "nautobot_events_unusable_total", reason="no_id") == 1
    assert sample(metrics, "nautobot_events_restarts_total") == 0  # nothing stopped the subscription


async def test_a_subscription_that_dies_is_started_again_and_is_not_called_subscribed_meanwhile(
    redis_url, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = Metrics()
    source = EventSource(redis_url, metrics=metrics)
    arrived = EventSource._arrived
    faults = iter([RecursionError("a fault of the bot's own, raised past every handler")])

    def dies_once(self: EventSource, topic: str, data: object) -> None:
        fault = next(faults, None)
        if fault is not None:
            raise fault
        arrived(self, topic, data)

    monkeypatch.setattr(EventSource, "_arrived", dies_once)
    async with supervising(source), redis.from_url(redis_url) as publisher:
        await until(lambda: source.subscribed)
        await publisher.publish(JOB_COMPLETED, event(RESULT_ID))  # kills the subscription's task while subscribed
        await until(lambda: sample(metrics, "nautobot_events_restarts_total") == 1)
        detail = source.readiness()
        assert detail.startswith("not subscribed (stopped by RecursionError, starting again in"), detail
        assert sample(metrics, "nautobot_events_subscribed") == 0
        await until(lambda: source.subscribed)  # started again
        assert sample(metrics, "nautobot_events_subscribed") == 1
        with source.wakeups.following(RESULT_ID):
            await publisher.publish(JOB_COMPLETED, event(RESULT_ID))
            assert await source.wakeups.wait(RESULT_ID, 10) == JOB_COMPLETED


async def test_a_flood_of_forged_events_wakes_a_follow_once_per_window(redis_url) -> None:
    source = EventSource(redis_url)
    window = source.wakeups.window
    async with supervising(source), redis.from_url(redis_url) as publisher:
        await until(lambda: source.subscribed)

        async def flood() -> int:
            sent = 0
            for _ in range(3 * 20):
                await publisher.publish(JOB_COMPLETED, event(RESULT_ID))
                await publisher.publish(JOB_COMPLETED, "x" * 70_000)  # over the cap: every follow looks
                sent += 2
                await asyncio.sleep(window / 20)
            return sent

        with source.wakeups.following(RESULT_ID):
            flooding = asyncio.create_task(flood())
            loop = asyncio.get_running_loop()
            began, looks = loop.time(), 0
            while not flooding.done():
                if await source.wakeups.wait(RESULT_ID, 30) is not None:  # a pause as long as the safety net's
                    looks += 1
            windows = (loop.time() - began) / window
    assert await flooding >= 100
    assert 1 <= looks <= windows + 1  # the first at once, then one per window
