"""The access policy as configured (``ACCESS_POLICY``/``ACCESS_POLICY_FILE``): who, where, and which choices."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.models import JobForm
from bot.policy.approvals import ApprovalRule
from bot.policy.audience import CHANNEL_ID, TEAM_ID, WILDCARD, Audience, slack_ids, slash_commands
from bot.policy.grant_durations import DurationRule

__all__ = [
    "CHOICE_TYPES",
    "WILDCARD",
    "AccessPolicy",
    "Audience",
    "Choices",
    "CommandPolicy",
    "Rule",
    "old_shape",
    "policy_problems",
]

CHOICE_TYPES = frozenset({"ChoiceVar", "MultiChoiceVar"})
"""Job variable types whose values are choices, and so can be restricted."""


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
        return slash_commands(value)

    def covers(self, command: str, *, main: bool) -> bool:
        if not self.commands:
            return main
        return WILDCARD in self.commands or command in self.commands

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return slack_ids(value, CHANNEL_ID, "channel id (C…, G… or D…)", wildcard=True)

    def in_channel(self, channel_id: str) -> bool:
        return WILDCARD in self.channels or channel_id in self.channels


Choices = dict[str, dict[str, Audience]]
"""A command's restrictions: Job variable → choice value → who may pick it."""


class AccessPolicy(BaseModel):
    """``allow``: a request is allowed when one rule matches it. ``restrict``: per slash command, variable → choice →
    who may pick it (keyed by command, never by position: reordering ``COMMANDS`` moves nothing). ``approvals``:
    which requests wait for whose approval, the first rule that applies deciding."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: tuple[Rule, ...] = ()
    restrict: dict[str, Choices] = Field(default_factory=dict)
    approvals: tuple[ApprovalRule, ...] = ()
    durations: dict[str, DurationRule] = Field(default_factory=dict)
    """Per slash command, how long a grant may last (see :mod:`bot.policy.grant_durations`)."""
    teams: tuple[str, ...] = ()
    """Slack workspace (team) ids whose people the policy may allow; empty: the workspace the app is installed in."""

    @field_validator("durations")
    @classmethod
    def _durations(cls, value: dict[str, DurationRule]) -> dict[str, DurationRule]:
        if WILDCARD in value:
            raise ValueError("durations are per slash command: name each command (like /meraki-add-user), not *")
        slash_commands(value)
        return value

    @field_validator("teams")
    @classmethod
    def _teams(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return slack_ids(value, TEAM_ID, "workspace id (T…, or E… for an Enterprise Grid organization)", wildcard=False)

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
        """The policy as ``command`` sees it: the rules and approval rules that cover it, and its own ``restrict``."""
        approvals = [(index, rule) for index, rule in enumerate(self.approvals) if rule.covers(command)]
        return CommandPolicy(
            command=command,
            allow=tuple(rule for rule in self.allow if rule.covers(command, main=main)),
            restrict=self.restrict.get(command, {}),
            approvals=tuple(rule for _, rule in approvals),
            approval_indexes=tuple(index for index, _ in approvals),
            durations=self.durations.get(command),
            teams=self.teams,
        )

    def commands_named(self) -> list[tuple[str, str]]:
        """Where the policy names a slash command, and which (``*`` left out): each must be one ``COMMANDS`` binds."""
        rules = [
            (f"allow[{index}].commands", slash) for index, rule in enumerate(self.allow) for slash in rule.commands
        ]
        approvals = [
            (f"approvals[{index}].commands", slash)
            for index, approval in enumerate(self.approvals)
            for slash in approval.commands
        ]
        return [
            *((where, slash) for where, slash in rules if slash != WILDCARD),
            *(("restrict", slash) for slash in self.restrict),
            *((where, slash) for where, slash in approvals if slash != WILDCARD),
            *(("durations", slash) for slash in self.durations),
        ]

    def groups(self) -> frozenset[str]:
        """Every user group the policy names, for any command."""
        restricted = [audience for choices in self.restrict.values() for audience in _audiences(choices)]
        return frozenset(group for audience in [*self.allow, *restricted] for group in audience.groups)

    def approval_groups(self) -> frozenset[str]:
        """Every user group that may approve (``approvers`` and ``escalate_to``): what the approvals look up."""
        return frozenset(group for rule in self.approvals for group in rule.deciders(escalated=True).groups)

    def approval_nautobot_groups(self) -> frozenset[str]:
        """Every Nautobot group whose linked members may approve (``approvers`` and ``escalate_to``)."""
        return frozenset(name for rule in self.approvals for name in rule.deciders(escalated=True).nautobot_groups)

    def approval_for(self, command: str, values: Mapping[str, Any], *, dryrun: bool) -> ApprovalRule | None:
        """The first rule, in the policy's order, under which this request of ``command`` waits for approval; None
        when it needs none."""
        return _first_needing((rule for rule in self.approvals if rule.covers(command)), values, dryrun=dryrun)


def _first_needing(rules: Iterable[ApprovalRule], values: Mapping[str, Any], *, dryrun: bool) -> ApprovalRule | None:
    return next((rule for rule in rules if rule.needs(values, dryrun=dryrun)), None)


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
    """The part of the policy about one command: its ``allow`` rules, its ``restrict``, the approval rules that
    cover it and the ``teams``."""

    model_config = ConfigDict(frozen=True)

    command: str
    allow: tuple[Rule, ...] = ()
    restrict: Choices = Field(default_factory=dict)
    approvals: tuple[ApprovalRule, ...] = ()
    approval_indexes: tuple[int, ...] = ()
    """Where each of ``approvals`` is in the whole policy's ``approvals``, for messages; empty: in this order."""
    durations: DurationRule | None = None
    """How long a grant of this command may last; None: as long as the Job allows."""
    teams: tuple[str, ...] = ()

    def approval_for(self, values: Mapping[str, Any], *, dryrun: bool) -> ApprovalRule | None:
        """The first approval rule under which this request waits for approval; None when it needs none."""
        return _first_needing(self.approvals, values, dryrun=dryrun)

    def numbered_approvals(self) -> list[tuple[int, ApprovalRule]]:
        """The approval rules with their places in the whole policy (``approvals[i]`` in messages)."""
        places = self.approval_indexes if len(self.approval_indexes) == len(self.approvals) else None
        return list(zip(places or range(len(self.approvals)), self.approvals, strict=True))

    def groups(self) -> frozenset[str]:
        """Every user group this command's part names: what a decision may need to look up."""
        return frozenset(group for audience in [*self.allow, *self.restricted()] for group in audience.groups)

    def restricted(self) -> list[Audience]:
        """Who may pick each restricted choice."""
        return _audiences(self.restrict)


