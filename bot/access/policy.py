"""The access policy as configured (``ACCESS_POLICY``/``ACCESS_POLICY_FILE``): who, where, and which choices."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.models import JobForm

WILDCARD = "*"
CHOICE_TYPES = frozenset({"ChoiceVar", "MultiChoiceVar"})
"""Job variable types whose values are choices, and so can be restricted."""
_TEAM_ID = re.compile(r"^[TE][A-Z0-9]{2,}$")
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
    """These people may use these commands in these channels (``*``: any channel, every command).

    A rule that names no ``commands`` covers only the main command (the first of ``COMMANDS``): a policy written
    for adding administrators never lets anyone find or remove them.
    """

    channels: tuple[str, ...] = Field(min_length=1)
    commands: tuple[str, ...] = ()

    @field_validator("commands")
    @classmethod
    def _commands(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name != WILDCARD and not name.startswith("/"):
                raise ValueError(f"{name!r} is not a slash command (like /meraki-find-user) or *")
        return tuple(dict.fromkeys(value))

    def covers(self, command: str, *, main: bool) -> bool:
        if not self.commands:
            return main
        return WILDCARD in self.commands or command in self.commands

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
    teams: tuple[str, ...] = ()
    """Slack workspace (team) ids whose people the policy may allow; empty: the workspace the app is installed in."""

    @field_validator("teams")
    @classmethod
    def _teams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _ids(value, _TEAM_ID, "workspace id (T…, or E… for an Enterprise Grid organization)", wildcard=False)

    @field_validator("restrict")
    @classmethod
    def _restrict(cls, value: dict[str, dict[str, Audience]]) -> dict[str, dict[str, Audience]]:
        for name, choices in value.items():
            if not choices:
                raise ValueError(f"{name} restricts no choice: list choice values, each with who may pick it")
        return value

    def for_command(self, command: str, *, main: bool) -> AccessPolicy:
        """The policy as ``command`` sees it: the rules that cover it, and ``restrict`` (which names the main
        command's choices) only for the main command."""
        return AccessPolicy(
            allow=tuple(rule for rule in self.allow if rule.covers(command, main=main)),
            restrict=self.restrict if main else {},
            teams=self.teams,
        )

    def groups(self) -> frozenset[str]:
        """Every user group the policy names: what a decision may need to look up."""
        audiences: list[Audience] = [*self.allow, *(a for choices in self.restrict.values() for a in choices.values())]
        return frozenset(group for audience in audiences for group in audience.groups)


def policy_problems(policy: AccessPolicy | None, form: JobForm) -> list[str]:
    """What in ``restrict`` names no real choice of the Job's form: each entry would keep nothing back.

    Values are compared as Nautobot sends them (choice values are strings); an empty list means the policy fits.
    """
    if policy is None:
        return []
    problems: list[str] = []
    names = [var.name for var in form.variables]
    for name, choices in policy.restrict.items():
        var = form.variable(name)
        if var is None:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"restrict names {name}, which the Job has no variable of{hint}")
            continue
        if var.type not in CHOICE_TYPES:
            problems.append(f"restrict names {name}, which is a {var.type}, not a choice")
            continue
        values = [value for value, _ in var.choices]
        offered = ", ".join(values) if values else "none at the moment"
        for value in choices:
            if value not in values:
                problems.append(
                    f"restrict names {value} for {name}, whose choices are {offered}{_hint(value, var.choices)}"
                )
    return problems


def _hint(value: str, choices: list[tuple[str, str]]) -> str:
    """Why a value is not a choice, when it looks like one: a label, or a value in other letter case."""
    by_label = [key for key, label in choices if label == value]
    if by_label:
        return f" ({value} is a label: use its value, {by_label[0]})"
    by_case = [key for key, _ in choices if key.casefold() == value.casefold()]
    if by_case:
        return f" (values are case-sensitive: use {by_case[0]})"
    by_label = [key for key, label in choices if label.casefold() == value.casefold()]
    if by_label:
        return f" ({value} is a label: use its value, {by_label[0]})"
    return ""
