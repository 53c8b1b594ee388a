"""The Slack stand-ins refuse a table block the way Slack does: its limits, its cells, one a message."""

from __future__ import annotations

from typing import Any

from testbed.block_kit import validate_message_blocks, validate_view


def cell(text: str = "x") -> dict[str, Any]:
    return {"type": "raw_text", "text": text}


def table(rows: list[list[dict[str, Any]]], **more: Any) -> dict[str, Any]:
    return {"type": "table", "rows": rows, **more}


def test_a_table_within_slacks_limits_is_accepted() -> None:
    number = {"type": "raw_number", "value": 12.5, "text": "12.5"}
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": "a"}]}
    rich = {"type": "rich_text", "elements": [section]}
    settings = [{"align": "right", "is_wrapped": True}, None]
    assert validate_message_blocks([table([[cell()] * 20] * 100, column_settings=settings)]) == []
    assert validate_message_blocks([table([[cell(), number, rich]])]) == []


def test_too_many_rows_or_cells_are_refused() -> None:
    assert "no more than 100 items allowed" in validate_message_blocks([table([[cell()]] * 101)])[0]
    assert "/rows/0" in validate_message_blocks([table([[cell()] * 21])])[0]
    assert validate_message_blocks([table([])]) != []
    assert validate_message_blocks([table([[]])]) != []


def test_a_cell_must_be_a_known_kind_with_text() -> None:
    assert "json-pointer:/blocks/0/rows/0/0/text" in validate_message_blocks([table([[cell("")]])])[0]
    assert "raw_text, raw_number, rich_text" in validate_message_blocks([table([[{"type": "mrkdwn", "text": "x"}]])])[0]
    assert validate_message_blocks([table([["x"]])]) != []
    assert validate_message_blocks([table([[{"type": "raw_number", "value": "1", "text": "1"}]])]) != []


def test_column_settings_are_checked() -> None:
    assert validate_message_blocks([table([[cell()]], column_settings=[{"align": "middle"}])]) != []
    assert validate_message_blocks([table([[cell()]], column_settings=[{"is_wrapped": "yes"}])]) != []
    assert validate_message_blocks([table([[cell()]], column_settings=[{}] * 21)]) != []


def test_one_table_a_message_and_none_in_a_view() -> None:
    assert any("only_one_table_allowed" in problem for problem in validate_message_blocks([table([[cell()]])] * 2))
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [table([[cell()]])]}
    assert any("only supported in messages" in problem for problem in validate_view(view))


def date(**fields: Any) -> dict[str, Any]:
    return {"type": "date", **fields}


def rich(*inline: dict[str, Any], kind: str = "rich_text_section") -> dict[str, Any]:
    return {"type": "rich_text", "elements": [{"type": kind, "elements": list(inline)}]}


def test_a_rich_text_cell_is_checked_and_a_malformed_one_refused() -> None:
    def problems(*inline: dict[str, Any], kind: str = "rich_text_section") -> list[str]:
        return validate_message_blocks([table([[cell(), rich(*inline, kind=kind)]])])

    when = date(timestamp=1780322400, format="{date_short_pretty} {time}", fallback="2026-06-01 14:00 UTC")
    assert problems(when) == problems(date(timestamp=0, format="{time}", url="https://example.com")) == []
    assert problems({"type": "text", "text": "a"}, {"type": "user", "user_id": "U1"}, kind="rich_text_quote") == []
    at = "json-pointer:/blocks/0/rows/0/1/elements/0/elements/0"
    assert problems(date(format="{time}")) == [f"[ERROR] missing required field [{at}/timestamp]"]
    assert problems(date(timestamp="1780322400", format="{time}")) == [
        f"[ERROR] must provide an integer [{at}/timestamp]"
    ]
    assert problems(date(timestamp=True, format="{time}")) != []
    assert problems(date(timestamp=1780322400)) == [f"[ERROR] missing required field [{at}/format]"]
    assert problems(date(timestamp=1780322400, format="{time}", fallback=5)) != []
    assert problems({"type": "text"}) != [] and problems({"type": "mrkdwn", "text": "x"}) != []
    assert (
        validate_message_blocks([table([[{"type": "rich_text", "elements": [{"type": "text", "text": "x"}]}]])]) != []
    )
    assert validate_message_blocks([table([[{"type": "rich_text", "elements": []}]])]) != []
    assert problems(kind="rich_text_list") != []  # a list has a style


def test_a_rich_text_block_is_checked_the_same_way() -> None:
    block = rich(date(format="{time}"))
    assert any("/blocks/0/elements/0/elements/0/timestamp" in problem for problem in validate_message_blocks([block]))
    assert validate_message_blocks([rich(date(timestamp=1, format="{time}"))]) == []
