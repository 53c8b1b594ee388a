"""Nautobot's event notifications: the hint that a followed run or approval moved, so its follow looks at once.

Nautobot (2.4 and later) publishes Job and approval events to Redis pub/sub once a ``RedisEventBroker`` is
registered in its nautobot_config.py (README, "Results at event speed"): the channel is the topic, the
message a JSON object. An event is never trusted for an outcome: it only wakes the follow, which reads the
JobResult and its log through the REST API as it always does, so a forged or stale event changes nothing
Nautobot does not confirm.

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
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.exceptions import RedisError

from bot.logs import scrub
from bot.metrics import Metrics

log = logging.getLogger("bot.nautobot.events")

JOB_STARTED = "nautobot.jobs.job.started"
JOB_COMPLETED = "nautobot.jobs.job.completed"
APPROVAL_DENIED = "nautobot.jobs.approval.denied"
APPROVAL_TOPICS = (
    "nautobot.jobs.approval.approved",
    APPROVAL_DENIED,
    "nautobot.jobs.approval.canceled",  # 3.x only: an approval workflow withdrawn
)
TOPICS = (JOB_STARTED, JOB_COMPLETED, *APPROVAL_TOPICS)
RESUBSCRIBED = "resubscribed"
"""What wakes every follow when the subscription (re)starts: events may have been missed while it was down."""

MAX_EVENT_BYTES = 1024 * 1024
"""A completed event carries the Job's output. Parsing a larger one would hold up the event loop, so every
follow looks instead: one batched read costs less."""
RECENT_EVENTS = 10_000
RECENT_SECONDS = 120.0
"""An event for a run nobody follows yet is kept this long (and at most this many): a short Job can end
between Nautobot's answer to the submission and the start of its follow."""
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


class Wakeups:
    """The Nautobot objects being followed (JobResults, ScheduledJobs, by id), and the events that concern them.

    An event that arrives while its follow is busy (reading, posting) is kept until it waits again, so an
    end that comes right after a start is never slept through.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._followed: dict[str, _Slot] = {}
        self._recent: OrderedDict[str, tuple[str, float]] = OrderedDict()

    @contextmanager
    def following(self, key: str) -> Iterator[None]:
        """While inside, events about ``key`` wake :meth:`wait`; one that came shortly before counts too."""
        slot = self._followed.setdefault(key, _Slot())
        slot.followers += 1
        early = self._recent.pop(key, None)
        if early is not None and self.clock() - early[1] <= RECENT_SECONDS:
            slot.wake(early[0])
        try:
            yield
        finally:
            slot.followers -= 1
            if slot.followers == 0:
                del self._followed[key]

    async def wait(self, key: str, timeout: float) -> str | None:
        """Up to ``timeout`` seconds: the topic of the event that cut the wait short, or None."""
        slot = self._followed.get(key)
        if slot is None:  # not followed: nothing can wake it
            await asyncio.sleep(timeout)
            return None
        if not slot.woken.is_set():
            try:
                await asyncio.wait_for(slot.woken.wait(), timeout)
            except TimeoutError:
                return None
        slot.woken.clear()
        return slot.topic

    def wake(self, key: str, topic: str) -> bool:
        """Wake the follow of ``key``; an event for nothing followed is remembered a while. True: it was followed."""
        slot = self._followed.get(key)
        if slot is not None:
            slot.wake(topic)
            return True
        self._recent[key] = (topic, self.clock())
        self._recent.move_to_end(key)
        while len(self._recent) > RECENT_EVENTS:
            self._recent.popitem(last=False)
        return False

    def wake_all(self, topic: str) -> int:
        for slot in self._followed.values():
            slot.wake(topic)
        return len(self._followed)


class _Slot:
    def __init__(self) -> None:
        self.woken = asyncio.Event()
        self.topic = ""
        self.followers = 0

    def wake(self, topic: str) -> None:
        # An end outranks a start that was not looked at yet: the follow reads once, for both.
        if not (self.woken.is_set() and self.topic == JOB_COMPLETED):
            self.topic = topic
        self.woken.set()


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
        """Subscribe, and subscribe again after every failure with growing pauses; returns only when cancelled."""
        pause = self.reconnect_first
        while True:
            try:
                await self._listen()
            except (RedisError, OSError, TimeoutError, ValueError) as exc:
                self.problem = _why(exc, self.url)
            except asyncio.CancelledError:
                self._set_subscribed(False)
                raise
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

    def _arrived(self, topic: str, data: Any) -> None:
        self.metrics.nautobot_event()
        self.heard = True
        if isinstance(data, bytes | str) and len(data) > MAX_EVENT_BYTES:
            self.wakeups.wake_all(topic)
            return
        key = subject(topic, data)
        if key is None:
            log.debug("ignored an event on %s without a usable id", topic)
            return
        self.wakeups.wake(key, topic)


def subject(topic: str, data: Any) -> str | None:
    """The id an event is about: the JobResult of a Job event, the ScheduledJob of an approval event."""
    try:
        payload = json.loads(data)
    except (TypeError, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    if topic in APPROVAL_TOPICS:
        record = payload.get("data")
        found = record.get("id") if isinstance(record, dict) else None
    else:
        found = payload.get("job_result_id")
    try:
        return str(uuid.UUID(str(found))) if found is not None else None
    except ValueError:
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
