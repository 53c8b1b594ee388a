"""Patterns from the Job's labels and from ``EMAIL_REGEX``, evaluated with RE2.

RE2 runs in time linear in the text, so no pattern can stall the event loop. Semantics are
Python's ``re.search`` (a match anywhere unless the pattern anchors it); Python's ``\\Z`` is RE2's
``\\z``. A pattern RE2 cannot compile (lookarounds, backreferences, a syntax error) answers
:attr:`Verdict.CANNOT_CHECK`, which callers treat as a refusal, never as a match.
"""

from __future__ import annotations

import functools
from enum import Enum

import re2

MAX_MEM = 8 << 20
"""Memory RE2 may use for one compiled pattern; a larger one cannot be checked."""


class Verdict(Enum):
    MATCH = "match"
    NO_MATCH = "no match"
    CANNOT_CHECK = "cannot check"


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_MEM
    options.log_errors = False  # a refused pattern is reported by the caller, not on stderr
    return options


def _translate(pattern: str) -> str:
    """Python's end-of-text ``\\Z`` as RE2 spells it; every other escape is passed on unchanged."""
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append("z" if char == "Z" else char)
            escaped = False
        else:
            out.append(char)
            escaped = char == "\\"
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> tuple[re2._Regexp[str] | None, str | None]:
    try:
        return re2.compile(_translate(pattern), _options()), None
    except (re2.error, ValueError, TypeError, UnicodeError) as exc:
        detail = exc.args[0] if exc.args else exc
        reason = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        return None, reason or "it cannot be compiled"


def problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be checked (RE2 does not support it, or it does not compile), else None."""
    return _compiled(pattern)[1]


def check(pattern: str, text: str) -> Verdict:
    """Whether ``pattern`` matches anywhere in ``text``, like ``re.search``; never raises."""
    regexp, _ = _compiled(pattern)
    if regexp is None:
        return Verdict.CANNOT_CHECK
    try:
        return Verdict.MATCH if regexp.search(text) is not None else Verdict.NO_MATCH
    except (re2.error, ValueError, TypeError, UnicodeError):  # e.g. a lone surrogate cannot be encoded
        return Verdict.CANNOT_CHECK
