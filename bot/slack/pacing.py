"""Pacing posts per channel: Slack allows about one message per second in a channel."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

POST_INTERVAL = 1.0


class ChannelPacer:
    """Hands out posting turns per channel at most every ``interval`` seconds.

    Many runs finishing at once in one channel queue up here instead of drawing 429s from Slack;
    other channels are not held up.
    """

    def __init__(self, interval: float = POST_INTERVAL):
        self.interval = interval
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._last: dict[str, float] = {}

    async def turn(self, channel: str) -> None:
        async with self._locks[channel]:
            wait = self._last.get(channel, -self.interval) + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last[channel] = time.monotonic()
