"""Which follow to wake for what: the Nautobot objects being followed, and the hints that one of them moved.

A hint (an event from Nautobot, or a Cancel pressed in Slack) only makes a follow look through the REST API
sooner. Hints are coalesced: a follow is woken at once for the first, and at most once per ``window`` for
more about the same object, so a flood of (forged) events costs one read per followed run per window.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

JOB_STARTED = "nautobot.jobs.job.started"
JOB_COMPLETED = "nautobot.jobs.job.completed"
CANCEL_ASKED = "cancel-asked"
"""Not Nautobot's: the bot asked Nautobot to cancel the run, which announces no revoked run."""
_RANK = {JOB_COMPLETED: 2, CANCEL_ASKED: 1}
"""A hint not looked at yet is replaced only by one that says as much: an end outranks a cancel, both a start."""

WINDOW = 1.0
"""At most one look per followed object per this many seconds, however many hints come."""
RECENT_EVENTS = 10_000
RECENT_SECONDS = 120.0
"""A hint about an object nobody follows yet is kept this long (and at most this many): a short Job can end
between Nautobot's answer to the submission and the start of its follow."""


class Wakeups:
    """The Nautobot objects being followed (JobResults, ScheduledJobs, by id), and the hints that concern them.

    A hint that arrives while its follow is busy (reading, posting) is kept until it waits again, so an
    end that comes right after a start is never slept through.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        window: float = WINDOW,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.window = window
        self._followed: dict[str, _Slot] = {}
        self._recent: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._all_woken_at = float("-inf")
        self._all_due: asyncio.TimerHandle | None = None

    @contextmanager
    def following(self, key: str) -> Iterator[None]:
        """While inside, hints about ``key`` wake :meth:`wait`; one that came shortly before counts too."""
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
        """Up to ``timeout`` seconds: the topic of the hint that cut the wait short, or None.

        A hint within ``window`` of the last one served waits out the window (or the pause, if shorter): a
        flood is served once per window. An end right after a start is served at once: the start is only
        settled on (the follow waits for the end before it reads), never read.
        """
        slot = self._followed.get(key)
        if slot is None:  # not followed: nothing can wake it
            await self.sleep(timeout)
            return None
        began = self.clock()
        if not slot.woken.is_set() and not await self._woken_within(slot, timeout):
            return None
        hold = slot.served_at + self.window - self.clock()
        if hold > 0 and not (slot.served == JOB_STARTED and slot.topic == JOB_COMPLETED):
            await self.sleep(max(0.0, min(hold, timeout - (self.clock() - began))))
        slot.woken.clear()
        slot.served, slot.served_at = slot.topic, self.clock()
        return slot.topic

    async def _woken_within(self, slot: _Slot, timeout: float) -> bool:
        woken = asyncio.ensure_future(slot.woken.wait())
        sleeping = asyncio.ensure_future(self.sleep(timeout))
        try:
            await asyncio.wait((woken, sleeping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            sleeping.cancel()
        return slot.woken.is_set()

    def wake(self, key: str, topic: str) -> bool:
        """Wake the follow of ``key``; a hint for nothing followed is remembered a while. True: it was followed."""
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
        """Wake every follow: at once, or (within ``window`` of the last time) once the window is over."""
        since = self.clock() - self._all_woken_at
        if since < self.window:
            if self._all_due is None:
                self._all_due = asyncio.get_running_loop().call_later(self.window - since, self._wake_all_now, topic)
            return 0
        return self._wake_all_now(topic)

    def _wake_all_now(self, topic: str) -> int:
        self._all_due = None
        self._all_woken_at = self.clock()
        for slot in self._followed.values():
            slot.wake(topic)
        return len(self._followed)


class _Slot:
    def __init__(self) -> None:
        self.woken = asyncio.Event()
        self.topic = ""
        self.followers = 0
        self.served = ""
        self.served_at = float("-inf")

    def wake(self, topic: str) -> None:
        # The follow reads once for all the hints it has not looked at yet, as the weightiest of them asks.
        if not self.woken.is_set() or _RANK.get(topic, 0) >= _RANK.get(self.topic, 0):
            self.topic = topic
        self.woken.set()
