"""Pre-filling the modal from the words typed after the command."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.models import JobForm, JobVariable
from bot.slack.modal.fields import (
    FALSE_WORDS,
    MISSING,
    TRUE_WORDS,
    UNUSED_TOKENS_MAX,
    Kind,
    input_variables,
    integer,
    kind_of,
    length_bounds,
    looks_like_email,
    usable_choices,
)
from bot.slack.text import clean, truncate

_DRYRUN_FLAGS = frozenset({"dry-run", "dryrun", "dry_run", "--dry-run", "--dryrun", "--dry_run"})
_TOKEN = re.compile(
    r"(?:(?P<key>[A-Za-z_][\w-]{0,99})=)?"
    r"(?:\"(?P<dq>[^\"]*)(?:\"|$)"
    r"|\u201c(?P<cq>[^\u201d]*)(?:\u201d|$)"
    r"|'(?P<sq>[^']*)(?:'|$)"
    r"|\u2018(?P<tq>[^\u2019]*)(?:\u2019|$)"
    r"|(?P<bare>\S+))"
)
_MAILTO = re.compile(r"<mailto:([^|<>]*)(?:\|[^<>]*)?>")
"""A ``<`` ends the attempt: each ``<`` is looked at once, however many unclosed links the text holds."""
COMMAND_TEXT_MAX = 4_000
"""Characters of a command's text read for pre-filling: far more than any command needs."""


@dataclass(frozen=True)
class Prefill:
    """Values parsed from the command text, and the words that matched nothing (to tell the person)."""

    values: dict[str, Any] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)

    def notice(self) -> str | None:
        if not self.unused:
            return None
        return f"Not used from your command: {' '.join(self.unused)}. Fill in the form below instead."


@dataclass(frozen=True)
class _Token:
    raw: str
    text: str
    quoted: bool
    key: str | None


