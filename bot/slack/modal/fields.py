"""The modal's fields: which widget each Job variable gets, which fit in a view, and Slack's limits.

Every field's ``block_id`` is the variable name and its ``action_id`` is :data:`ACTION_ID`, so
submitted values and Nautobot's field errors map straight back to variables.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.models import JobForm, JobVariable
from bot.slack.text import clean

ACTION_ID = "value"
MAX_BLOCKS = 100
MAX_FIELDS = MAX_BLOCKS - 3
MAX_VIEW_BYTES = 250_000
TITLE_MAX = 24
LABEL_MAX = 2000
BLOCK_ID_MAX = 255
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
TEXT_INPUT_MAX = 3000
ERROR_MAX = 2000
GENERAL_ERRORS_MAX = 20
UNUSED_TOKENS_MAX = 50

CHECKED = "true"
"""The value of a checkbox's one option."""
SURROGATE = re.compile(r"[\ud800-\udfff]")
# Control, format (bidi overrides, zero-width), line-separator and surrogate characters: invisible or
# misleading in a one-line value, and some (NUL, surrogates) cannot even be stored or encoded.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_JOINERS = frozenset("\u200c\u200d")  # emoji sequences and several scripts need them
INTEGER = re.compile(r"^[+-]?\d{1,30}$")
TRUE_WORDS = frozenset({"true", "yes", "y", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "off", "0"})


class Kind(StrEnum):
    """How a variable is shown in Slack."""

    TEXT = "text"
    EMAIL = "email"
    MULTILINE = "multiline"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    MULTICHOICE = "multichoice"
    OBJECT = "object"
    MULTIOBJECT = "multiobject"
    IP = "ip"
    JSON = "json"
    NO_CHOICES = "no_choices"
    UNSUPPORTED = "unsupported"


NOTE_KINDS = frozenset({Kind.NO_CHOICES, Kind.UNSUPPORTED})
_FIXED_KINDS = {
    "TextVar": Kind.MULTILINE,
    "IntegerVar": Kind.INTEGER,
    "BooleanVar": Kind.BOOLEAN,
    "DryRunVar": Kind.BOOLEAN,
    "ObjectVar": Kind.OBJECT,
    "MultiObjectVar": Kind.MULTIOBJECT,
    "IPAddressVar": Kind.IP,
    "IPAddressWithMaskVar": Kind.IP,
    "IPNetworkVar": Kind.IP,
    "JSONVar": Kind.JSON,
}
IP_PLACEHOLDERS = {
    "IPAddressVar": "192.0.2.10",
    "IPAddressWithMaskVar": "192.0.2.10/24",
    "IPNetworkVar": "192.0.2.0/24",
}


def kind_of(var: JobVariable) -> Kind:
    """The widget a variable gets; a select with nothing Slack can offer becomes a note."""
    if var.type == "StringVar":
        return Kind.EMAIL if var.is_email else Kind.TEXT
    if var.type in ("ChoiceVar", "MultiChoiceVar"):
        if not usable_choices(var)[0]:
            return Kind.NO_CHOICES
        return Kind.CHOICE if var.type == "ChoiceVar" else Kind.MULTICHOICE
    return _FIXED_KINDS.get(var.type, Kind.UNSUPPORTED)


def usable_value(value: str) -> bool:
    return 0 < len(value) <= OPTION_VALUE_MAX and value.strip() != "" and clean(value) == value


def usable_choices(var: JobVariable) -> tuple[list[tuple[str, str]], int]:
    """Choices Slack can offer (value ≤ 150 characters, printable), and how many could not be offered."""
    seen: set[str] = set()
    usable: list[tuple[str, str]] = []
    dropped = 0
    for value, label in var.choices:
        if value in seen or value == "":
            continue
        seen.add(value)
        if usable_value(value):
            usable.append((value, label))
        else:
            dropped += 1
    return usable, dropped


@dataclass(frozen=True)
class Slot:
    """A variable's place in the modal; ``block_id`` is None when its name can't serve as one."""

    var: JobVariable
    kind: Kind
    block_id: str | None


def _usable_block_id(name: str) -> bool:
    return 0 < len(name) <= BLOCK_ID_MAX and clean(name) == name and name.strip() == name


def layout(form: JobForm, hidden: Iterable[str]) -> tuple[list[Slot], list[JobVariable]]:
    """Fields in the Job's order within the block budget, and the variables left over."""
    hidden = frozenset(hidden)
    seen: set[str] = set()
    fields = []
    for var in form.variables:
        if var.name in hidden:
            continue
        usable = _usable_block_id(var.name) and var.name not in seen
        seen.add(var.name)
        fields.append(Slot(var, kind_of(var) if usable else Kind.UNSUPPORTED, var.name if usable else None))
    return fields[:MAX_FIELDS], [slot.var for slot in fields[MAX_FIELDS:]]


def input_variables(form: JobForm, hidden: Iterable[str]) -> list[JobVariable]:
    return [slot.var for slot in layout(form, hidden)[0] if slot.kind not in NOTE_KINDS]


def blocking_problems(form: JobForm, hidden: Iterable[str] = frozenset()) -> list[str]:
    """Required variables Slack cannot fill: while any exist, only Nautobot can run the Job."""
    hidden = frozenset(hidden)
    shown = {var.name for var in input_variables(form, hidden)}
    return [
        f"{var.display_label} ({var.type}) can't be set from Slack."
        for var in form.variables
        if var.required and var.name not in hidden and var.name not in shown
    ]


MISSING: Any = object()
"""A value that was not given (``None`` may be a real default)."""


def length_bounds(var: JobVariable) -> tuple[int | None, int]:
    high = min(var.max_length, TEXT_INPUT_MAX) if var.max_length and var.max_length > 0 else TEXT_INPUT_MAX
    low = var.min_length if var.min_length and 0 < var.min_length <= high else None
    return low, high


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and INTEGER.match(value.strip()):
        return int(value.strip())
    return None


def looks_like_email(text: str) -> bool:
    """One ``@`` with text before it, no whitespace, and a dot inside the part after it; linear time."""
    local, at, domain = text.partition("@")
    if not local or not at or "@" in domain or any(char.isspace() for char in text):
        return False
    return "." in domain[1:-1]


def describe(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``; a visible character is shown too, an invisible one never."""
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    if unicodedata.category(char) in HIDDEN_CATEGORIES or char.isspace():
        return f"{code} {name}".rstrip()
    return f"'{char}', {code} {name}".rstrip()
