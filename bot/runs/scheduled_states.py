"""Where a scheduled job Nautobot holds for approval stands, read the same way on 3.x and 2.4."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.models import RunStatus

UNRUN_STATES: dict[str, RunStatus] = {
    "denied": RunStatus.DENIED,
    "canceled": RunStatus.CANCELLED,
    "errored": RunStatus.FAILED,
}
"""A scheduled job's ``state`` in Nautobot 3.x that ends the request with nothing run."""
APPROVED_STATES = frozenset({"active", "completed"})


def scheduled_state(record: Mapping[str, Any] | None) -> str | None:
    """The scheduled job's state (``pending``, ``active``, ``denied``…) from its record; None without one."""
    if record is not None and "state" not in record:
        # Nautobot 2.4 has no approval workflows: an approval stamps approved_at, a denial deletes the record.
        return "active" if record.get("approved_at") else "pending"
    state = (record or {}).get("state")
    return str(state.get("value") if isinstance(state, dict) else state or "").lower() or None
