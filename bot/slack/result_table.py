"""A Job's result rows as a compact table in the thread: what Find Meraki User found, at a glance.

A Job opts in by returning ``matches``, a list of rows (dicts), in its result; the log still follows
(as a file when long). Only the columns below are shown, each cut to a width, so that a row stays one
line; everything else is in the log and in Nautobot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import Block

from bot.slack.text import SECTION_MAX, context, escape, fallback, section, truncate

ROWS_SHOWN = 25
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("organization_name", "Organization", 20),
    ("name", "Name", 18),
    ("email", "Email", 28),
    ("org_access", "Access", 16),
    ("two_factor", "2FA", 3),
    ("last_active", "Last seen", 10),
)
"""(row key, heading, width): the keys Find Meraki User returns for each match."""


def _cell(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "org_access" and row.get("networks"):
        value = f"{value or 'none'} +{len(row['networks'])} net"  # each network's access is in the log
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = " ".join(str(value if value is not None else "").split())
    return text[:10] if key == "last_active" else text  # the day is enough here; the log has the time


def _line(cells: Sequence[str]) -> str:
    padded = [truncate(text, width).ljust(width) for text, (_, _, width) in zip(cells, COLUMNS, strict=True)]
    return "  ".join(padded).rstrip()


def result_table(result: Mapping[str, Any] | None) -> tuple[str, list[Block]] | None:
    """The thread reply for a result with ``matches``; None for any other result."""
    rows = result.get("matches") if isinstance(result, Mapping) else None
    if not isinstance(rows, list) or not result:
        return None
    rows = [row for row in rows if isinstance(row, Mapping)]
    summary = str(result.get("summary") or f"{len(rows)} found.")
    blocks: list[Block] = [section(f"🔎 {escape(summary, limit=1000)}")]
    if rows:
        lines = [_line([heading for _, heading, _ in COLUMNS])]
        lines += [_line([_cell(row, key) for key, _, _ in COLUMNS]) for row in rows[:ROWS_SHOWN]]
        table = escape("\n".join(lines), limit=SECTION_MAX - 8)
        blocks.append(section(f"```{table}```"))
        if len(rows) > ROWS_SHOWN:
            blocks.append(context(f"…and {len(rows) - ROWS_SHOWN} more: every match is in the log."))
    skipped = result.get("not_searched")
    if isinstance(skipped, list) and skipped:
        named = [
            f"{item.get('organization_name') or item.get('organization_id')} ({item.get('reason', 'no reason given')})"
            for item in skipped
            if isinstance(item, Mapping)
        ]
        blocks.append(context(escape(f"Not searched: {'; '.join(named)}", limit=1900)))
    return fallback(summary), blocks
