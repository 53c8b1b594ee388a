"""The stand-in's workspace: users, channels, messages, views, triggers, uploads and response_urls,
with the rules Slack keeps on them."""

from __future__ import annotations

import copy
import itertools
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from testbed.slack_constants import APP_ID, BOT_ID, BOT_USER_ID, BOT_USER_NAME, MAX_VIEW_STACK, TEAM_ID
from testbed.slack_replies import SlackError


def random_id(prefix: str, length: int = 10) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _short_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(5))


@dataclass
class User:
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
class Channel:
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
class Message:
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
class Upload:
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


class Workspace:
    """Users, channels, messages, views, triggers and files, plus the Slack rules on them.

    Callers hold the stand-in's lock; no method here awaits.
    """

    def __init__(self, trigger_ttl: float) -> None:
        self.trigger_ttl = trigger_ttl
        self.users: dict[str, User] = {BOT_USER_ID: User(BOT_USER_ID, BOT_USER_NAME, None, "Meraki Admin")}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.usergroups_available = True
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.stacks: dict[str, list[str]] = {}
        self.triggers: dict[str, _Trigger] = {}
        self.uploads: dict[str, Upload] = {}
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

    def channel(self, ref: Any) -> Channel:
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

    def visible_channel(self, ref: Any) -> Channel:
        """Like :meth:`channel`, but private conversations the bot is not in do not exist."""
        channel = self.channel(ref)
        if channel.is_private and not channel.bot_member:
            raise SlackError("channel_not_found")
        return channel

    def open_dm(self, user_ids: list[str]) -> tuple[Channel, bool]:
        members = {BOT_USER_ID, *user_ids}
        for channel in self.channels.values():
            if channel.is_im and channel.members == members:
                return channel, True
        prefix = "D" if len(user_ids) == 1 else "G"
        channel = Channel(random_id(prefix), "", members, is_private=True, is_im=True)
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        return channel, False

    # -- messages ----------------------------------------------------------------------

    def add_message(self, channel: Channel, data: dict[str, Any]) -> Message:
        message = Message(channel.id, data)
        self.messages.setdefault(channel.id, []).append(message)
        thread_ts = data.get("thread_ts")
        if thread_ts and thread_ts != data["ts"]:
            parent = self.find_message(channel.id, thread_ts)
            if parent is not None:
                self._note_reply(parent, data)
        return message

    @staticmethod
    def _note_reply(parent: Message, reply: dict[str, Any]) -> None:
        data = parent.data
        data["thread_ts"] = data["ts"]
        data["reply_count"] = data.get("reply_count", 0) + 1
        author = reply.get("user")
        users = data.setdefault("reply_users", [])
        if author and author not in users:
            users.append(author)
        data["reply_users_count"] = len(users)
        data["latest_reply"] = reply["ts"]

    def find_message(self, channel_id: str, ts: str) -> Message | None:
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
        assign_ids(view.get("blocks", []))
        view_id = view_id or random_id("V")
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


def assign_ids(blocks: Any) -> None:
    """Fill in the block_id and action_id Slack generates when an app omits them."""
    if not isinstance(blocks, list):
        return
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", _short_id())
        for element in interactive_elements(block):
            element.setdefault("action_id", _short_id())


def interactive_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    if kind == "input" and isinstance(block.get("element"), dict):
        return [block["element"]]
    if kind == "actions":
        return [e for e in block.get("elements", []) if isinstance(e, dict)]
    accessory = block.get("accessory")
    if kind == "section" and isinstance(accessory, dict) and accessory.get("type") != "image":
        return [accessory]
    return []


def bot_message(content: dict[str, Any], ts: str) -> dict[str, Any]:
    """A message as the app's bot user posts it."""
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
