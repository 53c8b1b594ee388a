"""A click on the Home, as the listeners see it: Slack names no channel or message for it (its container is the
Home view), so a listener answers the person in their direct message with the bot, and an approver's click counts
as one on the message that asked them (whose checks it then goes through, as any click there)."""

from __future__ import annotations

from typing import Any

from bot.home.reading import notice_for
from bot.ledger import Record


def on_home(body: dict[str, Any]) -> bool:
    """The click came from a Home tab (a ``view`` container whose view is a ``home``)."""
    container = body.get("container") or {}
    return container.get("type") == "view" and (body.get("view") or {}).get("type") == "home"


def clicked_channel(body: dict[str, Any]) -> str:
    """The channel of the message clicked; empty for a click on the Home (answered in a direct message)."""
    return str((body.get("container") or {}).get("channel_id") or "")


def asked_in(record: Record | None, person: str) -> tuple[str, str]:
    """The message that asked ``person`` to decide on ``record`` (``(channel, ts)``; empty when none did)."""
    found = notice_for(record.approval, person) if record is not None and record.approval is not None else None
    return found or ("", "")
