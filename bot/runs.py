"""A request's life: record it once, send it to Nautobot once, announce it, follow it, resume it after a restart.

Every step is written to the ledger before the next one starts, so a bot killed at any point picks
each request up where it stood: nothing is lost and the Job never runs twice. Slack is reached only
through :class:`~bot.slack.thread.SlackThreads`, which turns what happened into messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from bot.follow import Follower
from bot.ledger import Ledger, LedgerError, Record, RequestState
from bot.logs import correlation
from bot.models import JobForm, JobRun, RunRequest, RunStatus
from bot.nautobot import FormCache, JobFieldErrors, NautobotClient, NautobotError, NautobotUnreachable, Submission
from bot.slack.thread import SlackThreads, Thread

log = logging.getLogger("bot.runs")

# How far before the ledger's timestamp a run found in Nautobot may have been created (clock skew).
ADOPT_SKEW = timedelta(minutes=2)
# A refused request may be corrected and sent again from the same modal; each attempt gets its own key.
MAX_ATTEMPTS = 20


def request_key(view_id: str, values: dict[str, Any], attempt: int = 0) -> str:
    """The idempotency key: the same submission delivered twice maps to one key, a changed one does not."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{view_id}:{digest}" + (f":{attempt}" if attempt else "")


class Sent(StrEnum):
    """What became of sending a request to Nautobot."""

    SUBMITTED = "submitted"
    """Nautobot took it: a run to follow, or a scheduled job awaiting approval."""
    DUPLICATE = "duplicate"
    """Another delivery of the same request is already sending it; this one does nothing."""
    FIELD_ERRORS = "field_errors"
    """Nautobot refused the input; the person can correct the form and send it again."""
    NOT_RUN = "not_run"
    """Nautobot refused it for good (permissions, a disabled Job), or may have it after all; nothing is kept."""
    UNSENT = "unsent"
    """Nautobot could not be reached; the request is kept and a Retry sends it again."""


@dataclass(frozen=True)
class SubmitOutcome:
    """One sending's outcome, the same whether it came from the modal, a late answer or the Retry button."""

    sent: Sent
    submission: Submission | None = None
    error: NautobotError | None = None

    @classmethod
    def refused(cls, error: NautobotError) -> SubmitOutcome:
        if isinstance(error, JobFieldErrors):
            return cls(Sent.FIELD_ERRORS, error=error)
        return cls(Sent.UNSENT if error.retryable else Sent.NOT_RUN, error=error)