def _slack_unescape(text: str) -> str:
    """Slack's own ``<mailto:…>`` links first: a ``&lt;mailto:…&gt;`` someone typed stays text."""
    text = _MAILTO.sub(lambda match: match.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _tokens(text: str) -> list[_Token]:
    found = []
    for match in _TOKEN.finditer(_slack_unescape(clean(text))):
        quoted = next((match.group(name) for name in ("dq", "cq", "sq", "tq") if match.group(name) is not None), None)
        value = quoted if quoted is not None else match.group("bare")
        found.append(_Token(match.group(0), value.strip(), quoted is not None, match.group("key")))
    return found


class _Choices:
    """A select's choices indexed once, so each word is matched in constant (exact) or logarithmic (prefix) time,
    never by a scan of every choice."""

    def __init__(self, choices: Sequence[tuple[str, str]]):
        self.exact: dict[str, str] = {}
        for value, label in choices:  # the first choice that has the word, in the Job's order
            self.exact.setdefault(value.casefold(), value)
            self.exact.setdefault(label.casefold(), value)
        self.labels = sorted((label.casefold(), value) for value, label in choices)

    def match(self, text: str, *, prefix: bool = False) -> str | None:
        """The choice whose value or label is ``text`` (any case); with ``prefix``, the only label starting so."""
        wanted = text.casefold()
        if not prefix:
            return self.exact.get(wanted)
        if len(wanted) < 3:
            return None
        first = bisect.bisect_left(self.labels, (wanted,))  # the labels starting so follow each other from here
        found = self.labels[first : first + 2]
        starting = [value for label, value in found if label.startswith(wanted)]
        return starting[0] if len(starting) == 1 else None


class _Filler:
    """Assigns tokens to the first free variable that fits, in the Job's order."""

    def __init__(self, form: JobForm, hidden: frozenset[str]):
        self.variables = input_variables(form, hidden)
        self.kinds = {var.name: kind_of(var) for var in self.variables}
        self.choices = {var.name: _Choices(usable_choices(var)[0]) for var in self.variables if var.type == "ChoiceVar"}
        self.values: dict[str, Any] = {}

    def free(self, accepts: Callable[[JobVariable], bool]) -> JobVariable | None:
        return next((var for var in self.variables if var.name not in self.values and accepts(var)), None)

    def free_of_kind(self, kind: Kind) -> JobVariable | None:
        return self.free(lambda var: self.kinds[var.name] is kind)

    def by_key(self, key: str) -> JobVariable | None:
        wanted = key.replace("-", "_").casefold()
        return next((var for var in self.variables if var.name.casefold() == wanted), None)

    def coerce(self, var: JobVariable, text: str) -> Any:
        """A typed value for ``name=value``, or ``MISSING`` when it does not fit the variable."""
        kind = self.kinds[var.name]
        if kind is Kind.BOOLEAN:
            folded = text.casefold()
            return True if folded in TRUE_WORDS else False if folded in FALSE_WORDS else MISSING
        if kind is Kind.INTEGER:
            number = integer(text)
            return MISSING if number is None else number
        if kind is Kind.CHOICE:
            return self.choices[var.name].match(text) or MISSING
        if kind is Kind.EMAIL and not looks_like_email(text):
            return MISSING
        if kind in (Kind.TEXT, Kind.EMAIL, Kind.MULTILINE, Kind.IP, Kind.JSON):
            return text if text and len(text) <= length_bounds(var)[1] else MISSING
        return MISSING

    def place(self, token: _Token) -> bool:
        if token.key:
            var = self.by_key(token.key)
            return self._set(var, self.coerce(var, token.text) if var else MISSING)
        if not token.quoted and token.text.casefold() in _DRYRUN_FLAGS:
            return self._set(self.free(lambda var: var.type == "DryRunVar"), True)
        email = token.text.rstrip(",;")
        email_field = None
        if looks_like_email(email):  # an email field, else a text field that takes an email among other things
            email_field = self.free_of_kind(Kind.EMAIL) or self.free(
                lambda var: self.kinds[var.name] is Kind.TEXT and var.mentions_email
            )
        if email_field and self._set(email_field, self.coerce(email_field, email)):
            return True
        if token.text and self._place_choice(token.text):
            return True
        if token.quoted and token.text:
            var = self.free_of_kind(Kind.TEXT)
            return self._set(var, self.coerce(var, token.text) if var else MISSING)
        return False

    def _place_choice(self, text: str) -> bool:
        for prefix in (False, True):
            for name, choices in self.choices.items():
                if name not in self.values and self.kinds[name] is Kind.CHOICE:
                    value = choices.match(text, prefix=prefix)
                    if value is not None:
                        self.values[name] = value
                        return True
        return False

    def _set(self, var: JobVariable | None, value: Any) -> bool:
        if var is None or value is MISSING:
            return False
        self.values[var.name] = value
        return True


CONNECTORS = frozenset({"for"})
"""Words that only lead the next one in (``full for 4h``): skipped, as the next word says what is meant."""


def _connects(token: _Token) -> bool:
    return not token.quoted and token.key is None and token.text.casefold() in CONNECTORS


def parse_command_text(text: str, form: JobForm, hidden: Iterable[str] = frozenset()) -> Prefill:
    """Pre-fill values from ``/meraki-add-user bob@example.com full for 4h "Bob Smith" dry-run``.

    Emails go to the first email field (else to a text field that mentions email, e.g. "Email or Name"),
    words matching a choice's value or label to the first free
    select that offers them, quoted text to the next free text field, ``name=value`` to that field.
    """
    text = text or ""
    try:
        filler = _Filler(form, frozenset(hidden))
        tokens = _tokens(text[:COMMAND_TEXT_MAX])
        unused = [
            truncate(token.raw, 100)
            for index, token in enumerate(tokens)
            if not (_connects(token) and index + 1 < len(tokens)) and not filler.place(token)
        ]
    except (ValueError, TypeError, RecursionError):
        return Prefill(unused=[truncate(clean(str(text)), 100)] if text else [])
    if len(text) > COMMAND_TEXT_MAX:  # never run from a text only partly read: the form opens, saying so
        unused.append(f"(the {len(text) - COMMAND_TEXT_MAX} characters past the first {COMMAND_TEXT_MAX:,})")
    if len(unused) > UNUSED_TOKENS_MAX:
        unused = [*unused[: UNUSED_TOKENS_MAX - 1], f"(and {len(unused) - UNUSED_TOKENS_MAX + 1} more)"]
    return Prefill(values=filler.values, unused=unused)
