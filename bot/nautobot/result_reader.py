"""Reading the JobResults of many followed runs in few requests.

Every followed run polls its own JobResult. With hundreds in flight that would be hundreds of
requests a second, so polls that arrive within a short window go to Nautobot as one list request
(``?id=…&id=…``); with a single run in flight it is the usual one-result request.
"""

from __future__ import annotations

import asyncio

from bot.models import JobRun
from bot.nautobot.client import NautobotClient

GATHER = 0.1
"""Seconds a poll waits for others to join it: far below a poll interval, enough to batch a crowd."""
MAX_BATCH = 100


class ResultReader:
    def __init__(self, nautobot: NautobotClient, *, gather: float = GATHER, batch: int = MAX_BATCH):
        self.nautobot = nautobot
        self.gather = gather
        self.batch = batch
        self._wanted: dict[str, list[asyncio.Future[JobRun]]] = {}
        self._sender: asyncio.Task[None] | None = None

    async def read(self, result_id: str) -> JobRun:
        """The JobResult's current snapshot; raises what :meth:`NautobotClient.job_result` would."""
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
                found = await self._fetch(ids)
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

    async def _fetch(self, ids: list[str]) -> dict[str, JobRun]:
        if len(ids) == 1:
            return {ids[0]: await self.nautobot.job_result(ids[0])}
        return await self.nautobot.job_results(ids)


def _settle(futures: list[asyncio.Future[JobRun]], outcome: JobRun | Exception) -> None:
    """Every poll of one result hears the same snapshot, or the same error."""
    for future in futures:
        if future.done():  # its follower was cancelled meanwhile
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
