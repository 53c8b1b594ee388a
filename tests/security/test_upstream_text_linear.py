"""Text from upstream (Nautobot's error pages, a Job's labels, a command's words) is read in linear time, and only
up to a cap: no wall clock here, the work is counted or the cap is shown.

Work is counted with a profiler hook: every Python line run and every call into C. A backtracking regex does its
work inside one C call, so the hook also names the C functions called, and a regex is not among them where the
text is walked in Python.
"""

from __future__ import annotations

import copy

import httpx
import pytest
import re2
from pydantic import SecretStr

from bot.models import JobForm, JobVariable
from bot.nautobot import responses
from bot.slack.modal import parse_command_text, validate
from testbed.fake_nautobot import JOB, VARIABLES
from tests.security.steps import Steps, regex_calls, steps_of

pytestmark = pytest.mark.security

TOKEN = "0123456789abcdef0123456789abcdef01234567"


# -- a non-JSON Nautobot error body --------------------------------------------------------------


def answers() -> responses.Answers:
    return responses.Answers("https://nautobot.example.com", SecretStr(TOKEN), 5.0)


def page(body: str, status: int = 502) -> httpx.Response:
    return httpx.Response(status, text=body, request=httpx.Request("POST", "https://nautobot.example.com/api/x/"))


def test_an_error_page_is_read_only_up_to_its_cap() -> None:
    """Past the cap nothing is read: text after 64 KiB of tags never reaches the excerpt."""
    padding = "<x>" * (responses.BODY_READ_MAX // 3 + 1)
    excerpt = answers().excerpt(page(padding + "read past the cap"))
    assert "read past the cap" not in excerpt
    assert answers().excerpt(page("<p>502 Bad Gateway</p>")) == "502 Bad Gateway"  # what is read is still shown


def test_an_error_page_is_cleaned_by_linear_patterns_only() -> None:
    """Script and style blocks go through RE2; any other tag cannot span a "<", so each is looked at once."""
    assert isinstance(responses._BLOCKS, re2._Regexp)
    assert responses._TAG.pattern == "<[^<>]*>"
    hostile = "<script" * 50_000 + "</scrip" + "<style" * 50_000  # 320 KB of openings that never close
    excerpt = answers().excerpt(page(hostile))
    assert len(excerpt) <= responses.EXCERPT_MAX


def test_a_token_cut_by_the_cap_is_never_echoed() -> None:
    body = "<x>" * (responses.BODY_READ_MAX // 3 - 5) + TOKEN
    assert TOKEN[:8] not in answers().excerpt(page(body))
    assert TOKEN not in answers().detail(page('{"detail": "' + "a-" * 2_000 + TOKEN + '"}', 400))


def test_the_detail_nautobot_echoes_is_capped() -> None:
    detail = answers().detail(page('{"detail": "' + "a-" * 2_000 + '"}', 400))
    assert len(detail) <= responses.DETAIL_MAX


# -- a Job's label ---------------------------------------------------------------------------------


def label_steps(label: str) -> Steps:
    var = JobVariable.from_api({"name": "email", "type": "StringVar", "label": label})
    return steps_of(lambda: (var.display_label, var.regex))


@pytest.mark.parametrize(
    "unit",
    [" ", "\t,", " regex:", ",regex:", "x regex:\n"],
    ids=["spaces", "commas", "markers", "comma markers", "markers with nothing after"],
)
def test_a_label_is_split_in_linear_steps_without_a_regex(unit: str) -> None:
    small, large = label_steps("Email" + unit * 1_000), label_steps("Email" + unit * 4_000)
    assert regex_calls(small) == regex_calls(large) == []  # walked in Python: every step is counted
    assert large.total <= 4.5 * small.total, (small.total, large.total)


def test_a_label_longer_than_the_cap_announces_a_regex_that_refuses() -> None:
    """A regex cut at the cap could let through what the Job's refuses: the field refuses instead."""
    label = "Email" + " " * 20_000 + r"regex: ^a@example\.com$"
    form = JobForm.from_api({"id": "j", "name": "J"}, [{"name": "email", "type": "StringVar", "label": label}])
    assert form.variables[0].display_label == "Email"
    errors = validate({"email": "a@example.com"}, form)
    assert set(errors) == {"email"} and "could not be completed" in errors["email"]


# -- a command's words against many choices ---------------------------------------------------------


def form_with_organizations(count: int) -> JobForm:
    variables = copy.deepcopy(VARIABLES)
    for var in variables:
        if var["name"] == "meraki_org_id":
            var["choices"] = [[str(100_000 + n), f"Organization {n} ({100_000 + n})"] for n in range(count)]
    return JobForm.from_api(JOB, variables)


def parse_steps(words: int, choices: int) -> Steps:
    form = form_with_organizations(choices)
    text = " ".join(f"w{n}" for n in range(words))
    return steps_of(lambda: parse_command_text(text, form))


def test_pre_filling_costs_words_plus_choices_not_words_times_choices() -> None:
    small, large = parse_steps(60, 100), parse_steps(240, 400)
    # Words times choices would make it 16 times the work; words plus choices (and a sort) about 4 times.
    assert large.total <= 5 * small.total, (small.total, large.total)


def test_command_text_is_read_only_up_to_its_cap() -> None:
    from bot.slack.modal.prefill import COMMAND_TEXT_MAX

    form = JobForm.from_api(JOB, VARIABLES)
    text = "x" * COMMAND_TEXT_MAX + " bob@example.com"
    prefill = parse_command_text(text, form)
    assert "user_email" not in prefill.values  # past the cap: not read
    assert prefill.unused  # the form says what was not used, so the command never runs from half its text
