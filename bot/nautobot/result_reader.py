"""Reading the JobResults of many followed runs in few requests.

Every followed run polls its own JobResult. With hundreds in flight that would be hundreds of
requests a second, so polls that arrive within a short window go to Nautobot as one list request
(``?id=…&id=…``); with a single run in flight it is the usual one-result request.

A run whose end event just arrived is read with its log (:meth:`ResultReader.read` ``with_log``):
one GraphQL request for the results and logs of every such run, gathered over a shorter window
since someone is waiting for it. Should Nautobot refuse that query, the REST reads serve instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from bot.models import JobRun
from bot.nautobot.client import NautobotClient
from bot.nautobot.errors import NautobotError

log = logging.getLogger("bot.nautobot")

GATHER = 0.1
"""Seconds a poll waits for others to join it: far below a poll interval, enough to batch a crowd."""
ENDED_GATHER = 0.02
"""The same for reads after an end event: runs that end together are read together, at once."""
MAX_BATCH = 100

Fetch = Callable[[list[str]], Awaitable[dict[str, JobRun]]]


class ResultReader:
    def __init__(self, nautobot: NautobotClient, *, gather: float = GATHER, batch: int = MAX_BATCH):
        self.nautobot = nautobot
        self._polls = _Batches(self._fetch, gather, batch, nautobot)
        self._ended = _Batches(self._fetch_with_logs, min(gather, ENDED_GATHER), batch, nautobot)
        self._graphql = True
        """Nautobot answers the results-with-logs query; once it refused, the REST reads serve."""

    async def read(self, result_id: str, *, with_log: bool = False) -> JobRun:
        """The JobResult's current snapshot; ``with_log``: an ended one carries its log (when Nautobot allows).

        Raises what :meth:`NautobotClient.job_result` would.
        """
        batches = self._ended if with_log and self._graphql else self._polls
        return await batches.read(result_id)

    async def prepare(self) -> None:
        """Ask the results-with-logs query once at start: Nautobot builds its GraphQL schema on the first
        such request (seconds), better now than when a person waits for a log; a refusal shows here too."""
        if self._graphql:
            with contextlib.suppress(NautobotError):  # unreachable now: the first real read asks again
                await self._fetch_with_logs([str(uuid.uuid4())])

    async def _fetch(self, ids: list[str]) -> dict[str, JobRun]:
        if len(ids) == 1:
            return {ids[0]: await self.nautobot.job_result(ids[0])}
        return await self.nautobot.job_results(ids)

    async def _fetch_with_logs(self, ids: list[str]) -> dict[str, JobRun]:
        if self._graphql:
            try:
                return await self.nautobot.job_results_with_logs(ids)
            except NautobotError as exc:
                if getattr(exc, "retryable", False):
                    raise
                self._graphql = False
                log.warning(
                    "Nautobot refused to read results with their logs over GraphQL (%s): reading both over REST "
                    "from now on",
                    exc,
                )
        return await self._fetch(ids)


class _Batches:
    """Reads that arrive within ``gather`` seconds of each other, sent as one ``fetch`` per ``batch`` ids."""

    def __init__(self, fetch: Fetch, gather: float, batch: int, nautobot: NautobotClient) -> None:
        self.fetch = fetch
        self.gather = gather
        self.batch = batch
        self.nautobot = nautobot
        self._wanted: dict[str, list[asyncio.Future[JobRun]]] = {}
        self._sender: asyncio.Task[None] | None = None

    async def read(self, result_id: str) -> JobRun:
        future: asyncio.Future[JobRun] = asyncio.get_running_loop().create_future()
        self._wanted.setdefault(result_id, []).append(future)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())
        return await future

    async def _send(self) -> None:
        await asyncio.sleep(self.gather)
        while self._wanted:
            ids = list(self._wanted)[: self.batch]
            waiting = {result_id: self._wanted.pop(result_id) for result_id in ids}
            try:
                found = await self.fetch(ids)
            except Exception as exc:  # every poll in the batch hears of it, as its own request would have
                for futures in waiting.values():
                    _settle(futures, exc)
                continue
            for result_id, futures in waiting.items():
                if result_id in found:
                    _settle(futures, found[result_id])
                else:  # gone, or hidden from the bot's user: asked alone, Nautobot says which
                    await self._read_alone(result_id, futures)

    async def _read_alone(self, result_id: str, futures: list[asyncio.Future[JobRun]]) -> None:
        try:
            _settle(futures, await self.nautobot.job_result(result_id))
        except Exception as exc:
            _settle(futures, exc)


def _settle(futures: list[asyncio.Future[JobRun]], outcome: JobRun | Exception) -> None:
    """Every poll of one result hears the same snapshot, or the same error."""
    for future in futures:
        if future.done():  # its follower was cancelled meanwhile
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
