"""What ``meraki-chatops run`` is asked to run: a command's Job (from COMMANDS) and its variables, by name.

``run [COMMAND] [--VARIABLE VALUE ...] [--var NAME=VALUE ...] [--dry-run]``: the flags come from the Job's
own form, so the command line knows no particular Job. A flag names a variable by its name (``--user-email``
for ``user_email``), or by the end of its name, or by a part of it, as long as that names only one variable
(``--access-level`` for ``meraki_access_level``, ``--org`` for ``meraki_org_id``). Values are typed like the
command text in Slack: a choice by its value or its label, a yes/no, a whole number; the modal's checks then
apply as in Slack. Anything the command line cannot place is a :class:`UsageError` that lists what exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.command_bindings import CommandBinding
from bot.models import JobForm, JobVariable
from bot.slack.modal import Kind, kind_of
from bot.slack.modal.fields import FALSE_WORDS, TRUE_WORDS, integer

Given = list[tuple[str, str]]
"""(variable's flag as typed, without the dashes; its value), in the order given."""


class UsageError(Exception):
    """The command line names something that does not exist; ``str()`` says what does."""


def split_arguments(arguments: Sequence[str]) -> tuple[str | None, Given]:
    """The command (a first word that is not a flag), then each ``--flag VALUE`` or ``--flag=VALUE``."""
    words = list(arguments)
    command = words.pop(0) if words and not words[0].startswith("-") else None
    given: Given = []
    while words:
        word = words.pop(0)
        if not word.startswith("--") or word == "--":
            raise UsageError(f"Expected a --VARIABLE flag, got {word!r}: give each value after its flag.")
        flag, equals, value = word[2:].partition("=")
        if not equals:
            if not words:
                raise UsageError(f"--{flag} needs a value.")
            value = words.pop(0)
        given.append((flag, value))
    return command, given


def job_of(commands: Mapping[str, CommandBinding], command: str) -> str:
    """The Job a slash command runs (its leading ``/`` may be left out)."""
    slash = command if command.startswith("/") else f"/{command}"
    if slash in commands:
        return commands[slash].job
    known = ", ".join(f"{name} ({binding.job})" for name, binding in commands.items())
    raise UsageError(f"No command {command} in COMMANDS. The commands: {known}.")


def flag(var: JobVariable) -> str:
    return "--" + var.name.replace("_", "-")


def _named(form: JobForm, typed: str) -> JobVariable:
    """The variable a flag names: its name, else the only one whose name ends so, else the only one with it."""
    wanted = typed.replace("-", "_").casefold()
    names = {var.name.casefold(): var for var in form.variables}
    for fits in (
        lambda name: name == wanted,
        lambda name: name.endswith(f"_{wanted}"),
        lambda name: f"_{wanted}_" in f"_{name}_",
    ):
        found = [var for name, var in names.items() if fits(name)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise UsageError(f"--{typed} could be {' or '.join(map(flag, found))}: give the whole name.")
    variables = ", ".join(map(flag, form.variables)) or "none"
    raise UsageError(f"{form.job_name} has no variable --{typed}. Its variables: {variables}.")


def _choice(choices: list[tuple[str, str]], given: str) -> str:
    """A choice by value or by (case-insensitive) label, or a label's start before `` (``; else as given."""
    for value, label in choices:
        if (
            given in (value, label)
            or given.casefold() == label.casefold()
            or label.casefold().startswith(given.casefold() + " (")
        ):
            return value
    return given


def _typed(var: JobVariable, text: str) -> Any:
    """The value as the Job takes it; what does not fit is left for the form's checks to explain."""
    kind = kind_of(var)
    if kind is Kind.BOOLEAN:
        folded = text.casefold()
        if folded not in TRUE_WORDS | FALSE_WORDS:
            raise UsageError(f"{flag(var)} is yes or no (true/false), not {text!r}.")
        return folded in TRUE_WORDS
    if kind is Kind.INTEGER:
        number = integer(text)
        return text if number is None else number
    if kind is Kind.CHOICE:
        return _choice(var.choices, text)
    if kind is Kind.MULTICHOICE:
        return [_choice(var.choices, part.strip()) for part in text.split(",") if part.strip()]
    return text


def _given(form: JobForm, given: Given, assignments: Sequence[str]) -> dict[str, Any]:
    """The values of the flags and of ``--var NAME=VALUE`` (the exact name), typed."""
    values: dict[str, Any] = {}
    for typed, text in given:
        var = _named(form, typed)
        values[var.name] = _typed(var, text)
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        assigned = form.variable(name.strip())
        if not equals or assigned is None:
            variables = ", ".join(var.name for var in form.variables) or "none"
            raise UsageError(f"--var takes NAME=VALUE with a variable of {form.job_name}: {variables}.")
        values[assigned.name] = _typed(assigned, text)
    return values


def _implied(var: JobVariable, values: Mapping[str, Any]) -> Any:
    """A required variable left out: the lone choice of a select; for ``<x>_name``, ``<x>_email`` before the @."""
    if var.type == "ChoiceVar" and len(var.choices) == 1:
        return var.choices[0][0]
    email = values.get(var.name.removesuffix("_name") + "_email") if var.name.endswith("_name") else None
    return email.split("@")[0] if isinstance(email, str) and "@" in email else None


def run_values(form: JobForm, given: Given, assignments: Sequence[str], *, dry_run: bool = False) -> dict[str, Any]:
    """The Job's data: its defaults, then what was given, then what a required variable left out implies."""
    values = _given(form, given, assignments)
    if dry_run:
        if form.dry_run_variable is None:
            raise UsageError(f"{form.job_name} has no dry run.")
        values[form.dry_run_variable] = True
    defaults = {var.name: var.default for var in form.variables if var.default is not None}
    for var in form.variables:
        if var.required and var.name not in values and var.name not in defaults:
            values[var.name] = _implied(var, values)
    return {name: value for name, value in {**defaults, **values}.items() if value is not None}
