"""The checks Slack can answer inline, before anything is sent to Nautobot."""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bot.models import JobForm, JobVariable
from bot.slack.modal import patterns
from bot.slack.modal.fields import (
    ERROR_MAX,
    HIDDEN_CATEGORIES,
    IP_PLACEHOLDERS,
    MISSING,
    Kind,
    blocking_problems,
    describe,
    input_variables,
    kind_of,
    looks_like_email,
    usable_choices,
)
from bot.slack.modal.read import Unreadable
from bot.slack.text import truncate

_JOINERS = frozenset("\u200c\u200d")  # emoji sequences and several scripts need them


_MISSING_MESSAGES = {
    Kind.BOOLEAN: "Tick this box to continue.",
    Kind.CHOICE: "Pick an option.",
    Kind.MULTICHOICE: "Pick at least one option.",
    Kind.OBJECT: "Pick an option.",
    Kind.MULTIOBJECT: "Pick at least one option.",
}


def _is_empty(value: Any) -> bool:
    return value is MISSING or value is None or value == "" or value == [] or value is False


def _check_length(var: JobVariable, text: str) -> str | None:
    if var.min_length is not None and len(text) < var.min_length:
        return f"Use at least {var.min_length} characters (this has {len(text)})."
    if var.max_length is not None and len(text) > var.max_length:
        return f"Use at most {var.max_length} characters (this has {len(text)})."
    return None


def _check_pattern(pattern: str, text: str) -> str | None:
    """Like Django's ``RegexValidator`` (``re.search``), run by RE2; a pattern it cannot run refuses."""
    verdict = patterns.check(pattern, text)
    if verdict is patterns.Verdict.MATCH:
        return None
    if verdict is patterns.Verdict.NO_MATCH:
        return f"This doesn't match the required pattern {pattern}"
    return (
        f"The check against the required pattern {pattern} could not be completed, so this can't be accepted. "
        "Tell the Nautobot administrator that the pattern must be a regex RE2 supports "
        "(no lookarounds or backreferences)."
    )


def _hidden_character(text: str, *, multiline: bool) -> str | None:
    allowed = _JOINERS | ({"\n", "\t"} if multiline else set())
    return next((c for c in text if c not in allowed and unicodedata.category(c) in HIDDEN_CATEGORIES), None)


def _check_characters(var: JobVariable, text: str, *, multiline: bool) -> str | None:
    hidden = _hidden_character(text, multiline=multiline)
    if hidden:
        return f"Delete the control or invisible character {describe(hidden)}: it can't be part of this field."
    if var.is_email:
        foreign = next((c for c in text if not c.isascii()), None)
        if foreign:
            return (
                f"Use only plain ASCII in an email address: {describe(foreign)} only looks like one. "
                "Write an international domain in its xn-- form."
            )
    return None


def _check_text(var: JobVariable, value: Any, extra_patterns: Sequence[str], *, multiline: bool) -> str | None:
    if not isinstance(value, str):
        return "Enter text."
    problem = _check_length(var, value) or _check_characters(var, value, multiline=multiline)
    if problem:
        return problem
    if var.is_email and not looks_like_email(value):
        return "Enter an email address, like name@example.com."
    for pattern in (var.regex, *extra_patterns):
        problem = _check_pattern(pattern, value) if pattern else None
        if problem:
            return problem
    return None


def _check_integer(var: JobVariable, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "Enter a whole number."
    low, high = var.min_value, var.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            return f"Enter a number from {low} to {high}."
        return f"Enter a number of at least {low}." if low is not None else f"Enter a number of at most {high}."
    return None


def _check_choice(var: JobVariable, value: Any) -> str | None:
    allowed = {key for key, _ in usable_choices(var)[0]}
    picked = value if isinstance(value, list) else [value]
    if any(not isinstance(item, str) or item not in allowed for item in picked):
        return "Pick one of the listed options."
    return None


def _check_ip(var: JobVariable, value: Any) -> str | None:
    parsers: dict[str, Callable[[str], object]] = {
        "IPAddressVar": ipaddress.ip_address,
        "IPAddressWithMaskVar": ipaddress.ip_interface,
        "IPNetworkVar": ipaddress.ip_network,
    }
    if not isinstance(value, str):
        return f"Enter an address like {IP_PLACEHOLDERS[var.type]}."
    try:
        parsers[var.type](value)
    except ValueError:
        return f"Enter an address like {IP_PLACEHOLDERS[var.type]}."
    if var.type == "IPAddressWithMaskVar" and "/" not in value:
        return f"Include the prefix length, like {IP_PLACEHOLDERS[var.type]}."
    return None


def _check(var: JobVariable, kind: Kind, value: Any, email_regex: str | None) -> str | None:
    if isinstance(value, Unreadable):
        return value.problem
    if _is_empty(value):
        return _MISSING_MESSAGES.get(kind, "Fill this in.") if var.required else None
    if kind in (Kind.TEXT, Kind.EMAIL, Kind.MULTILINE):
        patterns = [email_regex] if email_regex and kind is Kind.EMAIL else []
        return _check_text(var, value, patterns, multiline=kind is Kind.MULTILINE)
    if kind is Kind.INTEGER:
        return _check_integer(var, value)
    if kind in (Kind.CHOICE, Kind.MULTICHOICE):
        return _check_choice(var, value)
    if kind is Kind.IP:
        return _check_ip(var, value)
    return None


def validate(
    values: Mapping[str, Any],
    form: JobForm,
    *,
    email_regex: str | None = None,
    hidden: Iterable[str] = frozenset(),
) -> dict[str, str]:
    """Checks Slack can answer inline, as ``{block_id: message}`` for ``response_action="errors"``.

    ``email_regex`` (a setting) applies to email fields on top of any regex a label announces.
    """
    hidden = frozenset(hidden)
    inputs = input_variables(form, hidden)
    errors: dict[str, str] = {}
    for var in inputs:
        problem = _check(var, kind_of(var), values.get(var.name, MISSING), email_regex)
        if problem:
            errors[var.name] = truncate(problem, ERROR_MAX)
    blockers = blocking_problems(form, hidden)
    if blockers and inputs and inputs[0].name not in errors:
        message = " ".join(blockers) + " Run the Job in Nautobot instead."
        errors[inputs[0].name] = truncate(message, ERROR_MAX)
    return errors
