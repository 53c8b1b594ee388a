"""The access policy as configured (``ACCESS_POLICY``/``ACCESS_POLICY_FILE``): who, where, and which choices."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

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


Choices = dict[str, dict[str, Audience]]
"""A command's restrictions: Job variable → choice value → who may pick it."""


class AccessPolicy(BaseModel):
    """``allow``: a request is allowed when one rule matches it. ``restrict``: per slash command, variable → choice →
    who may pick it (keyed by command, never by position: reordering ``COMMANDS`` moves nothing)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: tuple[Rule, ...] = ()
    restrict: dict[str, Choices] = Field(default_factory=dict)
    teams: tuple[str, ...] = ()
    """Slack workspace (team) ids whose people the policy may allow; empty: the workspace the app is installed in."""

    @field_validator("teams")
    @classmethod
    def _teams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _ids(value, _TEAM_ID, "workspace id (T…, or E… for an Enterprise Grid organization)", wildcard=False)

    @field_validator("restrict", mode="before")
    @classmethod
    def _by_command(cls, value: Any) -> Any:
        """The old shape (variables at the top, for the first command) must not be read as commands: say how to
        rewrite it instead."""
        if isinstance(value, dict):
            variables = [key for key in value if not str(key).startswith("/")]
            if variables:
                raise ValueError(old_shape(value, variables))
        return value

    @field_validator("restrict")
    @classmethod
    def _restrict(cls, value: dict[str, Choices]) -> dict[str, Choices]:
        for command, variables in value.items():
            if not variables:
                raise ValueError(f"{command} restricts nothing: name its Job variables, each with choice values")
            for name, choices in variables.items():
                if not choices:
                    raise ValueError(
                        f"{command} {name} restricts no choice: list choice values, each with who may pick it"
                    )
        return value

    def for_command(self, command: str, *, main: bool) -> CommandPolicy:
        """The policy as ``command`` sees it: the rules that cover it, and its own ``restrict``."""
        return CommandPolicy(
            command=command,
            allow=tuple(rule for rule in self.allow if rule.covers(command, main=main)),
            restrict=self.restrict.get(command, {}),
            teams=self.teams,
        )

    def commands_named(self) -> list[tuple[str, str]]:
        """Where the policy names a slash command, and which (``*`` left out): each must be one ``COMMANDS`` binds."""
        rules = [
            (f"allow[{index}].commands", slash) for index, rule in enumerate(self.allow) for slash in rule.commands
        ]
        return [(where, slash) for where, slash in rules if slash != WILDCARD] + [
            ("restrict", s) for s in self.restrict
        ]

    def groups(self) -> frozenset[str]:
        """Every user group the policy names, for any command."""
        restricted = [audience for choices in self.restrict.values() for audience in _audiences(choices)]
        return frozenset(group for audience in [*self.allow, *restricted] for group in audience.groups)


def old_shape(restrict: dict[Any, Any], variables: list[Any]) -> str:
    """Why a ``restrict`` keyed by variables is refused, and the same restrictions keyed by command."""
    named = ", ".join(str(name) for name in variables)
    if len(variables) == len(restrict):
        rewrite = json.dumps({"/meraki-add-user": restrict}, default=str)
        return (
            f"is in the old shape: its keys ({named}) are Job variables, but restrict is now keyed by slash command, "
            "each with its own variables. It used to apply to the first command of COMMANDS only; to keep that, "
            f"put it under that command's name, e.g. restrict: {rewrite} (the first command is /meraki-add-user "
            "unless COMMANDS says otherwise)"
        )
    return (
        f"names {named}, which is not a slash command: restrict is keyed by slash command (like /meraki-remove-user), "
        "with the Job variables under each"
    )


class CommandPolicy(BaseModel):
    """The part of the policy about one command: its ``allow`` rules, its ``restrict`` and the ``teams``."""

    model_config = ConfigDict(frozen=True)

    command: str
    allow: tuple[Rule, ...] = ()
    restrict: Choices = Field(default_factory=dict)
    teams: tuple[str, ...] = ()

    def groups(self) -> frozenset[str]:
        """Every user group this command's part names: what a decision may need to look up."""
        return frozenset(group for audience in [*self.allow, *self.restricted()] for group in audience.groups)

    def restricted(self) -> list[Audience]:
        """Who may pick each restricted choice."""
        return _audiences(self.restrict)


def _audiences(restrict: Choices) -> list[Audience]:
    return [audience for choices in restrict.values() for audience in choices.values()]


def policy_problems(policy: CommandPolicy | None, form: JobForm) -> list[str]:
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
