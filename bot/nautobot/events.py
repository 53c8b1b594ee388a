"""Nautobot's event notifications: the hint that a followed run or approval moved, so its follow looks at once.

Nautobot (2.4 and later) publishes Job and approval events to Redis pub/sub once a ``RedisEventBroker`` is
registered in its nautobot_config.py (README, "Results at event speed"): the channel is the topic, the
message a JSON object. An event is never trusted for an outcome: it only wakes the follow, which reads the
JobResult and its log through the REST API as it always does, so a forged or stale event changes nothing
Nautobot does not confirm. Whatever a message holds, it is read within bounds (:mod:`.event_payload`) and
never stops the subscription, and a flood wakes each follow at most once a second (:mod:`.wakeups`).

Pub/sub delivers at most once, so polling goes on as the safety net: slowly while events are seen to
arrive, at its usual pace until the first event came, while the subscription is down, and for a while
after a run ended without its event; and every follow looks once whenever the subscription (re)starts,
for what it may have missed meanwhile. A subscription that hears nothing (Nautobot publishing
elsewhere, or not at all) thus slows nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.exceptions import RedisError

from bot.logs import scrub
from bot.metrics import Metrics
from bot.nautobot.event_payload import APPROVAL_TOPICS, MAX_EVENT_BYTES, UnusableEvent, about
from bot.nautobot.wakeups import CANCEL_ASKED, JOB_COMPLETED, JOB_STARTED, Wakeups

log = logging.getLogger("bot.nautobot.events")

CANCEL_RELAYED = "meraki-chatops.cancel.asked"
"""The bot's own topic: a replica asked Nautobot to cancel a run, which Nautobot announces by no event; the replica
following that run (perhaps another one) looks at once instead of at its next safety-net look."""
NAUTOBOT_TOPICS = (JOB_STARTED, JOB_COMPLETED, *APPROVAL_TOPICS)
TOPICS = (*NAUTOBOT_TOPICS, CANCEL_RELAYED)
RESUBSCRIBED = "resubscribed"
"""What wakes every follow when the subscription (re)starts: events may have been missed while it was down."""

RECONNECT_FIRST, RECONNECT_CAP = 1.0, 60.0
CONNECT_TIMEOUT = 5.0
CLIENT_NAME = "meraki-chatops-events"
"""How the subscription shows in Redis' CLIENT LIST."""
IDLE_PING = 15.0
"""A quiet subscription sends PING this often; no answer within another interval means the connection
is dead (a dropped TCP connection says nothing by itself), and it is opened again."""
DISTRUST_SECONDS = 600.0
"""After a run was seen ending with no event for it, follows poll at their usual pace for this long:
Nautobot may publish elsewhere, or not at all (the broker registered on the web server but not the worker)."""


