"""A request's life after the modal: run the Job once, announce it, follow it, resume it after a restart.

Every step is written to the ledger before the next one starts, so a bot killed at any point picks
each request up where it stood: nothing is lost and the Job never runs twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.follow import Follower, Thread
from bot.form_cache import FormCache
from bot.ledger import Ledger, Record, RequestState
from bot.logs import correlation
from bot.models import JobForm, JobRun, RunRequest, RunStatus
from bot.nautobot import NautobotClient, NautobotError, NautobotUnreachable, Submission

log = logging.getLogger("bot.runs")

CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
# How far before the ledger's timestamp a run found in Nautobot may have been created (clock skew).
ADOPT_SKEW = timedelta(minutes=2)


class Runs:
    def __init__(
        self,
        *,
        ledger: Ledger,
        nautobot: NautobotClient,
        slack: AsyncWebClient,
        follower: Follower,
        forms_cache: FormCache,
    ):
        self.ledger = ledger
        self.nautobot = nautobot
        self.slack = slack
        self.follower = follower
        self.forms = forms_cache
        self.tasks: set[asyncio.Task] = set()

    # -- submitting ------------------------------------------------------------------------------

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

    # -- announcing and following ----------------------------------------------------------------

    async def start(self, request: RunRequest, form: JobForm | None, run: JobRun | None, scheduled_url: str | None):
        """Post the parent message, then follow the run in the background."""
        status = run.status if run else RunStatus.AWAITING_APPROVAL
        if status.is_final:  # a resumed run may have ended; the final status goes up after its log
            status = RunStatus.RUNNING
        text, blocks = messages.parent_message(
            request, run, status, form=form, nautobot_url=scheduled_url, cancellable=True
        )
        thread = await self._post_parent(request, text, blocks)
        await self.ledger.announced(request.request_id, channel=thread.channel_id, ts=thread.ts, run_status=status)
        log.info("announced request=%s result=%s", request.request_id, run.result_id if run else None)
        if run is not None:
            self._follow(request, form, run, thread)
        else:
            record = await self.ledger.get(request.request_id)
            self._await_approval(request, form, record.scheduled_job_id, thread)

    def _follow(self, request: RunRequest, form: JobForm | None, run: JobRun, thread: Thread, logged=False) -> None:
        self._background(self.follower.follow(request, form, run, thread, log_posted=logged))

    def _await_approval(self, request: RunRequest, form: JobForm | None, scheduled_id: str, thread: Thread) -> None:
        self._background(self.follower.follow_approval(request, form, scheduled_id, thread))

    def _background(self, following: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(following)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    async def _post_parent(self, request: RunRequest, text: str, blocks) -> Thread:
        try:
            await self.follower.pacer.turn(request.channel_id)
            posted = await self.slack.chat_postMessage(channel=request.channel_id, text=text, blocks=blocks)
            return Thread(posted["channel"], posted["ts"])
        except SlackApiError as exc:
            if exc.response.get("error") not in CANNOT_POST:
                raise
        # The bot is not in that channel: the requester still gets the run, in a direct message.
        dm = await self.slack.conversations_open(users=request.requester_id)
        channel = dm["channel"]["id"]
        note_text, note_blocks = messages.cannot_post_in_channel(request.channel_id, submitted=True)
        await self.follower.pacer.turn(channel)
        await self.slack.chat_postMessage(channel=channel, text=note_text, blocks=note_blocks)
        await self.follower.pacer.turn(channel)
        posted = await self.slack.chat_postMessage(channel=channel, text=text, blocks=blocks)
        return Thread(posted["channel"], posted["ts"])

    async def stop(self) -> None:
        """Stop following (at shutdown): the ledger holds where each request stands, for the next start."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _finished(self, task: asyncio.Task) -> None:
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
        if state is RequestState.ANNOUNCED and not record.result_id:  # waiting for an approval in Nautobot
            thread = Thread(record.message_channel, record.message_ts)
            self._await_approval(request, form, record.scheduled_job_id, thread)
            return 1
        if state is RequestState.SUBMITTING:
            record = await self._adopt_or_reset(record, form)
            state = record.state
        if state in (RequestState.RECEIVED, RequestState.UNSENT):
            submission = await self.submit(record.request_id, form)
            await self.start(request, form, submission.run, submission.scheduled_url)
            return 1
        run = await self.nautobot.job_result(record.result_id) if record.result_id else None
        if state is RequestState.SUBMITTED:
            scheduled_url = self.nautobot.scheduled_url(record.scheduled_job_id) if record.scheduled_job_id else None
            await self.start(request, form, run, scheduled_url)
            return 1
        thread = Thread(record.message_channel, record.message_ts)
        self._follow(request, form, run, thread, logged=state is RequestState.LOGGED)
        return 1

    async def _form(self) -> JobForm | None:
        try:
            return self.forms.current() or await self.forms.refresh()
        except NautobotError:
            return None

    async def _adopt_or_reset(self, record: Record, form: JobForm | None) -> Record:
        """The bot died while sending the run: if Nautobot has it, follow that run; else send it again."""
        if form is not None:
            since = record.updated_at - ADOPT_SKEW
            for candidate in await self.nautobot.results_since(form.job_id, since):
                kwargs = candidate.get("task_kwargs") or {}
                if all(kwargs.get(name) == value for name, value in record.inputs.items()):
                    log.info("adopting result=%s for request=%s", candidate["id"], record.request_id)
                    return await self.ledger.submitted(
                        record.request_id, result_id=candidate["id"], scheduled_job_id=None
                    )
        return await self.ledger.unsent(record.request_id, "the bot restarted before Nautobot answered")