def _audiences(restrict: Choices) -> list[Audience]:
    return [audience for choices in restrict.values() for audience in choices.values()]


def policy_problems(policy: CommandPolicy | None, form: JobForm) -> list[str]:
    """What in ``restrict`` and the approval rules names no real choice of the Job's form: each such entry would
    keep nothing back, or ask nobody's approval.

    Values are compared as Nautobot sends them (choice values are strings); an empty list means the policy fits.
    """
    if policy is None:
        return []
    problems = [
        problem
        for name, choices in policy.restrict.items()
        for problem in _choice_problems("restrict", name, list(choices), form)
    ]
    for index, rule in policy.numbered_approvals():
        problems += _approval_problems(f"approvals[{index}]", rule, form)
    if policy.durations is not None:
        problems += policy.durations.problems(form, f"durations for {policy.command}")
    return problems


def _approval_problems(where: str, rule: ApprovalRule, form: JobForm) -> list[str]:
    when = f"{where}.when"
    problems = [problem for name, values in rule.when.items() for problem in _choice_problems(when, name, values, form)]
    if rule.dry_runs and form.dry_run_variable is None:
        problems.append(
            f"{where} has dry_runs: true, but the Job {form.job_name!r} has no dry run variable: remove dry_runs"
        )
    return problems


def _choice_problems(where: str, name: str, values: Iterable[str], form: JobForm) -> list[str]:
    """Why ``values`` of the variable ``name`` are not choices of the form, as ``where`` (in the policy) names them."""
    var = form.variable(name)
    if var is None:
        close = difflib.get_close_matches(name, [each.name for each in form.variables], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return [f"{where} names {name}, which the Job has no variable of{hint}"]
    if var.type not in CHOICE_TYPES:
        return [f"{where} names {name}, which is a {var.type}, not a choice"]
    offered = [value for value, _ in var.choices]
    listed = ", ".join(offered) if offered else "none at the moment"
    return [
        f"{where} names {value} for {name}, whose choices are {listed}{_hint(value, var.choices)}"
        for value in values
        if value not in offered
    ]


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
