"""Slack's Block Kit limits, checked the way Slack checks them.

Shared by the over-the-wire Slack stand-in (:mod:`testbed.slack_standin`) and the in-process
fake (:mod:`testbed.fake_slack`), so a view or message Slack would refuse is refused by both.
Problems read like the lines of Slack's ``response_metadata.messages``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from testbed.rich_text import check_rich_text
from testbed.table_block import check_table

MAX_VIEW_BYTES = 250_000
"""Bytes of a view as JSON above which Slack answers ``view_too_large``."""

_SELECT_TYPES = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
_INPUT_ONLY = frozenset({"plain_text_input", "email_text_input", "url_text_input", "number_input", "file_input"})
_INPUT_ELEMENTS = (
    _SELECT_TYPES | _INPUT_ONLY | {"checkboxes", "radio_buttons", "datepicker", "timepicker", "datetimepicker"}
)
_ACTION_ELEMENTS = _SELECT_TYPES | {
    "button",
    "overflow",
    "checkboxes",
    "radio_buttons",
    "datepicker",
    "timepicker",
    "datetimepicker",
}
_ACCESSORY_ELEMENTS = _SELECT_TYPES | {
    "button",
    "overflow",
    "checkboxes",
    "radio_buttons",
    "datepicker",
    "timepicker",
    "image",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


def _too_long(limit: int) -> str:
    return f"must be less than {limit + 1} characters"


class _Checker:
    """Collects Slack-style problems for one surface (a view or a message)."""

    def __init__(self, surface: str) -> None:
        self.surface = surface
        self.messages: list[str] = []
        self._block_ids: set[str] = set()

    def fail(self, pointer: str, message: str) -> None:
        self.messages.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def string(self, value: Any, pointer: str, *, max_len: int, required: bool = False, min_len: int = 0) -> bool:
        if value is None:
            if required:
                self.fail(pointer, "missing required field")
            return False
        if not isinstance(value, str):
            self.fail(pointer, "must provide a string")
            return False
        if len(value) > max_len:
            self.fail(pointer, _too_long(max_len))
            return False
        if len(value) < min_len:
            self.fail(pointer, f"must be more than {min_len - 1} characters")
            return False
        return True

    def obj(self, value: Any, pointer: str) -> bool:
        if not isinstance(value, dict):
            self.fail(pointer, "must provide an object")
            return False
        return True

    def items(self, value: Any, pointer: str, *, max_items: int, min_items: int = 1) -> list:
        if not isinstance(value, list):
            self.fail(pointer, "must provide an array")
            return []
        if len(value) > max_items:
            self.fail(pointer, f"no more than {max_items} items allowed")
        elif len(value) < min_items:
            self.fail(pointer, f"must provide at least {min_items} items")
        return value

    def text(self, value: Any, pointer: str, *, max_len: int, plain: bool = False, required: bool = True) -> None:
        """A text object; ``plain`` where Slack accepts only ``plain_text``."""
        if value is None:
            if required:
                self.fail(pointer, "missing required field")
            return
        if not self.obj(value, pointer):
            return
        kind = value.get("type")
        if kind not in ("plain_text", "mrkdwn"):
            self.fail(f"{pointer}/type", "must be a valid enum value (plain_text, mrkdwn)")
        elif plain and kind != "plain_text":
            self.fail(f"{pointer}/type", "must be plain_text")
        if kind == "mrkdwn" and "emoji" in value:
            self.fail(f"{pointer}/emoji", "emoji is only allowed on plain_text")
        self.string(value.get("text"), f"{pointer}/text", max_len=max_len, required=True, min_len=1)

    def id_field(self, value: Any, pointer: str) -> None:
        self.string(value, pointer, max_len=255, min_len=1)

    def blocks(self, blocks: Any, pointer: str, *, max_blocks: int) -> None:
        for index, block in enumerate(self.items(blocks, pointer, max_items=max_blocks)):
            self.block(block, f"{pointer}/{index}")

    def block(self, block: Any, pointer: str) -> None:
        if not self.obj(block, pointer):
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.id_field(block_id, f"{pointer}/block_id")
            if block_id in self._block_ids:
                self.fail(f"{pointer}/block_id", f"duplicate block_id: {block_id}")
            self._block_ids.add(block_id)
        check = _BLOCK_CHECKS.get(block.get("type"))
        if check is None:
            self.fail(f"{pointer}/type", f"unsupported block type: {block.get('type')!r}")
            return
        check(self, block, pointer)

    def element(self, element: Any, pointer: str, allowed: frozenset[str], where: str) -> None:
        if not self.obj(element, pointer):
            return
        kind = element.get("type")
        check = _ELEMENT_CHECKS.get(kind)
        if check is None:
            self.fail(f"{pointer}/type", f"unsupported element type: {kind!r}")
            return
        if kind not in allowed:
            self.fail(f"{pointer}/type", f"{kind} is not allowed in {where}")
            return
        if kind != "image":
            self.id_field(element.get("action_id"), f"{pointer}/action_id")
        check(self, element, pointer)

    def options(self, options: Any, pointer: str, *, max_items: int, plain: bool, min_items: int = 1) -> list[dict]:
        valid = []
        for index, option in enumerate(self.items(options, pointer, max_items=max_items, min_items=min_items)):
            at = f"{pointer}/{index}"
            if not self.obj(option, at):
                continue
            self.text(option.get("text"), f"{at}/text", max_len=75, plain=plain)
            self.string(option.get("value"), f"{at}/value", max_len=150, required=True, min_len=1)
            self.text(option.get("description"), f"{at}/description", max_len=75, required=False)
            valid.append(option)
        return valid

    def initial_options(self, element: dict, pointer: str, options: list[dict]) -> None:
        if "initial_option" in element and element["initial_option"] not in options:
            self.fail(f"{pointer}/initial_option", "must exactly match one of the options")
        for index, chosen in enumerate(element.get("initial_options") or []):
            if chosen not in options:
                self.fail(f"{pointer}/initial_options/{index}", "must exactly match one of the options")

    def confirm(self, confirm: Any, pointer: str) -> None:
        if confirm is None or not self.obj(confirm, pointer):
            return
        self.text(confirm.get("title"), f"{pointer}/title", max_len=100, plain=True)
        self.text(confirm.get("text"), f"{pointer}/text", max_len=300)
        self.text(confirm.get("confirm"), f"{pointer}/confirm", max_len=30, plain=True)
        self.text(confirm.get("deny"), f"{pointer}/deny", max_len=30, plain=True)


def _check_section(c: _Checker, block: dict, p: str) -> None:
    if block.get("text") is None and block.get("fields") is None:
        c.fail(p, "must provide text or fields")
    c.text(block.get("text"), f"{p}/text", max_len=3000, required=False)
    if block.get("fields") is not None:
        for index, item in enumerate(c.items(block["fields"], f"{p}/fields", max_items=10)):
            c.text(item, f"{p}/fields/{index}", max_len=2000)
    if block.get("accessory") is not None:
        c.element(block["accessory"], f"{p}/accessory", _ACCESSORY_ELEMENTS, "section accessory")


def _check_header(c: _Checker, block: dict, p: str) -> None:
    c.text(block.get("text"), f"{p}/text", max_len=150, plain=True)


def _check_context(c: _Checker, block: dict, p: str) -> None:
    for index, item in enumerate(c.items(block.get("elements"), f"{p}/elements", max_items=10)):
        at = f"{p}/elements/{index}"
        if isinstance(item, dict) and item.get("type") == "image":
            _check_image_element(c, item, at)
        else:
            c.text(item, at, max_len=3000)


def _check_actions(c: _Checker, block: dict, p: str) -> None:
    seen: set[str] = set()
    for index, element in enumerate(c.items(block.get("elements"), f"{p}/elements", max_items=25)):
        c.element(element, f"{p}/elements/{index}", _ACTION_ELEMENTS, "actions blocks")
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if action_id is not None and action_id in seen:
            c.fail(f"{p}/elements/{index}/action_id", f"duplicate action_id: {action_id}")
        seen.add(action_id)


def _check_input(c: _Checker, block: dict, p: str) -> None:
    if c.surface == "message":
        c.fail(f"{p}/type", "input blocks are only supported in views")
        return
    c.text(block.get("label"), f"{p}/label", max_len=2000, plain=True)
    c.text(block.get("hint"), f"{p}/hint", max_len=2000, plain=True, required=False)
    if block.get("element") is None:
        c.fail(f"{p}/element", "missing required field")
    else:
        c.element(block["element"], f"{p}/element", _INPUT_ELEMENTS, "input blocks")
    for flag in ("optional", "dispatch_action"):
        if flag in block and not isinstance(block[flag], bool):
            c.fail(f"{p}/{flag}", "must provide a boolean")


def _check_image_block(c: _Checker, block: dict, p: str) -> None:
    c.string(block.get("image_url"), f"{p}/image_url", max_len=3000, required=True, min_len=1)
    c.string(block.get("alt_text"), f"{p}/alt_text", max_len=2000, required=True, min_len=1)
    c.text(block.get("title"), f"{p}/title", max_len=2000, plain=True, required=False)


_BLOCK_CHECKS: dict[str, Callable[[_Checker, dict, str], None]] = {
    "section": _check_section,
    "header": _check_header,
    "divider": lambda c, block, p: None,
    "context": _check_context,
    "actions": _check_actions,
    "input": _check_input,
    "image": _check_image_block,
    "rich_text": check_rich_text,
    "table": check_table,
}


def _check_button(c: _Checker, e: dict, p: str) -> None:
    c.text(e.get("text"), f"{p}/text", max_len=75, plain=True)
    c.string(e.get("value"), f"{p}/value", max_len=2000, min_len=1)
    c.string(e.get("url"), f"{p}/url", max_len=3000, min_len=1)
    if e.get("style") not in (None, "primary", "danger"):
        c.fail(f"{p}/style", "must be a valid enum value (primary, danger)")
    c.confirm(e.get("confirm"), f"{p}/confirm")


def _check_select(c: _Checker, e: dict, p: str) -> None:
    c.text(e.get("placeholder"), f"{p}/placeholder", max_len=150, plain=True, required=False)
    c.confirm(e.get("confirm"), f"{p}/confirm")
    if e["type"] not in ("static_select", "multi_static_select"):
        return
    has_options, has_groups = "options" in e, "option_groups" in e
    if has_options == has_groups:
        c.fail(p, "must provide exactly one of options or option_groups")
        return
    if has_options:
        options = c.options(e["options"], f"{p}/options", max_items=100, plain=True)
    else:
        options = []
        groups = c.items(e["option_groups"], f"{p}/option_groups", max_items=100)
        for index, group in enumerate(groups):
            at = f"{p}/option_groups/{index}"
            if c.obj(group, at):
                c.text(group.get("label"), f"{at}/label", max_len=75, plain=True)
                options += c.options(group.get("options"), f"{at}/options", max_items=100, plain=True)
    c.initial_options(e, p, options)


def _check_checkboxes(c: _Checker, e: dict, p: str) -> None:
    options = c.options(e.get("options"), f"{p}/options", max_items=10, plain=False)
    c.initial_options(e, p, options)


def _check_overflow(c: _Checker, e: dict, p: str) -> None:
    c.options(e.get("options"), f"{p}/options", max_items=5, min_items=2, plain=True)


def _check_plain_text_input(c: _Checker, e: dict, p: str) -> None:
    c.text(e.get("placeholder"), f"{p}/placeholder", max_len=150, plain=True, required=False)
    for bound in ("min_length", "max_length"):
        value = e.get(bound)
        if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
            c.fail(f"{p}/{bound}", "must be an integer between 0 and 3000")
    low, high = e.get("min_length"), e.get("max_length")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        c.fail(f"{p}/min_length", "must not be greater than max_length")
    initial = e.get("initial_value")
    if initial is not None and isinstance(high, int) and len(str(initial)) > high:
        c.fail(f"{p}/initial_value", _too_long(high))


def _check_email_input(c: _Checker, e: dict, p: str) -> None:
    c.text(e.get("placeholder"), f"{p}/placeholder", max_len=150, plain=True, required=False)
    initial = e.get("initial_value")
    if initial is not None and not (isinstance(initial, str) and _EMAIL.match(initial)):
        c.fail(f"{p}/initial_value", "must be a valid email address")


def _check_placeholder_only(c: _Checker, e: dict, p: str) -> None:
    c.text(e.get("placeholder"), f"{p}/placeholder", max_len=150, plain=True, required=False)


def _check_number_input(c: _Checker, e: dict, p: str) -> None:
    _check_placeholder_only(c, e, p)
    if not isinstance(e.get("is_decimal_allowed"), bool):
        c.fail(f"{p}/is_decimal_allowed", "missing required field")


def _check_image_element(c: _Checker, e: dict, p: str) -> None:
    c.string(e.get("image_url"), f"{p}/image_url", max_len=3000, required=True, min_len=1)
    c.string(e.get("alt_text"), f"{p}/alt_text", max_len=2000, required=True, min_len=1)


_ELEMENT_CHECKS: dict[str, Callable[[_Checker, dict, str], None]] = {
    **{kind: _check_select for kind in _SELECT_TYPES},
    "button": _check_button,
    "checkboxes": _check_checkboxes,
    "radio_buttons": _check_checkboxes,
    "overflow": _check_overflow,
    "plain_text_input": _check_plain_text_input,
    "email_text_input": _check_email_input,
    "url_text_input": _check_placeholder_only,
    "number_input": _check_number_input,
    "datepicker": _check_placeholder_only,
    "timepicker": _check_placeholder_only,
    "datetimepicker": _check_placeholder_only,
    "file_input": _check_placeholder_only,
    "image": _check_image_element,
}


def validate_view(view: Any, pointer: str = "/view") -> list[str]:
    """Problems Slack would report for a modal, as ``response_metadata.messages`` lines."""
    checker = _Checker("modal")
    if not checker.obj(view, pointer):
        return checker.messages
    if view.get("type") != "modal":
        checker.fail(f"{pointer}/type", "must be modal")
    checker.text(view.get("title"), f"{pointer}/title", max_len=24, plain=True)
    for button in ("submit", "close"):
        checker.text(view.get(button), f"{pointer}/{button}", max_len=24, plain=True, required=False)
    for key in ("callback_id", "external_id"):
        checker.string(view.get(key), f"{pointer}/{key}", max_len=255)
    checker.string(view.get("private_metadata"), f"{pointer}/private_metadata", max_len=3000)
    if view.get("blocks") is None:
        checker.fail(f"{pointer}/blocks", "missing required field")
    else:
        checker.blocks(view["blocks"], f"{pointer}/blocks", max_blocks=100)
    blocks = view.get("blocks") if isinstance(view.get("blocks"), list) else []
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if has_input and view.get("submit") is None:
        checker.fail(f"{pointer}/submit", "must provide submit when the view has input blocks")
    return checker.messages


def validate_message_blocks(blocks: Any, pointer: str = "/blocks") -> list[str]:
    """Problems Slack would report for a message's ``blocks``."""
    checker = _Checker("message")
    checker.blocks(blocks, pointer, max_blocks=50)
    return checker.messages


def validate_options_response(answer: Any) -> list[str]:
    """Problems with the answer to a ``block_suggestion``: ``{"options": [...]}`` (up to 100, may be empty)."""
    checker = _Checker("options")
    if not checker.obj(answer, ""):
        return checker.messages
    if set(answer) - {"options", "option_groups"} or ("options" not in answer and "option_groups" not in answer):
        checker.fail("", f"expected options or option_groups, got keys {sorted(answer)}")
    if "options" in answer:
        checker.options(answer["options"], "/options", max_items=100, plain=True, min_items=0)
    return checker.messages


def view_size(view: Any) -> int:
    """Bytes of the view as JSON, the measure behind ``view_too_large``."""
    return len(json.dumps(view, separators=(",", ":"), ensure_ascii=False).encode())
