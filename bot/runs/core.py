"""A request's life: record it once, send it to Nautobot once, announce it, follow it, take it up after a restart
(:mod:`bot.runs.take_up`).

Every step is written to the ledger before the next one starts, so a bot killed at any point picks
each request up where it stood: nothing is lost and the Job never runs twice. With several replicas
on one ledger, a request belongs to the replica working on it, under a lease renewed every
``heartbeat`` seconds (:meth:`Runs.keep_leases`); a replica takes over only requests whose lease ran
out, and stops working on any that another one took over. Slack is reached only through
:class:`~bot.slack.thread.SlackThreads`, which turns what happened into messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import replace
from typing import Any

from bot.home.changes import NOBODY, HomeChanges
from bot.ledger import IllegalTransition, Ledger, LedgerError, LostLease, Record, RequestState
from bot.ledger.grants import GrantTimes
from bot.logs import set_correlation
from bot.metrics import Metrics
from bot.models import REQUEST_ID, JobForm, JobRun, RunRequest, RunStatus
from bot.nautobot import FormCaches, JobFieldErrors, NautobotClient, NautobotError, NautobotUnreachable, Submission
from bot.policy import ApprovalRule
from bot.runs.approvals import Approvals, Members
from bot.runs.follow import Follower
from bot.runs.grants import Grants
from bot.runs.outcome import METRIC, Answer, Ask, Sent, SubmitOutcome, request_key
from bot.runs.take_up import TakeUp
from bot.slack.thread import SlackThreads, Thread

log = logging.getLogger("bot.runs")

RETRY = "Ask again once what Nautobot said is fixed; if it keeps happening, tell your Nautobot administrator."


async def _no_members(group_id: str, *, fresh: bool = False) -> frozenset[str]:
    return frozenset()


# A refused request may be corrected and sent again from the same modal; each attempt gets its own key.
MAX_ATTEMPTS = 20


class Runs:
    def __init__(
        self,
        *,
        ledger: Ledger,
        nautobot: NautobotClient,
        threads: SlackThreads,
        follower: Follower,
        forms: FormCaches,
        metrics: Metrics | None = None,
        members: Members | None = None,
        grant_times: GrantTimes | None = None,
    ):
        """``members``: a Slack user group's members, for who may approve (none: only users named approve);
        ``grant_times``: when to warn of a time-bound grant's end, and how late its revoke may be."""
        self.ledger = ledger
        self.nautobot = nautobot
        self.threads = threads
        self.follower = follower
        self.forms = forms
        """The form of each Job a request may be for (a resumed request's Job may be no command's any more)."""
        self.metrics = metrics or Metrics()
        self.tasks: set[asyncio.Task[Any]] = set()
        self._following: dict[str, asyncio.Task[Any]] = {}
        self._held: set[str] = set()
        """Requests this replica works on outside a follow (sending, telling, announcing, taking up): their leases
        are renewed like a follow's, so no other replica takes one over meanwhile."""
        self._take_up = TakeUp(self)
        self.approvals = Approvals(ledger, threads, forms, members or _no_members)
        self.approvals.sender = self
        self.grants = Grants(ledger, nautobot, threads, grant_times or GrantTimes.default(), self.metrics)
        self.home: HomeChanges = NOBODY
        self.sweepers: list[Callable[[], Awaitable[object]]] = []
        """More work each heartbeat's sweep does (e.g. completing Workflow Builder steps whose request ended)."""

    # -- a request's way in: every entry point's one call ---------------------------------------

    async def ask(self, ask: Ask, answer: Answer) -> SubmitOutcome:
        """Record the request once, send it to Nautobot once, tell the person through ``answer``, announce it, and
        follow it in the background. ``answer`` hears every outcome: a duplicate delivery's and an unrecorded
        request's too."""
        try:
            request = await self._claim(ask)
        except LedgerError as exc:
            log.error("cannot record a request: %s", exc)
            return await self._answered(SubmitOutcome(Sent.NOT_RECORDED, error=exc), answer)
        if request is None:  # Slack delivered it twice, a second click, or another replica has it: it runs once
            return await self._answered(SubmitOutcome(Sent.DUPLICATE), answer)
        set_correlation(request.request_id)  # follows the request into every log line
        if ask.approval is not None:
            return await self._ask_approval(request, ask.form, ask.approval, answer)
        return await self._carry(request, ask.form, answer)

    async def retry(self, request: RunRequest, form: JobForm, answer: Answer) -> SubmitOutcome:
        """A kept request (Nautobot could not be reached) sent again, on from where :meth:`ask` left it."""
        return await self._carry(request, form, answer)

    async def _carry(self, request: RunRequest, form: JobForm, answer: Answer) -> SubmitOutcome:
        with self.holding(request.request_id):  # until its follow holds it (announcing may wait its turn in Slack)
            outcome = replace(await self._send(request.request_id, form), request=request)
            submission = outcome.submission
            if submission is None:
                return await self._answered(outcome, answer)
            self.metrics.request(METRIC[outcome.sent])
            await answer.tell(outcome)
            if submission.awaiting_approval:
                log.info("run awaits approval request=%s scheduled=%s", request.request_id, submission.scheduled_job_id)
            await self.announce(request, form, submission.run, submission.scheduled_url)
        await answer.record(outcome)
        return outcome

    async def _ask_approval(
        self, request: RunRequest, form: JobForm, rule: ApprovalRule, answer: Answer
    ) -> SubmitOutcome:
        """Nothing reaches Nautobot yet: the request waits for its approvers, who are asked now."""
        with self.holding(request.request_id):
            try:
                outcome = await self.approvals.ask(request, rule)
            except IllegalTransition:  # another delivery of this request, or another replica, has it
                return await self._answered(SubmitOutcome(Sent.DUPLICATE), answer)
            except LedgerError as exc:
                return await self._answered(SubmitOutcome(Sent.UNRECORDED, error=exc, request=request), answer)
            if not outcome.accepted:
                return await self._answered(outcome, answer)
            self.metrics.request(METRIC[outcome.sent])
            await answer.tell(outcome)
            await self.approvals.post(request.request_id, form)
        await answer.record(outcome)
        return outcome

    async def send_approved(self, record: Record) -> None:
        """Approved in Slack: sent to Nautobot once, and followed under the requester's message, as any request.

        Nautobot unreachable: it stays with the bot (taken up again once its lease runs out); refused: the
        requester hears why in the thread."""
        thread = Thread(record.message_channel or record.channel_id, record.message_ts or "")
        request = record.to_request()
        with self.holding(record.request_id):
            form = await self.forms.of(record.job_name).get()
            try:
                submission = await self.submit(record.request_id, form, waiting=False)
            except NautobotError as exc:
                if exc.retryable:
                    raise
                await self.threads.tell(thread, request, f"Nautobot did not run it: {exc}", "Nothing ran.", RETRY)
                return
            self.metrics.request(METRIC[Sent.SUBMITTED])
            await self.announce(request, form, submission.run, submission.scheduled_url, thread=thread)

    @contextlib.contextmanager
    def holding(self, request_id: str) -> Iterator[None]:
        """While the block works on ``request_id`` outside its follow, the heartbeat renews its lease."""
        self._held.add(request_id)
        try:
            yield
        finally:
            self._held.discard(request_id)

    async def _answered(self, outcome: SubmitOutcome, answer: Answer) -> SubmitOutcome:
        """An outcome with nothing to announce: counted, logged, told and recorded."""
        self.metrics.request(METRIC[outcome.sent])
        if isinstance(outcome.error, NautobotError) and not isinstance(outcome.error, JobFieldErrors):
            self.metrics.nautobot_error(outcome.error)
            log.warning("run refused request=%s: %s", outcome.request and outcome.request.request_id, outcome.error)
        elif isinstance(outcome.error, LedgerError) and outcome.request is not None:
            log.error("request=%s not recorded: %s", outcome.request.request_id, outcome.error)
        await answer.tell(outcome)
        await answer.record(outcome)
        self.home.changed(outcome.request)
        return outcome

    async def _claim(self, ask: Ask) -> RunRequest | None:
        """Record the request before anything is sent; None when this submission is already under way."""
        for attempt in range(MAX_ATTEMPTS):
            request_id = request_key(ask.key, ask.values, attempt)
            request = RunRequest(
                request_id=request_id,
                requester_id=ask.requester_id,
                channel_id=ask.channel_id,
                job_name=ask.form.job_name,
                inputs={**ask.values, REQUEST_ID: request_id} if ask.form.variable(REQUEST_ID) else ask.values,
                dryrun=bool(ask.values.get("dryrun", False)),
            )
            record, created = await self.ledger.record(request)
            if created or record.state is RequestState.UNSENT:
                return request
            if record.state is not RequestState.REFUSED:
                return None
        raise LedgerError(f"{MAX_ATTEMPTS} refused attempts from one form; open a new one")

    async def _send(self, request_id: str, form: JobForm) -> SubmitOutcome:
        """:meth:`submit`, with every way it can end as one outcome."""
        try:
            submission = await self.submit(request_id, form)
        except IllegalTransition:  # another delivery of this request, or another replica, is sending it
            return SubmitOutcome(Sent.DUPLICATE)
        except LedgerError as exc:
            return SubmitOutcome(Sent.UNRECORDED, error=exc)
        except NautobotError as exc:
            return SubmitOutcome.refused(exc)
        return SubmitOutcome(Sent.SUBMITTED, submission=submission)

    async def submit(self, request_id: str, form: JobForm, *, waiting: bool = True) -> Submission:
        """Send the run to Nautobot once; the ledger says so before and after.

        ``waiting``: a person waits for the answer, so a request Nautobot could not take is kept for their
        Retry; else (taken up after a restart) it stays with the bot, which tries again later.
        """
        record = await self.ledger.begin_submit(request_id)
        try:
            submission = await self.nautobot.run_job(form.job_id, dict(record.inputs))
        except NautobotError as exc:
            if isinstance(exc, NautobotUnreachable) and exc.request_sent:
                raise  # Nautobot may have it: resume() finds out before anything is sent again
            if exc.retryable and not waiting:
                raise  # still sending: found in Nautobot, or sent again, when taken up next
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

    async def cancel(self, request_id: str, result_id: str) -> JobRun:
        """Ask Nautobot to stop the run; its follow, on whichever replica, looks at once and posts its log as usual."""
        run = await self.nautobot.cancel(result_id)
        log.info("cancel requested request=%s result=%s", request_id, result_id)
        await self.follower.cancelled(result_id)
        return run

    async def status(self, result_id: str) -> RunStatus:
        """How the run stands in Nautobot now (the ledger does not keep a run's final status)."""
        return (await self.nautobot.job_result(result_id)).status

    # -- announcing and following ----------------------------------------------------------------

    async def announce(
        self,
        request: RunRequest,
        form: JobForm | None,
        run: JobRun | None,
        scheduled_url: str | None,
        *,
        thread: Thread | None = None,
    ) -> None:
        """Post the parent message (or turn ``thread``'s, an approved request's, into it), then follow the run in
        the background."""
        status = run.status if run else RunStatus.AWAITING_APPROVAL
        if status.is_final:  # a resumed run may have ended; the final status goes up after its log
            status = RunStatus.RUNNING
        if thread is None or not thread.ts:
            thread = await self.threads.announce(request, form, run, status, nautobot_url=scheduled_url)
        else:
            thread = await self.threads.show(thread, request, form, run, status, nautobot_url=scheduled_url) or thread
        await self.ledger.announced(request.request_id, channel=thread.channel_id, ts=thread.ts, run_status=status)
        log.info("announced request=%s result=%s", request.request_id, run.result_id if run else None)
        self.home.changed(request)
        if run is not None:
            self.follow(request, form, run, thread)
        else:
            record = await self.ledger.get(request.request_id)
            if record is None or not record.scheduled_job_id:
                raise LedgerError(f"request {request.request_id} awaits approval, but the ledger has no scheduled job")
            self.await_approval(request, form, record.scheduled_job_id, thread)

    def follow(
        self, request: RunRequest, form: JobForm | None, run: JobRun, thread: Thread, logged: bool = False
    ) -> None:
        following = functools.partial(self.follower.follow, request, form, run, thread, log_posted=logged)
        self._background(request.request_id, self._then_grant(request, thread, following))

    def await_approval(self, request: RunRequest, form: JobForm | None, scheduled_id: str, thread: Thread) -> None:
        following = functools.partial(self.follower.follow_approval, request, form, scheduled_id, thread)
        self._background(request.request_id, self._then_grant(request, thread, following))

    async def _then_grant(
        self, request: RunRequest, thread: Thread, following: Callable[[], Awaitable[JobRun | None]]
    ) -> JobRun | None:
        """Follow the run; a time-bound grant it made is followed on to its revoke (:mod:`bot.runs.grants`)."""
        run = await following()  # made here: a task cancelled before it starts leaves no follow never awaited
        await self.grants.granted(request, thread, run)
        self.home.changed(request)
        return run

    def _background(self, request_id: str, following: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(following)
        self.tasks.add(task)
        self._following[request_id] = task
        self.metrics.owned(len(self._following))
        task.add_done_callback(lambda done: self._finished(request_id, done))

    async def stop(self) -> None:
        """Stop following (at shutdown) and hand every lease back: another replica, or the next start, goes on."""
        working = [*self.tasks, *self.approvals.tasks, *self.grants.tasks]
        for task in working:
            task.cancel()
        await asyncio.gather(*working, return_exceptions=True)
        try:
            released = await self.ledger.release()
        except LedgerError as exc:
            log.warning("could not hand the leases back (they run out on their own): %s", exc)
        else:
            if released:
                log.info("handed back %d requests for another replica or the next start", released)

    def _finished(self, request_id: str, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if self._following.get(request_id) is task:
            del self._following[request_id]
        self.metrics.owned(len(self._following))
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, LostLease):
            log.info("request=%s was taken over by %s; this replica stopped following it", request_id, exc.owner)
        elif exc is not None:  # its lease runs out and the next sweep takes it up again
            log.error(
                "following request=%s failed; it is taken up again once its lease runs out", request_id, exc_info=exc
            )

    # -- leases ----------------------------------------------------------------------------------

    async def keep_leases(self, every: float) -> None:
        """Run for the life of the bot: renew what this replica works on, take up what nobody works on."""
        while True:
            await asyncio.sleep(every)
            await self.sweep()

    async def sweep(self) -> int:
        """One round of :meth:`keep_leases`; returns how many requests were taken over (and are being taken up).

        Taking them up goes on in the background: a slow Nautobot must not hold up the renewal of every lease
        this replica has (another replica would take those over, and post their messages again)."""
        working = set(self._following) | self._held
        try:
            held = await self.ledger.renew(working) if working else set()
            taken = await self.ledger.take_over()
        except LedgerError as exc:
            log.warning("cannot renew leases or look for requests nobody works on: %s", exc)
            return 0
        for request_id in working - held:
            task = self._following.get(request_id)
            if task is not None:  # another replica holds it now: two followers would post twice
                log.warning("lease of request=%s lost; this replica stops following it", request_id)
                task.cancel()
        try:
            await self.approvals.fire()
            await self.grants.fire()
        except LedgerError as exc:
            log.warning("cannot fire the approval or grant timers: %s", exc)
        for sweeper in self.sweepers:
            await sweeper()
        return self._taking_up(taken)

    # -- after a restart -------------------------------------------------------------------------

    async def resume(self) -> int:
        """At start: take over every request nobody works on (and this replica's own, after a restart); returns how
        many, which are taken up in the background."""
        return self._taking_up(await self.ledger.take_over(mine_too=True))

    def _taking_up(self, records: list[Record]) -> int:
        """Take ``records`` up in the background; each is held (its lease renewed) from now until it is handled."""
        if records:
            self._held.update(record.request_id for record in records)
            task = asyncio.create_task(self._take_up.all(records))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return len(records)
