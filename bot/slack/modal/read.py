"""Reading a submitted modal back into the Job's input data."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.models import JobForm
from bot.slack.modal.fields import (
    ACTION_ID,
    CHECKED,
    MISSING,
    SURROGATE,
    Kind,
    describe,
    input_variables,
    integer,
    kind_of,
)
from bot.slack.text import clean, truncate


@dataclass(frozen=True)
class Unreadable:
    """A submitted value that could not be turned into the variable's type; :func:`validate` reports it."""

    raw: str
    problem: str


def _action_state(state_values: Any, block_id: str) -> Mapping[str, Any]:
    block = state_values.get(block_id) if isinstance(state_values, Mapping) else None
    if not isinstance(block, Mapping):
        return {}
    action = block.get(ACTION_ID)
    if action is None:
        action = next(iter(block.values()), None)
    return action if isinstance(action, Mapping) else {}


def _option_value(option: Any) -> str | None:
    value = option.get("value") if isinstance(option, Mapping) else None
    return value if isinstance(value, str) and value != "" else None


def _read_text(action: Mapping[str, Any]) -> Any:
    value = action.get("value")
    if not isinstance(value, str) or not value.strip():
        return MISSING
    return _broken(value, "delete it and type that part again") or value.strip()


def _broken(value: str, remedy: str) -> Unreadable | None:
    """Slack's JSON can carry half a UTF-16 pair (``\\ud800``); it can be neither stored nor sent on."""
    broken = SURROGATE.search(value)
    if not broken:
        return None
    problem = f"This has a broken character ({describe(broken.group())}); {remedy}."
    return Unreadable(truncate(clean(value), 100), problem)


def _read_integer(action: Mapping[str, Any]) -> Any:
    text = _read_text(action)
    if text is MISSING or isinstance(text, Unreadable):
        return text
    number = integer(text)
    return number if number is not None else Unreadable(truncate(text, 100), "Enter a whole number.")


def _read_json(action: Mapping[str, Any]) -> Any:
    text = _read_text(action)
    if text is MISSING or isinstance(text, Unreadable):
        return text
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Unreadable(truncate(text, 100), f"Enter valid JSON ({truncate(str(exc), 200)}).")


def _read_boolean(action: Mapping[str, Any]) -> Any:
    options = action.get("selected_options")
    values = [_option_value(option) for option in options] if isinstance(options, list) else []
    if any(value != CHECKED for value in values):  # not what the box offers: a hand-made payload
        problem = "Untick this box, tick it again if you want it, and submit again: it sent a value it doesn't offer."
        return Unreadable(truncate(clean(str(values)), 100), problem)
    return bool(values)


def _read_single(action: Mapping[str, Any]) -> Any:
    value = _option_value(action.get("selected_option"))
    return MISSING if value is None else _broken(value, "pick the option again") or value


def _read_multiple(action: Mapping[str, Any]) -> Any:
    options = action.get("selected_options")
    values = [value for value in map(_option_value, options if isinstance(options, list) else []) if value]
    broken = [found for found in (_broken(value, "pick the options again") for value in values) if found]
    return broken[0] if broken else values or MISSING


_READERS: dict[Kind, Callable[[Mapping[str, Any]], Any]] = {
    Kind.TEXT: _read_text,
    Kind.EMAIL: _read_text,
    Kind.MULTILINE: _read_text,
    Kind.IP: _read_text,
    Kind.JSON: _read_json,
    Kind.INTEGER: _read_integer,
    Kind.BOOLEAN: _read_boolean,
    Kind.CHOICE: _read_single,
    Kind.OBJECT: _read_single,
    Kind.MULTICHOICE: _read_multiple,
    Kind.MULTIOBJECT: _read_multiple,
}


def read_submission(
    state_values: Mapping[str, Any], form: JobForm, hidden: Iterable[str] = frozenset()
) -> dict[str, Any]:
    """``view.state.values`` → Job data: text stripped, empty fields left out, checkboxes as bools.

    Values that cannot be typed (``"12a"`` for an integer) come back as :class:`Unreadable`.
    """
    data: dict[str, Any] = {}
    for var in input_variables(form, hidden):
        value = _READERS[kind_of(var)](_action_state(state_values, var.name))
        if value is not MISSING:
            data[var.name] = value
    return data
