"""A table a Job returns in its result, shown in the thread with Slack's table block: any Job, any columns."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.models import JobForm, JobVariable
from bot.slack.modal import Kind, kind_of, parse_command_text
from bot.slack.result_table import CELL_MAX, CELLS_BUDGET, MAX_CELLS, MAX_ROWS, ShownTable, result_table
from testbed.block_kit import validate_message_blocks
from tests.security.slack_payloads import injection_problems, rendered_texts

COLUMNS = [
    {"key": "organization", "label": "Organization"},
    {"key": "name", "label": "Name"},
    {"key": "email", "label": "Email"},
    {"key": "two_factor", "label": "2FA"},
]


def row(n: int, **more: Any) -> dict[str, Any]:
    return {"organization": "Acme Corp", "name": f"Bob {n}", "email": f"bob{n}@example.com", "two_factor": True, **more}


def with_table(rows: list[dict[str, Any]], **table: Any) -> dict[str, Any]:
    return {"outcome": "found", "table": {"columns": COLUMNS, "rows": rows, **table}}


def shown(result: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The reply's notification text and blocks, as Slack gets them; Slack would accept them."""
    table = result_table(result)
    assert table is not None
    fallback, blocks = table.message
    payload = [block.to_dict() for block in blocks]
    assert validate_message_blocks(payload) == []
    return fallback, payload


def table_rows(blocks: list[dict[str, Any]]) -> list[list[str]]:
    [table] = [block for block in blocks if block["type"] == "table"]
    return [[cell["text"] for cell in cells] for cells in table["rows"]]


