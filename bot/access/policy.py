"""The access policy as configured (``ACCESS_POLICY``/``ACCESS_POLICY_FILE``): who, where, and which choices."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WILDCARD = "*"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


def _ids(values: Iterable[str], pattern: re.Pattern[str], what: str, *, wildcard: bool) -> tuple[str, ...]:
    checked = []
    for value in values:
        if not (pattern.match(value) or (wildcard and value == WILDCARD)):
            star = " or *" if wildcard else ""
            raise ValueError(f"{value!r} is not a Slack {what}{star}")
        checked.append(value)
    return tuple(dict.fromkeys(checked))


class Audience(BaseModel):
    """People: Slack user ids (``U…``/``W…``, or ``*`` for everyone) and user group ids (``S…``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @field_validator("users")
    @classmethod
    def _users(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _ids(value, _USER_ID, "user id (U… or W…)", wildcard=True)

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _ids(value, _GROUP_ID, "user group id (S…)", wildcard=False)

    @model_validator(mode="after")
    def _someone(self) -> Audience:
        if not self.users and not self.groups:
            raise ValueError("names nobody: give users, groups or both")
        return self

    def includes(self, user_id: str, members: Callable[[str], frozenset[str]]) -> bool:
        if WILDCARD in self.users or user_id in self.users:
            return True
        return any(user_id in members(group) for group in self.groups)


class Rule(Audience):
    """These people may use the command in these channels (``*``: any channel)."""

    channels: tuple[str, ...] = Field(min_length=1)

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _ids(value, _CHANNEL_ID, "channel id (C…, G… or D…)", wildcard=True)

    def in_channel(self, channel_id: str) -> bool:
        return WILDCARD in self.channels or channel_id in self.channels


class AccessPolicy(BaseModel):
    """``allow``: a request is allowed when one rule matches it. ``restrict``: variable → choice → who may pick it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: tuple[Rule, ...] = ()
    restrict: dict[str, dict[str, Audience]] = Field(default_factory=dict)

    @field_validator("restrict")
    @classmethod
    def _restrict(cls, value: dict[str, dict[str, Audience]]) -> dict[str, dict[str, Audience]]:
        for name, choices in value.items():
            if not choices:
                raise ValueError(f"{name} restricts no choice: list choice values, each with who may pick it")
        return value

    def groups(self) -> frozenset[str]:
        """Every user group the policy names: what a decision may need to look up."""
        audiences: list[Audience] = [*self.allow, *(a for choices in self.restrict.values() for a in choices.values())]
        return frozenset(group for audience in audiences for group in audience.groups)


# -- who asks, and the answer --------------------------------------------------------------------
