"""Every message the bot posts: escaping, the parent status message, the log thread, errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block, ContextBlock, SectionBlock

from bot.models import JobForm, JobRun, JobVariable, LogEntry, RunRequest, RunStatus
from bot.slack.log_messages import (
    LEVEL_ICONS,
    LONG_LOG_ENTRIES,
    MESSAGE_BLOCKS_MAX,
    failure_summary,
    is_long_log,
    log_file,
    log_messages,
    long_log_message,
    pack_lines,
)
from bot.slack.messages import (
    STATUS_ICONS,
    cannot_post_in_channel,
    error_message,
    format_duration,
    parent_message,
)
from bot.slack.text import SECTION_MAX, channel_link, clean, escape, link, mention, outgoing, truncate

RAW_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")
T0 = datetime(2026, 11, 25, 20, 15, tzinfo=UTC)


def rendered(message: tuple[str, list[Block]]) -> tuple[str, list[dict[str, Any]]]:
    """``to_dict()`` runs slack_sdk's validation of every block; the text as it is sent (escaped by thread.py)."""
    text, blocks = message
    assert isinstance(text, str) and text
    assert 1 <= len(blocks) <= MESSAGE_BLOCKS_MAX
    return outgoing(text), [block.to_dict() for block in blocks]


def all_text(blocks: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for block in blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts.extend(field["text"] for field in block.get("fields", []))
        parts.extend(element.get("text", "") for element in block.get("elements", []))
    return "\n".join(parts)


def entry(message: str, level: str = "info", grouping: str = "run", obj: str | None = None) -> LogEntry:
    return LogEntry(created=T0, log_level=level, grouping=grouping, message=message, log_object=obj)


# -- escaping ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U1>", "&lt;@U1&gt;"),
        ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ("a & b", "a &amp; b"),
        ("&amp;", "&amp;amp;"),
        ("&lt;!here&gt;", "&amp;lt;!here&amp;gt;"),
        ("line\nnext\ttab", "line\nnext\ttab"),
        ("bell\x07 esc\x1b del\x7f", "bell esc del"),
        ("win\r\nline", "win\nline"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("rtl \u202egnp.exe", "rtl gnp.exe"),
        ("emoji 🙂", "emoji 🙂"),
    ],
)
def test_escape(text: str, escaped: str) -> None:
    assert escape(text) == escaped


def test_escape_caps_length_without_splitting_an_entity() -> None:
    assert escape("a" * 10, limit=5) == "aaaa…"
    assert escape("abc<def", limit=6) == "abc…"
    assert escape("abc&", limit=8) == "abc&amp;"
    assert escape("", limit=0) == ""


def test_clean_and_truncate() -> None:
    assert clean("a\x00b") == "ab"
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 3) == "abc"
    assert truncate("abc", 0) == ""


def assert_inert(text: str, limit: int | None) -> None:
    escaped = escape(text, limit=limit)
    assert "<" not in escaped and ">" not in escaped
    assert not RAW_AMPERSAND.search(escaped)
    escaped.encode("utf-8")
    if limit is not None:
        assert len(escaped) <= limit


@given(st.text(), st.none() | st.integers(min_value=0, max_value=50))
def test_escaped_text_is_inert(text: str, limit: int | None) -> None:
    assert_inert(text, limit)


@given(
    st.text(alphabet=st.sampled_from(list("<>&!@|:/ a\ud800\x00\u202e")), max_size=200),
    st.none() | st.integers(min_value=0, max_value=30),
)
def test_escaped_slack_syntax_is_inert(text: str, limit: int | None) -> None:
    assert_inert(text, limit)


def test_mentions_and_links_only_for_trusted_ids_and_urls() -> None:
    assert mention("U0123ABC") == "<@U0123ABC>"
    assert mention("W0123ABC") == "<@W0123ABC>"
    assert mention("<!channel>") == "&lt;!channel&gt;"
    assert channel_link("C0123") == "<#C0123>"
    assert channel_link("<!here>") == "&lt;!here&gt;"
    assert link("https://n.example/x?a=1&b=2", "Open <it>") == "<https://n.example/x?a=1&amp;b=2|Open &lt;it&gt;>"
    assert link("javascript:alert(1)", "Open") == "Open"
    assert link("https://n.example/a|b", "Open") == "Open"
    assert link(None, "a|b") == "a¦b"


