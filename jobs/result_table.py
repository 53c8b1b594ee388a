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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Column = tuple[str, str]
"""(key of the cell in each row, the column's heading)"""


def result_table(
    columns: Sequence[Column], rows: Iterable[Mapping[str, Any]], *, title: str = "", notes: Sequence[str] = ()
) -> dict[str, Any]:
    """The ``table`` entry of a Job's result: only the declared columns of each row are kept."""
    table: dict[str, Any] = {
        "columns": [{"key": key, "label": label} for key, label in columns],
        "rows": [{key: row.get(key) for key, _ in columns} for row in rows],
    }
    if title:
        table["title"] = title
    if notes:
        table["notes"] = list(notes)
    return table
