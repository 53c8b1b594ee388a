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
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSCloseCode, WSMsgType, web

from testbed.block_kit import (
    _EMAIL,
    MAX_VIEW_BYTES,
    validate_message_blocks,
    validate_options_response,
    validate_view,
    view_size,
)

T = TypeVar("T")

# --------------------------------------------------------------------------------------
# Workspace constants and Slack limits
# --------------------------------------------------------------------------------------

TEAM_ID = "T0STANDIN"
TEAM_DOMAIN = "standin"
TEAM_NAME = "Stand-in Workspace"
APP_ID = "A0STANDIN"
BOT_ID = "B0STANDIN"
BOT_USER_ID = "U0STANDBOT"
BOT_USER_NAME = "meraki-admin"
VERIFICATION_TOKEN = "standin-verification-token"

ACK_TIMEOUT = 3.0
"""Seconds Slack waits for a Socket Mode envelope to be acknowledged."""
TRIGGER_TTL = 3.0
"""Seconds a trigger_id stays exchangeable."""
MAX_SOCKET_CONNECTIONS = 10
MAX_VIEW_STACK = 3
MAX_MESSAGE_TEXT = 40_000
MAX_RESPONSE_URL_USES = 5

METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "apps.connections.open": "connections:write",
    "views.open": None,
    "views.update": None,
    "views.push": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.open": "im:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "usergroups.users.list": "usergroups:read",
    "users.info": "users:read",
}
"""The scope each supported Web API method requires (``None``: the token alone suffices).

``connections:write`` belongs to the app-level token; every other scope to the bot token.
"""

OPTIONAL_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write.public",),
    "users.info": ("users:read.email",),
}
"""Scopes that widen what a method may do without being required to call it."""

APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
APP_SCOPES = frozenset({"connections:write"})
DEFAULT_BOT_SCOPES = frozenset(
    {scope for scope in METHOD_SCOPES.values() if scope and scope not in APP_SCOPES} | {"commands"}
)
"""Every bot scope in :data:`METHOD_SCOPES`, plus ``commands`` so slash commands reach the app."""


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``burst`` calls at once, refilled at ``per_second``.

    ``per="channel"`` keeps one bucket per channel argument, ``per="method"`` one for
    the whole method, ``per="workspace"`` one per workspace of the calling token (Slack's
    tiers count per app and workspace; the stand-in is one workspace, :data:`TEAM_ID`).
    """

    per_second: float
    burst: int = 1
    per: str = "channel"


DEFAULT_POST_MESSAGE_LIMIT = RateLimit(per_second=1.0, burst=3, per="channel")
"""chat.postMessage default: Slack documents "1 message per second per channel, with
short bursts allowed" but not the burst size; 3 is an assumption. Pass
``post_message_limit=None`` to the constructor to disable it, or call ``rate_limit``."""

DEFAULT_CHAT_UPDATE_LIMIT = RateLimit(per_second=50 / 60, burst=20, per="workspace")
"""chat.update default: Slack's Tier 3, documented as "50+ per minute" per app and workspace
with "occasional bursts" allowed, of a size it does not give; 20 is an assumption. Pass
``chat_update_limit=None`` to the constructor to disable it, or call ``rate_limit``."""

RATE_LIMIT_SCOPES = ("channel", "method", "workspace")


# --------------------------------------------------------------------------------------
# Records visible to tests
# --------------------------------------------------------------------------------------


@dataclass
class Call:
    """One Web API call as the stand-in answered it.

    ``args`` holds the merged query, form and JSON arguments without the token, with
    JSON-string arguments (``blocks``, ``view``, ``files``…) decoded.
    """

    method: str
    args: dict[str, Any]
    token: str | None
    ok: bool
    error: str | None
    at: float
    status: int = 200
    response: Any = None
    retry_after: int | None = None
    """The ``Retry-After`` seconds of a 429 answer."""


@dataclass
class Envelope:
    """One Socket Mode envelope and what became of it."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    connection: str | None
    sent_at: float
    ack: dict[str, Any] | None = None
    acked_at: float | None = None
    failure: str | None = None


# --------------------------------------------------------------------------------------
# Faults and rate limits
# --------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("ok") is True

    @property
    def error(self) -> str | None:
        if isinstance(self.body, dict):
            return self.body.get("error")
        return f"http_{self.status}"

    def to_response(self) -> web.Response:
        if isinstance(self.body, dict):
            return web.json_response(self.body, status=self.status, headers=self.headers)
        return web.Response(text=str(self.body), status=self.status, headers=self.headers)


def _error_reply(code: str, **extra: Any) -> _Reply:
    return _Reply(200, {"ok": False, "error": code, **extra})


def _rate_limited(retry_after: int) -> _Reply:
    return _Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


@dataclass
class _Fault:
    status: int
    retry_after: int
    error: str | None
    remaining: int

    def reply(self) -> _Reply:
        if self.error is not None:
            return _error_reply(self.error)
        if self.status == 429:
            return _rate_limited(self.retry_after)
        reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return _Reply(self.status, reasons.get(self.status, "Error"))


@dataclass
class _Hold:
    seconds: float
    when: Callable[[dict[str, Any]], bool] | None


def _held(hold: _Hold | None, args: dict[str, Any]) -> bool:
    return hold is not None and (hold.when is None or hold.when(args))


class _Faults:
    """Queued one-shot failures per method, consumed before anything else is checked."""

    def __init__(self) -> None:
        self._queued: dict[str, list[_Fault]] = {}

    def add(self, method: str, fault: _Fault) -> None:
        self._queued.setdefault(method, []).append(fault)

    def take(self, method: str) -> _Reply | None:
        queue = self._queued.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault.reply()


class _Bucket:
    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.updated = time.monotonic()

    def take(self) -> int | None:
        """Consume one call; return the Retry-After seconds when none is left."""
        now = time.monotonic()
        refill = (now - self.updated) * self.limit.per_second
        self.tokens = min(float(self.limit.burst), self.tokens + refill)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.limit.per_second))


class _Limiter:
    def __init__(self) -> None:
        self._limits: dict[str, RateLimit] = {}
        self._buckets: dict[tuple[str, str | None], _Bucket] = {}

    def set(self, method: str, limit: RateLimit | None) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if k[0] != method}
        if limit is None:
            self._limits.pop(method, None)
        else:
            self._limits[method] = limit

    def check(self, method: str, args: Mapping[str, Any]) -> int | None:
        limit = self._limits.get(method)
        if limit is None:
            return None
        scope = None
        if limit.per == "channel":
            scope = str(args.get("channel") or args.get("channel_id") or "")
        elif limit.per == "workspace":
            scope = TEAM_ID  # every token the stand-in knows belongs to its one workspace
        bucket = self._buckets.setdefault((method, scope), _Bucket(limit))
        return bucket.take()