class EventSource:
    """The subscription to Nautobot's events on NAUTOBOT_EVENTS_URL, kept up for as long as the bot runs."""

    def __init__(
        self,
        url: str,
        *,
        metrics: Metrics | None = None,
        wakeups: Wakeups | None = None,
        clock: Callable[[], float] = time.monotonic,
        reconnect_first: float = RECONNECT_FIRST,
    ) -> None:
        self.url = url
        self.metrics = metrics or Metrics()
        self.wakeups = wakeups or Wakeups(clock=clock)
        self.clock = clock
        self.reconnect_first = reconnect_first
        self.subscribed = False
        self.problem = "not subscribed yet"
        self.heard = False
        """An event came from Nautobot since the bot started: it does publish where the bot listens."""
        self._missed_at: float | None = None

    @property
    def flowing(self) -> bool:
        """Events can set the pace: subscribed, Nautobot was heard, and no run lately ended without its event."""
        recently_missed = self._missed_at is not None and self.clock() - self._missed_at < DISTRUST_SECONDS
        return self.subscribed and self.heard and not recently_missed

    def missed(self, result_id: str) -> None:
        """A poll found ``result_id`` ended and no event had said so: poll at the usual pace for a while."""
        self.metrics.nautobot_event_missed()
        if self.flowing:
            log.warning(
                "result=%s ended without an event from Nautobot: following at the usual polling pace for %g s "
                "(is the RedisEventBroker registered on Nautobot's worker, with the URL the bot subscribes to?)",
                result_id,
                DISTRUST_SECONDS,
            )
        self._missed_at = self.clock()

    def readiness(self) -> str:
        """How the subscription is, for /readyz: a detail, never a reason to be unready (polling goes on)."""
        if not self.subscribed:
            return f"not subscribed ({self.problem}): following by polling at the usual pace"
        if not self.heard:
            return "subscribed, no event from Nautobot yet: following by polling at the usual pace until one comes"
        if not self.flowing:
            return "subscribed, but a run ended without its event: following by polling at the usual pace"
        return "subscribed"

    async def run(self) -> None:
        """Subscribe, and subscribe again after every failure with growing pauses; returns only when cancelled.

        Whatever one message holds, it is counted and ignored (see :meth:`_arrived`); a fault of the bot's own
        raised here ends the subscription, which is then marked down (readiness and the gauge say so) and
        left to :func:`bot.supervise.supervised` to start again.
        """
        pause = self.reconnect_first
        try:
            while True:
                try:
                    await self._listen()
                except (RedisError, OSError, TimeoutError, ValueError) as exc:
                    self.problem = _why(exc, self.url)
                if self.subscribed:
                    pause = self.reconnect_first  # it worked for a while: the next attempt need not wait long
                self._set_subscribed(False)
                log.warning(
                    "Nautobot's events unavailable (%s); polling at the usual pace, subscribing again in %g s",
                    self.problem,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_CAP)
        finally:
            self._set_subscribed(False)

    def stopped(self, exc: BaseException, pause: float) -> None:
        """The subscription's task ended by ``exc``; it starts again in ``pause`` seconds (the supervisor's call)."""
        self._set_subscribed(False)
        self.problem = f"stopped by {type(exc).__name__}, starting again in {pause:g} s"
        self.metrics.nautobot_events_restart()
        log.error(
            "the subscription to Nautobot's events stopped (%s); polling at the usual pace, starting it again in %g s",
            type(exc).__name__,
            pause,
        )

    async def _listen(self) -> None:
        client = redis.from_url(
            self.url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=None, client_name=CLIENT_NAME
        )
        async with client, client.pubsub() as pubsub:
            await pubsub.subscribe(*TOPICS)
            confirmed: set[str] = set()
            last_heard = self.clock()
            while True:
                message = await pubsub.get_message(timeout=IDLE_PING)
                now = self.clock()
                if message is None:
                    if now - last_heard > 2 * IDLE_PING:
                        raise TimeoutError(f"no answer from Redis for {now - last_heard:.0f} s")
                    await pubsub.ping()
                    continue
                last_heard = now
                kind = message.get("type")
                if kind == "subscribe":
                    confirmed.add(_text(message.get("channel")))
                    if confirmed >= set(TOPICS) and not self.subscribed:
                        self._set_subscribed(True)
                elif kind == "message":
                    self._arrived(_text(message.get("channel")), message.get("data"))

    def _set_subscribed(self, subscribed: bool) -> None:
        if subscribed == self.subscribed:
            return
        self.subscribed = subscribed
        self.metrics.nautobot_events_subscribed(subscribed)
        if subscribed:
            self.problem = ""
            woken = self.wakeups.wake_all(RESUBSCRIBED)
            log.info("subscribed to Nautobot's events; %d follow(s) look once for what they may have missed", woken)

    async def relay_cancel(self, result_id: str) -> None:
        """Tell every replica that this one asked Nautobot to cancel ``result_id``; never raises (the follow's
        safety-net look still sees the end)."""
        try:
            client = redis.from_url(self.url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT)
            async with client:
                await client.publish(CANCEL_RELAYED, json.dumps({"job_result_id": result_id}))
        except (RedisError, OSError, TimeoutError, ValueError) as exc:
            log.warning(
                "could not tell the other replicas of the cancel of result=%s (%s)", result_id, _why(exc, self.url)
            )

    def _arrived(self, topic: str, data: Any) -> None:
        """One message: whatever it holds, it never stops the subscription (counted, logged without its data)."""
        relayed = topic not in NAUTOBOT_TOPICS
        if not relayed:  # the bot's own relay says nothing of whether Nautobot publishes where the bot listens
            self.metrics.nautobot_event()
            self.heard = True
        try:
            self._route(topic, data, CANCEL_ASKED if relayed else topic)
        except Exception as exc:
            self.metrics.nautobot_event_unusable("error")
            log.warning("an event on %s could not be handled (%s); it is ignored", topic, type(exc).__name__)

    def _route(self, topic: str, data: Any, hint: str) -> None:
        if isinstance(data, bytes | str) and len(data) > MAX_EVENT_BYTES:
            self.metrics.nautobot_event_unusable("too_large")
            if hint == topic:  # an end too large to read: every follow looks (a relayed cancel names one run)
                self.wakeups.wake_all(topic)
            return
        try:
            key = about(topic, data)
        except UnusableEvent as unusable:
            self.metrics.nautobot_event_unusable(unusable.reason)
            log.debug("ignored an event on %s: %s", topic, unusable.reason)
            return
        self.wakeups.wake(key, hint)


def subject(topic: str, data: Any) -> str | None:
    """The id an event is about (see :func:`bot.nautobot.event_payload.about`), or None if it has none."""
    try:
        return about(topic, data)
    except UnusableEvent:
        return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _why(exc: BaseException, url: str) -> str:
    """One line on the failure, with the URL's password (if any) masked."""
    text = " ".join(str(exc).split())
    return scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, secrets=_passwords(url))


def _passwords(url: str) -> list[str]:
    password = urlsplit(url).password
    return [password] if password else []
