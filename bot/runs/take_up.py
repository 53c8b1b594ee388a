"""Taking a request up where it stood: after a restart, or when the replica that had it stopped renewing its lease.

Each state a request can be left in has one handler here (:meth:`TakeUp.one`); a request that cannot be
taken up now is tried again later, and its requester hears (once) that it waits.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from bot.ledger import Ledger, LedgerError, Record, RequestState
from bot.logs import correlation
from bot.metrics import Metrics
from bot.models import REQUEST_ID, JobForm, JobRun, RunRequest
from bot.nautobot import FormCaches, NautobotClient, NautobotError, Submission
from bot.runs.approvals import Approvals
from bot.slack.thread import SlackThreads, Thread

log = logging.getLogger("bot.runs")

ADOPT_SKEW = timedelta(minutes=2)
"""How far before the ledger's timestamp a run found in Nautobot may have been created (clock skew)."""
TELL_AFTER_RESUMES = 5
"""A request taken up this many times without getting anywhere: its requester is told (once) that it waits."""
RETRY_CAP = 600.0
"""The longest wait before a request that could not be taken up is tried again."""


class Carrier(Protocol):
    """What taking a request up needs of the core: its parts, and its steps from sending on."""

    ledger: Ledger
    nautobot: NautobotClient
    threads: SlackThreads
    forms: FormCaches
    metrics: Metrics

    def holding(self, request_id: str) -> contextlib.AbstractContextManager[None]: ...

    async def submit(self, request_id: str, form: JobForm, *, waiting: bool = True) -> Submission: ...

    @property
    def approvals(self) -> Approvals: ...

    async def send_approved(self, record: Record) -> None: ...

    async def announce(
        self,
        request: RunRequest,
        form: JobForm | None,
        run: JobRun | None,
        scheduled_url: str | None,
        *,
        thread: Thread | None = None,
    ) -> None: ...

    def follow(
        self, request: RunRequest, form: JobForm | None, run: JobRun, thread: Thread, logged: bool = False
    ) -> None: ...

    def await_approval(self, request: RunRequest, form: JobForm | None, scheduled_id: str, thread: Thread) -> None: ...


