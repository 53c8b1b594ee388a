"""A clock for pacing tests: time moves only when a sleep asks it to, so no test waits or races the real clock."""

from __future__ import annotations

import asyncio


class VirtualClock:
    """``clock()`` is the virtual now; :meth:`sleep` moves it on by the delay asked for, then lets others run."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def settle(rounds: int = 10) -> None:
    """Let every ready task run until it waits on something."""
    for _ in range(rounds):
        await asyncio.sleep(0)
