"""Background work that must outlive its own faults: started again, after growing pauses, whenever it dies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

FIRST_PAUSE, PAUSE_CAP = 1.0, 60.0


async def supervised(
    start: Callable[[], Awaitable[None]],
    *,
    stopped: Callable[[BaseException, float], None],
    first_pause: float = FIRST_PAUSE,
    pause_cap: float = PAUSE_CAP,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run ``start()`` until cancelled: each time it raises (or returns), ``stopped(exception, pause)`` is told,
    and it starts again after ``pause`` seconds, doubled up to ``pause_cap`` while it keeps dying quickly."""
    pause = first_pause
    while True:
        began = clock()
        try:
            await start()
            ended: BaseException = RuntimeError("it returned")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            ended = exc
        if clock() - began > pause_cap:  # it ran a good while: a fresh fault, not the same one again
            pause = first_pause
        stopped(ended, pause)
        await sleep(pause)
        pause = min(pause * 2, pause_cap)
