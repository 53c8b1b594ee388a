"""What Find Meraki User found, as a compact table in the thread."""

from __future__ import annotations

from typing import Any

from bot.models import JobForm, JobVariable
from bot.slack.modal import Kind, kind_of, parse_command_text
from bot.slack.result_table import ROWS_SHOWN, result_table


def row(n: int, **more: Any) -> dict[str, Any]:
    return {
        "organization_id": "111111",
        "organization_name": "Acme Corp",
        "admin_id": f"a{n}",
        "name": f"Bob {n}",
        "email": f"bob{n}@example.com",
        "org_access": "read-only",
        "networks": [],
        "tags": [],
        "account_status": "ok",
        "two_factor": True,
        "last_active": "2026-11-20 10:00:00",
        **more,
    }


def text_of(blocks: list[Any]) -> str:
    return "\n".join(str(block.to_dict()) for block in blocks)


def test_matches_become_one_line_each_under_the_summary() -> None:
    result = {
        "summary": "2 matches for bob in 1 organization (3 searched); 1 not searched.",
        "matches": [row(1), row(2, networks=[{"id": "N1"}])],
    }
    result["not_searched"] = [{"organization_id": "3", "organization_name": "Initech", "reason": "API access is off"}]

    fallback, blocks = result_table(result)  # type: ignore[misc]

    assert fallback.startswith("2 matches for bob")
    table = blocks[1].to_dict()["text"]["text"]
    lines = table.strip("`").splitlines()
    assert lines[0].split() == ["Organization", "Name", "Email", "Access", "2FA", "Last", "seen"]
    assert "bob1@example.com" in lines[1] and lines[1].endswith("yes  2026-11-20")
    assert "read-only +1 net" in lines[2]  # network access is in the log
    assert "Not searched: Initech (API access is off)" in text_of(blocks)


def test_what_an_administrator_is_called_is_escaped() -> None:
    _, blocks = result_table({"matches": [row(1, name="<!channel> & co")]})  # type: ignore[misc]

    shown = text_of(blocks)
    assert "&lt;!channel&gt; &amp; co" in shown and "<!channel>" not in shown


def test_many_matches_are_cut_and_say_where_the_rest_is() -> None:
    _, blocks = result_table({"matches": [row(n) for n in range(ROWS_SHOWN + 5)]})  # type: ignore[misc]

    assert len(blocks[1].to_dict()["text"]["text"].splitlines()) == ROWS_SHOWN + 1
    assert "…and 5 more: every match is in the log." in text_of(blocks)


def test_no_match_is_the_summary_alone_and_other_results_get_no_table() -> None:
    _, blocks = result_table({"matches": [], "summary": "No match for bob."})  # type: ignore[misc]

    assert len(blocks) == 1 and "No match for bob." in text_of(blocks)
    assert result_table({"admins": []}) is None
    assert result_table(None) is None


def test_a_field_that_takes_an_email_or_a_name_is_text_and_takes_an_email_from_the_command() -> None:
    query = JobVariable(name="query", label="Email or Name", required=True)
    form = JobForm(job_id="j", job_name="Find Meraki User", variables=[query])

    assert kind_of(query) is Kind.TEXT and query.mentions_email and not query.is_email
    assert parse_command_text("bob@example.com", form).values == {"query": "bob@example.com"}
    assert parse_command_text('"bob smith"', form).values == {"query": "bob smith"}
    assert kind_of(JobVariable(name="user_email", label="User Email")) is Kind.EMAIL