def test_ids_and_urls_with_a_trailing_newline_are_not_trusted() -> None:
    """``$`` would match before the newline, which would then sit inside the ``<...>``."""
    assert mention("U0123ABC\n") == "U0123ABC\n"
    assert channel_link("C0123\n") == "C0123\n"
    assert link("https://n.example/x\n", "Open") == "Open"


def test_escaping_twice_shows_the_entity() -> None:
    """Not idempotent, as documented: escape each piece of text once."""
    assert escape("a & b") == "a &amp; b"
    assert escape(escape("a & b")) == "a &amp;amp; b"


# -- the parent message --------------------------------------------------------------------------

FORM = JobForm(
    job_id="j",
    job_name="Create Meraki User",
    variables=[
        JobVariable(name="user_email", label="User Email, regex: ^.*$", required=True),
        JobVariable(
            name="meraki_org_id",
            type="ChoiceVar",
            label="Meraki Organization",
            choices=[("111111", "Acme Corp (111111)")],
        ),
        JobVariable(name="meraki_network", label="Meraki Network"),
        JobVariable(name="dryrun", type="DryRunVar"),
    ],
)
REQUEST = RunRequest(
    request_id="V1",
    requester_id="U0456",
    channel_id="C0123",
    job_name="Create Meraki User",
    inputs={"meraki_org_id": "111111", "user_email": "bob@example.com", "meraki_network": None, "dryrun": False},
)
RUN = JobRun(
    result_id="r1",
    status=RunStatus.SUCCEEDED,
    url="https://nautobot.example.com/extras/job-results/r1/",
    job_name="Create Meraki User",
    date_created=T0,
    date_started=T0 + timedelta(seconds=2),
    date_done=T0 + timedelta(seconds=74),
    log_counts={"info": 5, "warning": 1},
)


def test_parent_message_for_a_submitted_request() -> None:
    text, blocks = rendered(parent_message(REQUEST, form=FORM))
    assert text == "📨 Create Meraki User: Sending the request to Nautobot…"
    body = all_text(blocks)
    assert "Requested by <@U0456>" in body
    assert "*User Email*\nbob@example.com" in body
    assert "*Meraki Organization*\nAcme Corp (111111)" in body
    assert "*Meraki Network*\n—" in body
    assert "Dry run" not in body
    assert body.index("User Email") < body.index("Meraki Organization")
    assert "Open" not in body


def test_parent_message_does_not_repeat_who_asked_or_approved_as_an_input() -> None:
    filled_by_bot = {"requested_by": "Slack user U0456 (alice)", "approved_by": "Slack users U0AAA (carol)"}
    asked = REQUEST.model_copy(update={"inputs": {**REQUEST.inputs, **filled_by_bot}})
    _, blocks = rendered(parent_message(asked, form=FORM))
    body = all_text(blocks)
    assert body.count("Requested by") == 1
    assert "Approved by" not in body and "U0AAA" not in body


@pytest.mark.parametrize(
    ("status", "icon", "words"),
    [
        (RunStatus.QUEUED, "⏳", "Queued"),
        (RunStatus.DENIED, "⛔", "Not approved"),
        (RunStatus.RUNNING, "🏃", "Running"),
        (RunStatus.AWAITING_APPROVAL, "🕒", "approval"),
        (RunStatus.SUCCEEDED, "✅", "Succeeded"),
        (RunStatus.FAILED, "❌", "Failed"),
        (RunStatus.CANCELLED, "🚫", "Cancelled"),
        (RunStatus.TIMED_OUT, "⌛", "Still running in Nautobot"),
    ],
)
def test_parent_message_status_icons(status: RunStatus, icon: str, words: str) -> None:
    text, blocks = rendered(parent_message(REQUEST, RUN, status, form=FORM, elapsed=timedelta(minutes=3)))
    assert STATUS_ICONS[status] == icon
    assert text.startswith(icon)
    assert words in blocks[0]["text"]["text"]
    assert "<https://nautobot.example.com/extras/job-results/r1/|Open the JobResult in Nautobot>" in all_text(blocks)


def test_parent_message_final_state_shows_duration_and_log_counts() -> None:
    _, blocks = rendered(parent_message(REQUEST, RUN, form=FORM))
    footer = blocks[-1]["elements"][0]["text"]
    assert "Took 1m 12s" in footer
    assert "Log: 5 info · 1 warning" in footer


