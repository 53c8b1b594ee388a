"""How finished runs ended, from Nautobot: the ledger keeps the statuses a run passed through, not its final one.

The Home shows a person's latest requests; those whose run ended are read from Nautobot in one list request
(``?id=…&id=…``), and kept: an ended run's status never changes again. Should Nautobot not answer in time, the
Home says "finished" and links to the thread, which has the result.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from bot.ledger import Record, RequestState
from bot.models import JobRun, RunStatus
from bot.nautobot import NautobotError

log = logging.getLogger("bot.home")

KEPT = 5000
"""Ended runs whose status is kept (a few hundred bytes each)."""
ASK_WITHIN = 5.0
"""Seconds Nautobot gets to answer before the Home is drawn without the statuses it did not give."""

Read = Callable[[list[str]], Awaitable[dict[str, JobRun]]]
"""Nautobot's JobResults by id (``NautobotClient.job_results``)."""


class FinalStatuses:
    def __init__(self, read: Read, *, within: float = ASK_WITHIN) -> None:
        self.read = read
        self.within = within
        self._known: OrderedDict[str, RunStatus] = OrderedDict()

    async def of(self, records: Iterable[Record]) -> dict[str, RunStatus]:
        """The final status of each ended run among ``records``, by result id (those Nautobot told)."""
        ended = [record.result_id for record in records if record.result_id and _ended(record)]
        unknown = [result_id for result_id in dict.fromkeys(ended) if result_id not in self._known]
        if unknown:
            await self._ask(unknown)
        return {result_id: self._known[result_id] for result_id in ended if result_id in self._known}

    async def _ask(self, result_ids: list[str]) -> None:
        try:
            runs = await asyncio.wait_for(self.read(result_ids), self.within)
        except (NautobotError, TimeoutError) as exc:
            log.info("the Home shows %d run(s) as finished without their result: %s", len(result_ids), exc)
            return
        for result_id, run in runs.items():
            if run.status.is_final and run.status is not RunStatus.TIMED_OUT:
                self._known[result_id] = run.status
                self._known.move_to_end(result_id)
        while len(self._known) > KEPT:
            self._known.popitem(last=False)


def _ended(record: Record) -> bool:
    """The run is over in Nautobot: its log is posted (or being posted)."""
    return record.state in (RequestState.LOGGED, RequestState.DONE) and record.log_posted
