"""Reading an ended run's log from Nautobot, waiting out a short outage right as the run ends."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.models import JobRun, LogEntry
from bot.nautobot import NautobotClient, NautobotError

log = logging.getLogger("bot.follow")

LOG_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0)


async def read_log(
    nautobot: NautobotClient, run: JobRun, sleep: Callable[[float], Awaitable[None]]
) -> list[LogEntry] | None:
    """The run's log; a short outage is waited out, a long one (or a refusal) gives None."""
    for delay in LOG_RETRY_DELAYS:
        try:
            return await nautobot.job_logs(run.result_id)
        except NautobotError as exc:
            if not getattr(exc, "retryable", False):
                log.warning("cannot read the log of result=%s: %s", run.result_id, exc)
                return None
            await sleep(delay)
    return None
