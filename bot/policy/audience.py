"""What every part of the access policy names: Slack ids (people, groups, channels, workspaces), audiences of
people (approvers also by Nautobot group), and slash commands, each checked as it is read."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

WILDCARD = "*"
TEAM_ID = re.compile(r"^[TE][A-Z0-9]{2,}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


def slack_ids(values: Iterable[str], pattern: re.Pattern[str], what: str, *, wildcard: bool) -> tuple[str, ...]:
    """``values`` without repeats, each a ``what`` (or ``*`` when ``wildcard``), else a ValueError naming it."""
    checked = []
    for value in values:
        if not (pattern.match(value) or (wildcard and value == WILDCARD)):
            star = " or *" if wildcard else ""
            raise ValueError(f"{value!r} is not a Slack {what}{star}")
        checked.append(value)
    return tuple(dict.fromkeys(checked))


def slash_commands(values: Iterable[str]) -> tuple[str, ...]:
    """``values`` without repeats, each a slash command or ``*``, else a ValueError naming it."""
    for name in values:
        if name != WILDCARD and not name.startswith("/"):
            raise ValueError(f"{name!r} is not a slash command (like /meraki-find-user) or *")
    return tuple(dict.fromkeys(values))


class Audience(BaseModel):
    """People: Slack user ids (``U…``/``W…``, or ``*`` for everyone) and user group ids (``S…``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @field_validator("users")
    @classmethod
    def _users(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return slack_ids(value, USER_ID, "user id (U… or W…)", wildcard=True)

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return slack_ids(value, GROUP_ID, "user group id (S…)", wildcard=False)

    @model_validator(mode="after")
    def _someone(self) -> Audience:
        if not self.users and not self.groups:
            raise ValueError("names nobody: give users, groups or both")
        return self

    def includes(self, user_id: str, members: Callable[[str], frozenset[str]]) -> bool:
        if WILDCARD in self.users or user_id in self.users:
            return True
        return any(user_id in members(group) for group in self.groups)


NAUTOBOT_GROUP_MAX = 150
"""The length of a Nautobot (Django) group's name."""


class ApproverAudience(Audience):
    """Who may approve: Slack users and user groups, and ``nautobot_groups``, the names of Nautobot groups whose
    active users' nautobot-chatops account links name the Slack users who may approve."""

    nautobot_groups: tuple[str, ...] = ()

    @field_validator("nautobot_groups")
    @classmethod
    def _nautobot_groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not name.strip() or len(name) > NAUTOBOT_GROUP_MAX or name != name.strip():
                raise ValueError(
                    f"{name!r} is not a Nautobot group's name: write the name as Nautobot shows it under Users → "
                    f"Groups (1 to {NAUTOBOT_GROUP_MAX} characters, no spaces around it)"
                )
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _someone(self) -> ApproverAudience:
        if not self.users and not self.groups and not self.nautobot_groups:
            raise ValueError("names nobody: give users, groups, nautobot_groups, or several of them")
        return self
