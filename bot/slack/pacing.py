"""Pacing the bot's calls to Slack's limits: posts per channel, message edits per workspace.

Slack allows about one message per second in a channel, and ``chat.update`` (Tier 3) about 50 calls a
minute per app and workspace; beyond either it answers 429. Calls that wait their turn here are sent
when Slack takes them, instead of being refused and sent again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

POST_INTERVAL = 1.0
POST_BURST = 2
"""Posts that may go at once in a channel: Slack allows "short bursts of more than 1" without saying how
large. Two let a short Job's log follow its parent message at once instead of a second later."""

UPDATES_PER_MINUTE = 50.0
"""Slack's Tier 3 rate, which ``chat.update`` belongs to: "50+ per minute" per app and workspace."""
UPDATE_BURST = 10
"""Edits that may go at once before the rate holds them. Slack tolerates "occasional bursts" above Tier 3
without saying how large; 10 lets the statuses of a handful of runs changing together show at once, and
no minute holds more than 60 edits (a minute's rate plus the burst)."""
DEFAULT_WORKSPACE = ""
"""The bucket of edits whose workspace is not known."""


class ChannelPacer:
    """Hands out posting turns per channel: ``burst`` at once, then one every ``interval`` seconds.

    Many runs finishing at once in one channel queue up here instead of drawing 429s from Slack;
    other channels are not held up. ``interval`` 0: no pacing.
    """

    def __init__(self, interval: float = POST_INTERVAL, burst: int = POST_BURST):
        self.interval = interval
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    async def turn(self, channel: str) -> None:
        if self.interval <= 0:
            return
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = TokenBucket(1.0 / self.interval, self.burst)
        await bucket.take()


class TokenBucket:
    """``burst`` turns at once, then one every ``1 / per_second`` seconds; waiters are served in order.

    The first waiter sleeps until a turn is due, holding the others back behind a lock: a waiter
    cancelled meanwhile leaves the lock and its turn to the next one, and no turn is used up by it.
    """

    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        if per_second <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self._tokens = float(burst)
        self._filled_at = clock()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1.0:
                await self.sleep((1.0 - self._tokens) / self.per_second)
                self._refill()
            # Taken even if the sleep ended a hair early: the debt delays the next turn by as much.
            self._tokens -= 1.0

    def take_now(self) -> bool:
        """A turn if one is free this moment and nobody waits ahead; False rather than waiting."""
        if self._lock.locked():
            return False
        self._refill()
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def free_now(self) -> bool:
        """Whether :meth:`take_now` would give a turn this moment; nothing is taken."""
        if self._lock.locked():
            return False
        self._refill()
        return self._tokens >= 1.0

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._filled_at) * self.per_second)
        self._filled_at = now


class WorkspacePacer:
    """Hands out ``chat.update`` turns per workspace: Slack's Tier 3, one token bucket for each workspace.

    Thousands of runs in flight change status far faster than Slack takes edits; they queue up here
    instead of drawing 429s. Other workspaces have their own budget and are not held up.
    """

    def __init__(
        self,
        per_minute: float = UPDATES_PER_MINUTE,
        burst: int = UPDATE_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.per_minute = per_minute
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}

    async def turn(self, workspace: str = DEFAULT_WORKSPACE) -> None:
        await self._bucket(workspace).take()

    def turn_now(self, workspace: str = DEFAULT_WORKSPACE) -> bool:
        """A turn at once, or False: for an edit that is worth making only if it costs no wait."""
        return self._bucket(workspace).take_now()

    def free_now(self, workspace: str = DEFAULT_WORKSPACE) -> bool:
        """Whether :meth:`turn_now` would give a turn this moment; nothing is taken."""
        return self._bucket(workspace).free_now()

    def _bucket(self, workspace: str) -> TokenBucket:
        bucket = self._buckets.get(workspace)
        if bucket is None:
            bucket = TokenBucket(self.per_minute / 60.0, self.burst, clock=self.clock, sleep=self.sleep)
            self._buckets[workspace] = bucket
        return bucket
