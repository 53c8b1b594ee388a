"""The input each variable of a Job gets in the modal, and the options of its selects.

How much each input may say (labels, hints, static options) is a :class:`Budget`: the form is built again
with a tighter one when a Job's view would pass Slack's 250 kB (:func:`~bot.slack.modal.build.build_modal`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    EmailInputElement,
    ExternalDataMultiSelectElement,
    ExternalDataSelectElement,
    InputInteractiveElement,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticMultiSelectElement,
    StaticSelectElement,
)

from bot.models import JobVariable
from bot.slack.modal.fields import (
    ACTION_ID,
    CHECKED,
    IP_PLACEHOLDERS,
    LABEL_MAX,
    MISSING,
    OPTION_TEXT_MAX,
    OPTIONS_MAX,
    TEXT_INPUT_MAX,
    TRUE_WORDS,
    Kind,
    integer,
    length_bounds,
    looks_like_email,
    usable_choices,
    usable_value,
)
from bot.slack.text import clean, truncate


@dataclass(frozen=True)
class Budget:
    """How generous a view may be; tighter budgets keep huge Jobs under Slack's 250 kB."""

    text_max: int
    hints: bool
    static_options_max: int
    description: bool


BUDGETS = (Budget(LABEL_MAX, True, OPTIONS_MAX, True), Budget(150, True, 20, False), Budget(50, False, 0, False))
"""Tried in order: the form is built with the first whose view fits."""


def mrkdwn(text: str) -> MarkdownTextObject:
    """``mrkdwn`` Slack shows as written: it links nothing by itself; the bot escapes what it echoes."""
    return MarkdownTextObject(text=text, verbatim=True)


def plain_text(text: str, limit: int, *, one_line: bool = True) -> PlainTextObject | None:
    """A plain_text object, or None for blank text (Slack rejects empty labels and hints)."""
    text = clean(text)
    text = truncate(" ".join(text.split()) if one_line else text.strip(), limit)
    return PlainTextObject(text=text, emoji=True) if text.strip() else None


def _option(value: str, label: str) -> Option:
    text = truncate(" ".join(clean(label).split()), OPTION_TEXT_MAX) or truncate(value, OPTION_TEXT_MAX)
    return Option(value=value, text=PlainTextObject(text=text, emoji=True))


def object_options(found: Iterable[tuple[str, str]]) -> list[Option]:
    """Options of an ObjectVar's select: Nautobot's objects as (id, display), in Nautobot's order."""
    usable = [(value, label) for value, label in found if usable_value(value)]
    return [_option(value, label) for value, label in usable[:OPTIONS_MAX]]


def choice_options(var: JobVariable, query: str = "", limit: int = OPTIONS_MAX) -> list[Option]:
    """Options of a ChoiceVar shown as an external select, filtered by what the person typed."""
    needle = clean(query).strip().casefold()
    found = [
        _option(value, label)
        for value, label in usable_choices(var)[0]
        if not needle or needle in value.casefold() or needle in label.casefold()
    ]
    return found[: max(min(limit, OPTIONS_MAX), 0)]


def initial_value(var: JobVariable, prefill: Mapping[str, Any]) -> Any:
    value = prefill.get(var.name, MISSING)
    return var.default if value is MISSING else value


def _text_initial(value: Any, limit: int) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = clean(str(value))
    return text[:limit] if text.strip() else None


def _text_element(var: JobVariable, initial: Any, *, multiline: bool = False) -> PlainTextInputElement:
    low, high = length_bounds(var)
    return PlainTextInputElement(
        action_id=ACTION_ID,
        initial_value=_text_initial(initial, high),
        min_length=low,
        max_length=high if var.max_length else None,
        multiline=multiline or None,
        placeholder=IP_PLACEHOLDERS.get(var.type),
    )