def test_a_time_bound_grant_says_until_when_in_each_readers_time_zone() -> None:
    revoke = {"scheduled_job_id": "s1", "start_time": "2026-12-07T15:00:00Z", "job": "Revoke", "grant": {}}
    granted = RUN.model_copy(update={"result": {"outcome": "raised", "revoke": revoke}})
    unparsable = RUN.model_copy(update={"result": {"revoke": {**revoke, "start_time": "soon"}}})

    _, blocks = rendered(parent_message(REQUEST, granted, form=FORM))
    footer = blocks[-1]["elements"][0]["text"]
    assert "⏳ Until <!date^1796655600^{date_short_pretty} {time}|2026-12-07 15:00 UTC>, then revoked" in footer
    for run in (RUN, unparsable, granted.model_copy(update={"status": RunStatus.FAILED})):
        _, blocks = rendered(parent_message(REQUEST, run, form=FORM))
        assert "Until" not in str(blocks)


def test_parent_message_final_state_without_known_counts_names_none() -> None:
    uncounted = RUN.model_copy(update={"log_counts": None})
    _, blocks = rendered(parent_message(REQUEST, uncounted, form=FORM))
    footer = blocks[-1]["elements"][0]["text"]
    assert "Took 1m 12s" in footer
    assert "Log:" not in footer  # not "no log lines" while the thread holds them


def test_parent_message_while_running_shows_elapsed_time_but_no_counts() -> None:
    running = RUN.model_copy(update={"status": RunStatus.RUNNING, "date_done": None})
    _, blocks = rendered(parent_message(REQUEST, running, elapsed=timedelta(seconds=45)))
    footer = blocks[-1]["elements"][0]["text"]
    assert "Waiting for 45s" in footer
    assert "Log:" not in footer


def test_parent_message_timed_out_uses_elapsed_time() -> None:
    _, blocks = rendered(parent_message(REQUEST, RUN, RunStatus.TIMED_OUT, elapsed=timedelta(hours=1, minutes=2)))
    assert "Took 1h 02m" in blocks[-1]["elements"][0]["text"]


def test_parent_message_awaiting_approval_links_to_nautobot() -> None:
    _, blocks = rendered(
        parent_message(REQUEST, None, RunStatus.AWAITING_APPROVAL, nautobot_url="https://n.example/approvals/")
    )
    assert "<https://n.example/approvals/|Open in Nautobot>" in all_text(blocks)


def test_parent_message_for_a_dry_run() -> None:
    request = REQUEST.model_copy(update={"dryrun": True, "inputs": {**REQUEST.inputs, "dryrun": True}})
    text, blocks = rendered(parent_message(request, RUN, form=FORM))
    assert "(dry run)" in text
    assert "Dry run succeeded: nothing was changed." in blocks[0]["text"]["text"]


def test_parent_message_escapes_everything_people_typed() -> None:
    request = RunRequest(
        request_id="V1",
        requester_id="<!channel>",
        channel_id="C1",
        job_name="<!here> Job",
        inputs={"user_name": "<@U999> <https://evil|click> &amp;", "flag": True, "tags": ["<a>"], "json": {"k": "<"}},
    )
    text, blocks = rendered(parent_message(request))
    body = all_text(blocks)
    for raw in ("<!channel>", "<!here>", "<@U999>", "<https://evil|click>", "<a>"):
        assert raw not in body and raw not in text
    assert "&lt;@U999&gt; &lt;https://evil|click&gt; &amp;amp;" in body
    assert "*Flag*\nYes" in body
    assert "*User name*" in body


def test_parent_message_with_many_inputs_stays_within_limits() -> None:
    request = REQUEST.model_copy(update={"inputs": {f"v{n}": "x" * 3000 for n in range(60)}})
    _, blocks = rendered(parent_message(request))
    assert "…and 20 more inputs" in all_text(blocks)
    assert all(len(field["text"]) <= 2000 for block in blocks for field in block.get("fields", []))


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=61), "1m 01s"),
        (timedelta(hours=2, minutes=5), "2h 05m"),
        (timedelta(seconds=-3), "0s"),
    ],
)
def test_format_duration(span: timedelta, text: str) -> None:
    assert format_duration(span) == text


# -- the log thread ------------------------------------------------------------------------------


def test_log_messages_show_icons_groupings_and_escaped_messages() -> None:
    entries = [
        entry("Running job (source version: abc)", grouping="initialization"),
        entry("Organization Acme (111111) is reachable.", "info"),
        entry("Network <!channel> not found", "warning", obj="<@U1>"),
        entry("Created admin", "success"),
    ]
    messages = [rendered(message) for message in log_messages(entries)]
    assert len(messages) == 1
    text, blocks = messages[0]
    assert text == "Job log"
    assert blocks[0]["text"]["text"] == (
        "*initialization*\n"
        f"{LEVEL_ICONS['info']} Running job (source version: abc)\n"
        "*run*\n"
        f"{LEVEL_ICONS['info']} Organization Acme (111111) is reachable.\n"
        "⚠️ Network &lt;!channel&gt; not found _(&lt;@U1&gt;)_\n"
        "✅ Created admin"
    )


