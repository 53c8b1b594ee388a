"""Nautobot's ChatOps app (nautobot-chatops 4.x) over its REST API: access grants, command log, account links.

The bot reads the app's Access Grants to decide who may run the command, writes one CommandLog
row per request, and names the Nautobot user a Slack user linked their account to. Everything
goes through :class:`bot.nautobot.NautobotClient`, with the bot's own token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.nautobot.client import NautobotClient

log = logging.getLogger("bot.nautobot.chatops")

API = "/api/plugins/chatops"
PLATFORM_SLUG = "slack"
"""How account links name the platform (``PlatformChoices.SLACK``)."""
PLATFORM_NAME, PLATFORM_COLOR = "Slack", "4a154b"
"""What the app's own Slack dispatcher writes into a CommandLog (its color in lower case: the API checks it)."""
DETAILS_MAX = 255
FIELD_MAX = 255
LINK_CANDIDATES_MAX = 5


class GrantType(StrEnum):
    """``AccessGrantTypeChoices``: a request needs a matching grant of every type."""

    ORGANIZATION = "organization"
    CHANNEL = "channel"
    USER = "user"


class CommandStatus(StrEnum):
    """``CommandStatusChoices`` of a CommandLog row."""

    SUCCEEDED = "succeeded"
    BLOCKED = "blocked"
    FAILED = "failed"
    ERRORED = "errored"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AccessGrant:
    command: str
    subcommand: str
    grant_type: str
    value: str
    name: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AccessGrant:
        kind = data.get("grant_type")
        if isinstance(kind, Mapping):  # Nautobot may send a choice as {"value": ..., "label": ...}
            kind = kind.get("value")
        return cls(
            command=str(data.get("command") or ""),
            subcommand=str(data.get("subcommand") or ""),
            grant_type=str(kind or ""),
            value=str(data.get("value") or ""),
            name=str(data.get("name") or ""),
        )

    def covers(self, command: str, subcommand: str) -> bool:
        """The app's filter: ``* *``, ``command *`` or ``command subcommand``."""
        return self.command == "*" or (self.command == command and self.subcommand in ("*", subcommand))

    def permits(self, value: str) -> bool:
        return self.value == "*" or (bool(value) and self.value == value)


@dataclass(frozen=True)
class LinkedUser:
    """The Nautobot user a Slack user linked their account to (``ChatOpsAccountLink``)."""

    id: str
    username: str = ""

    @property
    def label(self) -> str:
        return self.username or self.id


@dataclass(frozen=True)
class CommandLogEntry:
    """One row of the app's command log, as its own dispatchers fill it."""

    user_id: str
    user_name: str
    command: str
    subcommand: str
    status: CommandStatus
    details: str
    start_time: datetime
    runtime: timedelta
    params: Sequence[tuple[str, str]] = ()
    nautobot_user: LinkedUser | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id[:FIELD_MAX],
            "user_name": (self.user_name or "UNKNOWN")[:FIELD_MAX],
            "platform": PLATFORM_NAME,
            "platform_color": PLATFORM_COLOR,
            "command": self.command[:64],
            "subcommand": self.subcommand[:64],
            "params": [[name, value] for name, value in self.params],
            "status": self.status.value,
            "details": _cut(self.details, DETAILS_MAX),
            "start_time": self.start_time.isoformat(),
            "runtime": _duration(self.runtime),
            "nautobot_user": self.nautobot_user.id if self.nautobot_user else None,
        }


class ChatOpsApp:
    """The parts of nautobot-chatops' REST API the bot uses."""

    def __init__(self, nautobot: NautobotClient):
        self.nautobot = nautobot

    async def access_grants(self, command: str) -> list[AccessGrant]:
        """Every grant that can apply to ``command``: those for ``command`` and those for ``*``."""
        items = await self.nautobot.list_objects(
            f"{API}/accessgrant/",
            what="read the ChatOps access grants",
            params=[("command", command), ("command", "*")],
        )
        return [AccessGrant.from_api(item) for item in items]

    async def log_command(self, entry: CommandLogEntry) -> str:
        """Add a row to the command log; returns its id."""
        created = await self.nautobot.create_object(
            f"{API}/commandlog/", entry.to_api(), what="add to the ChatOps command log"
        )
        return str(created.get("id", ""))

    async def linked_user(self, slack_user_id: str) -> LinkedUser | None:
        """The Nautobot user this Slack user linked their account to, if any (and if the bot may see it).

        nautobot-chatops 4.1 lists only the caller's own account links (``ChatOpsAccountLinkViewSet``
        filters the list by the requesting user), so the bot cannot search them. Nautobot's change log
        names each link it recorded ("alice -> slack U123"): that yields candidate ids, and reading each
        link itself (a detail view, not filtered) confirms it still exists and belongs to this Slack user.
        """
        if not slack_user_id:
            return None
        changes = await self.nautobot.list_objects(
            "/api/extras/object-changes/",
            what="look for ChatOps account links in Nautobot's change log",
            params=[("changed_object_type", "nautobot_chatops.chatopsaccountlink"), ("q", slack_user_id)],
            page_size=50,
        )
        candidates = list(dict.fromkeys(str(c.get("changed_object_id")) for c in changes if c.get("changed_object_id")))
        for link_id in candidates[:LINK_CANDIDATES_MAX]:
            link = await self.nautobot.get_object(
                f"{API}/accountlink/{link_id}/", what="read a ChatOps account link", params={"depth": "1"}
            )
            if link and link.get("user_id") == slack_user_id and _platform(link) == PLATFORM_SLUG:
                return _user(link.get("nautobot_user"))
        return None


def _platform(link: Mapping[str, Any]) -> str:
    platform = link.get("platform")
    return str(platform.get("value") if isinstance(platform, Mapping) else platform or "")


def _user(value: Any) -> LinkedUser | None:
    if isinstance(value, Mapping) and value.get("id"):
        return LinkedUser(id=str(value["id"]), username=str(value.get("username") or value.get("display") or ""))
    if isinstance(value, str) and value:
        return LinkedUser(id=value)
    return None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _duration(span: timedelta) -> str:
    """DRF's DurationField format, ``[DD] HH:MM:SS.uuuuuu``."""
    span = max(span, timedelta(0))
    hours, rest = divmod(span.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    days = f"{span.days} " if span.days else ""
    return f"{days}{hours:02d}:{minutes:02d}:{seconds:02d}.{span.microseconds:06d}"