def texts(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(str(block) for block in blocks if block["type"] != "table")


def test_the_rows_are_a_table_under_the_title_with_the_notes() -> None:
    result = with_table(
        [row(1), row(2, two_factor=False, email=None)],
        title="2 matches for bob in 1 organization (3 searched); 1 not searched.",
        notes=["Not searched: Initech (API access is off)"],
    )

    fallback, blocks = shown(result)

    assert fallback.startswith("2 matches for bob")
    assert blocks[0]["text"]["text"].startswith("2 matches for bob")
    assert "Not searched: Initech (API access is off)" in texts(blocks)
    assert table_rows(blocks) == [
        ["Organization", "Name", "Email", "2FA"],
        ["Acme Corp", "Bob 1", "bob1@example.com", "yes"],
        ["Acme Corp", "Bob 2", "-", "no"],  # Slack refuses an empty cell
    ]
    assert blocks[-1]["type"] == "table"  # Slack shows a table below the rest of the message anyway


def test_any_job_declares_its_own_columns_and_cells_are_one_line() -> None:
    columns = [{"key": "host"}, {"key": "uptime", "label": "Up (days)"}]
    result = {"table": {"columns": columns, "rows": [{"host": "core-1\nrack 2", "uptime": 12.5, "ignored": "x"}]}}

    fallback, blocks = shown(result)

    assert fallback == "1 rows."
    assert table_rows(blocks) == [["host", "Up (days)"], ["core-1 rack 2", "12.5"]]


def test_what_a_job_returns_never_becomes_a_mention_or_markup() -> None:
    hostile = "<!channel> & <https://evil.example|click> *bold*"
    result = with_table([row(1, name=hostile)], title=f"1 match for {hostile}", notes=[f"Not searched: {hostile}"])

    _, blocks = shown(result)

    assert injection_problems(rendered_texts("x", {"blocks": blocks}), set()) == []
    assert "&lt;!channel&gt; &amp;" in texts(blocks) and "<!channel>" not in texts(blocks)
    assert table_rows(blocks)[1][1] == hostile  # raw_text: Slack shows it as it is, and never reads it as mrkdwn
    assert all(cell["type"] == "raw_text" for cells in blocks[-1]["rows"] for cell in cells)


def test_many_rows_are_cut_to_slacks_limit_and_say_where_the_rest_is() -> None:
    _, blocks = shown(with_table([row(n) for n in range(MAX_ROWS + 5)]))

    assert len(table_rows(blocks)) == MAX_ROWS  # the headings and 99 rows
    assert f"…and 6 more rows, not shown here: the file table.csv has all {MAX_ROWS + 5}." in texts(blocks)


def test_a_table_too_large_for_a_message_shows_what_fits_and_long_cells_are_cut() -> None:
    rows = [row(n, name="x" * 1000) for n in range(60)]

    _, blocks = shown(with_table(rows))

    cells = table_rows(blocks)
    assert len(cells[1][1]) == CELL_MAX and cells[1][1].endswith("…")
    assert sum(len(text) for line in cells[1:] for text in line) <= CELLS_BUDGET
    assert f"…and {60 - (len(cells) - 1)} more rows" in texts(blocks)


def test_columns_beyond_slacks_limit_are_counted() -> None:
    columns = [{"key": f"c{n}", "label": f"C{n}"} for n in range(MAX_CELLS + 3)]

    _, blocks = shown({"table": {"columns": columns, "rows": [{f"c{n}": n for n in range(MAX_CELLS + 3)}]}})

    assert [len(line) for line in table_rows(blocks)] == [MAX_CELLS, MAX_CELLS]
    assert "3 more columns are not shown here" in texts(blocks)


def test_no_row_is_the_title_alone_and_other_results_get_no_table() -> None:
    _, blocks = shown(with_table([], title="No match for bob."))

    assert len(blocks) == 1 and "No match for bob." in texts(blocks)
    assert result_table({"matches": [row(1)], "admins": []}) is None  # rows without a declared table
    assert result_table({"table": {"rows": [row(1)]}}) is None  # no columns
    assert result_table({"table": "a table"}) is None
    assert result_table(None) is None


def test_a_field_that_takes_an_email_or_a_name_is_text_and_takes_an_email_from_the_command() -> None:
    query = JobVariable(name="query", label="Email or Name", required=True)
    form = JobForm(job_id="j", job_name="Find Meraki User", variables=[query])

    assert kind_of(query) is Kind.TEXT and query.mentions_email and not query.is_email
    assert parse_command_text("bob@example.com", form).values == {"query": "bob@example.com"}
    assert parse_command_text('"bob smith"', form).values == {"query": "bob smith"}
    assert kind_of(JobVariable(name="user_email", label="User Email")) is Kind.EMAIL


def whole_file(result: dict[str, Any]) -> list[list[str]] | None:
    table = result_table(result)
    assert isinstance(table, ShownTable)
    return list(csv.reader(io.StringIO(table.whole))) if table.whole is not None else None


def test_a_table_cut_for_slack_follows_whole_as_a_csv_file() -> None:
    rows = [row(n) for n in range(MAX_ROWS + 5)]

    lines = whole_file(with_table(rows))

    assert lines is not None and len(lines) == MAX_ROWS + 6  # the headings and every row
    assert lines[0] == ["Organization", "Name", "Email", "2FA"]
    assert lines[-1] == ["Acme Corp", f"Bob {MAX_ROWS + 4}", f"bob{MAX_ROWS + 4}@example.com", "yes"]
    assert whole_file(with_table(rows[:3])) is None  # all shown: no file


def test_in_the_file_a_cell_a_spreadsheet_would_run_as_a_formula_is_text() -> None:
    hostile = '=HYPERLINK("https://evil.example","click")'
    rows = [row(n, name=hostile if n == 0 else f"Bob {n}", email="@bob" if n == 1 else "-1") for n in range(MAX_ROWS)]

    lines = whole_file(with_table(rows))

    assert lines is not None
    assert lines[1][1] == "'" + hostile and lines[2][2] == "'@bob" and lines[3][2] == "'-1"


UNTIL = {"key": "expires_at", "label": "Until", "type": "datetime"}


def with_until(*values: Any, column: dict[str, Any] = UNTIL) -> dict[str, Any]:
    rows = [row(n, expires_at=value) for n, value in enumerate(values)]
    return {"table": {"columns": [*COLUMNS, column], "rows": rows}}


def last_cells(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    [table] = [block for block in blocks if block["type"] == "table"]
    return [cells[-1] for cells in table["rows"][1:]]


def date_of(cell: dict[str, Any]) -> dict[str, Any]:
    """The one ``date`` element of a ``rich_text`` cell."""
    assert cell["type"] == "rich_text"
    [section] = cell["elements"]
    assert section["type"] == "rich_text_section"
    [date] = section["elements"]
    return date


def test_a_datetime_column_shows_each_time_in_the_readers_own_time_zone() -> None:
    _, blocks = shown(with_until("2026-06-01T14:00:00Z", "2026-06-01T16:30:00+02:00", "2026-06-01T14:00:00"))

    [table] = [block for block in blocks if block["type"] == "table"]
    assert table["rows"][0][-1] == {"type": "raw_text", "text": "Until"}
    first, offset, naive = map(date_of, last_cells(blocks))
    assert first == {
        "type": "date",
        "timestamp": 1780322400,  # 2026-06-01 14:00 UTC
        "format": "{date_short_pretty} {time}",
        "fallback": "2026-06-01 14:00 UTC",
    }
    assert offset["timestamp"] == 1780322400 + 30 * 60 and offset["fallback"] == "2026-06-01 14:30 UTC"
    assert naive == first  # no offset: UTC


def test_a_datetime_cell_that_is_no_timestamp_is_plain_text_and_an_empty_one_is_empty() -> None:
    odd = ("soon", None, "", 1780322400, "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00")

    _, blocks = shown(with_until("2026-06-01T14:00:00Z", *odd))

    timestamp, *plain = last_cells(blocks)
    assert date_of(timestamp)["fallback"] == "2026-06-01 14:00 UTC"
    assert plain == [
        {"type": "raw_text", "text": text}
        for text in ("soon", "-", "-", "1780322400", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00")
    ]


def test_only_a_column_of_the_datetime_type_shows_dates() -> None:
    for column, kind in (
        (UNTIL, "rich_text"),
        ({"key": "expires_at", "label": "Until"}, "raw_text"),
        ({**UNTIL, "type": "money"}, "raw_text"),
        ({**UNTIL, "type": None}, "raw_text"),
    ):
        _, blocks = shown(with_until("2026-06-01T14:00:00Z", column=column))

        [cell] = last_cells(blocks)
        assert cell["type"] == kind, column
        assert cell.get("text", "2026-06-01T14:00:00Z") == "2026-06-01T14:00:00Z"


def test_a_datetime_column_too_long_for_a_message_is_dates_there_and_iso_values_in_the_file() -> None:
    result = with_until(*["2026-06-01T14:00:00+02:00", None] * MAX_ROWS)

    _, blocks = shown(result)
    lines = whole_file(result)

    assert date_of(last_cells(blocks)[0])["fallback"] == "2026-06-01 12:00 UTC"
    assert lines is not None and lines[0][-1] == "Until"
    assert [line[-1] for line in lines[1:3]] == ["2026-06-01T14:00:00+02:00", ""]  # as the Job wrote it
