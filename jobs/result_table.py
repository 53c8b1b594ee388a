"""A table in a Job's result: how any Job shows rows under its run in Slack, without the bot knowing the Job.

A Job that returns ``result["table"]`` in this shape gets it shown in the run's Slack thread::

    {
        "title": "2 matches for bob in 1 organization (3 searched); 0 not searched.",  # optional
        "columns": [{"key": "email", "label": "Email"}, {"key": "name", "label": "Name"}],
        "rows": [{"email": "bob@example.com", "name": "Bob"}],
        "notes": ["Not searched: Initech (its Dashboard API access is off)"],  # optional
    }

``title`` is one line shown above the table, ``notes`` are lines shown with it (both plain text). Each row's
cell for a column is ``row[column["key"]]``: a string, number or boolean (``yes``/``no``), or missing (empty).
Everything is shown as plain text, never as Slack markup. Slack shows at most 99 rows and 20 columns;
the bot says how many more there are, and the whole result stays in Nautobot.

A column may declare a ``type``; without one (or with a type the bot does not know) its cells are plain text:

- ``"datetime"``: each cell is an ISO-8601 timestamp, such as ``"2026-06-01T14:00:00Z"`` (one without an offset
  is taken as UTC). Slack shows it in each reader's own time zone (``tomorrow 4:00 PM``), with the UTC time where
  it cannot; the CSV file has the value as the Job wrote it. A value that is not such a timestamp is shown as
  plain text, and an empty one as empty. For example ``{"key": "expires_at", "label": "Until", "type":
  "datetime"}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DATETIME = "datetime"
"""The column type of ISO-8601 timestamps."""
Column = tuple[str, str] | tuple[str, str, str]
"""(key of the cell in each row, the column's heading), and optionally the column's type"""


def column(declared: Column) -> dict[str, str]:
    """A declared column as the table's ``columns`` entry."""
    key, label, *kind = declared
    return {"key": key, "label": label, **({"type": kind[0]} if kind else {})}


def result_table(
    columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], *, title: str = "", notes: Sequence[str] = ()
) -> dict[str, Any]:
    """The ``table`` entry of a Job's result: only the declared columns of each row are kept."""
    table: dict[str, Any] = {
        "columns": [column(declared) for declared in columns],
        "rows": [{declared[0]: row.get(declared[0]) for declared in columns} for row in rows],
    }
    if title:
        table["title"] = title
    if notes:
        table["notes"] = list(notes)
    return table
