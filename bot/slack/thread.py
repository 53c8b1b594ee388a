"""The one place that writes a request's messages in Slack: its parent message, the updates, the log thread.

Runs and follows say what happened (a request, a run, its status, its log); this turns it into Block
Kit, paces the posts per channel, and, when the bot may not post in the request's channel, carries
the conversation on in a direct message with the requester.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import JobForm, JobRun, LogEntry, RunRequest, RunStatus
from bot.slack import log_messages, messages
from bot.slack.pacing import ChannelPacer

CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
"""Slack's answers to a post in a channel the bot is not in (or may not write to)."""
LOG_FILENAME = "job-log.txt"

Message = tuple[str, list[Block]]


@dataclass(frozen=True)
class Thread:
    """Where a request's messages live: the parent message and the replies under it."""

    channel_id: str
    ts: str


class SlackThreads:
    def __init__(self, client: AsyncWebClient, pacer: ChannelPacer | None = None):
        self.client = client
        self.pacer = pacer or ChannelPacer()

    async def announce(
        self,
        request: RunRequest,
        form: JobForm | None,
        run: JobRun | None,
        status: RunStatus,
        *,
        nautobot_url: str | None = None,
    ) -> Thread:
        """Post the parent message in the request's channel, or in a DM when the bot is not in that channel."""
        message = messages.parent_message(request, run, status, form=form, nautobot_url=nautobot_url, cancellable=True)
        try:
            return await self._post(request.channel_id, message)
        except SlackApiError as exc:
            if exc.response.get("error") not in CANNOT_POST:
                raise
        dm = await self.client.conversations_open(users=request.requester_id)
        channel = dm["channel"]["id"]
        await self._post(channel, messages.cannot_post_in_channel(request.channel_id, submitted=True))
        return await self._post(channel, message)

    async def show(
        self,
        thread: Thread,
        request: RunRequest,
        form: JobForm | None,
        run: JobRun | None,
        status: RunStatus,
        *,
        elapsed: float | None = None,
        nautobot_url: str | None = None,
    ) -> None:
        """Update the parent message in place to ``status``."""
        text, blocks = messages.parent_message(
            request,
            run,
            status,
            form=form,
            nautobot_url=nautobot_url,
            elapsed=timedelta(seconds=elapsed) if elapsed else None,
            cancellable=True,
        )
        await self.client.chat_update(channel=thread.channel_id, ts=thread.ts, text=text, blocks=blocks)

    async def post_log(self, thread: Thread, request: RunRequest, run: JobRun, entries: list[LogEntry] | None) -> None:
        """The Job's log under the parent message (a file when long); ``None``: Nautobot would not give it."""
        if entries is None:
            await self.tell(
                thread,
                "Nautobot did not answer when the bot asked for the Job's log.",
                "The run itself has ended; only its log is missing here.",
                "Open the JobResult in Nautobot to read the log.",
                url=run.url,
            )
            entries = []
        elif log_messages.is_long_log(entries):
            await self.pacer.turn(thread.channel_id)
            await self.client.files_upload_v2(
                channel=thread.channel_id,
                thread_ts=thread.ts,
                filename=LOG_FILENAME,
                title=f"{request.job_name} log",
                content=log_messages.log_file(entries),
            )
            await self._reply(thread, log_messages.long_log_message(entries, filename=LOG_FILENAME))
        else:
            for message in log_messages.log_messages(entries):
                await self._reply(thread, message)
        if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
            await self._reply(thread, log_messages.failure_summary(run, entries))

    async def tell(
        self, thread: Thread, what_happened: str, what_was_done: str, next_step: str, *, url: str | None = None
    ) -> None:
        """A reply in the thread saying what went wrong, what was (not) done, and what to do."""
        await self._reply(thread, messages.error_message(what_happened, what_was_done, next_step, url=url))

    async def _reply(self, thread: Thread, message: Message) -> None:
        text, blocks = message
        await self.pacer.turn(thread.channel_id)
        await self.client.chat_postMessage(channel=thread.channel_id, thread_ts=thread.ts, text=text, blocks=blocks)

    async def _post(self, channel: str, message: Message) -> Thread:
        text, blocks = message
        await self.pacer.turn(channel)
        posted = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        return Thread(posted["channel"], posted["ts"])
