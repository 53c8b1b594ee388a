"""A Cancel pressed on one replica wakes the follow of the run on whichever replica follows it: Nautobot announces
no revoked run, so the replica that asked for the cancel relays it on Nautobot's Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import redis.asyncio as redis

from bot.metrics import Metrics
from bot.nautobot.events import CANCEL_RELAYED, EventSource
from bot.nautobot.wakeups import CANCEL_ASKED

RESULT_ID = str(uuid.uuid4())


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def subscribed(*sources: EventSource) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(source.run()) for source in sources]
    try:
        await until(lambda: all(source.subscribed for source in sources))
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_cancel_asked_on_one_replica_wakes_the_follow_on_another(redis_url) -> None:
    following, clicked = EventSource(redis_url), EventSource(redis_url)
    async with subscribed(following, clicked):
        with following.wakeups.following(RESULT_ID):
            await clicked.relay_cancel(RESULT_ID)
            assert await following.wakeups.wait(RESULT_ID, 10) == CANCEL_ASKED  # the quick looks of a cancel
    assert not following.heard  # the bot's own relay says nothing of whether Nautobot publishes there


async def test_a_relayed_message_that_names_no_run_or_is_too_large_wakes_nobody(redis_url) -> None:
    metrics = Metrics()
    following = EventSource(redis_url, metrics=metrics)
    async with subscribed(following), redis.from_url(redis_url) as publisher:
        with following.wakeups.following(RESULT_ID):
            await publisher.publish(CANCEL_RELAYED, "x" * 70_000)
            await publisher.publish(CANCEL_RELAYED, '{"job_result_id": "not a run"}')
            assert await following.wakeups.wait(RESULT_ID, 1) is None
        unusable = "meraki_chatops_nautobot_events_unusable_total"
        await until(lambda: (metrics.registry.get_sample_value(unusable, {"reason": "no_id"}) or 0) == 1)
        assert metrics.registry.get_sample_value(unusable, {"reason": "too_large"}) == 1


async def test_without_redis_the_relay_is_logged_and_the_cancel_goes_on(caplog) -> None:
    source = EventSource("redis://127.0.0.1:9/0")  # nothing listens there
    await source.relay_cancel(RESULT_ID)  # never raises: the follow's safety-net look still sees the end
    assert f"could not tell the other replicas of the cancel of result={RESULT_ID}" in caplog.text
