"""Properties of the escaping helpers (bot/messages.py) and of form parsing (bot/forms.py), checked on
generated text: anything a person or Nautobot may send, including Slack's own markup, lone
surrogates, control and bidi characters, and the hostile corpus.

Slack's own checks come from the strict stand-in (``validate_view``, ``validate_message_blocks``).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.models import JobForm, JobRun, LogEntry, ModalContext, RunRequest, RunStatus
from bot.slack import log_messages, messages
from bot.slack import modal as forms
from bot.slack import text as slack_text
from testbed.fake_nautobot import EMAIL_REGEX, JOB, VARIABLES
from testbed.slack_standin import validate_message_blocks, validate_view
from testbed.slack_standin import view_size as slack_view_size
from tests.security.hostile_corpus import ALL
from tests.security.slack_payloads import BARE_AMPERSAND, injection_problems, rendered_texts

pytestmark = pytest.mark.security

EXAMPLES = 300
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FORM = JobForm.from_api(JOB, VARIABLES)
CONTEXT = ModalContext(channel_id="C0SEC0001", user_id="U0SEC0001", job_id=FORM.job_id)
REQUESTER = "U0SEC0001"
RESULT_URL = "https://nautobot.example.com/extras/job-results/62a5b0d4/"
SLACK_SYNTAX = [
    *"<>&!@#|^:/*_~`\"'\\{}= \n\t",
    *["\ud800", "\udfff", "\x00", "\x1b", "\r", "\u202e", "\u2066", "\u200b", "\u200d", "\u2028"],
    *["&amp;", "&lt;", "&gt;", "<!channel>", "<@U123>", "<mailto:"],
]

HOSTILE = st.one_of(
    st.text(),
    st.lists(st.sampled_from(SLACK_SYNTAX + list("abc")), max_size=80).map("".join),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=10),
    st.sampled_from(ALL),
    st.lists(st.sampled_from(ALL) | st.text(max_size=10), max_size=6).map("".join),
)
# What clean() keeps out of anything the bot shows: control characters but \n and \t, bidi controls,
# line and paragraph separators, lone surrogates.
SHOWN_NEVER = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]"
)


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- escaping ------------------------------------------------------------------------------------


@given(HOSTILE)
@PROPERTY
def test_escaped_text_has_no_markup_and_loses_nothing(text: str) -> None:
    escaped = slack_text.escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert not BARE_AMPERSAND.search(escaped)
    assert unescape(escaped) == slack_text.clean(text)


@given(HOSTILE)
@PROPERTY
def test_escaping_twice_shows_the_entities(text: str) -> None:
    """Documented as not idempotent: a second escape shows ``&amp;`` as typed, so escape once."""
    once = slack_text.escape(text)
    twice = slack_text.escape(once)
    assert (twice == once) == (not any(char in slack_text.clean(text) for char in "&<>"))
    assert unescape(twice) == once


@given(HOSTILE, st.integers(min_value=0, max_value=300))
@PROPERTY
def test_a_capped_escape_is_a_prefix_that_ends_on_a_whole_entity(text: str, limit: int) -> None:
    full = slack_text.escape(text)
    capped = slack_text.escape(text, limit=limit)
    assert len(capped) <= limit
    if len(full) <= limit:
        assert capped == full
        return
    assert capped == "" or capped.endswith("…")
    kept = capped.removesuffix("…")
    assert full.startswith(kept)
    assert not BARE_AMPERSAND.search(kept)  # no "&am" left where the cut fell
    assert slack_text.clean(text).startswith(unescape(kept))


@given(HOSTILE)
@PROPERTY
def test_clean_text_is_printable_encodable_and_stable(text: str) -> None:
    cleaned = slack_text.clean(text)
    assert not SHOWN_NEVER.search(cleaned)
    cleaned.encode("utf-8")
    assert slack_text.clean(cleaned) == cleaned


@given(st.lists(st.sampled_from(["\U0001f600", "a", "\u00e9", "\U0001f469\u200d\U0001f4bb"]), max_size=40))
@PROPERTY
def test_surrogate_pairs_survive_cleaning_and_truncation(pieces: list[str]) -> None:
    """Text that reached Python as UTF-16 halves (``surrogatepass``) is joined, never cut in half."""
    text = "".join(pieces)
    as_halves = text.encode("utf-16-le").decode("utf-16-le", "surrogatepass")
    halves = "".join(chr(unit) for unit in memoryview(text.encode("utf-16-le")).cast("H"))
    assert slack_text.clean(halves) == slack_text.clean(as_halves) == text
    for limit in range(len(text) + 2):
        slack_text.truncate(slack_text.clean(halves), limit).encode("utf-8")


@given(HOSTILE, st.integers(min_value=0, max_value=300))
@PROPERTY
def test_truncate_respects_the_limit_and_keeps_a_prefix(text: str, limit: int) -> None:
    cleaned = slack_text.clean(text)
    cut = slack_text.truncate(cleaned, limit)
    assert len(cut) <= limit
    cut.encode("utf-8")
    if len(cleaned) <= limit:
        assert cut == cleaned
    else:
        assert cut == "" or (cut.endswith("…") and cleaned.startswith(cut.removesuffix("…")))


@given(st.lists(HOSTILE, max_size=12), st.integers(min_value=0, max_value=400))
@PROPERTY
def test_packed_log_lines_fit_and_split_no_entity(texts: list[str], limit: int) -> None:
    lines = [slack_text.escape(text) for text in texts]
    chunks = log_messages.pack_lines(lines, limit)
    assert all(len(chunk) <= max(limit, slack_text.ENTITY_MAX) for chunk in chunks)
    assert not any(BARE_AMPERSAND.search(chunk) for chunk in chunks)
    assert "".join(chunks).replace("\n", "") == "".join(lines).replace("\n", "")


ID_LIKE = st.builds(
    "{}{}{}".format, st.sampled_from("UWCGDX<"), st.text("AZ09<>!", max_size=8), st.sampled_from(["", "\n", ">"])
)


@given(HOSTILE, HOSTILE | ID_LIKE)
@PROPERTY
def test_links_and_mentions_come_only_from_trusted_values(url: str, text: str) -> None:
    for shown in (slack_text.link(url, text), slack_text.link(RESULT_URL + text, text)):
        sequences = re.findall(r"<[^<>]*>", shown)
        assert len(sequences) <= 1 and shown.count("<") == len(sequences)
        if sequences:
            target, _, label = sequences[0][1:-1].partition("|")
            assert re.fullmatch(r"https?://[^\s<>|]+", unescape(target)) and "|" not in label
    assert re.fullmatch(r"<@[UW][A-Z0-9]{2,}>", slack_text.mention(text)) or "<" not in slack_text.mention(text)
    assert re.fullmatch(r"<#[CGD][A-Z0-9]{2,}>", slack_text.channel_link(text)) or "<" not in slack_text.channel_link(
        text
    )


# -- messages built from hostile text ------------------------------------------------------------


def message_problems(built: tuple[str, list[Any]], allowed: set[str]) -> list[str]:
    text, blocks = built
    payload = {"text": slack_text.outgoing(text), "blocks": [block.to_dict() for block in blocks]}  # as thread.py sends
    problems = validate_message_blocks(payload["blocks"])
    problems += injection_problems(rendered_texts("chat.postMessage", payload), allowed)
    return problems + ([] if 0 < len(text) <= 40_000 else [f"fallback text of {len(text)} characters"])


def entry(message: str, grouping: str, level: str) -> LogEntry:
    return LogEntry(created=datetime(2026, 11, 2, tzinfo=UTC), log_level=level, grouping=grouping, message=message)


@given(HOSTILE, HOSTILE, HOSTILE, st.booleans())
@PROPERTY
def test_the_parent_message_shows_hostile_inputs_inert(name: str, network: str, job: str, dryrun: bool) -> None:
    request = RunRequest(
        request_id="r1",
        requester_id=REQUESTER,
        channel_id="C0SEC0001",
        job_name=job,
        inputs={"user_email": "bob@example.com", "user_name": name, "meraki_network": network, "dryrun": dryrun},
        dryrun=dryrun,
    )
    run = JobRun(result_id="62a5b0d4", status=RunStatus.FAILED, url=RESULT_URL, job_name=job)
    allowed = {f"<@{REQUESTER}>", slack_text.link(RESULT_URL, "Open the JobResult in Nautobot")}
    for status in (RunStatus.RUNNING, RunStatus.FAILED):
        built = messages.parent_message(request, run, status, form=FORM, cancellable=True)
        assert message_problems(built, allowed) == []


@given(st.lists(st.tuples(HOSTILE, HOSTILE, st.sampled_from(["info", "failure", "error"])), max_size=8), HOSTILE)
@PROPERTY
def test_log_replies_and_failures_show_hostile_log_lines_inert(lines: list[tuple[str, str, str]], other: str) -> None:
    entries = [entry(message, grouping, level) for message, grouping, level in lines]
    run = JobRun(result_id="62a5b0d4", status=RunStatus.FAILED, url=RESULT_URL, job_name=other, traceback=other)
    allowed = {slack_text.link(RESULT_URL, "the JobResult")}
    built = [
        *log_messages.log_messages(entries),
        log_messages.failure_summary(run, entries),
        messages.error_message(other, other, other, url=RESULT_URL),
        log_messages.long_log_message(entries, filename=other),
    ]
    allowed.add(slack_text.link(RESULT_URL, "Open in Nautobot"))
    for message in built:
        assert message_problems(message, allowed) == []


# -- form parsing --------------------------------------------------------------------------------


def view_problems(view: Any) -> list[str]:
    shown = view.to_dict()
    problems = validate_view(shown)
    problems += injection_problems(rendered_texts("views.open", {"view": shown}), set())
    return problems + ([] if slack_view_size(shown) <= 250_000 else ["view_too_large"])


def element(view: Any, block_id: str) -> dict[str, Any]:
    return next(block["element"] for block in view.to_dict()["blocks"] if block.get("block_id") == block_id)


@given(HOSTILE)
@PROPERTY
def test_any_command_text_opens_a_form_slack_accepts_with_everything_placed_shown(text: str) -> None:
    prefill = forms.parse_command_text(text, FORM)
    view = forms.build_modal(FORM, context=CONTEXT, prefill=prefill.values, notice=prefill.notice())
    assert view_problems(view) == []
    for name, value in prefill.values.items():
        shown = element(view, name)
        if shown["type"] in ("plain_text_input", "email_text_input"):
            assert shown.get("initial_value") == value, name
        elif shown["type"] == "static_select":
            assert shown["initial_option"]["value"] == value, name
        else:
            assert bool(shown.get("initial_options")) == value, name
    errors = forms.validate(prefill.values, FORM, email_regex=EMAIL_REGEX)
    assert set(errors) <= {var.name for var in FORM.variables} and all(errors.values())


STATE_VALUE = st.fixed_dictionaries(
    {},
    optional={
        "value": HOSTILE | st.none() | st.integers(),
        "selected_option": st.fixed_dictionaries({"value": HOSTILE}) | HOSTILE | st.none(),
        "selected_options": st.lists(st.fixed_dictionaries({"value": HOSTILE}) | HOSTILE, max_size=3),
    },
)


@given(st.dictionaries(st.sampled_from([var.name for var in FORM.variables]), STATE_VALUE))
@PROPERTY
def test_any_submission_reads_and_validates_into_field_errors_or_sendable_data(state: dict[str, Any]) -> None:
    values = forms.read_submission({name: {forms.ACTION_ID: action} for name, action in state.items()}, FORM)
    errors = forms.validate(values, FORM, email_regex=EMAIL_REGEX)
    assert set(errors) <= set(state) | {var.name for var in FORM.variables if var.required}
    assert all(isinstance(message, str) and 0 < len(message) <= 2000 for message in errors.values())
    if not errors:  # what goes to Nautobot: encodable, single-line, and exactly what was offered or typed
        for name, value in values.items():
            if isinstance(value, str):
                value.encode("utf-8")
                assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in value), name


# -- round trips ---------------------------------------------------------------------------------

NAME_CHARACTERS = st.characters(
    exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"), exclude_characters="\"\u201c\u201d'\u2018\u2019"
)
NAME_PIECES = NAME_CHARACTERS | st.sampled_from(["<!channel>", "&amp;", "<mailto:a@b.c|x>", " "])
NAMES = st.lists(NAME_PIECES, max_size=40).map("".join).map(str.strip).filter(lambda name: name and len(name) <= 255)
EMAILS = st.builds(
    "{}@example.{}".format,
    st.text(st.sampled_from("abcxyzABC0189._%+-"), min_size=1, max_size=40),
    st.sampled_from(["com", "org"]),
)
# A default of "" (the duration's "Until removed") is no option a select can hold: the bot leaves it out of the run's
# data, and Nautobot applies the same default.
DEFAULTS = {var.name: var.default for var in FORM.variables if var.default not in (None, False, "")}
CHOICES = {var.name: [value for value, _ in var.choices] for var in FORM.variables if var.choices}
VALID = st.fixed_dictionaries(
    {
        "user_email": EMAILS,
        "user_name": NAMES,
        "meraki_org_id": st.sampled_from(CHOICES["meraki_org_id"]),
        "meraki_access_level": st.sampled_from(CHOICES["meraki_access_level"]),
        "dryrun": st.booleans(),
    },
    optional={
        "meraki_network": NAMES,
        "meraki_network_access": st.sampled_from(CHOICES["meraki_network_access"]),
        "duration": st.sampled_from([value for value in CHOICES["duration"] if value]),
    },
)


def pressing_run(view: Any) -> dict[str, Any]:
    """``view.state.values`` when a person presses Run on the form as it was opened."""
    state = {}
    for block in view.to_dict()["blocks"]:
        if block.get("type") != "input":
            continue
        shown = block["element"]
        action = {"type": shown["type"]}
        if "initial_value" in shown:
            action["value"] = shown["initial_value"]
        if "initial_option" in shown:
            action["selected_option"] = shown["initial_option"]
        if shown["type"] == "checkboxes":
            action["selected_options"] = shown.get("initial_options") or []
        state[block["block_id"]] = {shown["action_id"]: action}
    return state


@given(VALID)
@PROPERTY
def test_valid_values_come_back_unchanged_through_the_form(values: dict[str, Any]) -> None:
    view = forms.build_modal(FORM, context=CONTEXT, prefill=values)
    assert view_problems(view) == []
    read = forms.read_submission(pressing_run(view), FORM)
    assert read == DEFAULTS | values  # an optional field left alone keeps the Job's default
    assert forms.validate(read, FORM, email_regex=EMAIL_REGEX) == {}


def as_slack_sends(text: str) -> str:
    """Slash command text arrives with ``&``, ``<`` and ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CHOICE_WORDS = {word.casefold() for var in FORM.variables for pair in var.choices for word in pair}


def picks_a_choice(name: str) -> bool:
    """A quoted word that names a choice (or starts only one choice's label) fills that choice instead."""
    wanted = name.casefold()
    return wanted in CHOICE_WORDS or (len(wanted) >= 3 and any(word.startswith(wanted) for word in CHOICE_WORDS))


@given(EMAILS, st.sampled_from(CHOICES["meraki_access_level"]), NAMES, st.booleans())
@PROPERTY
def test_command_text_round_trips(email: str, access: str, name: str, dryrun: bool) -> None:
    assume(not picks_a_choice(name))
    text = f'{email} {access} "{as_slack_sends(name)}"' + (" dry-run" if dryrun else "")
    prefill = forms.parse_command_text(text, FORM)
    expected = {"user_email": email, "meraki_access_level": access, "user_name": name}
    assert prefill.values == {**expected, **({"dryrun": True} if dryrun else {})}
    assert prefill.unused == []
