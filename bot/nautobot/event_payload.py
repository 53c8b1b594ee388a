"""What an event from Nautobot's Redis is about, read within bounds whatever was published.

Anyone who can publish on that Redis can send anything, so a payload is read within a size cap and a nesting
cap, in time linear in its size, and nothing else is taken from it than the id of what it is about.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

MAX_EVENT_BYTES = 64 * 1024
"""A completed event carries the Job's output. Reading a larger one would hold up the event loop for what
one batched read of every followed run costs less: every follow looks instead (coalesced, see wakeups)."""
MAX_DEPTH = 64
"""Nautobot's payloads nest a few levels (a Job's output in its event); deeper is no event of Nautobot's."""
APPROVAL_DENIED = "nautobot.jobs.approval.denied"
APPROVAL_TOPICS = (
    "nautobot.jobs.approval.approved",
    APPROVAL_DENIED,
    "nautobot.jobs.approval.canceled",  # 3.x only: an approval workflow withdrawn
)
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")


class UnusableEvent(ValueError):
    """An event the bot cannot use; ``reason`` is one of ``bot.metrics.EVENT_UNUSABLE_REASONS``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def about(topic: str, data: Any) -> str:
    """The id an event is about: the JobResult of a Job event, the ScheduledJob of an approval event.

    Raises :class:`UnusableEvent` for anything else, before a payload over the caps is parsed.
    """
    payload = _parsed(data)
    if topic in APPROVAL_TOPICS:
        record = payload.get("data")
        found = record.get("id") if isinstance(record, dict) else None
    else:
        found = payload.get("job_result_id")
    try:
        return str(uuid.UUID(str(found)))
    except ValueError:
        raise UnusableEvent("no_id") from None


def _parsed(data: Any) -> dict[str, Any]:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if not isinstance(data, bytes):
        raise UnusableEvent("not_json")
    if len(data) > MAX_EVENT_BYTES:
        raise UnusableEvent("too_large")
    if _deeper_than(data, MAX_DEPTH):
        raise UnusableEvent("too_deep")
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        raise UnusableEvent("not_json") from None
    if not isinstance(payload, dict):
        raise UnusableEvent("no_id")
    return payload


def _deeper_than(data: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``: one pass, and only where it could.

    A payload with no more than ``limit`` opening brackets in all (strings included) cannot nest deeper, which
    is every event Nautobot sends a bot like this one; only others are walked byte by byte (at most the cap).
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSERS:
            depth -= 1
    return False