@pytest.mark.parametrize("level", ["debug", "info", "success", "warning", "failure", "error", "critical"])
def test_every_level_has_an_icon(level: str) -> None:
    assert LEVEL_ICONS[level] in log_messages([entry("m", level)])[0][1][0].text.text


def test_an_empty_log_says_so() -> None:
    text, blocks = rendered(log_messages([])[0])
    assert text == "The Job wrote no log lines."
    assert blocks[0]["text"]["text"] == "The Job wrote no log lines."


def test_long_logs_are_split_within_slack_limits() -> None:
    entries = [
        entry(f"line {n} " + "<&>" * 300, "info" if n % 3 else "error", grouping=f"g{n // 50}") for n in range(400)
    ]
    messages = log_messages(entries)
    assert len(messages) > 1
    for number, message in enumerate(messages, start=1):
        text, blocks = rendered(message)
        assert text == f"Job log, part {number} of {len(messages)}"
        assert len(blocks) <= MESSAGE_BLOCKS_MAX
        assert sum(len(block["text"]["text"]) for block in blocks) <= 12_000
        for block in blocks:
            assert len(block["text"]["text"]) <= SECTION_MAX
            assert not RAW_AMPERSAND.search(block["text"]["text"])
    joined = "\n".join(block.text.text for _, blocks in messages for block in blocks)
    assert all(f"line {n} " in joined for n in range(400))


def test_a_single_huge_log_line_is_split_without_breaking_entities() -> None:
    messages = log_messages([entry("&" * 20_000)], max_chars_per_message=6000)
    sections = [block.text.text for _, blocks in messages for block in blocks]
    assert all(len(text) <= SECTION_MAX for text in sections)
    assert all(not RAW_AMPERSAND.search(text) for text in sections)
    assert "".join(sections).count("&amp;") == 20_000


def test_log_messages_respect_a_block_limit() -> None:
    entries = [entry("x" * 2900) for _ in range(30)]
    messages = log_messages(entries, max_chars_per_message=10**9, max_blocks=4)
    assert all(len(blocks) <= 4 for _, blocks in messages)
    assert sum(len(blocks) for _, blocks in messages) == 30


@given(
    st.lists(
        st.builds(
            entry,
            st.text(max_size=400) | st.integers(0, 5000).map(lambda n: "&<" * n),
            st.sampled_from(["debug", "info", "success", "warning", "failure", "error", "critical"]),
            st.text(max_size=20),
            st.none() | st.text(max_size=50),
        ),
        max_size=40,
    ),
    st.integers(min_value=1, max_value=20_000),
)
def test_log_messages_always_valid(entries: list[LogEntry], max_chars: int) -> None:
    for message in log_messages(entries, max_chars_per_message=max_chars):
        _, blocks = rendered(message)
        for block in blocks:
            assert len(block["text"]["text"]) <= SECTION_MAX
            assert "<" not in block["text"]["text"]


def test_pack_lines() -> None:
    assert pack_lines(["a", "b", "c"], limit=3) == ["a\nb", "c"]
    assert pack_lines(["x" * 250], limit=100) == ["x" * 100, "x" * 100, "x" * 50]


def test_pack_lines_with_a_limit_shorter_than_an_entity_still_ends() -> None:
    assert pack_lines(["&amp;&lt;"], limit=3) == ["&amp;", "&lt;"]


def test_every_mrkdwn_text_is_verbatim() -> None:
    """Slack then links and pings nothing on its own: the only links and mentions are the bot's."""
    request = REQUEST.model_copy(update={"inputs": {**REQUEST.inputs, "meraki_network": "@here https://evil.example"}})
    _, blocks = rendered(parent_message(request, RUN, RunStatus.RUNNING, form=FORM, cancellable=True))
    found: list[dict[str, Any]] = []

    def collect(item: Any) -> None:
        if isinstance(item, dict):
            if item.get("type") == "mrkdwn":
                found.append(item)
            for value in item.values():
                collect(value)
        elif isinstance(item, list):
            for value in item:
                collect(value)

    collect(blocks)
    assert len(found) >= 4
    assert all(item.get("verbatim") is True for item in found), found


