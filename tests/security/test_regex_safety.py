"""Regexes from settings and from the Job's labels: a broken one refuses, none can stall the event loop.

A pattern that cannot be checked never counts as a match, and every pattern runs in linear time.
Each slow case runs in a thread under a generous deadline, so a regression fails with a timeout
instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from bot.models import JobForm
from bot.settings import NautobotSettings, SettingsError, load_settings
from bot.slack.modal import parse_command_text, validate
from testbed.fake_nautobot import JOB, VARIABLES

pytestmark = pytest.mark.security

T = TypeVar("T")
DEADLINE_SECONDS = 5
BROKEN = r"^[^@\s]+@(example\.com$"
# RegExLib's email regex: nested quantifiers, exponential backtracking in a backtracking engine.
REGEXLIB_EMAIL = (
    r"^([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}"
    r"(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$"
)
CANNOT_CHECK = "could not be completed"


def email_form(label: str = "Email") -> JobForm:
    return JobForm.from_api(
        {"id": "job-1", "name": "Create Meraki User"},
        [{"name": "email", "type": "StringVar", "label": label, "required": True}],
    )


async def finishes(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.wait_for(asyncio.to_thread(call, *args, **kwargs), DEADLINE_SECONDS)


def test_an_email_regex_that_does_not_compile_stops_the_bot_at_start() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(
            NautobotSettings,
            nautobot_url="https://nautobot.example.com",
            nautobot_token="0123456789abcdef",
            email_regex=BROKEN,
        )
    assert "EMAIL_REGEX" in str(refused.value)


def test_a_valid_email_regex_still_loads() -> None:
    settings = load_settings(
        NautobotSettings,
        nautobot_url="https://nautobot.example.com",
        nautobot_token="0123456789abcdef",
        email_regex=r"@example\.com$",
    )
    assert settings.email_regex == r"@example\.com$"


@pytest.mark.parametrize(
    "pattern",
    [BROKEN, r"^(?=.*@example\.com$).*", r"^(\w)\1@example\.com$"],
    ids=["does not compile", "lookahead", "backreference"],
)
def test_a_label_regex_that_cannot_be_checked_refuses_the_email(pattern: str) -> None:
    form = email_form(f"Email, regex: {pattern}")
    errors = validate({"email": "attacker@evil.test"}, form)
    assert set(errors) == {"email"}
    assert CANNOT_CHECK in errors["email"]
    assert "Nautobot administrator" in errors["email"]


def test_a_configured_regex_that_cannot_be_checked_refuses_the_email() -> None:
    errors = validate({"email": "attacker@evil.test"}, email_form(), email_regex=BROKEN)
    assert set(errors) == {"email"}
    assert CANNOT_CHECK in errors["email"]


def test_regexes_keep_search_semantics() -> None:
    form = email_form(r"Email, regex: @example\.com$")
    assert validate({"email": "bob@example.com"}, form) == {}
    assert validate({"email": "bob@example.com"}, email_form(), email_regex=r"example\.com\Z") == {}
    refused = validate({"email": "bob@example.net"}, form)
    assert refused == {"email": r"This doesn't match the required pattern @example\.com$"}


async def test_a_backtracking_email_regex_finishes_on_crafted_input() -> None:
    crafted = "a" * 28 + "!@example.co"  # 40 characters
    assert len(crafted) == 40
    errors = await finishes(validate, {"email": crafted}, email_form(), email_regex=REGEXLIB_EMAIL)
    assert "email" in errors
    assert await finishes(validate, {"email": "bob@example.com"}, email_form(), email_regex=REGEXLIB_EMAIL) == {}


async def test_a_backtracking_label_regex_finishes_on_crafted_input() -> None:
    form = email_form(f"Email, regex: {REGEXLIB_EMAIL}")
    errors = await finishes(validate, {"email": "a" * 28 + "!@example.co"}, form)
    assert "email" in errors


async def test_the_command_text_parser_finishes_on_a_huge_token() -> None:
    form = JobForm.from_api(JOB, VARIABLES)
    token = "a@" + "." * 99_997 + "@"
    assert len(token) == 100_000
    prefill = await finishes(parse_command_text, token, form)
    assert "user_email" not in prefill.values


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("bob@example.com", True),
        ("bob.smith+tag@mail.example.co.uk", True),
        ("bob@example.com,", True),
        ("bob", False),
        ("bob@", False),
        ("@example.com", False),
        ("bob@example", False),
        ("bob@.com", False),
        ("bob@example.", False),
        ("bob@@example.com", False),
        ("bob@ex@ample.com", False),
    ],
)
def test_the_email_shape_of_the_command_text_is_unchanged(text: str, accepted: bool) -> None:
    form = JobForm.from_api(JOB, [{"name": "user_email", "type": "StringVar", "label": "User Email"}])
    assert ("user_email" in parse_command_text(text, form).values) is accepted
