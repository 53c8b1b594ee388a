"""``doctor``'s check of Nautobot's events: the Redis of NAUTOBOT_EVENTS_URL answers, and a publish arrives."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as redis
from redis.exceptions import RedisError

from bot.doctor.report import Context, Status, Verdict
from bot.nautobot import reported_version
from bot.nautobot.events import CONNECT_TIMEOUT

PROBE_WAIT = 3.0
REGISTER = (
    "In Nautobot's nautobot_config.py: `from nautobot.core.events import register_event_broker, RedisEventBroker` "
    'and `register_event_broker(RedisEventBroker(url="redis://…"))`, then restart its web server and worker '
    '(README, "Results at event speed")'
)


async def check_events(context: Context) -> Verdict:
    url = context.s.nautobot_events_url
    if url is None:
        return Verdict(
            Status.OK,
            "off (NAUTOBOT_EVENTS_URL is not set): runs are followed by polling, so a log reaches Slack a second "
            "or two after its Job ends. To have it at once, set NAUTOBOT_EVENTS_URL to the Redis your Nautobot "
            "publishes its events to. " + REGISTER + ".",
        )
    too_old = _before_events(context)
    if too_old:
        return Verdict(
            Status.WARN,
            f"Nautobot {too_old} publishes no events (they came with 2.4): runs are followed by polling",
            "Unset NAUTOBOT_EVENTS_URL, or upgrade Nautobot to 2.4 or later and register its RedisEventBroker.",
        )
    problem = await _publish_arrives(url.get_secret_value())
    if problem:
        return Verdict(
            Status.WARN,
            f"cannot use NAUTOBOT_EVENTS_URL: {problem}; the bot follows runs by polling until it can",
            "Point NAUTOBOT_EVENTS_URL at the Redis your Nautobot's RedisEventBroker publishes to (host, port, "
            "password), reachable from the bot.",
        )
    return Verdict(
        Status.OK,
        "Redis answers and a test publish arrived. Nautobot sends Job events there only with its broker "
        "registered: " + REGISTER + ". Without it the bot notices (metric nautobot_events_missed_total, a warning "
        "in its log) and follows by polling.",
    )


def _before_events(context: Context) -> str | None:
    """Nautobot's version when it is known and older than 2.4."""
    version = reported_version(context.status)
    return str((context.status or {}).get("nautobot-version")) if version and version < (2, 4) else None


async def _publish_arrives(url: str) -> str | None:
    """None when a message published on a channel of its own comes back to a subscriber; else what went wrong."""
    channel = f"meraki-chatops.doctor.{uuid.uuid4()}"
    try:
        client = redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=PROBE_WAIT)
        async with client, client.pubsub() as pubsub:
            await pubsub.subscribe(channel)
            await client.publish(channel, "probe")
            return await asyncio.wait_for(_received(pubsub), PROBE_WAIT)
    except TimeoutError:
        return f"a test publish did not arrive within {PROBE_WAIT:g} s"
    except (RedisError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


async def _received(pubsub: redis.client.PubSub) -> None:
    while True:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=PROBE_WAIT)
        if message is not None and message.get("type") == "message":
            return None
