"""Slack's rich text, checked the way Slack checks it: a ``rich_text`` block, and a table's ``rich_text`` cell.

Its ``elements`` (1 to 100) are ``rich_text_section``, ``rich_text_list`` (a ``style`` of bullet or ordered, and
sections), ``rich_text_preformatted`` or ``rich_text_quote``; each of those holds inline elements, each with its
required fields: ``text`` (text), ``date`` (an integer ``timestamp`` in seconds and a ``format``; optional
``fallback``, ``url``, ``timezone``), ``link`` (url), ``emoji`` (name), ``user`` (user_id), ``channel``
(channel_id), ``usergroup`` (usergroup_id), ``broadcast`` (range: here, channel or everyone) and ``color`` (value).
"""

from __future__ import annotations

from typing import Any, Protocol

MAX_ELEMENTS = 100
TEXT_MAX = 10_000
LIST_STYLES = ("bullet", "ordered")
BROADCAST_RANGES = ("here", "channel", "everyone")
REQUIRED_TEXT = {
    "text": "text",
    "link": "url",
    "emoji": "name",
    "user": "user_id",
    "channel": "channel_id",
    "usergroup": "usergroup_id",
    "color": "value",
}
"""Each inline element with one required string, and that string's field (``date`` and ``broadcast`` apart)."""
CONTAINERS = ("rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote")
INLINE = (*REQUIRED_TEXT, "date", "broadcast")


class Checker(Protocol):
    surface: str

    def fail(self, pointer: str, message: str) -> None: ...
    def obj(self, value: Any, pointer: str) -> bool: ...
    def items(self, value: Any, pointer: str, *, max_items: int, min_items: int = 1) -> list: ...
    def string(self, value: Any, pointer: str, *, max_len: int, required: bool = False, min_len: int = 0) -> bool: ...


def check_rich_text(c: Checker, block: dict, p: str) -> None:
    """A ``rich_text`` block or table cell."""
    for index, element in enumerate(c.items(block.get("elements"), f"{p}/elements", max_items=MAX_ELEMENTS)):
        _check_container(c, element, f"{p}/elements/{index}")


def _check_container(c: Checker, element: Any, at: str) -> None:
    if not c.obj(element, at):
        return
    kind = element.get("type")
    if kind not in CONTAINERS:
        c.fail(f"{at}/type", f"must be a valid enum value ({', '.join(CONTAINERS)})")
        return
    inner = c.items(element.get("elements"), f"{at}/elements", max_items=MAX_ELEMENTS, min_items=0)
    if kind == "rich_text_list":
        if element.get("style") not in LIST_STYLES:
            c.fail(f"{at}/style", f"must be a valid enum value ({', '.join(LIST_STYLES)})")
        for index, section in enumerate(inner):
            if isinstance(section, dict) and section.get("type") != "rich_text_section":
                c.fail(f"{at}/elements/{index}/type", "must be rich_text_section")
            _check_container(c, section, f"{at}/elements/{index}")
        return
    for index, part in enumerate(inner):
        _check_inline(c, part, f"{at}/elements/{index}")


def _check_inline(c: Checker, part: Any, at: str) -> None:
    if not c.obj(part, at):
        return
    kind = part.get("type")
    if kind in REQUIRED_TEXT:
        field = REQUIRED_TEXT[kind]
        c.string(part.get(field), f"{at}/{field}", max_len=TEXT_MAX, required=True, min_len=1)
    elif kind == "date":
        _check_date(c, part, at)
    elif kind == "broadcast":
        if part.get("range") not in BROADCAST_RANGES:
            c.fail(f"{at}/range", f"must be a valid enum value ({', '.join(BROADCAST_RANGES)})")
    else:
        c.fail(f"{at}/type", f"must be a valid enum value ({', '.join(INLINE)})")


def _check_date(c: Checker, part: dict, at: str) -> None:
    stamp = part.get("timestamp")
    if stamp is None:
        c.fail(f"{at}/timestamp", "missing required field")
    elif isinstance(stamp, bool) or not isinstance(stamp, int):
        c.fail(f"{at}/timestamp", "must provide an integer")
    c.string(part.get("format"), f"{at}/format", max_len=TEXT_MAX, required=True, min_len=1)
    for optional in ("fallback", "url", "timezone"):
        c.string(part.get(optional), f"{at}/{optional}", max_len=TEXT_MAX)
