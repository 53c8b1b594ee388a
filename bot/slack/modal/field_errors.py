"""Nautobot's refusal of a run (its 400 body) turned into errors under the modal's fields."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.models import JobForm
from bot.nautobot import flatten
from bot.slack.modal.fields import (
    ERROR_MAX,
    GENERAL_ERRORS_MAX,
    input_variables,
)
from bot.slack.text import clean, truncate


def field_errors(
    nautobot_errors: Any, form: JobForm | None = None, *, hidden: Iterable[str] = frozenset()
) -> tuple[dict[str, str], list[str]]:
    """Split a Nautobot 400 body into errors shown under form fields and general messages.

    Accepts the whole body (``{"errors": ...}``, ``{"detail": ...}``) or just its ``errors`` value.
    Without ``form`` every named key counts as a field.
    """
    errors = nautobot_errors
    if isinstance(errors, Mapping) and "errors" in errors:
        errors = errors["errors"]
    elif isinstance(errors, Mapping) and "detail" in errors:
        errors = errors["detail"]
    if not isinstance(errors, Mapping):
        return {}, _cap_general([clean(text) for text in flatten(errors)])
    fields = {var.name for var in input_variables(form, hidden)} if form else None
    by_field: dict[str, str] = {}
    general: list[str] = []
    for key, messages in errors.items():
        text = " ".join(clean(item) for item in flatten(messages)).strip() or "Invalid value."
        name = str(key)
        known = name in fields if fields is not None else name not in ("non_field_errors", "__all__")
        if known:
            by_field[name] = truncate(text, ERROR_MAX)
        else:
            general.append(_general_line(name, text, form))
    return by_field, _cap_general(general)


def _general_line(name: str, text: str, form: JobForm | None) -> str:
    if name in ("non_field_errors", "__all__"):
        return text
    var = form.variable(name) if form else None
    return f"{var.display_label if var else clean(name)}: {text}"


def _cap_general(messages: list[str]) -> list[str]:
    capped = [truncate(text, 500) for text in messages if text.strip()]
    if len(capped) > GENERAL_ERRORS_MAX:
        capped = [*capped[: GENERAL_ERRORS_MAX - 1], f"…and {len(capped) - GENERAL_ERRORS_MAX + 1} more."]
    return capped
