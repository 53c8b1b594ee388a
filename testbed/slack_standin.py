"""A strict, local stand-in for Slack's Web API and Socket Mode.

End-to-end tests run the real bot as a separate process pointed at this server
(``SLACK_API_URL=<api_url>``); the bot connects over Socket Mode exactly as it does
against Slack. The pytest process owns the stand-in: it injects user actions (a slash
command, a view submission, a button click), reads what the bot did through the
recorded Web API calls and the workspace state, and injects faults.

The stand-in is deliberately at least as strict as Slack: Block Kit limits, trigger
expiry and single use, scopes, token types, view hashes, the 3-second ack and
rate limits are all enforced, so code that Slack would reject fails here too.

HTTP and WebSocket share one port served by ``aiohttp.web`` on a private event loop in
a daemon thread. All public methods are synchronous and may be called from any thread
except the stand-in's own loop thread.

This module holds the driver tests use, :class:`SlackStandIn`, and the names they import with
it. Its parts live beside it: the workspace's identity and Slack's limits (``slack_constants``),
the workspace model (``slack_workspace``), the Web API's dispatch (``slack_web_api``), methods
(``slack_methods``) and replies, faults and rate limits (``slack_replies``), Socket Mode
(``slack_socket``), the server and its shared state (``slack_server``, ``slack_state``), a user's actions
(``slack_actions``, with the payload checks of ``slack_payloads``), and the App Home tab (``slack_home``) and
Workflow Builder custom steps (``slack_functions``) with their actions (``slack_surfaces``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

# The Block Kit checks are the ones the in-process fake runs too (tests assert they are the same objects).
from testbed.block_kit import MAX_VIEW_BYTES, validate_message_blocks, validate_view, view_size
from testbed.slack_constants import (
    APP_ID,
    BOT_USER_ID,
    DEFAULT_BOT_SCOPES,
    DEFAULT_CHAT_UPDATE_LIMIT,
    DEFAULT_POST_MESSAGE_LIMIT,
    METHOD_SCOPES,
    RATE_LIMIT_SCOPES,
    TEAM_ID,
    RateLimit,
)
from testbed.slack_home import validate_home_view
from testbed.slack_payloads import build_state_values
from testbed.slack_replies import Call, Fault, Hold, SlackError
from testbed.slack_state import Envelope
from testbed.slack_surfaces import SurfaceActions
from testbed.slack_workspace import Channel, User

__all__ = [
    "APP_ID",
    "BOT_USER_ID",
    "DEFAULT_BOT_SCOPES",
    "DEFAULT_CHAT_UPDATE_LIMIT",
    "DEFAULT_POST_MESSAGE_LIMIT",
    "MAX_VIEW_BYTES",
    "METHOD_SCOPES",
    "TEAM_ID",
    "Call",
    "Envelope",
    "RateLimit",
    "SlackError",
    "SlackStandIn",
    "build_state_values",
    "validate_home_view",
    "validate_message_blocks",
    "validate_view",
    "view_size",
]

T = TypeVar("T")


class SlackStandIn(SurfaceActions):
    """Slack's Web API and Socket Mode on one local port, driven synchronously by tests.

    Seed users and channels, point the bot at :attr:`api_url`, :meth:`wait_connected`,
    then act as a user (:meth:`slash_command`, :meth:`submit_view`, :meth:`click_button`)
    and assert on :attr:`calls`, :meth:`messages`, :meth:`current_view` and :attr:`files`.

    ``scopes`` is a live set, so a test can grant ``chat:write.public`` or
    ``users:read.email`` midway. ``ack_timeout`` shortens Slack's 3 s only to speed up
    tests of failed deliveries. ``home_tab_enabled`` and ``functions`` are the manifest's
    ``features.app_home.home_tab_enabled`` and ``functions`` (see :mod:`testbed.manifest`):
    :meth:`open_home` and :meth:`run_function` act them out.
    """

    # -- workspace state ---------------------------------------------------------------

    def add_user(
        self,
        user_id: str = "U123",
        name: str = "alice",
        email: str | None = None,
        real_name: str | None = None,
    ) -> None:
        with self._lock:
            self._workspace.users[user_id] = User(user_id, name, email, real_name or name.title())

    def add_channel(
        self,
        channel_id: str = "C123",
        name: str = "netops",
        members: Iterable[str] = ("U123",),
        is_private: bool = False,
        bot_member: bool = True,
    ) -> None:
        people = set(members) | ({BOT_USER_ID} if bot_member else set())
        with self._lock:
            self._workspace.channels[channel_id] = Channel(channel_id, name, people, is_private)
            self._workspace.messages.setdefault(channel_id, [])

    def archive_channel(self, channel_id: str) -> None:
        """Archive a channel: from now on posts and updates there answer ``is_archived``."""
        with self._lock:
            self._workspace.channels[channel_id].is_archived = True

    def add_usergroup(self, group_id: str, users: Iterable[str]) -> None:
        with self._lock:
            self._workspace.usergroups[group_id] = list(users)

    def set_usergroups_available(self, available: bool) -> None:
        """False: a workspace on a plan without user groups (``plan_upgrade_required``)."""
        with self._lock:
            self._workspace.usergroups_available = available

    def add_user_message(self, channel_id: str, text: str, user_id: str = "U123", thread_ts: str | None = None) -> str:
        """Seed a message written by a person (which the bot cannot edit); returns its ts."""
        with self._lock:
            space = self._workspace
            channel = space.channels[channel_id]
            data = {"type": "message", "user": user_id, "text": text, "ts": space.next_ts(), "team": TEAM_ID}
            if thread_ts:
                data["thread_ts"] = thread_ts
            return space.add_message(channel, data).ts

    def new_trigger(self, user_id: str = "U123") -> str:
        """A fresh trigger_id for ``user_id``, as if they had just interacted with the app."""
        with self._lock:
            return self._workspace.issue_trigger(user_id)

    # -- observation -------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def rate_limited(self, method: str | None = None) -> list[Call]:
        """The calls answered 429 (of ``method``, or of any), rate limits and injected faults alike."""
        with self._lock:
            return [call for call in self._calls if call.status == 429 and method in (None, call.method)]

    @property
    def envelopes(self) -> list[Envelope]:
        """Every Socket Mode envelope sent, with its ack or failure."""
        with self._lock:
            return list(self._envelopes)

    @property
    def unacked(self) -> list[dict[str, Any]]:
        """Envelopes Slack would count as failed deliveries (the user saw an error)."""
        with self._lock:
            return copy.deepcopy(self._unacked)

    @property
    def rejected_acks(self) -> list[dict[str, Any]]:
        """view_submission acks Slack would refuse ("We had some trouble connecting")."""
        with self._lock:
            return copy.deepcopy(self._rejected_acks)

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._workspace.views)

    def current_view(self, user_id: str = "U123") -> dict[str, Any] | None:
        with self._lock:
            stack = self._workspace.stacks.get(user_id) or []
            return copy.deepcopy(self._workspace.views[stack[-1]]) if stack else None

    def view_stack(self, user_id: str = "U123") -> list[str]:
        with self._lock:
            return list(self._workspace.stacks.get(user_id) or [])

    def dm_with(self, user_id: str) -> str | None:
        """The id of the bot's direct message with ``user_id``, once the bot opened one."""
        with self._lock:
            members = {BOT_USER_ID, user_id}
            found = (c.id for c in self._workspace.channels.values() if c.is_im and c.members == members)
            return next(found, None)

    def messages(self, channel_id: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Top-level messages of a channel, or the replies of the thread ``thread_ts``."""
        with self._lock:
            if channel_id not in self._workspace.messages:
                raise KeyError(f"unknown channel {channel_id!r}")
            found = []
            for message in self._workspace.messages[channel_id]:
                parent = message.data.get("thread_ts")
                if thread_ts is None:
                    wanted = parent in (None, message.ts)
                else:
                    wanted = parent == thread_ts and message.ts != thread_ts
                if wanted:
                    found.append(message.observed())
            return found

    def message(self, channel_id: str, ts: str) -> dict[str, Any]:
        with self._lock:
            message = self._workspace.find_message(channel_id, ts)
            if message is None:
                raise KeyError(f"no message {ts} in {channel_id}")
            return message.observed()

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._workspace.ephemerals)

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Bodies sent to response_urls and message-bearing slash command acks."""
        with self._lock:
            return copy.deepcopy(self._workspace.responses)

    @property
    def files(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._workspace.files)

    @property
    def connections(self) -> list[str]:
        """Ids of the Socket Mode connections that got their hello."""
        with self._lock:
            return [c.id for c in self._hub.connections.values() if c.hello_sent]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 30, interval: float = 0.02) -> T:
        """The first truthy ``predicate()``; lookups that fail meanwhile count as not yet."""
        deadline = time.monotonic() + timeout
        last_error: LookupError | None = None
        while True:
            try:
                value = predicate()
                if value:
                    return value
            except LookupError as error:
                last_error = error
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s") from last_error
            time.sleep(interval)

    def wait_connected(self, timeout: float = 10, count: int = 1) -> list[str]:
        """Block until ``count`` routable connections have received hello."""

        def ready() -> list[str]:
            with self._lock:
                live = [c.id for c in self._hub.connections.values() if c.hello_sent and c.routable and not c.ws.closed]
            return live if len(live) >= count else []

        return self.wait_for(ready, timeout)

    # -- faults ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with a failure.

        With ``error`` the answer is HTTP 200 ``{"ok": false, "error": error}``; otherwise
        HTTP ``status`` (429 with ``Retry-After``; 5xx with a text body, as Slack does).
        """
        with self._lock:
            self._faults.add(method, Fault(status, retry_after, error, times))

    def hold_reply(self, method: str, seconds: float, when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Carry out the next call of ``method`` matching ``when``, but answer it ``seconds`` later."""
        with self._lock:
            self._holds[method] = Hold(seconds, when)

    def rate_limit(self, method: str, *, per_second: float | None, burst: int = 1, per: str = "channel") -> None:
        """Limit ``method``; ``per_second=None`` removes the limit."""
        if per not in RATE_LIMIT_SCOPES:
            raise ValueError(f"per must be one of {', '.join(RATE_LIMIT_SCOPES)}")
        limit = None if per_second is None else RateLimit(per_second, burst, per)
        with self._lock:
            self._limiter.set(method, limit)

    def disconnect(self, reason: str = "refresh_requested", grace: float = 2.0) -> None:
        """Send Slack's ``disconnect`` message to every connection, then close them.

        Clients get ``grace`` seconds to reconnect and close the old socket themselves.
        """
        self._run(self._hub.disconnect(reason, grace), grace + 5)

    def drop_connections(self) -> None:
        """Cut every connection without a close handshake, as a network failure would."""
        self._run(self._hub.drop(), 5)