def test_long_logs_go_to_a_file() -> None:
    short = [entry("ok")] * 10
    long = [entry("ok")] * (LONG_LOG_ENTRIES + 1)
    assert not is_long_log(short)
    assert is_long_log(long)
    assert is_long_log([entry("x" * 20_000)])
    text, blocks = rendered(long_log_message(long, filename="job-<log>.txt"))
    assert f"{LONG_LOG_ENTRIES + 1} lines" in text
    assert "`job-&lt;log&gt;.txt`" in all_text(blocks)
    assert f"{LONG_LOG_ENTRIES + 1} info" in all_text(blocks)


def test_log_file_is_plain_text() -> None:
    content = log_file([entry("first\nsecond", "warning", obj="Acme"), entry("bad \x00\ud800", "error", "")])
    assert content == (
        "2026-11-25T20:15:00+00:00  warning   run               first\n    second  [Acme]\n"
        "2026-11-25T20:15:00+00:00  error     -                 bad \ufffd\n"
    )
    content.encode("utf-8")


# -- failures and errors -------------------------------------------------------------------------

FAILED_RUN = RUN.model_copy(
    update={
        "status": RunStatus.FAILED,
        "result": {"exc_type": "RuntimeError", "exc_module": "builtins", "exc_message": ["boom <!channel>"]},
        "traceback": "Traceback...\nRuntimeError: boom\n",
    }
)


def test_failure_summary_shows_the_exception_and_failing_lines() -> None:
    entries = [entry("fine"), entry("Meraki refused <x>", "failure"), entry("Crash", "critical")]
    text, blocks = rendered(failure_summary(FAILED_RUN, entries))
    body = all_text(blocks)
    assert text == "❌ Create Meraki User failed: RuntimeError: boom &lt;!channel&gt;"
    assert "`RuntimeError: boom &lt;!channel&gt;`" in body
    assert "❌ Meraki refused &lt;x&gt;" in body
    assert "🔥 Crash" in body
    assert "fine" not in body


def test_failure_summary_falls_back_to_the_traceback_and_caps_lines() -> None:
    run = FAILED_RUN.model_copy(update={"result": None})
    entries = [entry(f"bad {n}", "error") for n in range(15)]
    _, blocks = rendered(failure_summary(run, entries))
    body = all_text(blocks)
    assert "`RuntimeError: boom`" in body
    assert "bad 9" in body and "bad 10" not in body
    assert "…and 5 more failing lines in the log." in body


def test_failure_summary_without_details_points_to_nautobot() -> None:
    run = FAILED_RUN.model_copy(update={"result": None, "traceback": None})
    text, blocks = rendered(failure_summary(run, [entry("ok")]))
    assert "no error message recorded" in text
    assert "<https://nautobot.example.com/extras/job-results/r1/|the JobResult>" in all_text(blocks)
    rendered(failure_summary(None, []))


def test_error_message_says_what_happened_what_was_done_and_what_next() -> None:
    text, blocks = rendered(
        error_message(
            "Nautobot answered 503 <!channel>",
            "Nothing was submitted.",
            "Try again in a minute.",
            url="https://n.example/",
        )
    )
    body = all_text(blocks)
    assert "*What happened:* Nautobot answered 503 &lt;!channel&gt;" in body
    assert "*What was done:* Nothing was submitted." in body
    assert "*What to do:* Try again in a minute." in body
    assert "<https://n.example/|Open in Nautobot>" in body
    assert "<!channel>" not in text
    assert isinstance(error_message("a", "b", "c")[1][0], SectionBlock)
    assert len(error_message("a", "b", "c", url="ftp://x")[1]) == 1


@pytest.mark.parametrize("submitted", [False, True])
def test_cannot_post_in_channel_explains_how_to_invite_the_bot(submitted: bool) -> None:
    text, blocks = rendered(cannot_post_in_channel("C0123", bot_name="meraki-admin", submitted=submitted))
    body = all_text(blocks)
    assert "<#C0123>" in body
    assert "`/invite @meraki-admin`" in body
    assert ("Nothing was submitted." in body) is not submitted
    assert "/invite @meraki-admin" in text


def test_blocks_are_slack_sdk_objects() -> None:
    _, blocks = parent_message(REQUEST, RUN, form=FORM)
    assert isinstance(blocks[0], SectionBlock)
    assert isinstance(blocks[-1], ContextBlock)