# --------------------------------------------------------------------------------------
# Workspace model
# --------------------------------------------------------------------------------------


class SlackError(Exception):
    """Raised by a Web API method to answer ``{"ok": false, "error": code, ...extra}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def _random_id(prefix: str, length: int = 10) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _short_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(5))


@dataclass
class _User:
    id: str
    name: str
    email: str | None
    real_name: str

    def to_slack(self, *, with_email: bool) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "display_name": self.name,
            "team": TEAM_ID,
        }
        if with_email and self.email is not None:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name,
            "tz": "Europe/Amsterdam",
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "is_bot": self.id == BOT_USER_ID,
            "is_app_user": False,
            "profile": profile,
        }


@dataclass
class _Channel:
    id: str
    name: str
    members: set[str]
    is_private: bool = False
    is_im: bool = False
    is_archived: bool = False

    @property
    def bot_member(self) -> bool:
        return BOT_USER_ID in self.members


@dataclass
class _Message:
    channel: str
    data: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ts(self) -> str:
        return self.data["ts"]

    def observed(self) -> dict[str, Any]:
        return {**copy.deepcopy(self.data), "channel": self.channel, "history": copy.deepcopy(self.history)}


@dataclass
class _Trigger:
    user_id: str
    created: float
    used: bool = False


@dataclass
class _Upload:
    id: str
    filename: str
    length: int
    alt_txt: str | None
    content: bytes | None = None
    completed: bool = False


@dataclass
class _ResponseUrl:
    channel_id: str
    user_id: str
    created: float
    uses: int = 0


_TRIGGER_FORMAT = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")


class _Workspace:
    """Users, channels, messages, views, triggers and files, plus the Slack rules on them.

    Callers hold the stand-in's lock; no method here awaits.
    """

    def __init__(self, trigger_ttl: float) -> None:
        self.trigger_ttl = trigger_ttl
        self.users: dict[str, _User] = {BOT_USER_ID: _User(BOT_USER_ID, BOT_USER_NAME, None, "Meraki Admin")}
        self.channels: dict[str, _Channel] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.usergroups_available = True
        self.messages: dict[str, list[_Message]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.stacks: dict[str, list[str]] = {}
        self.triggers: dict[str, _Trigger] = {}
        self.uploads: dict[str, _Upload] = {}
        self.files: list[dict[str, Any]] = []
        self.response_urls: dict[str, _ResponseUrl] = {}
        self.responses: list[dict[str, Any]] = []
        self._last_ts_us = 0
        self._trigger_seq = itertools.count(1)

    # -- identifiers -------------------------------------------------------------------

    def next_ts(self) -> str:
        """A message ts: seconds.microseconds, strictly increasing like Slack's."""
        now_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = now_us
        return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    def issue_trigger(self, user_id: str) -> str:
        trigger_id = f"{int(time.time())}.{next(self._trigger_seq)}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = _Trigger(user_id, time.monotonic())
        return trigger_id

    def exchange_trigger(self, trigger_id: Any) -> str:
        """The trigger's user; Slack's error codes for unknown, reused or stale triggers."""
        if not isinstance(trigger_id, str) or not _TRIGGER_FORMAT.match(trigger_id):
            raise SlackError("invalid_trigger_id")
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - trigger.created > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger.user_id

    def issue_response_url(self, base_url: str, channel_id: str, user_id: str) -> str:
        key = secrets.token_hex(12)
        self.response_urls[key] = _ResponseUrl(channel_id, user_id, time.monotonic())
        return f"{base_url}response/{key}"

    # -- conversations -----------------------------------------------------------------

    def channel(self, ref: Any) -> _Channel:
        """A conversation by id or name, or a user's DM when given a user id."""
        if not isinstance(ref, str) or not ref:
            raise SlackError("channel_not_found")
        if ref in self.channels:
            return self.channels[ref]
        name = ref.lstrip("#")
        for channel in self.channels.values():
            if not channel.is_im and channel.name == name:
                return channel
        if ref in self.users and ref != BOT_USER_ID:
            return self.open_dm([ref])[0]
        raise SlackError("channel_not_found")

    def visible_channel(self, ref: Any) -> _Channel:
        """Like :meth:`channel`, but private conversations the bot is not in do not exist."""
        channel = self.channel(ref)
        if channel.is_private and not channel.bot_member:
            raise SlackError("channel_not_found")
        return channel

    def open_dm(self, user_ids: list[str]) -> tuple[_Channel, bool]:
        members = {BOT_USER_ID, *user_ids}
        for channel in self.channels.values():
            if channel.is_im and channel.members == members:
                return channel, True
        prefix = "D" if len(user_ids) == 1 else "G"
        channel = _Channel(_random_id(prefix), "", members, is_private=True, is_im=True)
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        return channel, False

    # -- messages ----------------------------------------------------------------------

    def add_message(self, channel: _Channel, data: dict[str, Any]) -> _Message:
        message = _Message(channel.id, data)
        self.messages.setdefault(channel.id, []).append(message)
        thread_ts = data.get("thread_ts")
        if thread_ts and thread_ts != data["ts"]:
            parent = self.find_message(channel.id, thread_ts)
            if parent is not None:
                self._note_reply(parent, data)
        return message

    @staticmethod
    def _note_reply(parent: _Message, reply: dict[str, Any]) -> None:
        data = parent.data
        data["thread_ts"] = data["ts"]
        data["reply_count"] = data.get("reply_count", 0) + 1
        author = reply.get("user")
        users = data.setdefault("reply_users", [])
        if author and author not in users:
            users.append(author)
        data["reply_users_count"] = len(users)
        data["latest_reply"] = reply["ts"]

    def find_message(self, channel_id: str, ts: str) -> _Message | None:
        for message in self.messages.get(channel_id, []):
            if message.ts == ts:
                return message
        return None

    # -- views -------------------------------------------------------------------------

    def store_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
    ) -> dict[str, Any]:
        view = copy.deepcopy(view)
        _assign_ids(view.get("blocks", []))
        view_id = view_id or _random_id("V")
        stored = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view["type"],
            "title": view["title"],
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view["blocks"],
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root_view_id or view_id,
            "previous_view_id": previous_view_id,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        self.views[view_id] = stored
        return stored

    def owner_of(self, view_id: str) -> str | None:
        for user_id, stack in self.stacks.items():
            if view_id in stack:
                return user_id
        return None

    def open_view(self, ref_view_id: str | None, external_id: str | None) -> dict[str, Any]:
        """An open (on some user's stack) view by id or external id, else ``not_found``."""
        view_id = ref_view_id
        if view_id is None and external_id is not None:
            view_id = next((v["id"] for v in self.views.values() if v["external_id"] == external_id), None)
        if view_id is None or view_id not in self.views or self.owner_of(view_id) is None:
            raise SlackError("not_found")
        return self.views[view_id]

    def check_external_id(self, view: dict[str, Any], replacing: str | None = None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for other in self.views.values():
            same = other["external_id"] == external_id and other["id"] != replacing
            if same and self.owner_of(other["id"]) is not None:
                raise SlackError("duplicate_external_id")

    def replace_view(self, current: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
        return self.store_view(
            view,
            view_id=current["id"],
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )

    def push_view(self, user_id: str, view: dict[str, Any]) -> dict[str, Any]:
        stack = self.stacks.get(user_id) or []
        if not stack:
            raise SlackError("not_found")
        if len(stack) >= MAX_VIEW_STACK:
            raise SlackError("push_limit_reached")
        root = self.views[stack[0]]["id"]
        stored = self.store_view(view, root_view_id=root, previous_view_id=stack[-1])
        stack.append(stored["id"])
        return stored


def _assign_ids(blocks: Any) -> None:
    """Fill in the block_id and action_id Slack generates when an app omits them."""
    if not isinstance(blocks, list):
        return
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", _short_id())
        for element in _interactive_elements(block):
            element.setdefault("action_id", _short_id())


def _interactive_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    if kind == "input" and isinstance(block.get("element"), dict):
        return [block["element"]]
    if kind == "actions":
        return [e for e in block.get("elements", []) if isinstance(e, dict)]
    accessory = block.get("accessory")
    if kind == "section" and isinstance(accessory, dict) and accessory.get("type") != "image":
        return [accessory]
    return []


# --------------------------------------------------------------------------------------
# Web API
# --------------------------------------------------------------------------------------

_JSON_ARGS = ("blocks", "attachments", "view", "files", "metadata")


def _decode_json_args(args: dict[str, Any]) -> None:
    for key in _JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)


async def _read_request(request: web.Request) -> tuple[dict[str, Any], str | None, str | None]:
    """Merged arguments, the token and a parse error code, the way Slack reads a call."""
    args: dict[str, Any] = dict(request.query)
    token = args.pop("token", None)
    content_type = request.content_type
    if request.can_read_body:
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return args, token, "invalid_json"
            if not isinstance(body, dict):
                return args, token, "invalid_json"
            body.pop("token", None)
            args.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                args[key] = value if isinstance(value, str) else getattr(value, "filename", "")
            token = args.pop("token", token)
        elif (await request.read()).strip():
            return args, token, "invalid_post_type"
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header[len("Bearer ") :].strip()
    _decode_json_args(args)
    return args, token, None


class _WebApi:
    """Answers ``/api/<method>`` with Slack's checks, in Slack's order, and records calls."""

    def __init__(self, standin: SlackStandIn) -> None:
        self.s = standin
        self.space = standin._workspace
        self.handlers: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "auth.test": self.auth_test,
            "apps.connections.open": self.apps_connections_open,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.push": self.views_push,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "conversations.open": self.conversations_open,
            "files.getUploadURLExternal": self.files_get_upload_url,
            "files.completeUploadExternal": self.files_complete_upload,
            "usergroups.users.list": self.usergroups_users_list,
            "users.info": self.users_info,
        }

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, token, parse_error = await _read_request(request)
        with self.s._lock:
            reply = self.dispatch(method, args, token, parse_error)
            self.s._calls.append(
                Call(
                    method=method,
                    args=copy.deepcopy(args),
                    token=token,
                    ok=reply.ok,
                    error=None if reply.ok else reply.error,
                    at=time.monotonic(),
                    status=reply.status,
                    response=copy.deepcopy(reply.body),
                    retry_after=int(reply.headers["Retry-After"]) if "Retry-After" in reply.headers else None,
                )
            )
            hold = self.s._holds.pop(method, None) if reply.ok and _held(self.s._holds.get(method), args) else None
        if hold is not None:  # done on Slack's side, but the caller hears of it only later
            await asyncio.sleep(hold.seconds)
        return reply.to_response()

    def dispatch(self, method: str, args: dict[str, Any], token: str | None, parse_error: str | None) -> _Reply:
        handler = self.handlers.get(method)
        if handler is None:
            return _error_reply("unknown_method", req_method=method)
        fault = self.s._faults.take(method)
        if fault is not None:
            return fault
        if parse_error is not None:
            return _error_reply(parse_error)
        denied = self.authorize(method, token)
        if denied is not None:
            return denied
        retry_after = self.s._limiter.check(method, args)
        if retry_after is not None:
            return _rate_limited(retry_after)
        try:
            reply = _Reply(200, {"ok": True, **handler(args, token or "")})
        except SlackError as error:
            reply = _error_reply(error.code, **error.extra)
        # Slack names the token's scopes on every answer to a recognised token.
        granted = self.s.app_scopes if token == self.s.app_token else self.s.scopes
        reply.headers.setdefault("x-oauth-scopes", ",".join(sorted(granted)))
        return reply

    def authorize(self, method: str, token: str | None) -> _Reply | None:
        if not token:
            return _error_reply("not_authed")
        if token == self.s.bot_token:
            granted, app_level = self.s.scopes, False
        elif token == self.s.app_token:
            granted, app_level = self.s.app_scopes, True
        else:
            return _error_reply("invalid_auth")
        if app_level != (method in APP_TOKEN_METHODS):
            return _error_reply("not_allowed_token_type")
        needed = METHOD_SCOPES[method]
        if needed is not None and needed not in granted:
            return _error_reply("missing_scope", needed=needed, provided=",".join(sorted(granted)))
        return None

    # -- auth and connections ----------------------------------------------------------

    def auth_test(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_USER_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        return {"url": self.s._hub.issue_ticket_url()}

    # -- views -------------------------------------------------------------------------

    def _checked_view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if view is None:
            raise SlackError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: view"]}
            )
        if not isinstance(view, dict):
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] must provide an object [json-pointer:/view]"]},
            )
        if view_size(view) > MAX_VIEW_BYTES:
            raise SlackError("view_too_large")
        problems = validate_view(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        return view

    def _trigger_arg(self, args: dict[str, Any]) -> Any:
        return args.get("trigger_id") or args.get("interactivity_pointer")

    def views_open(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        view = self._checked_view(args)
        user_id = self.space.exchange_trigger(self._trigger_arg(args))
        self.space.check_external_id(view)
        stored = self.space.store_view(view)
        self.space.stacks[user_id] = [stored["id"]]
        return {"view": copy.deepcopy(stored)}

    def views_push(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        view = self._checked_view(args)
        user_id = self.space.exchange_trigger(self._trigger_arg(args))
        self.space.check_external_id(view)
        return {"view": copy.deepcopy(self.space.push_view(user_id, view))}

    def views_update(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        if not args.get("view_id") and not args.get("external_id"):
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] either view_id or external_id is required"]},
            )
        view = self._checked_view(args)
        current = self.space.open_view(args.get("view_id") or None, args.get("external_id") or None)
        expected_hash = args.get("hash")
        if expected_hash and expected_hash != current["hash"]:
            raise SlackError("hash_conflict")
        self.space.check_external_id(view, replacing=current["id"])
        return {"view": copy.deepcopy(self.space.replace_view(current, view))}

    # -- messages ----------------------------------------------------------------------

    def _content(self, args: dict[str, Any]) -> dict[str, Any]:
        """The text, blocks and attachments of a message, checked like chat.postMessage."""
        text = args.get("text")
        blocks = args.get("blocks")
        attachments = args.get("attachments")
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        if text and len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format")
            problems = validate_message_blocks(blocks)
            if problems:
                raise SlackError("invalid_blocks", response_metadata={"messages": problems})
            blocks = copy.deepcopy(blocks)
            _assign_ids(blocks)
        if attachments is not None:
            if not isinstance(attachments, list):
                raise SlackError("invalid_attachments")
            if len(attachments) > 100:
                raise SlackError("too_many_attachments")
        content: dict[str, Any] = {"text": text or ""}
        if blocks is not None:
            content["blocks"] = blocks
        if attachments is not None:
            content["attachments"] = copy.deepcopy(attachments)
        return content

    def _postable(self, ref: Any) -> _Channel:
        channel = self.space.visible_channel(ref)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.bot_member and "chat:write.public" not in self.s.scopes:
            raise SlackError("not_in_channel")
        return channel

    def _bot_message(self, content: dict[str, Any], ts: str) -> dict[str, Any]:
        return {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": ts,
            **content,
            "bot_profile": {"id": BOT_ID, "app_id": APP_ID, "name": BOT_USER_NAME},
        }

    def chat_post_message(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        data = self._bot_message(self._content(args), self.space.next_ts())
        thread_ts = args.get("thread_ts")
        if thread_ts:
            data["thread_ts"] = str(thread_ts)
            data["parent_user_id"] = self._parent_user(channel.id, str(thread_ts))
        message = self.space.add_message(channel, data)
        return {"channel": channel.id, "ts": message.ts, "message": copy.deepcopy(message.data)}

    def _parent_user(self, channel_id: str, thread_ts: str) -> str | None:
        parent = self.space.find_message(channel_id, thread_ts)
        return parent.data.get("user") if parent else None

    def chat_update(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self.space.visible_channel(args.get("channel"))
        if channel.is_archived:
            raise SlackError("is_archived")
        message = self.space.find_message(channel.id, str(args.get("ts") or ""))
        if message is None:
            raise SlackError("message_not_found")
        if message.data.get("bot_id") != BOT_ID:
            raise SlackError("cant_update_message")
        content = self._content(args)
        previous = {k: copy.deepcopy(message.data.get(k)) for k in ("text", "blocks", "attachments")}
        message.history.append({**previous, "replaced_at": time.time()})
        for key in ("blocks", "attachments"):
            if key in args:
                message.data.pop(key, None)
        message.data.update(content)
        message.data["edited"] = {"user": BOT_USER_ID, "ts": self.space.next_ts()}
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.data["text"],
            "message": copy.deepcopy(message.data),
        }

    def chat_post_ephemeral(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        user_id = args.get("user")
        if user_id not in self.space.users:
            raise SlackError("user_not_found")
        if user_id not in channel.members:
            raise SlackError("user_not_in_channel")
        ts = self.space.next_ts()
        data = self._bot_message(self._content(args), ts)
        if args.get("thread_ts"):
            data["thread_ts"] = str(args["thread_ts"])
        self.space.ephemerals.append({**data, "channel": channel.id, "recipient": user_id})
        return {"message_ts": ts}

    def conversations_open(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        if args.get("channel"):
            channel = self.space.visible_channel(args["channel"])
            return {"channel": {"id": channel.id}, "no_op": True, "already_open": True}
        raw = args.get("users")
        if not raw:
            raise SlackError("users_list_not_supplied")
        user_ids = [u.strip() for u in str(raw).split(",") if u.strip()]
        if len(user_ids) > 8:
            raise SlackError("too_many_users")
        if any(u not in self.space.users for u in user_ids):
            raise SlackError("user_not_found")
        channel, existed = self.space.open_dm(user_ids)
        if existed:
            return {"channel": {"id": channel.id}, "no_op": True, "already_open": True}
        return {"channel": {"id": channel.id}}

    # -- files -------------------------------------------------------------------------

    def files_get_upload_url(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        filename = args.get("filename")
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if not filename or length <= 0:
            raise SlackError("missing_argument")
        alt_txt = args.get("alt_txt")
        if alt_txt and len(str(alt_txt)) > 1000:
            raise SlackError("alt_txt_too_large")
        upload = _Upload(_random_id("F"), str(filename), length, alt_txt)
        self.space.uploads[upload.id] = upload
        return {"upload_url": f"{self.s._base_url}upload/{upload.id}", "file_id": upload.id}

    def files_complete_upload(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        uploads = []
        for entry in entries:
            upload = self.space.uploads.get(entry.get("id")) if isinstance(entry, dict) else None
            if upload is None or upload.content is None or upload.completed:
                raise SlackError("file_not_found")
            uploads.append((upload, entry.get("title") or upload.filename))
        channel = self._share_target(args)
        files = [self._complete(upload, title, channel, args) for upload, title in uploads]
        if channel is not None:
            self._announce(channel, files, args)
        return {"files": [self._public_file(f) for f in files]}

    def _share_target(self, args: dict[str, Any]) -> _Channel | None:
        if not args.get("channel_id"):
            if args.get("thread_ts"):
                raise SlackError("invalid_arguments")
            return None
        try:
            channel = self.space.visible_channel(args["channel_id"])
        except SlackError:
            raise SlackError("invalid_channel") from None
        if not channel.bot_member:
            raise SlackError("posting_to_channel_denied")
        return channel

    def _complete(self, upload: _Upload, title: str, channel: _Channel | None, args: dict[str, Any]) -> dict[str, Any]:
        upload.completed = True
        record = {
            "id": upload.id,
            "name": upload.filename,
            "title": title,
            "size": upload.length,
            "content": upload.content,
            "channel_id": channel.id if channel else None,
            "thread_ts": args.get("thread_ts") if channel else None,
            "initial_comment": args.get("initial_comment"),
            "alt_txt": upload.alt_txt,
        }
        self.space.files.append(record)
        return record

    @staticmethod
    def _public_file(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": record["id"],
            "name": record["name"],
            "title": record["title"],
            "size": record["size"],
            "user": BOT_USER_ID,
        }

    def _announce(self, channel: _Channel, files: list[dict[str, Any]], args: dict[str, Any]) -> None:
        data = self._bot_message(
            {"text": str(args.get("initial_comment") or ""), "upload": True},
            self.space.next_ts(),
        )
        data["files"] = [self._public_file(f) for f in files]
        if args.get("thread_ts"):
            data["thread_ts"] = str(args["thread_ts"])
        self.space.add_message(channel, data)

    # -- users and groups --------------------------------------------------------------

    def usergroups_users_list(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        """``{"users": [ids]}``; errors as documented: ``no_such_subteam``, ``plan_upgrade_required``."""
        group = args.get("usergroup")
        if not group:
            raise SlackError("invalid_arguments")
        if not self.space.usergroups_available:  # user groups need a paid plan
            raise SlackError("plan_upgrade_required")
        if group not in self.space.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.space.usergroups[group])}

    def users_info(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        user = self.space.users.get(args.get("user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_slack(with_email="users:read.email" in self.s.scopes)}


# --------------------------------------------------------------------------------------
# Upload and response_url endpoints
# --------------------------------------------------------------------------------------


async def _read_upload_bytes(request: web.Request) -> bytes:
    """The file bytes, sent raw or as the single file part of a multipart form."""
    if request.content_type == "multipart/form-data":
        form = await request.post()
        for value in form.values():
            if hasattr(value, "file"):
                return value.file.read()
        return b""
    return await request.read()


# --------------------------------------------------------------------------------------
# Socket Mode
# --------------------------------------------------------------------------------------


@dataclass
class _Connection:
    id: str
    ws: web.WebSocketResponse
    transport: Any
    routable: bool = True
    hello_sent: bool = False


class _SocketHub:
    """Socket Mode connections: tickets, hello, envelope delivery and acks."""

    def __init__(self, standin: SlackStandIn) -> None:
        self.s = standin
        self.tickets: set[str] = set()
        self.connections: dict[str, _Connection] = {}
        self.pending: dict[str, tuple[asyncio.Future[dict[str, Any]], str]] = {}
        self._ids = itertools.count(1)
        self._next = 0

    def issue_ticket_url(self) -> str:
        ticket = str(uuid.uuid4())
        self.tickets.add(ticket)
        return f"{self.s._ws_base}socket?ticket={ticket}&app_id={APP_ID}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        with self.s._lock:
            ticket = request.query.get("ticket", "")
            valid = ticket in self.tickets
            self.tickets.discard(ticket)
        if not valid:
            return web.Response(status=401, text="invalid or reused ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Connection(f"c{next(self._ids)}", ws, request.transport)
        if not await self._greet(conn):
            return ws
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
        finally:
            self._forget(conn)
        return ws

    async def _greet(self, conn: _Connection) -> bool:
        with self.s._lock:
            full = len(self.connections) >= MAX_SOCKET_CONNECTIONS
            if not full:
                self.connections[conn.id] = conn
            count = len(self.connections)
        if full:
            await conn.ws.send_json(_disconnect_message("too_many_websockets"))
            await conn.ws.close()
            return False
        await conn.ws.send_json(
            {
                "type": "hello",
                "num_connections": count,
                "debug_info": {
                    "host": "standin-applink",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        )
        conn.hello_sent = True
        return True

    def _forget(self, conn: _Connection) -> None:
        with self.s._lock:
            self.connections.pop(conn.id, None)
            for future, owner in list(self.pending.values()):
                if owner == conn.id and not future.done():
                    future.set_exception(ConnectionError(f"connection {conn.id} closed"))

    def _on_text(self, conn: _Connection, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        with self.s._lock:
            entry = self.pending.get(message["envelope_id"])
            if entry is None:
                self._note_late_ack(message)
                return
        future, _owner = entry
        if not future.done():
            payload = message.get("payload")
            future.set_result(payload if isinstance(payload, dict) else {})

    def _note_late_ack(self, message: dict[str, Any]) -> None:
        for record in self.s._unacked:
            if record["envelope_id"] == message["envelope_id"]:
                record["late_ack"] = message.get("payload") or {}

    def _pick(self) -> _Connection | None:
        live = [c for c in self.connections.values() if c.routable and c.hello_sent and not c.ws.closed]
        if not live:
            return None
        self._next += 1
        return live[self._next % len(live)]

    async def deliver(self, kind: str, payload: dict[str, Any], accepts_response: bool) -> dict[str, Any]:
        """Send one envelope to one connection and wait for its ack, like Slack does."""
        envelope_id = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        with self.s._lock:
            conn = self._pick()
            record = Envelope(envelope_id, kind, copy.deepcopy(payload), conn.id if conn else None, time.monotonic())
            self.s._envelopes.append(record)
            if conn is None:
                return self._fail(record, "no_connection")
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self.pending[envelope_id] = (future, conn.id)
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        try:
            await conn.ws.send_json(envelope)
            ack = await asyncio.wait_for(future, self.s.ack_timeout)
        except TimeoutError:
            return self._fail(record, "timeout")
        except (ConnectionError, RuntimeError) as error:
            return self._fail(record, f"connection_closed: {error}")
        finally:
            with self.s._lock:
                self.pending.pop(envelope_id, None)
        with self.s._lock:
            record.ack = copy.deepcopy(ack)
            record.acked_at = time.monotonic()
        return ack

    def _fail(self, record: Envelope, reason: str) -> dict[str, Any]:
        with self.s._lock:
            record.failure = reason
            self.s._unacked.append(
                {
                    "envelope_id": record.envelope_id,
                    "type": record.type,
                    "payload": copy.deepcopy(record.payload),
                    "connection": record.connection,
                    "reason": reason,
                }
            )
        raise TimeoutError(f"{record.type} envelope {record.envelope_id} was not acknowledged: {reason}")

    async def disconnect(self, reason: str, grace: float) -> None:
        with self.s._lock:
            targets = list(self.connections.values())
            for conn in targets:
                conn.routable = False
        for conn in targets:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_json(_disconnect_message(reason))
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(c.id in self.connections for c in targets):
            await asyncio.sleep(0.02)
        for conn in targets:
            if not conn.ws.closed:
                await conn.ws.close(code=WSCloseCode.GOING_AWAY)

    async def drop(self) -> None:
        with self.s._lock:
            targets = list(self.connections.values())
            for conn in targets:
                conn.routable = False
        for conn in targets:
            if conn.transport is not None:
                conn.transport.abort()

    async def close_all(self) -> None:
        for conn in list(self.connections.values()):
            if not conn.ws.closed:
                await conn.ws.close(code=WSCloseCode.GOING_AWAY)


def _disconnect_message(reason: str) -> dict[str, Any]:
    return {"type": "disconnect", "reason": reason, "debug_info": {"host": "standin-applink"}}


# --------------------------------------------------------------------------------------
# Interaction payloads
# --------------------------------------------------------------------------------------


def _find_input(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    for block in view.get("blocks", []):
        if block.get("block_id") == block_id:
            if block.get("type") != "input":
                raise ValueError(f"block {block_id!r} is not an input block")
            return block
    raise ValueError(f"view {view['id']} has no block {block_id!r}")


_URL = re.compile(r"^https?://\S+\Z")


def _check_entered_value(element: dict[str, Any], value: dict[str, Any], where: str) -> None:
    """What the Slack client itself refuses to submit."""
    kind = element["type"]
    text = value.get("value")
    if kind == "email_text_input" and text is not None and not _EMAIL.match(str(text)):
        raise ValueError(f"{where}: Slack refuses to submit an invalid email address {text!r}")
    if kind == "url_text_input" and text is not None and not _URL.match(str(text)):
        raise ValueError(f"{where}: Slack refuses to submit an invalid URL {text!r}")
    if kind == "plain_text_input" and text is not None:
        low, high = element.get("min_length", 0), element.get("max_length", 3000)
        if not low <= len(str(text)) <= high:
            raise ValueError(f"{where}: length must be within {low}..{high}")
    selected = value.get("selected_option")
    if kind == "static_select" and selected is not None and selected not in _all_options(element):
        raise ValueError(f"{where}: selected_option is not one of the options")


def _all_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    if "options" in element:
        return list(element["options"])
    return [o for group in element.get("option_groups", []) for o in group.get("options", [])]


def _is_empty(value: dict[str, Any]) -> bool:
    keys = (
        "value",
        "selected_option",
        "selected_options",
        "selected_user",
        "selected_users",
        "selected_conversation",
        "selected_channel",
        "selected_date",
        "selected_time",
        "selected_date_time",
        "files",
    )
    return all(value.get(k) in (None, "", []) for k in keys)


def build_state_values(
    view: dict[str, Any], values: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``state.values`` for a submission, refusing anything the Slack client would not send."""
    state: dict[str, dict[str, dict[str, Any]]] = {}
    for block_id, actions in values.items():
        element = _find_input(view, block_id)["element"]
        for action_id, value in actions.items():
            if action_id != element.get("action_id"):
                raise ValueError(f"block {block_id!r} has no action {action_id!r}")
            entered = {"type": element["type"], **copy.deepcopy(dict(value))}
            if entered["type"] != element["type"]:
                raise ValueError(f"{block_id}/{action_id} is a {element['type']}")
            _check_entered_value(element, entered, f"{block_id}/{action_id}")
            state.setdefault(block_id, {})[action_id] = entered
    for block in view.get("blocks", []):
        if block.get("type") != "input" or block.get("optional"):
            continue
        entered = state.get(block["block_id"], {}).get(block["element"]["action_id"])
        if entered is None or _is_empty(entered):
            raise ValueError(f"required input {block['block_id']!r} is empty; Slack would not submit")
    return state


def _find_button(message: dict[str, Any], action_id: str, value: str | None) -> tuple[dict[str, Any], str]:
    candidates = []
    for block in message.get("blocks") or []:
        for element in _interactive_elements(block):
            if element.get("type") == "button" and element.get("action_id") == action_id:
                candidates.append((element, block["block_id"]))
    if value is not None:
        candidates = [c for c in candidates if c[0].get("value") == value]
    if len(candidates) != 1:
        raise ValueError(
            f"expected exactly one button {action_id!r} (value={value!r}) in message "
            f"{message['ts']}, found {len(candidates)}"
        )
    return candidates[0]


# --------------------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------------------


class SlackStandIn:
    """Slack's Web API and Socket Mode on one local port, driven synchronously by tests.

    Seed users and channels, point the bot at :attr:`api_url`, :meth:`wait_connected`,
    then act as a user (:meth:`slash_command`, :meth:`submit_view`, :meth:`click_button`)
    and assert on :attr:`calls`, :meth:`messages`, :meth:`current_view` and :attr:`files`.

    ``scopes`` is a live set, so a test can grant ``chat:write.public`` or
    ``users:read.email`` midway. ``ack_timeout`` shortens Slack's 3 s only to speed up
    tests of failed deliveries.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-standin-bot",
        app_token: str = "xapp-standin-app",
        scopes: Iterable[str] | None = None,
        app_scopes: Iterable[str] = APP_SCOPES,
        host: str = "127.0.0.1",
        port: int = 0,
        trigger_ttl: float = TRIGGER_TTL,
        ack_timeout: float = ACK_TIMEOUT,
        post_message_limit: RateLimit | None = DEFAULT_POST_MESSAGE_LIMIT,
        chat_update_limit: RateLimit | None = DEFAULT_CHAT_UPDATE_LIMIT,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.scopes: set[str] = set(DEFAULT_BOT_SCOPES if scopes is None else scopes)
        self.app_scopes: set[str] = set(app_scopes)
        self.host = host
        self.port = port
        self.ack_timeout = ack_timeout
        self._lock = threading.RLock()
        self._workspace = _Workspace(trigger_ttl)
        self._calls: list[Call] = []
        self._envelopes: list[Envelope] = []
        self._unacked: list[dict[str, Any]] = []
        self._rejected_acks: list[dict[str, Any]] = []
        self._faults = _Faults()
        self._holds: dict[str, _Hold] = {}
        self._limiter = _Limiter()
        self._limiter.set("chat.postMessage", post_message_limit)
        self._limiter.set("chat.update", chat_update_limit)
        self._api = _WebApi(self)
        self._hub = _SocketHub(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._start_error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> SlackStandIn:
        if self._thread is not None:
            raise RuntimeError("the Slack stand-in is already running")
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="slack-standin", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("the Slack stand-in did not start within 15 s")
        if self._start_error is not None:
            self._thread.join(5)
            self._loop = self._thread = None
            raise RuntimeError("the Slack stand-in failed to start") from self._start_error
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as error:  # reported to start()
            self._start_error = error
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.close()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api.handle)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_post("/response/{key}", self._handle_response_url)
        app.router.add_get("/socket", self._hub.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop, thread = self._loop, self._thread
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        await self._hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def _base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def _ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    @property
    def api_url(self) -> str:
        """slack_sdk's ``base_url`` for this stand-in (trailing slash included)."""
        return f"{self._base_url}api/"

    def _run(self, coro: Any, timeout: float) -> Any:
        if self._loop is None:
            raise RuntimeError("the Slack stand-in is not running; call start()")
        if threading.current_thread() is self._thread:
            raise RuntimeError("the stand-in's blocking API cannot be called from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- workspace state ---------------------------------------------------------------

    def add_user(
        self,
        user_id: str = "U123",
        name: str = "alice",
        email: str | None = None,
        real_name: str | None = None,
    ) -> None:
        with self._lock:
            self._workspace.users[user_id] = _User(user_id, name, email, real_name or name.title())

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
            self._workspace.channels[channel_id] = _Channel(channel_id, name, people, is_private)
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

    # -- user actions ------------------------------------------------------------------

    def slash_command(
        self,
        command: str = "/meraki-add-user",
        text: str = "",
        user_id: str = "U123",
        channel_id: str = "C123",
    ) -> dict[str, Any]:
        """Type ``command`` in a channel; returns the ack payload the app sent back."""
        with self._lock:
            payload = self._slash_payload(command, text, user_id, channel_id)
        ack = self._deliver("slash_commands", payload, accepts_response=True)
        if ack:
            with self._lock:
                self._workspace.responses.append(
                    {"source": "ack", "channel_id": channel_id, "user_id": user_id, **copy.deepcopy(ack)}
                )
        return ack

    def _slash_payload(self, command: str, text: str, user_id: str, channel_id: str) -> dict[str, Any]:
        if "commands" not in self.scopes:
            raise PermissionError("the app lacks the 'commands' scope; Slack would not offer the command")
        if not command.startswith("/") or len(command) > 32:
            raise ValueError(f"invalid slash command {command!r}")
        space = self._workspace
        user = self._user(user_id)
        channel = space.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id!r}; add_channel() first")
        if user_id not in channel.members:
            raise ValueError(f"{user_id} is not a member of {channel_id} and cannot type there")
        channel_name = "directmessage" if channel.is_im else channel.name
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": space.issue_response_url(self._base_url, channel_id, user_id),
            "trigger_id": space.issue_trigger(user_id),
        }

    def submit_view(
        self,
        view_id: str,
        values: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        user_id: str = "U123",
    ) -> dict[str, Any]:
        """Press Submit on the user's top modal; applies the ack's ``response_action``.

        ``values`` maps block_id → action_id → the element's value dict, e.g.
        ``{"email_b": {"email_a": {"value": "a@b.c"}}}``; ``type`` is filled in.
        """
        with self._lock:
            payload = self._submission_payload(view_id, values or {}, user_id)
        ack = self._deliver("interactive", payload, accepts_response=True)
        with self._lock:
            self._apply_submission_ack(view_id, user_id, ack)
        return ack

    def submit_view_twice(
        self,
        view_id: str,
        values: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        user_id: str = "U123",
    ) -> list[dict[str, Any]]:
        """One Submit delivered twice at once, each to its own connection (when there are two), as when a
        retried envelope overtakes its first delivery; the first ack to arrive is the one applied."""
        with self._lock:
            payload = self._submission_payload(view_id, values or {}, user_id)

        async def both() -> list[dict[str, Any]]:
            return list(
                await asyncio.gather(
                    *(self._hub.deliver("interactive", copy.deepcopy(payload), True) for _ in range(2))
                )
            )

        acks = self._run(both(), self.ack_timeout + 5)
        with self._lock:
            self._apply_submission_ack(view_id, user_id, acks[0])
        return acks

    def _top_view(self, view_id: str, user_id: str) -> dict[str, Any]:
        """A copy of ``view_id``, which must be the modal ``user_id`` sees on top (the lock held)."""
        stack = self._workspace.stacks.get(user_id) or []
        if not stack or stack[-1] != view_id:
            raise ValueError(f"view {view_id} is not the modal {user_id} currently sees")
        return copy.deepcopy(self._workspace.views[view_id])

    def _submission_payload(self, view_id: str, values: Mapping[str, Any], user_id: str) -> dict[str, Any]:
        space = self._workspace
        view = self._top_view(view_id, user_id)
        if view.get("submit") is None:
            raise ValueError(f"view {view_id} has no submit button")
        view["state"] = {"values": build_state_values(view, values)}
        user = self._user(user_id)
        return {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": space.issue_trigger(user_id),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def _apply_submission_ack(self, view_id: str, user_id: str, ack: dict[str, Any]) -> None:
        """Do what Slack does with a view_submission ack, or record why it would fail."""
        space = self._workspace
        stack = space.stacks.get(user_id) or []
        action = ack.get("response_action")
        problem = None
        if not ack:
            if stack and stack[-1] == view_id:
                stack.pop()
        elif action == "errors":
            problem = self._errors_problem(view_id, ack.get("errors"))
        elif action in ("update", "push"):
            view = ack.get("view")
            problems = validate_view(view, "/view") if isinstance(view, dict) else ["missing view"]
            if problems:
                problem = "; ".join(problems)
            elif action == "update":
                space.replace_view(space.views[view_id], view)
            elif len(stack) >= MAX_VIEW_STACK:
                problem = "push_limit_reached"
            else:
                space.push_view(user_id, view)
        elif action == "clear":
            space.stacks[user_id] = []
        else:
            problem = f"unexpected view_submission ack payload: {ack!r}"
        if problem is not None:
            self._rejected_acks.append({"view_id": view_id, "ack": copy.deepcopy(ack), "problem": problem})

    def _errors_problem(self, view_id: str, errors: Any) -> str | None:
        if not isinstance(errors, dict) or not errors:
            return "response_action=errors needs a non-empty errors object"
        inputs = {b["block_id"] for b in self._workspace.views[view_id]["blocks"] if b.get("type") == "input"}
        unknown = sorted(set(errors) - inputs)
        if unknown:
            return f"errors name blocks that are not input blocks of the view: {unknown}"
        return None

    def suggest(self, view_id: str, block_id: str, value: str = "", user_id: str = "U123") -> list[dict[str, Any]]:
        """Type ``value`` into an external select of the user's top modal: the options the app answers with.

        As Slack, it sends a ``block_suggestion`` and takes only a well-formed answer within the ack time.
        """
        with self._lock:
            view = self._top_view(view_id, user_id)
            selects = [
                element
                for block in view.get("blocks", [])
                if block.get("block_id") == block_id and block.get("type") == "input"
                for element in [block.get("element") or {}]
                if element.get("type") in ("external_select", "multi_external_select")
            ]
            if len(selects) != 1:
                raise ValueError(f"view {view_id} has no external select in block {block_id!r}")
            if len(value) < int(selects[0].get("min_query_length", 3)):
                return []  # Slack does not ask before the minimum query length is typed
            user = self._user(user_id)
            payload = {
                "type": "block_suggestion",
                "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
                "container": {"type": "view", "view_id": view_id},
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "action_id": selects[0]["action_id"],
                "block_id": block_id,
                "value": value,
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "view": view,
            }
        answer = self._deliver("interactive", payload, accepts_response=True)
        problems = validate_options_response(answer)
        if problems:
            raise ValueError(f"Slack would show no options for this answer: {'; '.join(problems)}")
        return list(answer.get("options") or [])

    def click_button(
        self,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        user_id: str = "U123",
    ) -> dict[str, Any]:
        """Click a button in a bot message; ``value`` picks among same-named buttons."""
        with self._lock:
            payload = self._block_actions_payload(channel_id, message_ts, action_id, value, user_id)
        return self._deliver("interactive", payload, accepts_response=False)

    def click_view_button(self, view_id: str, action_id: str, user_id: str = "U123") -> dict[str, Any]:
        """Click a button in the modal the user sees (block_actions from a view, as Slack sends it)."""
        with self._lock:
            space = self._workspace
            view = self._top_view(view_id, user_id)
            buttons = [
                (element, block["block_id"])
                for block in view.get("blocks", [])
                for element in _interactive_elements(block)
                if element.get("type") == "button" and element.get("action_id") == action_id
            ]
            if len(buttons) != 1:
                raise ValueError(f"view {view_id} has {len(buttons)} buttons {action_id!r}")
            button, block_id = buttons[0]
            action = {"type": "button", "action_id": action_id, "block_id": block_id, "text": button["text"]}
            if "value" in button:
                action["value"] = button["value"]
            user = self._user(user_id)
            payload = {
                "type": "block_actions",
                "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "container": {"type": "view", "view_id": view_id},
                "trigger_id": space.issue_trigger(user_id),
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "view": view,
                "actions": [action],
            }
        return self._deliver("interactive", payload, accepts_response=False)

    def _block_actions_payload(
        self, channel_id: str, message_ts: str, action_id: str, value: str | None, user_id: str
    ) -> dict[str, Any]:
        space = self._workspace
        message = space.find_message(channel_id, message_ts)
        if message is None:
            raise KeyError(f"no message {message_ts} in {channel_id}")
        if message.data.get("bot_id") != BOT_ID:
            raise ValueError(f"message {message_ts} was not posted by the app")
        button, block_id = _find_button(message.data, action_id, value)
        action = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": copy.deepcopy(button["text"]),
            "action_ts": f"{time.time():.6f}",
        }
        for key in ("value", "style"):
            if key in button:
                action[key] = button[key]
        user = self._user(user_id)
        channel = space.channels[channel_id]
        container = {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False}
        if message.data.get("thread_ts"):
            container["thread_ts"] = message.data["thread_ts"]
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": space.issue_trigger(user_id),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel.name or "directmessage"},
            "message": copy.deepcopy(message.data),
            "state": {"values": {}},
            "response_url": space.issue_response_url(self._base_url, channel_id, user_id),
            "actions": [action],
        }

    def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Deliver an Events API ``event_callback`` wrapping ``event``; returns the ack payload."""
        payload = {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": copy.deepcopy(event),
            "type": "event_callback",
            "event_id": _random_id("Ev"),
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": False}
            ],
            "is_ext_shared_channel": False,
        }
        return self._deliver("events_api", payload, accepts_response=False)

    def _user(self, user_id: str) -> _User:
        user = self._workspace.users.get(user_id)
        if user is None:
            raise KeyError(f"unknown user {user_id!r}; add_user() first")
        return user

    def _deliver(self, kind: str, payload: dict[str, Any], *, accepts_response: bool) -> dict[str, Any]:
        return self._run(self._hub.deliver(kind, payload, accepts_response), self.ack_timeout + 5)

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
            self._faults.add(method, _Fault(status, retry_after, error, times))

    def hold_reply(self, method: str, seconds: float, when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Carry out the next call of ``method`` matching ``when``, but answer it ``seconds`` later."""
        with self._lock:
            self._holds[method] = _Hold(seconds, when)

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

    # -- HTTP endpoints besides the Web API ----------------------------------------------

    async def _handle_upload(self, request: web.Request) -> web.Response:
        content = await _read_upload_bytes(request)
        with self._lock:
            upload = self._workspace.uploads.get(request.match_info["file_id"])
            if upload is None or upload.content is not None:
                return web.Response(status=404, text="upload url is unknown or already used")
            if len(content) != upload.length:
                return web.Response(status=400, text=f"expected {upload.length} bytes, received {len(content)}")
            upload.content = content
        return web.Response(text=f"OK - {len(content)}")

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        with self._lock:
            return self._use_response_url(request.match_info["key"], body)

    def _use_response_url(self, key: str, body: Any) -> web.Response:
        space = self._workspace
        target = space.response_urls.get(key)
        if target is None or time.monotonic() - target.created > 30 * 60:
            return web.Response(status=404, text="expired_url")
        if target.uses >= MAX_RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        if body.get("blocks") is not None and validate_message_blocks(body["blocks"]):
            return web.Response(status=400, text="invalid_blocks")
        target.uses += 1
        space.responses.append(
            {"source": "response_url", "channel_id": target.channel_id, "user_id": target.user_id, **body}
        )
        if body.get("response_type") == "in_channel" and target.channel_id in space.channels:
            data = self._api._bot_message(
                {"text": str(body.get("text") or ""), **({"blocks": body["blocks"]} if body.get("blocks") else {})},
                space.next_ts(),
            )
            if body.get("thread_ts"):
                data["thread_ts"] = str(body["thread_ts"])
            space.add_message(space.channels[target.channel_id], data)
        return web.Response(text="ok")
