"""The one place that writes a request's messages in Slack: its parent message, the updates, the log thread.

Runs and follows say what happened (a request, a run, its status, its log); this turns it into Block
Kit, paces the posts per channel and the parent's edits per workspace (an edit still waiting for its
turn is replaced by a newer one for the same message), and, when the bot may not (or no longer) post
in the request's channel, carries the conversation on in a direct message with the requester. A Slack
error never ends a request's reporting: brief outages are waited out, a message Slack refuses for good
is logged and skipped. Each call returns where the thread is now, so the caller can record a move.

Every message goes out through :func:`_wire`: a message's notification ``text`` is plain text, escaped
there, and its blocks were escaped where they were built; so no flow can post a raw mention.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import JobForm, JobRun, LogEntry, RunRequest, RunStatus
from bot.slack import log_messages, messages
from bot.slack.edits import LatestEdits
from bot.slack.errors import slack_error, transient
from bot.slack.pacing import DEFAULT_WORKSPACE, ChannelPacer, WorkspacePacer
from bot.slack.result_table import TABLE_FILENAME, result_table
from bot.slack.text import outgoing

log = logging.getLogger("bot.slack.thread")

CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
"""Slack's answers to a post in a channel the bot is not in (or may not write to)."""
MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
"""Slack's answers to an update of a parent message that can no longer be changed."""
TRANSIENT_DELAYS = (2.0, 5.0, 15.0, 30.0, 60.0)
"""Waits before sending a message again after Slack's own retries gave up (an outage of a few minutes)."""
LOG_FILENAME = "job-log.txt"

Message = tuple[str, list[Block]]


@dataclass(frozen=True)
class Thread:
    """Where a request's messages live: the parent message and the replies under it."""

    channel_id: str
    ts: str