class TakeUp:
    def __init__(self, runs: Carrier) -> None:
        self.runs = runs

    async def all(self, records: list[Record]) -> int:
        """Take up ``records`` (taken over from the ledger), each on its own: one broken request keeps no other back."""
        self.runs.metrics.taken_over(len(records))
        resumed = 0
        for record in records:
            try:
                with correlation(record.request_id), self.runs.holding(record.request_id):
                    resumed += await self.one(record)
            except NautobotError as exc:  # Nautobot down or busy for a while: expected, and tried again
                log.warning("could not resume request=%s state=%s: %s", record.request_id, record.state, exc)
                await self._later(record, exc)
            except Exception as exc:  # one broken request must not keep the others from resuming
                log.exception("could not resume request=%s state=%s", record.request_id, record.state)
                await self._later(record, exc)
        return resumed

    async def _later(self, record: Record, exc: Exception) -> None:
        """Try again after a wait that doubles with each failure (a lease's length at first)."""
        wait = min(self.runs.ledger.lease.total_seconds() * 2 ** max(record.resumes - 1, 0), RETRY_CAP)
        try:
            await self.runs.ledger.postpone(record.request_id, wait)
        except LedgerError as failed:
            log.warning("request=%s is tried again when its lease runs out: %s", record.request_id, failed)
        else:
            log.info("request=%s is tried again in %g s", record.request_id, wait)
        if record.resumes == TELL_AFTER_RESUMES:
            await self._tell_waiting(record, exc)

    async def _tell_waiting(self, record: Record, exc: Exception) -> None:
        """The requester hears that the request waits (once), rather than nothing at all."""
        if record.state is RequestState.LOGGED:  # its log is in the thread already: only its final status is late
            what = f"The log of your request for {record.job_name} is in its thread, but the bot could not show "
            what += f"its final status there yet ({exc})."
        else:
            what = f"Your request for {record.job_name} is waiting: the bot could not take it up ({exc})."
        try:
            await self.runs.threads.tell_requester(
                record.requester_id,
                what,
                "Nothing ran twice; the bot keeps trying on its own.",
                "If Nautobot is down, it goes on once Nautobot is back; if this keeps happening, tell your "
                "Nautobot administrator.",
            )
        except Exception:
            log.exception("could not tell requester=%s that request=%s waits", record.requester_id, record.request_id)

    async def one(self, record: Record) -> int:
        """Take ``record`` up from the state it was left in: each state has one handler (1: taken up)."""
        if record.state is RequestState.UNSENT:
            return 0  # the requester was told to retry
        log.info("resuming request=%s state=%s", record.request_id, record.state)
        take_up: dict[RequestState, Callable[[Record], Awaitable[None]]] = {
            RequestState.RECEIVED: self._send_again,
            RequestState.SUBMITTING: self._adopt_or_send,
            RequestState.SUBMITTED: self._announce_again,
            RequestState.ANNOUNCED: self._follow_again,
            RequestState.LOGGED: self._follow_again,
            RequestState.ASKING_APPROVAL: self._ask_again,
            RequestState.APPROVED: self.runs.send_approved,
            RequestState.NOT_APPROVED: self.runs.approvals.close,
        }
        if record.state not in take_up:
            raise LedgerError(f"request {record.request_id} is {record.state.value}: nothing to take up")
        await take_up[record.state](record)
        return 1

    async def _send_again(self, record: Record) -> None:
        """Recorded, never sent: send it now (without the Job's form it is not sent: Nautobot's error postpones
        it), and announce it."""
        form = await self.runs.forms.of(record.job_name).get()
        submission = await self.runs.submit(record.request_id, form, waiting=False)
        await self.runs.announce(
            record.to_request(), form, submission.run, submission.scheduled_url, thread=_approved_thread(record)
        )

    async def _adopt_or_send(self, record: Record) -> None:
        """The bot died while sending the run: if Nautobot has it, that run is followed; else it is sent again."""
        form = await self.runs.forms.of(record.job_name).get()
        record = await self._adopt_or_reset(record, form)
        if record.state is RequestState.SUBMITTED:
            await self._announce_again(record)
        else:
            await self._send_again(record)

    async def _announce_again(self, record: Record) -> None:
        """Sent, not announced yet: the parent message, then the follow."""
        form = await self._form(record.job_name)  # only shown: the request goes on without it
        run = await self.runs.nautobot.job_result(record.result_id) if record.result_id else None
        scheduled_url = self.runs.nautobot.scheduled_url(record.scheduled_job_id) if record.scheduled_job_id else None
        await self.runs.announce(record.to_request(), form, run, scheduled_url, thread=_approved_thread(record))

    async def _ask_again(self, record: Record) -> None:
        """Waiting for approval, its messages not all posted: those missing are posted, then it waits."""
        await self.runs.approvals.post(record.request_id, await self._form(record.job_name))

    async def _follow_again(self, record: Record) -> None:
        """Announced (its log perhaps posted already): followed on in its thread."""
        form = await self._form(record.job_name)
        run = await self.runs.nautobot.job_result(record.result_id) if record.result_id else None
        thread = _thread_of(record)
        if run is not None:
            self.runs.follow(record.to_request(), form, run, thread, logged=record.state is RequestState.LOGGED)
        elif record.scheduled_job_id:  # waiting for an approval in Nautobot
            self.runs.await_approval(record.to_request(), form, record.scheduled_job_id, thread)
        else:
            raise LedgerError(
                f"request {record.request_id} is {record.state.value} but has neither a run nor an approval"
            )

    async def _form(self, job_name: str) -> JobForm | None:
        try:
            return await self.runs.forms.of(job_name).get()
        except NautobotError:
            return None

    async def _adopt_or_reset(self, record: Record, form: JobForm) -> Record:
        """The bot died while sending the run: if Nautobot has it, follow that run; else send it again."""
        ledger = self.runs.ledger
        since = record.updated_at - ADOPT_SKEW
        for candidate in await self.runs.nautobot.results_since(form.job_id, since):
            if _is_run_of(record, candidate.get("task_kwargs")):
                log.info("adopting result=%s for request=%s", candidate["id"], record.request_id)
                return await self.runs.ledger.submitted(
                    record.request_id, result_id=candidate["id"], scheduled_job_id=None
                )
        for scheduled in await self.runs.nautobot.scheduled_since(form.job_id, since):  # awaiting approval
            if _is_run_of(record, scheduled.get("kwargs")):
                log.info("adopting scheduled job=%s for request=%s", scheduled["id"], record.request_id)
                return await self.runs.ledger.submitted(
                    record.request_id, result_id=None, scheduled_job_id=scheduled["id"]
                )
        return await ledger.unsent(record.request_id, "the bot restarted before Nautobot answered")


def _is_run_of(record: Record, kwargs: Any) -> bool:
    """Whether a run's inputs are this request's: by the request id the bot gave the Job, or, for a request
    recorded before the Job had one, by all its inputs."""
    if not isinstance(kwargs, dict):
        return False
    if REQUEST_ID in record.inputs:
        return kwargs.get(REQUEST_ID) == record.request_id
    return all(kwargs.get(name) == value for name, value in record.inputs.items())


def _approved_thread(record: Record) -> Thread | None:
    """An approved request's message, which becomes its run's parent message; None for any other request."""
    if record.approval is None or not record.message_channel or not record.message_ts:
        return None
    return Thread(record.message_channel, record.message_ts)


def _thread_of(record: Record) -> Thread:
    if not record.message_channel or not record.message_ts:
        raise LedgerError(f"request {record.request_id} is {record.state.value} but has no parent message")
    return Thread(record.message_channel, record.message_ts)
