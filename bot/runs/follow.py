"""Following a Job run in Nautobot until it ends, and having its result posted into the request's thread.

Outages of Nautobot are waited out (the run goes on there); the thread (:mod:`bot.slack.thread`) is told what to
show, and the ledger records each step once it is shown. With Nautobot's events (:mod:`bot.nautobot.events`) a
follow looks the moment its run starts or ends; polling is only the safety net, at its usual pace without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.home.changes import NOBODY, HomeChanges
from bot.ledger import Ledger
from bot.metrics import Metrics
from bot.models import JobForm, JobRun, RunRequest, RunStatus
from bot.nautobot import NautobotClient, NautobotError, ResultReader
from bot.nautobot.event_payload import APPROVAL_DENIED
from bot.nautobot.events import EventSource
from bot.nautobot.wakeups import CANCEL_ASKED, JOB_STARTED, Wakeups
from bot.runs.nautobot_approvers import TellingNobody
from bot.runs.pace import STARTED_SETTLE, ApprovalPace, RunPace
from bot.runs.run_logs import read_log
from bot.runs.scheduled_states import APPROVED_STATES, UNRUN_STATES, scheduled_state
from bot.slack.thread import SlackThreads, Thread

log = logging.getLogger("bot.follow")
T = TypeVar("T")

LATE_WINDOW = 24 * 3600.0


class Follower:
    """Polls one JobResult at a time per request; each follow is its own asyncio task."""

    def __init__(
        self,
        nautobot: NautobotClient,
        threads: SlackThreads,
        *,
        timeout: float,
        ledger: Ledger | None = None,
        metrics: Metrics | None = None,
        reader: ResultReader | None = None,
        events: EventSource | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        approvers: TellingNobody | None = None,
    ):
        self.approvers = approvers or TellingNobody()
        self.metrics = metrics or Metrics()
        self.events = events
        self.wakeups = events.wakeups if events is not None else Wakeups(sleep=sleep)
        self.reader = reader or ResultReader(nautobot, gather=0)
        self.nautobot = nautobot
        self.threads = threads
        self.timeout = timeout
        self.ledger = ledger
        self.sleep = sleep
        self.home: HomeChanges = NOBODY
        self._moved: dict[str, Thread] = {}
        """Requests whose messages went on elsewhere (a DM) than the thread they started in."""

    async def follow(
        self, request: RunRequest, form: JobForm | None, run: JobRun, thread: Thread, *, log_posted: bool = False
    ) -> JobRun:
        """Follow ``run`` (whose status the parent message already shows) to its end.

        ``log_posted``: a restarted bot found the log already in the thread; only the final status is due.
        """
        started = time.monotonic()
        self.metrics.run_started()
        try:
            with self._following(run.result_id):
                run = await self._follow(request, form, run, thread, started, log_posted=log_posted)
        finally:
            self.metrics.run_finished(self._outcome(run), time.monotonic() - started)
            self._moved.pop(request.request_id, None)  # the request's follow ends here
        return run

    @staticmethod
    def _outcome(run: JobRun) -> str:
        return run.status.value if run.status.is_final else RunStatus.TIMED_OUT.value

    async def _follow(
        self, request: RunRequest, form: JobForm | None, run: JobRun, thread: Thread, started: float, *, log_posted
    ) -> JobRun:
        shown = run.status
        pace = RunPace(lambda: time.monotonic() - started, self._flowing, self.timeout)
        for delay in pace:
            if run.status.is_final:
                break  # the final status goes up after the log is in the thread
            elapsed = time.monotonic() - started
            if elapsed > self.timeout + LATE_WINDOW:
                return run
            shown = await self._show_passing(request, form, run, thread, shown, elapsed)
            flowing = self._flowing()
            worth_reading, woken_by = await self._look_after(run.result_id, delay, self._where(request, thread))
            if not worth_reading:
                continue
            log.debug("reading result=%s (%s)", run.result_id, woken_by or "on the polling pace")
            try:
                run = await self._poll(run, with_log=pace.with_log(woken_by))
            except NautobotError as exc:  # e.g. the token was revoked or the JobResult deleted
                self.metrics.nautobot_error(exc)
                await self._stopped(request, form, run, thread, exc)
                return run
            if pace.read(run, woken_by, flowing=flowing) and self.events is not None:
                self.events.missed(run.result_id)
        await self.post_result(request, form, run, thread, log_posted=log_posted)
        return run

    async def _look_after(self, key: str, delay: float, where: Thread) -> tuple[bool, str | None]:
        """Pause ``delay`` (a start waits a moment for the end): whether the run is worth reading now, and what woke
        the pause. After a start alone, a read is only for the "running" it would show, so it is not made while
        Slack's edit budget has no turn for that edit (the next look shows it)."""
        woken_by = await self._pause(key, delay)
        if woken_by != JOB_STARTED:
            return True, woken_by
        woken_by = await self._pause(key, STARTED_SETTLE) or woken_by
        return woken_by != JOB_STARTED or self.threads.may_show_now(where), woken_by

    async def _show_passing(
        self, request: RunRequest, form: JobForm | None, run: JobRun, thread: Thread, shown: RunStatus, elapsed: float
    ) -> RunStatus:
        """A passing status (or, past the timeout, "timed out") on the parent message: what it shows now.

        Passing statuses never hold up the follow behind Slack's edit budget: one not shown now is tried again
        at the next look, and the final status (which waits its turn) replaces it.
        """
        if elapsed > self.timeout:
            if shown is not RunStatus.TIMED_OUT and await self.show(
                request, form, run, thread, RunStatus.TIMED_OUT, elapsed, unless_waiting=True
            ):
                return RunStatus.TIMED_OUT
        elif run.status != shown and await self.show(request, form, run, thread, run.status, unless_waiting=True):
            return run.status
        return shown

    async def cancelled(self, result_id: str) -> None:
        """The bot asked Nautobot to cancel ``result_id``: its follow looks at once, then quickly until the run ended
        (Nautobot announces no revoked run); on another replica too, through Nautobot's Redis when events are on."""
        self.wakeups.wake(result_id, CANCEL_ASKED)
        if self.events is not None:
            await self.events.relay_cancel(result_id)

    async def follow_approval(
        self, request: RunRequest, form: JobForm | None, scheduled_id: str, thread: Thread
    ) -> JobRun | None:
        """Wait for the decision on a run that needs approval; an approved run is then followed as usual."""
        with self._following(scheduled_id):
            return await self._follow_approval(request, form, scheduled_id, thread)

    async def _follow_approval(
        self, request: RunRequest, form: JobForm | None, scheduled_id: str, thread: Thread
    ) -> JobRun | None:
        started = time.monotonic()
        pace = ApprovalPace(lambda: time.monotonic() - started, self.timeout, self._flowing)
        while True:
            try:
                state = await self._scheduled_state(scheduled_id)
                run = await self._scheduled_run(scheduled_id) if state in APPROVED_STATES else None
            except NautobotError as exc:  # the scheduled job was deleted, or the token lost its view on it
                await self._approval_gone(request, form, thread, scheduled_id, exc, denial_heard=pace.denial_heard)
                return None
            if run is not None:
                return await self._approved(request, form, scheduled_id, run, thread)
            if state in UNRUN_STATES:
                await self._not_run(request, form, thread, scheduled_id, state)
                return None
            if time.monotonic() - started > self.timeout + LATE_WINDOW:
                return None  # still pending a day later: a restarted bot looks again
            if state == "pending":  # still waiting for a decision (Nautobot answered): its approvers are told
                await self.approvers.waiting(request, form, scheduled_id, self._where(request, thread))
            elif state in APPROVED_STATES and not pace.approval_shown:  # however long the scheduler takes to start it
                pace.approval_shown = True
                await self.approvers.decided(request, form, self._where(request, thread), "approved")
            pace.woken(await self._pause(scheduled_id, pace.next(approved=state in APPROVED_STATES)))

    async def _approved(
        self, request: RunRequest, form: JobForm | None, scheduled_id: str, run: JobRun, thread: Thread
    ) -> JobRun:
        log.info("approved request=%s scheduled=%s result=%s", request.request_id, scheduled_id, run.result_id)
        if self.ledger is not None:
            await self.ledger.approved(request.request_id, run.result_id)
        await self.approvers.decided(request, form, self._where(request, thread), "approved")
        if not run.status.is_final:  # a finished run shows its final status after its log
            await self.show(request, form, run, thread, run.status, unless_waiting=True)
        return await self.follow(request, form, run, thread)

    async def _not_run(
        self, request: RunRequest, form: JobForm | None, thread: Thread, scheduled_id: str, state: str
    ) -> None:
        """Denied, withdrawn, or the scheduler could not start it: nothing was run."""
        log.info("not run request=%s scheduled=%s state=%s", request.request_id, scheduled_id, state)
        url = self.nautobot.scheduled_url(scheduled_id)
        if state == "errored":
            await self._tell(
                request,
                thread,
                "Nautobot's scheduler could not start the approved run.",
                "Nothing was run.",
                "Look at the scheduled job in Nautobot, or ask again.",
                url=url,
            )
        await self._close_unrun(request, form, thread, UNRUN_STATES[state], url)

    async def _approval_gone(
        self,
        request: RunRequest,
        form: JobForm | None,
        thread: Thread,
        scheduled_id: str,
        exc: NautobotError,
        *,
        denial_heard: bool,
    ) -> None:
        """Nautobot no longer shows the scheduled job: denied (2.x deletes a denied one), or out of the bot's view."""
        url = self.nautobot.scheduled_url(scheduled_id)
        if exc.status == 404:
            # The denial's event may have come before this follow first looked.
            heard = denial_heard or await self._pause(scheduled_id, 0) == APPROVAL_DENIED
            if heard or await self._denial_deletes():
                await self._close_denied(request, form, thread, url, heard=heard)
                return
        self.metrics.nautobot_error(exc)
        log.error("stopped waiting for approval request=%s: %s", request.request_id, exc)
        await self._tell(
            request,
            thread,
            f"The bot could not follow this approval any more: {exc}",
            "Nothing was run by the bot; whatever is decided in Nautobot still applies there.",
            "Look at the scheduled job in Nautobot.",
            url=url,
        )
        await self._close_unrun(request, form, thread, RunStatus.CANCELLED, url)

    async def _close_denied(
        self, request: RunRequest, form: JobForm | None, thread: Thread, url: str, *, heard: bool
    ) -> None:
        """The scheduled job is gone after a denial (Nautobot 2.x deletes a denied one): nothing was run."""
        log.info("denied request=%s (the scheduled job is gone from Nautobot)", request.request_id)
        if not heard:  # no event said so: it may also have been deleted by hand
            await self._tell(
                request,
                thread,
                "Nautobot no longer has the scheduled job: on Nautobot 2.x that is what a denial does "
                "(or someone deleted it).",
                "Nothing was run.",
                "Ask again if it should run.",
            )
        await self._close_unrun(request, form, thread, RunStatus.DENIED, url)

    async def _denial_deletes(self) -> bool:
        """Nautobot 2.x deletes a denied scheduled job, 3.x keeps it: its version is asked now if not known yet."""
        if not self.nautobot.capabilities.known:
            with contextlib.suppress(NautobotError):
                await self.nautobot.status()
        return self.nautobot.capabilities.denial_deletes

    def _flowing(self) -> bool:
        return self.events is not None and self.events.flowing

    def _following(self, key: str) -> contextlib.AbstractContextManager[None]:
        """Events about ``key`` (a JobResult or ScheduledJob id), and a Cancel of it, wake this follow's pauses."""
        return self.wakeups.following(key)

    async def _pause(self, key: str, delay: float) -> str | None:
        """``delay`` seconds, cut short by an event about ``key`` or a Cancel: what woke it, or None."""
        return await self.wakeups.wait(key, delay)

    async def _scheduled_state(self, scheduled_id: str) -> str | None:
        """The scheduled job's state (``pending``, ``active``, ``denied``…); None while Nautobot is away."""
        record = await self._unless_away(self.nautobot.scheduled_job(scheduled_id), None, f"scheduled={scheduled_id}")
        return scheduled_state(record)

    async def _scheduled_run(self, scheduled_id: str) -> JobRun | None:
        return await self._unless_away(self.nautobot.scheduled_run(scheduled_id), None, f"scheduled={scheduled_id}")

    async def _unless_away(self, reading: Awaitable[T], away: T, what: str) -> T:
        """What Nautobot answers, or ``away`` during an outage: it is waited out, the run goes on in Nautobot."""
        try:
            return await reading
        except NautobotError as exc:
            if not getattr(exc, "retryable", False):
                raise
            self.metrics.nautobot_error(exc)
            log.warning("nautobot unavailable while following %s: %s", what, exc)
            return away

    async def _close_unrun(
        self, request: RunRequest, form: JobForm | None, thread: Thread, status: RunStatus, url: str
    ) -> None:
        await self.show(request, form, None, thread, status, nautobot_url=url)
        await self.approvers.decided(request, form, self._where(request, thread), status.value)
        if self.ledger is not None:
            await self.ledger.closed_unrun(request.request_id, status)
        self._moved.pop(request.request_id, None)

    async def _stopped(
        self, request: RunRequest, form: JobForm | None, run: JobRun, thread: Thread, exc: NautobotError
    ) -> None:
        log.error("stopped following request=%s result=%s: %s", request.request_id, run.result_id, exc)
        await self._tell(
            request,
            thread,
            f"The bot could not follow this run any more: {exc}",
            "The Job itself is not affected; it goes on in Nautobot.",
            "Open the JobResult in Nautobot for its outcome.",
            url=run.url,
        )
        await self.show(request, form, run, thread, RunStatus.TIMED_OUT)

    async def _poll(self, run: JobRun, *, with_log: bool = False) -> JobRun:
        reading = self.reader.read(run.result_id, with_log=with_log)
        return await self._unless_away(reading, run, f"result={run.result_id}")

    async def show(
        self,
        request: RunRequest,
        form: JobForm | None,
        run: JobRun | None,
        thread: Thread,
        status: RunStatus,
        elapsed: float | None = None,
        *,
        nautobot_url: str | None = None,
        unless_waiting: bool = False,
    ) -> bool:
        """Show ``status`` on the parent message; ``unless_waiting``: only if that costs no wait for Slack's
        edit budget (a passing status). True: shown."""
        where = self._where(request, thread)
        now_at = await self.threads.show(
            where, request, form, run, status, elapsed=elapsed, nautobot_url=nautobot_url, unless_waiting=unless_waiting
        )
        if now_at is None:
            log.debug("status request=%s status=%s skipped: no edit turn free", request.request_id, status.value)
            return False
        await self._went(request, where, now_at)
        log.info("status request=%s result=%s status=%s", request.request_id, run and run.result_id, status.value)
        if self.ledger is not None and not (status.is_final and status is not RunStatus.TIMED_OUT):
            await self.ledger.set_run_status(request.request_id, status)
        self.home.changed(request)
        return True

    async def post_result(
        self, request: RunRequest, form: JobForm | None, run: JobRun, thread: Thread, *, log_posted: bool = False
    ) -> None:
        """The log into the thread first, then the final status on the parent; each recorded once done."""
        if not log_posted:
            entries = list(run.log) if run.log is not None else await read_log(self.nautobot, run, self.sleep)
            if entries is not None and run.log is None:
                run = run.with_log(entries)  # the final status counts the lines the thread shows
            if self.ledger is not None:  # taken over meanwhile (this replica was thought dead): post nothing
                await self.ledger.hold(request.request_id)
            where = self._where(request, thread)
            await self._went(request, where, await self.threads.post_log(where, request, run, entries))
            if self.ledger is not None:
                await self.ledger.logged(request.request_id)
        await self.show(request, form, run, thread, run.status)
        if self.ledger is not None:
            await self.ledger.done(request.request_id)

    async def _tell(
        self,
        request: RunRequest,
        thread: Thread,
        what_happened: str,
        what_was_done: str,
        next_step: str,
        *,
        url: str | None = None,
    ) -> None:
        where = self._where(request, thread)
        await self._went(
            request, where, await self.threads.tell(where, request, what_happened, what_was_done, next_step, url=url)
        )

    def _where(self, request: RunRequest, thread: Thread) -> Thread:
        return self._moved.get(request.request_id, thread)

    async def _went(self, request: RunRequest, before: Thread, after: Thread) -> None:
        """The messages went on elsewhere: remember it here, and in the ledger for a restart."""
        if after == before:
            return
        self._moved[request.request_id] = after
        if self.ledger is not None:
            await self.ledger.moved(request.request_id, channel=after.channel_id, ts=after.ts)
