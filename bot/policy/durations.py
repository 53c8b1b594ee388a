"""Spans of time as a policy writes them: ``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``, ``"1h30m"``, or seconds."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

MAX_TEXT = 32
"""Longer text is refused before any matching: no input can make the pattern work long."""
_TEXT = re.compile(r"(?:(?P<d>\d{1,6}) ?d ?)?(?:(?P<h>\d{1,7}) ?h ?)?(?:(?P<m>\d{1,9}) ?m ?)?(?:(?P<s>\d{1,11}) ?s)?")
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
ACCEPTED = (
    'write a number of seconds (e.g. 90), or a number with a unit, s, m, h or d, largest first (e.g. "90s", "30m", '
    '"2h", "1d", "1h30m")'
)


def parse_duration(value: object) -> timedelta:
    """A positive span of time from seconds (int or float), a ``timedelta``, or text like ``"1h30m"``.

    Raises ValueError, saying what is accepted, for anything else and for a span that is not positive.
    """
    if isinstance(value, timedelta):
        span = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        span = _from_seconds(value)
    elif isinstance(value, str):
        span = _from_text(value)
    else:
        raise ValueError(f"{value!r} is not a duration: {ACCEPTED}")
    if span <= timedelta(0):
        raise ValueError(f"{value!r} is not a positive duration: {ACCEPTED}")
    return span


def _from_seconds(seconds: float) -> timedelta:
    if not math.isfinite(seconds):
        raise ValueError(f"{seconds!r} is not a duration: {ACCEPTED}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{seconds!r} seconds is too long a duration: {ACCEPTED}") from None


def _from_text(text: str) -> timedelta:
    stripped = text.strip()
    match = _TEXT.fullmatch(stripped) if len(stripped) <= MAX_TEXT else None
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"{text[:MAX_TEXT]!r} is not a duration: {ACCEPTED}")
    seconds = sum(int(amount) * _SECONDS[unit] for unit, amount in match.groupdict().items() if amount)
    return _from_seconds(seconds)


def describe_duration(span: timedelta) -> str:
    """For people: ``"30 min"``, ``"2 h"``, ``"1 h 30 min"``, ``"1 day"``, ``"2 days 4 h"`` (whole seconds)."""
    seconds = round(span.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{days} day" + ("s" if days != 1 else "")] if days else []
    parts += [f"{amount} {unit}" for amount, unit in ((hours, "h"), (minutes, "min"), (seconds, "s")) if amount]
    return " ".join(parts) or "0 s"


def compact_duration(span: timedelta) -> str | float:
    """As a policy would write it (``"1h30m"``), so what is written out reads back the same; seconds with a
    fraction stay a number."""
    total = span.total_seconds()
    if total != int(total):
        return total
    rest, parts = int(total), []
    for unit, size in _SECONDS.items():
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(compact_duration, when_used="json")]
"""A pydantic field of :func:`parse_duration`'s spans; JSON holds them as the text a policy writes."""
