"""A table a Job returns in its result, shown in the run's thread: the Job declares it, the bot knows no Job.

The contract (documented for Job authors in jobs/result_table.py)::

    result["table"] = {
        "title": "one line above the table",             # optional
        "columns": [{"key": "email", "label": "Email"}, {"key": "expires_at", "label": "Until", "type": "datetime"}],
        "rows": [{"email": "bob@example.com", ...}, ...],  # a row's cell for a column is row[key]
        "notes": ["a line shown with the table", ...],    # optional
    }

It is shown with Slack's table block, which takes at most 100 rows (the headings are one) of at most 20
cells, and one table a message. Rows and columns beyond that, or beyond what a message should carry, are
counted in a note, and the whole table follows as a CSV file. Cells are ``raw_text``, which Slack shows as it
is and never reads as ``mrkdwn``, so a cell cannot mention anyone; the title and notes are ``mrkdwn``, escaped
like every other text the bot writes. In the file, a cell that a spreadsheet would read as a formula is
written as text.

A column's optional ``type`` says how its cells are shown; a column without one, or with a type the bot does not
know, is plain text. ``"datetime"``: an ISO-8601 timestamp (UTC when it has no offset) becomes a ``rich_text``
cell holding one Slack ``date`` element, which each reader sees in their own time zone, with the UTC time as its
fallback text; the file has the value as the Job wrote it. A value that is no such timestamp is plain text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    RawTextObject,
    RichTextBlock,
    RichTextElementParts,
    RichTextSectionElement,
    TableBlock,
)

from bot.slack.text import READER_TIME, clean, context, escape, fallback, section, truncate

MAX_ROWS = 100
"""Slack's limit for a table block, the row of headings included."""
MAX_CELLS = 20
"""Slack's limit of cells in a row of a table block."""
CELL_MAX = 300
"""Characters of one cell; a longer value is cut (the Job's log and result have it whole)."""
CELLS_BUDGET = 12_000
"""Characters in all cells of a table: rows beyond it are counted, not shown, so that a message stays readable."""
NOTES_SHOWN = 5
EMPTY_CELL = "-"
"""Slack refuses an empty ``raw_text``."""
TABLE_FILENAME = "table.csv"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula (OWASP's CSV injection): such a cell is written as text."""

DATETIME = "datetime"
"""The column type whose cells are ISO-8601 timestamps, shown in each reader's time zone."""

Cell = RawTextObject | RichTextBlock


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    kind: str = ""
    """The declared ``type``; anything but :data:`DATETIME` is plain text."""


def _columns(declared: Any) -> list[Column]:
    """Each well-formed column the Job declared."""
    if not isinstance(declared, list):
        return []
    return [
        Column(str(column["key"]), str(column.get("label") or column["key"]), str(column.get("type") or ""))
        for column in declared
        if isinstance(column, Mapping) and column.get("key") not in (None, "")
    ]


def cell_text(value: Any) -> str:
    """What a cell shows: one line of plain text (``yes``/``no`` for a boolean), cut to :data:`CELL_MAX`."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = " ".join(clean(str(value if value is not None else "")).split())
    return truncate(text, CELL_MAX) or EMPTY_CELL


def moment_of(value: Any) -> datetime | None:
    """An ISO-8601 timestamp as a time (UTC when it has no offset); None when the value is no such timestamp."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # not a timestamp, or one beyond the years a time can have in UTC
        return None


def date_cell(moment: datetime) -> tuple[RichTextBlock, str]:
    """A time as a ``rich_text`` cell that each reader sees in their own time zone, and its UTC fallback text."""
    utc = f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    date = RichTextElementParts.Date(timestamp=int(moment.timestamp()), format=READER_TIME, fallback=utc)
    return RichTextBlock(elements=[RichTextSectionElement(elements=[date])]), utc


def table_cell(value: Any, kind: str = "") -> tuple[Cell, str]:
    """A cell as Slack gets it, and the text it shows (what the budget counts)."""
    moment = moment_of(value) if kind == DATETIME else None
    if moment is not None:
        return date_cell(moment)
    text = cell_text(value)
    return RawTextObject(text=text), text


def _rows_that_fit(rows: list[Mapping[str, Any]], columns: list[Column]) -> list[list[Cell]]:
    """The rows' cells, as many rows as Slack takes and the budget allows."""
    shown: list[list[Cell]] = []
    spent = 0
    for row in rows[: MAX_ROWS - 1]:
        cells = [table_cell(row.get(column.key), column.kind) for column in columns]
        spent += sum(len(text) for _, text in cells)
        if shown and spent > CELLS_BUDGET:
            break
        shown.append([cell for cell, _ in cells])
    return shown


def _left_out(rows: int, shown: int, columns: int) -> list[str]:
    notes = []
    if rows > shown:
        notes.append(f"…and {rows - shown} more rows, not shown here: the file {TABLE_FILENAME} has all {rows}.")
    if columns > MAX_CELLS:
        notes.append(f"{columns - MAX_CELLS} more columns are not shown here: the file {TABLE_FILENAME} has them.")
    return notes


def _file_cell(value: Any) -> str:
    text = (
        cell_text(value)
        if isinstance(value, bool)
        else " ".join(clean(str(value if value is not None else "")).split())
    )
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def table_file(columns: list[Column], rows: list[Mapping[str, Any]]) -> str:
    """The whole table as CSV: every column and row, each cell whole."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_file_cell(column.heading) for column in columns])
    writer.writerows([_file_cell(row.get(column.key)) for column in columns] for row in rows)
    return out.getvalue()


@dataclass(frozen=True)
class ShownTable:
    """A Job's table as the thread gets it: one message, and the whole table as a file when the message shows
    only part of it."""

    message: tuple[str, list[Block]]
    whole: str | None = None
    """The CSV of :func:`table_file`; None when the message shows every row and column."""


def table_block(headings: Sequence[str], rows: list[list[Cell]]) -> TableBlock:
    """Slack's table block: the headings, then the rows; long cells wrap rather than widen the table."""
    return TableBlock(
        rows=[[RawTextObject(text=cell_text(heading)) for heading in headings], *rows],
        column_settings=[{"is_wrapped": True} for _ in headings],
    )


def result_table(result: Mapping[str, Any] | None) -> ShownTable | None:
    """The thread reply for a result with a ``table``; None for any other result."""
    table = result.get("table") if isinstance(result, Mapping) else None
    columns = _columns(table.get("columns")) if isinstance(table, Mapping) else []
    if not isinstance(table, Mapping) or not columns:
        return None
    declared_rows = table.get("rows")
    rows = [row for row in declared_rows if isinstance(row, Mapping)] if isinstance(declared_rows, list) else []
    title = str(table.get("title") or f"{len(rows)} rows.")
    shown_columns = columns[:MAX_CELLS]
    shown = _rows_that_fit(rows, shown_columns)
    declared_notes = table.get("notes")
    notes = [str(note) for note in declared_notes if note] if isinstance(declared_notes, list) else []
    left_out = _left_out(len(rows), len(shown), len(columns))
    notes = notes[:NOTES_SHOWN] + left_out
    blocks: list[Block] = [section(escape(title, limit=1000))]
    blocks += [context(escape(note, limit=1900)) for note in notes]
    if shown:  # last: Slack shows a message's table below its other blocks anyway
        blocks.append(table_block([column.heading for column in shown_columns], shown))
    return ShownTable((fallback(title), blocks), table_file(columns, rows) if left_out else None)