def _email_element(var: JobVariable, initial: Any) -> EmailInputElement:
    text = _text_initial(initial, TEXT_INPUT_MAX)
    fits = text is not None and len(text) <= length_bounds(var)[1] and looks_like_email(text)
    return EmailInputElement(  # Slack refuses the whole view over an initial value that is not an email
        action_id=ACTION_ID, initial_value=text if fits else None, placeholder="name@example.com"
    )


def _number_element(var: JobVariable, initial: Any) -> NumberInputElement:
    low, high = var.min_value, var.max_value
    if low is not None and high is not None and low > high:
        low = high = None
    start = integer(initial)
    if start is not None and ((low is not None and start < low) or (high is not None and start > high)):
        start = None
    return NumberInputElement(
        action_id=ACTION_ID, is_decimal_allowed=False, initial_value=start, min_value=low, max_value=high
    )


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().casefold() in TRUE_WORDS
    return value is True


def _checkbox_element(var: JobVariable, initial: Any, budget: Budget) -> CheckboxesElement:
    option = _option(CHECKED, truncate(var.display_label, min(budget.text_max, OPTION_TEXT_MAX)))
    return CheckboxesElement(
        action_id=ACTION_ID, options=[option], initial_options=[option] if truthy(initial) else None
    )


def _as_list(value: Any) -> list[Any]:
    if value is None or value is MISSING:
        return []
    return list(value) if isinstance(value, list | tuple | set | frozenset) else [value]


def _select_element(var: JobVariable, initial: Any, budget: Budget) -> InputInteractiveElement:
    choices = usable_choices(var)[0]
    options = {value: _option(value, label) for value, label in choices}
    external = len(choices) > min(budget.static_options_max, OPTIONS_MAX)
    if var.type == "MultiChoiceVar":
        picked = [options[str(item)] for item in _as_list(initial) if str(item) in options] or None
        if external:
            return ExternalDataMultiSelectElement(
                action_id=ACTION_ID, placeholder="Type to search…", min_query_length=0, initial_options=picked
            )
        return StaticMultiSelectElement(
            action_id=ACTION_ID, placeholder="Choose…", options=list(options.values()), initial_options=picked
        )
    chosen = options.get(str(initial)) if initial is not None and not isinstance(initial, bool) else None
    if external:
        return ExternalDataSelectElement(
            action_id=ACTION_ID, placeholder="Type to search…", min_query_length=0, initial_option=chosen
        )
    return StaticSelectElement(
        action_id=ACTION_ID, placeholder="Choose…", options=list(options.values()), initial_option=chosen
    )


def _object_element(var: JobVariable) -> InputInteractiveElement:
    if var.type == "MultiObjectVar":
        return ExternalDataMultiSelectElement(action_id=ACTION_ID, placeholder="Search Nautobot…", min_query_length=0)
    return ExternalDataSelectElement(action_id=ACTION_ID, placeholder="Search Nautobot…", min_query_length=0)


def input_element(var: JobVariable, kind: Kind, initial: Any, budget: Budget) -> InputInteractiveElement:
    if kind is Kind.EMAIL:
        return _email_element(var, initial)
    if kind in (Kind.TEXT, Kind.IP):
        return _text_element(var, initial)
    if kind in (Kind.MULTILINE, Kind.JSON):
        return _text_element(var, initial, multiline=True)
    if kind is Kind.INTEGER:
        return _number_element(var, initial)
    if kind is Kind.BOOLEAN:
        return _checkbox_element(var, initial, budget)
    if kind in (Kind.CHOICE, Kind.MULTICHOICE):
        return _select_element(var, initial, budget)
    return _object_element(var)


def input_hint(var: JobVariable, budget: Budget) -> PlainTextObject | None:
    if not budget.hints:
        return None
    text = var.help_text
    dropped = usable_choices(var)[1] if var.type in ("ChoiceVar", "MultiChoiceVar") else 0
    if dropped:
        text += f" ({dropped} choices can't be picked from Slack; use Nautobot for those.)"
    return plain_text(text, budget.text_max, one_line=False)