class SlackThreads:
    def __init__(
        self,
        client: AsyncWebClient,
        pacer: ChannelPacer | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        update_pacer: WorkspacePacer | None = None,
        can_cancel: Callable[[], bool] = lambda: False,
    ):
        """``can_cancel``: whether Nautobot can cancel a run now (3.2+); only then is a Cancel button offered."""
        self.client = client
        self.can_cancel = can_cancel
        self.pacer = pacer or ChannelPacer()
        self.sleep = sleep
        self.update_pacer = update_pacer or WorkspacePacer()
        self._edits: LatestEdits[Message, Thread] = LatestEdits()

    async def announce(
        self,
        request: RunRequest,
        form: JobForm | None,
        run: JobRun | None,
        status: RunStatus,
        *,
        nautobot_url: str | None = None,
    ) -> Thread:
        """Post the parent message in the request's channel, or in a DM when the bot is not in that channel.

        Raises what Slack answers otherwise: the request stays announced-to-be, and is taken up again.
        """
        message = messages.parent_message(
            request, run, status, form=form, nautobot_url=nautobot_url, cancellable=self.can_cancel()
        )
        return await self.post_parent(request, message)

    async def post_parent(self, request: RunRequest, message: Message, *, submitted: bool = True) -> Thread:
        """Post ``message`` as the request's parent, in its channel or a DM with the requester; raises as
        :meth:`announce` does."""
        try:
            return await self._patiently(lambda: self._post(request.channel_id, message))
        except SlackApiError as exc:
            if slack_error(exc) not in CANNOT_POST:
                raise
        return await self._to_dm(request, request.channel_id, message, submitted=submitted)

    async def post(self, channel: str, message: Message) -> Thread:
        """A message of its own in ``channel`` (``U…``: a DM with that person), paced, through brief outages."""
        if channel.startswith(("U", "W")):
            dm = await self._patiently(lambda: self._open_dm(channel))
            channel = dm.channel_id
        return await self._patiently(lambda: self._post(channel, message))

    async def permalink(self, thread: Thread) -> str | None:
        """A link to the message (``chat.getPermalink``); None when Slack gives none (it is only shown)."""
        try:
            answer = await self.client.chat_getPermalink(channel=thread.channel_id, message_ts=thread.ts)
        except Exception as exc:
            log.info("no link to message %s in %s: %s", thread.ts, thread.channel_id, _describe(exc))
            return None
        return str(answer.get("permalink") or "") or None

    async def rewrite(self, thread: Thread, message: Message) -> None:
        """Replace a message the bot posted (an approver's, once decided); a failure is logged, never raised."""
        workspace = DEFAULT_WORKSPACE

        async def turn() -> None:
            await self.update_pacer.turn(workspace)

        await turn()
        try:
            await self._patiently(self._update(thread, message, turn))
        except Exception as exc:
            log.warning("could not update message %s in %s: %s", thread.ts, thread.channel_id, _describe(exc))

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
        unless_waiting: bool = False,
    ) -> Thread | None:
        """Update the parent message in place to ``status``.

        Returns once this status, or a newer one asked for meanwhile, is shown (or Slack refused it): an
        update still waiting for its turn is replaced by a newer one for the same message, never sent.
        ``unless_waiting``: a passing status (queued, running), shown only if the workspace's edit budget
        has a turn free at once; else None, and a later status (the final one at last) takes its place.
        """
        # A request does not name its workspace: all the bot's edits share one budget. That is right for
        # the one workspace a bot token serves, and keeps under each workspace's limit in an org-wide install.
        workspace = DEFAULT_WORKSPACE
        key = (thread.channel_id, thread.ts)
        if unless_waiting and (self._edits.busy(key) or not self.update_pacer.turn_now(workspace)):
            return None  # checked before the message is built: while edits are scarce, most are not shown
        message = messages.parent_message(
            request,
            run,
            status,
            form=form,
            nautobot_url=nautobot_url,
            elapsed=timedelta(seconds=elapsed) if elapsed else None,
            cancellable=self.can_cancel(),
        )

        async def turn() -> None:
            await self.update_pacer.turn(workspace)

        async def deliver(latest: Message) -> Thread:
            return await self._surviving(thread, request, self._update(thread, latest, turn), latest)

        if unless_waiting:
            return await self._edits.edit(key, message, deliver, turn=_no_wait)
        return await self._edits.edit(key, message, deliver, turn=turn)

    def may_show_now(self, thread: Thread) -> bool:
        """Whether a passing status (:meth:`show` ``unless_waiting``) would be shown on ``thread`` this moment."""
        return not self._edits.busy((thread.channel_id, thread.ts)) and self.update_pacer.free_now(DEFAULT_WORKSPACE)

    async def post_log(
        self, thread: Thread, request: RunRequest, run: JobRun, entries: list[LogEntry] | None
    ) -> Thread:
        """The Job's log under the parent message (a file when long); ``None``: Nautobot would not give it.

        A table the Job returns in its result (``table``, see bot/slack/result_table.py) comes first, and the whole
        of it as a file when the message could show only part of it.
        """
        table = result_table(run.result)
        if table is not None:
            thread = await self._reply(thread, request, table.message)
        if table is not None and table.whole is not None:
            upload = partial(self._upload, thread, TABLE_FILENAME, f"{request.job_name} table", table.whole)
            thread = await self._surviving(thread, request, upload)
        if entries is None:
            thread = await self.tell(
                thread,
                request,
                "Nautobot did not answer when the bot asked for the Job's log.",
                "The run itself has ended; only its log is missing here.",
                "Open the JobResult in Nautobot to read the log.",
                url=run.url,
            )
            entries = []
        elif log_messages.is_long_log(entries):
            upload = partial(
                self._upload, thread, LOG_FILENAME, f"{request.job_name} log", log_messages.log_file(entries)
            )
            thread = await self._surviving(thread, request, upload)
            thread = await self._reply(thread, request, log_messages.long_log_message(entries, filename=LOG_FILENAME))
        else:
            for message in log_messages.log_messages(entries):
                thread = await self._reply(thread, request, message)
        if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
            thread = await self._reply(thread, request, log_messages.failure_summary(run, entries))
        return thread

    async def tell(
        self,
        thread: Thread,
        request: RunRequest,
        what_happened: str,
        what_was_done: str,
        next_step: str,
        *,
        url: str | None = None,
    ) -> Thread:
        """A reply in the thread saying what went wrong, what was (not) done, and what to do."""
        return await self._reply(
            thread, request, messages.error_message(what_happened, what_was_done, next_step, url=url)
        )

    async def reply(self, thread: Thread, request: RunRequest, message: Message) -> Thread:
        """A reply under the request's parent message; never raises (see :meth:`_surviving`)."""
        return await self._reply(thread, request, message)

    async def tell_requester(self, requester_id: str, what_happened: str, what_was_done: str, next_step: str) -> None:
        """A direct message to the requester, for a request that has no thread yet."""
        await self._direct(requester_id, messages.error_message(what_happened, what_was_done, next_step))

    async def tell_privately(self, channel: str, user_id: str, message: Message) -> None:
        """A message only ``user_id`` sees, in ``channel`` where they clicked or typed; a direct message when the
        bot may not post there (e.g. a channel it is not in). Never raises: a failure is logged."""
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user_id, **_wire(message))
            return
        except SlackApiError as exc:
            log.info(
                "cannot tell user=%s in channel=%s (%s): a direct message instead", user_id, channel, slack_error(exc)
            )
        try:
            await self._direct(user_id, message)
        except Exception:
            log.exception("could not tell user=%s", user_id)

    async def _direct(self, user_id: str, message: Message) -> None:
        dm = await self.client.conversations_open(users=user_id)
        await self._post(dm["channel"]["id"], message)

    def _update(
        self, thread: Thread, message: Message, turn: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[Thread]]:
        """One ``chat.update`` of the parent message each call. The first had its turn before the content
        was chosen; each one sent again after an outage is another call against the workspace's budget."""
        again = False

        async def update() -> Thread:
            nonlocal again
            if again:
                await turn()
            again = True
            await self.client.chat_update(channel=thread.channel_id, ts=thread.ts, **_wire(message))
            return thread

        return update

    # -- surviving Slack's errors ----------------------------------------------------------------

    async def _reply(self, thread: Thread, request: RunRequest, message: Message) -> Thread:
        async def reply() -> Thread:
            await self.pacer.turn(thread.channel_id)
            await self.client.chat_postMessage(channel=thread.channel_id, thread_ts=thread.ts, **_wire(message))
            return thread

        moved = await self._surviving(thread, request, reply)
        if moved != thread:  # the reply goes under the parent's copy in the DM
            return await self._reply(moved, request, message)
        return moved

    async def _surviving(
        self,
        thread: Thread,
        request: RunRequest,
        call: Callable[[], Awaitable[Thread]],
        parent: Message | None = None,
    ) -> Thread:
        """Do ``call``; where Slack refuses the channel for good, go on in a DM; never raise.

        ``parent``: the parent message as it should read now, for its copy in the DM.
        """
        try:
            return await self._patiently(call)
        except SlackApiError as exc:
            error = slack_error(exc)
            if (error in CANNOT_POST or error in MESSAGE_GONE) and not thread.channel_id.startswith("D"):
                return await self._moved(thread, request, parent, error)
            log.error("Slack refused a message of request=%s; it is skipped: %s", request.request_id, error)
        except Exception as exc:  # Slack unreachable for longer than the waits
            log.error("Slack did not take a message of request=%s; it is skipped: %s", request.request_id, exc)
        return thread

    async def _moved(self, thread: Thread, request: RunRequest, parent: Message | None, error: str) -> Thread:
        """The channel is closed to the bot: a copy of the parent message in a DM carries the request on."""
        copy = parent or messages.parent_message(request, None, RunStatus.RUNNING)
        try:
            return await self._to_dm(request, thread.channel_id, copy, reason=error)
        except Exception as exc:
            log.error("request=%s cannot go on in a DM either; its messages are skipped: %s", request.request_id, exc)
            return thread

    async def _patiently(self, call: Callable[[], Awaitable[Thread]]) -> Thread:
        """``call``, sent again after a pause while Slack is briefly down (its client's own retries gave up)."""
        for delay in (*TRANSIENT_DELAYS, None):
            try:
                return await call()
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                if delay is None or not transient(exc):
                    raise
                pause = max(delay, _retry_after(exc))
                log.warning("Slack unavailable (%s); sending again in %g s", _describe(exc), pause)
                await self.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _to_dm(
        self, request: RunRequest, channel_id: str, parent: Message, *, submitted: bool = True, reason: str = ""
    ) -> Thread:
        """The request's messages go on in a DM with the requester: why, then the parent message."""
        dm = await self._patiently(lambda: self._open_dm(request.requester_id))
        note = messages.cannot_post_in_channel(channel_id, submitted=submitted, reason=reason)
        await self._patiently(lambda: self._post(dm.channel_id, note))
        log.info("request=%s goes on in a DM: cannot post in %s (%s)", request.request_id, channel_id, reason or "-")
        return await self._patiently(lambda: self._post(dm.channel_id, parent))

    async def _open_dm(self, user_id: str) -> Thread:
        dm = await self.client.conversations_open(users=user_id)
        return Thread(dm["channel"]["id"], "")

    async def _upload(self, thread: Thread, filename: str, title: str, content: str) -> Thread:
        await self.pacer.turn(thread.channel_id)
        await self.client.files_upload_v2(
            channel=thread.channel_id, thread_ts=thread.ts, filename=filename, title=outgoing(title), content=content
        )
        return thread

    async def _post(self, channel: str, message: Message) -> Thread:
        await self.pacer.turn(channel)
        posted = await self.client.chat_postMessage(channel=channel, **_wire(message))
        return Thread(posted["channel"], posted["ts"])


def _wire(message: Message) -> dict[str, Any]:
    """A message's arguments to Slack: its blocks, escaped where they were built, and its plain notification
    text escaped here. Every message the bot writes goes out through this, so none can forget it."""
    text, blocks = message
    return {"text": outgoing(text), "blocks": blocks}


async def _no_wait() -> None:
    """The turn of an edit that took its turn already."""


def _retry_after(exc: Exception) -> float:
    """The seconds Slack asked to wait in a 429 answer (its client's own retries gave up); 0 otherwise."""
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return 0.0
    headers = getattr(exc.response, "headers", None) or {}
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _describe(exc: Exception) -> str:
    return slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
