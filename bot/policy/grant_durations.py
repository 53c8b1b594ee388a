"""For how long a grant may last, per command: the policy's ``durations``.

A command whose Job takes a duration (a choice variable, ``duration`` unless named otherwise, whose values are
spans like ``"4h"`` and ``""`` for "until removed") may have, per choice of another variable (the organization
access level), the longest span a person may ask for and the span the form pre-picks:

    durations:
      /meraki-add-user:
        per: meraki_access_level
        limits:
          full: {longest: 8h, default: 2h}
          enterprise: {longest: 8h, default: 2h}
          read-only: {longest: until removed, default: until removed}

"until removed" is allowed only where it is the longest; a level without a limit is limited by nothing but the
Job's own choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from bot.models import JobForm
from bot.policy.durations import describe_duration, parse_duration

UNTIL_REMOVED = "until removed"
CHOICE_TYPES = frozenset({"ChoiceVar"})


def parse_length(value: object) -> timedelta | None:
    """A span (``"8h"``), or None for "until removed" (written so, or as the Job's empty choice value)."""
    if value is None or (isinstance(value, str) and value.strip().casefold() in (UNTIL_REMOVED, "")):
        return None
    return parse_duration(value)


def describe_length(length: timedelta | None) -> str:
    return UNTIL_REMOVED if length is None else describe_duration(length)


Length = Annotated[timedelta | None, BeforeValidator(parse_length)]
"""A grant's length as a policy writes it: a span, or ``until removed`` (None)."""


class DurationLimit(BaseModel):
    """The longest a person may ask for, and what the form pre-picks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    longest: Length
    default: Length

    @model_validator(mode="after")
    def _default_within(self) -> DurationLimit:
        if self.longest is not None and (self.default is None or self.default > self.longest):
            raise ValueError(
                f"default ({describe_length(self.default)}) is longer than longest ({describe_length(self.longest)}): "
                "lower the default, or raise longest"
            )
        return self

    def allows(self, length: timedelta | None) -> bool:
        if self.longest is None:
            return True
        return length is not None and length <= self.longest


class DurationRule(BaseModel):
    """One command's limits: the Job's duration variable, and per choice of ``per`` its :class:`DurationLimit`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variable: str = "duration"
    per: str
    limits: dict[str, DurationLimit] = Field(min_length=1)

    def limit_for(self, values: Mapping[str, Any], form: JobForm) -> DurationLimit | None:
        level = values.get(self.per)
        if level is None:
            var = form.variable(self.per)
            level = var.default if var is not None else None
        return self.limits.get(str(level)) if level is not None else None

    def refusal(self, values: Mapping[str, Any], form: JobForm) -> dict[str, str]:
        """The field error for a duration longer than the picked level allows; empty when it fits."""
        limit = self.limit_for(values, form)
        if limit is None or form.variable(self.variable) is None:
            return {}
        try:
            asked = parse_length(values.get(self.variable) or "")
        except ValueError:
            return {self.variable: "This is not a duration the bot can read: pick one of the choices."}
        if limit.allows(asked):
            return {}
        level = _label(form, self.per, str(values.get(self.per)))
        return {
            self.variable: f"{level} is granted for at most {describe_length(limit.longest)}: pick a shorter time "
            f"(asked: {describe_length(asked)})."
        }

    def default_choice(self, values: Mapping[str, Any], form: JobForm) -> str | None:
        """The duration choice the form pre-picks for the level in ``values`` (or the Job's default level)."""
        limit = self.limit_for(values, form)
        var = form.variable(self.variable)
        if limit is None or var is None:
            return None
        return next((value for value, _ in var.choices if _same(value, limit.default)), None)

    def problems(self, form: JobForm, where: str) -> list[str]:
        """What in this rule the Job's form does not have: each would leave a limit unenforced."""
        duration, per = form.variable(self.variable), form.variable(self.per)
        problems = [
            f"{where} names {name}, which the Job has no choice variable of"
            for name, var in ((self.variable, duration), (self.per, per))
            if var is None or var.type not in CHOICE_TYPES
        ]
        if problems or duration is None or per is None:
            return problems
        levels = [value for value, _ in per.choices]
        problems += [
            f"{where} limits {level}, which is not a choice of {self.per}"
            for level in self.limits
            if level not in levels
        ]
        for level, limit in self.limits.items():
            if not any(_same(value, limit.default) for value, _ in duration.choices):
                problems.append(
                    f"{where} pre-picks {describe_length(limit.default)} for {level}, which is not a choice of "
                    f"{self.variable}"
                )
        return problems


def _same(choice: str, length: timedelta | None) -> bool:
    try:
        return parse_length(choice) == length
    except ValueError:
        return False


def _label(form: JobForm, name: str, value: str) -> str:
    """A choice as the form shows it, with its field: ``Full (Organization Access)``."""
    var = form.variable(name)
    if var is None:
        return value
    return f"{var.choice_label(value) or value} ({var.display_label})"
