"""Slack's table block, checked the way Slack checks it (registered in :mod:`testbed.block_kit`).

A message carries at most one table (else ``only_one_table_allowed``); a table has 1 to 100 rows of 1 to 20
cells, each a ``raw_text`` (text of at least one character), ``raw_number`` or ``rich_text`` cell (checked as a
``rich_text`` block is, :mod:`testbed.rich_text`: a ``date`` element without its timestamp is refused), and at most
20 ``column_settings`` (``align`` left/center/right, ``is_wrapped`` a boolean). Tables exist only in messages.
"""

from __future__ import annotations

from typing import Any

from testbed.rich_text import Checker, check_rich_text

MAX_ROWS = 100
MAX_CELLS = 20
ALIGNMENTS = ("left", "center", "right")


def check_table(c: Checker, block: dict, p: str) -> None:
    if c.surface != "message":
        c.fail(f"{p}/type", "table blocks are only supported in messages")
        return
    tables = getattr(c, "tables", 0) + 1
    setattr(c, "tables", tables)  # noqa: B010 - a count kept on the one checker of this message
    if tables > 1:
        c.fail(f"{p}/type", "only_one_table_allowed")
    for index, row in enumerate(c.items(block.get("rows"), f"{p}/rows", max_items=MAX_ROWS)):
        for column, cell in enumerate(c.items(row, f"{p}/rows/{index}", max_items=MAX_CELLS)):
            _check_cell(c, cell, f"{p}/rows/{index}/{column}")
    settings = block.get("column_settings")
    for index, setting in enumerate(c.items(settings, f"{p}/column_settings", max_items=MAX_CELLS) if settings else []):
        at = f"{p}/column_settings/{index}"
        if setting is None or not c.obj(setting, at):
            continue
        if "align" in setting and setting["align"] not in ALIGNMENTS:
            c.fail(f"{at}/align", f"must be a valid enum value ({', '.join(ALIGNMENTS)})")
        if "is_wrapped" in setting and not isinstance(setting["is_wrapped"], bool):
            c.fail(f"{at}/is_wrapped", "must provide a boolean")


def _check_cell(c: Checker, cell: Any, at: str) -> None:
    if not c.obj(cell, at):
        return
    kind = cell.get("type")
    if kind == "raw_text":
        c.string(cell.get("text"), f"{at}/text", max_len=10_000, required=True, min_len=1)
    elif kind == "raw_number":
        if isinstance(cell.get("value"), bool) or not isinstance(cell.get("value"), int | float):
            c.fail(f"{at}/value", "must provide a number")
        c.string(cell.get("text"), f"{at}/text", max_len=10_000, required=True, min_len=1)
    elif kind == "rich_text":
        check_rich_text(c, cell, at)
    else:
        c.fail(f"{at}/type", "must be a valid enum value (raw_text, raw_number, rich_text)")