class Runs:
    def __init__(
        self,
        *,
        ledger: Ledger,
        nautobot: NautobotClient,
        threads: SlackThreads,
        follower: Follower,
        forms_cache: FormCache,
    ):
        self.ledger = ledger
        self.nautobot = nautobot
        self.threads = threads
        self.follower = follower
        self.forms = forms_cache
        self.tasks: set[asyncio.Task[Any]] = set()

    # -- recording and sending -------------------------------------------------------------------

    async def claim(
        self, view_id: str, requester_id: str, channel_id: str, form: JobForm, values: dict[str, Any]
    ) -> RunRequest | None:
        """Record the request before anything is sent; None when this submission is already under way."""
        for attempt in range(MAX_ATTEMPTS):
            request = RunRequest(
                request_id=request_key(view_id, values, attempt),
                requester_id=requester_id,
                channel_id=channel_id,
                job_name=form.job_name,
                inputs=values,
                dryrun=bool(values.get("dryrun", False)),
            )
            record, created = await self.ledger.record(request)
            if created or record.state is RequestState.UNSENT:
                return request
            if record.state is not RequestState.REFUSED:
                return None
        raise LedgerError(f"{MAX_ATTEMPTS} refused attempts from one form; open a new one")

    async def send(self, request_id: str, form: JobForm) -> SubmitOutcome:
        """:meth:`submit`, with every way it can end as one outcome."""
        try:
            submission = await self.submit(request_id, form)
        except LedgerError:  # another delivery of this request is already sending it
            return SubmitOutcome(Sent.DUPLICATE)
        except NautobotError as exc:
            return SubmitOutcome.refused(exc)
        return SubmitOutcome(Sent.SUBMITTED, submission=submission)

    async def submit(self, request_id: str, form: JobForm) -> Submission:
        """Send the run to Nautobot once; the ledger says so before and after."""
        record = await self.ledger.begin_submit(request_id)
        try:
            submission = await self.nautobot.run_job(form.job_id, dict(record.inputs))
        except NautobotError as exc:
            if isinstance(exc, NautobotUnreachable) and exc.request_sent:
                raise  # Nautobot may have it: resume() finds out before anything is sent again
            if exc.retryable:  # kept: a Retry sends it again once Nautobot is back
                await self.ledger.unsent(request_id, str(exc))
            else:
                await self.ledger.refused(request_id, str(exc))
            raise
        await self.ledger.submitted(
            request_id,
            result_id=submission.run.result_id if submission.run else None,
            scheduled_job_id=submission.scheduled_job_id,
        )
        return submission

    async def cancel(self, result_id: str) -> JobRun:
        """Ask Nautobot to stop the run; the follow sees it end and posts its log as usual."""
        return await self.nautobot.cancel(result_id)

    # -- announcing and following ----------------------------------------------------------------

    async def start(self, request: RunRequest, form: JobForm | None, run: JobRun | None, scheduled_url: str | None):
        """Post the parent message, then follow the run in the background."""
        status = run.status if run else RunStatus.AWAITING_APPROVAL
        if status.is_final:  # a resumed run may have ended; the final status goes up after its log
            status = RunStatus.RUNNING
        thread = await self.threads.announce(request, form, run, status, nautobot_url=scheduled_url)
        await self.ledger.announced(request.request_id, channel=thread.channel_id, ts=thread.ts, run_status=status)
        log.info("announced request=%s result=%s", request.request_id, run.result_id if run else None)
        if run is not None:
            self._follow(request, form, run, thread)
        else:
            record = await self.ledger.get(request.request_id)
            if record is None or not record.scheduled_job_id:
                raise LedgerError(f"request {request.request_id} awaits approval, but the ledger has no scheduled job")
            self._await_approval(request, form, record.scheduled_job_id, thread)

    def _follow(
        self, request: RunRequest, form: JobForm | None, run: JobRun, thread: Thread, logged: bool = False
    ) -> None:
        self._background(self.follower.follow(request, form, run, thread, log_posted=logged))

    def _await_approval(self, request: RunRequest, form: JobForm | None, scheduled_id: str, thread: Thread) -> None:
        self._background(self.follower.follow_approval(request, form, scheduled_id, thread))

    def _background(self, following: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(following)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    async def stop(self) -> None:
        """Stop following (at shutdown): the ledger holds where each request stands, for the next start."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("following a run failed", exc_info=task.exception())

    # -- after a restart -------------------------------------------------------------------------

    async def resume(self) -> int:
        """Pick up every unfinished request; returns how many were resumed."""
        resumed = 0
        for record in await self.ledger.unfinished():
            try:
                with correlation(record.request_id):
                    resumed += await self._resume(record)
            except Exception:  # one broken request must not keep the others from resuming
                log.exception("could not resume request=%s state=%s", record.request_id, record.state)
        return resumed

    async def _resume(self, record: Record) -> int:
        state = record.state
        if state is RequestState.UNSENT:
            return 0  # the requester was told to retry
        log.info("resuming request=%s state=%s", record.request_id, state)
        request = record.to_request()
        form = await self._form()
        if state in (RequestState.RECEIVED, RequestState.SUBMITTING):
            if form is None:  # it can be neither found in Nautobot nor sent without the Job's form
                log.warning("request=%s waits for the next start: the Job's form cannot be read", record.request_id)
                return 0
            if state is RequestState.SUBMITTING:
                record = await self._adopt_or_reset(record, form)
            if record.state is not RequestState.SUBMITTED:
                submission = await self.submit(record.request_id, form)
                await self.start(request, form, submission.run, submission.scheduled_url)
                return 1
        run = await self.nautobot.job_result(record.result_id) if record.result_id else None
        if record.state is RequestState.SUBMITTED:
            scheduled_url = self.nautobot.scheduled_url(record.scheduled_job_id) if record.scheduled_job_id else None
            await self.start(request, form, run, scheduled_url)
            return 1
        thread = _thread_of(record)
        if run is None and record.scheduled_job_id:  # announced, waiting for an approval in Nautobot
            self._await_approval(request, form, record.scheduled_job_id, thread)
            return 1
        if run is None:
            raise LedgerError(f"request {record.request_id} is {state.value} but has neither a run nor an approval")
        self._follow(request, form, run, thread, logged=state is RequestState.LOGGED)
        return 1

    async def _form(self) -> JobForm | None:
        try:
            return self.forms.current() or await self.forms.refresh()
        except NautobotError:
            return None

    async def _adopt_or_reset(self, record: Record, form: JobForm) -> Record:
        """The bot died while sending the run: if Nautobot has it, follow that run; else send it again."""
        since = record.updated_at - ADOPT_SKEW
        for candidate in await self.nautobot.results_since(form.job_id, since):
            kwargs = candidate.get("task_kwargs") or {}
            if all(kwargs.get(name) == value for name, value in record.inputs.items()):
                log.info("adopting result=%s for request=%s", candidate["id"], record.request_id)
                return await self.ledger.submitted(record.request_id, result_id=candidate["id"], scheduled_job_id=None)
        return await self.ledger.unsent(record.request_id, "the bot restarted before Nautobot answered")


def _thread_of(record: Record) -> Thread:
    if not record.message_channel or not record.message_ts:
        raise LedgerError(f"request {record.request_id} is {record.state.value} but has no parent message")
    return Thread(record.message_channel, record.message_ts)
