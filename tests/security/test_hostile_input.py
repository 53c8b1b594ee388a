"""Every hostile string through every field of the modal and through the command text, against the
real listeners, the strict Slack stand-in and the Nautobot fake.

Each case ends in a field error on the field that got the string, or in a run that sends Nautobot
exactly what was typed and echoes it escaped. Whatever the outcome: Slack accepts every payload
and every ack, no mention or link is injected into anything Slack renders, nothing raises.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from bot.slack import modal as forms
from bot.slack import text as slack_text
from testbed.fake_nautobot import EMAIL_REGEX
from testbed.manifest import bot_scopes
from testbed.slack_standin import SlackStandIn
from tests.security.hostile_corpus import ALL, CORPUS
from tests.security.listener_harness import (
    CHOICE_FIELDS,
    GOOD,
    TEXT_FIELDS,
    Harness,
    Outcome,
    accept_runs,
    element,
    harness,
    refuse_with_echo,
    tampered_option,
    typed,
    workspace,
)
from tests.security.slack_payloads import mrkdwn_objects

pytestmark = [pytest.mark.security, pytest.mark.asyncio(loop_scope="module")]

REQUIRED = {"user_email", "user_name", "meraki_org_id", "meraki_access_level"}
MAX_LENGTH = {"user_email": 254, "user_name": 255, "meraki_network": 255}
OFFERED = {
    "meraki_org_id": {"111111", "222222"},
    "meraki_access_level": {"full", "read-only", "enterprise", "none"},
    "meraki_network_access": {"full", "read-only", "guest-ambassador", "monitor-only"},
}
# Joiners that emoji sequences and some scripts need; every other format character is refused.
JOINERS = frozenset("\u200c\u200d")
OMITTED = object()
# Every field error starts by saying what to do about it.
WHAT_TO_FIX = ("Delete ", "Use ", "This has a broken character", "Fill this in", "Enter ", "This doesn't match")
WHAT_TO_FIX += ("Pick ", "Untick ")


@pytest.fixture(scope="module")
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(scopes=bot_scopes(), post_message_limit=None, chat_update_limit=None) as slack:
        yield workspace(slack)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(standin: SlackStandIn, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    async with harness(standin, tmp_path_factory.mktemp("hostile")) as found:
        yield found


@pytest.fixture(autouse=True)
def nothing_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A listener or follow task that failed logs an error even when the ack looked fine."""
    caplog.set_level(logging.ERROR, logger="bot")
    yield
    assert not [record for record in caplog.records if record.name.startswith("bot")], caplog.text


# -- what each string must lead to ---------------------------------------------------------------


def has_refused_characters(text: str) -> bool:
    """Control, separator, surrogate and invisible format characters: never part of a one-line value."""
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Zl", "Zp") or (category == "Cf" and char not in JOINERS):
            return True
    return False


def expected_text(field: str, text: str) -> Any:
    """What Nautobot must receive for ``text`` typed into ``field``; ``None`` when it must be refused.

    ``OMITTED`` when the field is left out (an optional field typed blank).
    """
    value = text.strip()
    if not value:
        return None if field in REQUIRED else OMITTED
    if has_refused_characters(value) or len(value) > MAX_LENGTH[field]:
        return None
    if field == "user_email" and not (value.isascii() and re.search(EMAIL_REGEX, value)):
        return None
    return value


def expected_choice(field: str, value: str) -> Any:
    if value == "":  # Slack sends no option rather than an empty one: it counts as nothing picked
        return None if field in REQUIRED else OMITTED
    return value if value in OFFERED[field] else None


def judge(outcome: Outcome, field: str, expected: Any) -> list[str]:
    """Refused on ``field`` alone, or run with exactly ``expected`` and the good values for the rest."""
    problems = list(outcome.problems)
    if expected is None:
        if list(outcome.errors) != [field]:
            problems.append(f"expected a field error on {field}, got ack {outcome.ack!r}")
        elif not outcome.errors[field].startswith(WHAT_TO_FIX):
            problems.append(f"the error does not say what to fix: {outcome.errors[field]!r}")
        if outcome.ran is not None:
            problems.append(f"refused input reached Nautobot: {outcome.ran!r}")
        return problems
    if outcome.ran is None:
        return [*problems, f"expected a run, got ack {outcome.ack!r}"]
    sent = dict(outcome.ran)
    if expected is OMITTED:
        if field in sent:
            problems.append(f"blank {field} was sent as {sent[field]!r}")
    elif sent.get(field) != expected:
        problems.append(f"Nautobot got {field}={sent.get(field)!r}, not {expected!r}")
    for key, good in GOOD.items():
        if key != field and sent.get(key) != good:
            problems.append(f"{key} changed to {sent.get(key)!r}")
    return problems


def echoed_escaped(outcome: Outcome, value: str) -> list[str]:
    """The parent message shows the typed value, escaped."""
    shown = [item["text"] for args in outcome.posted("chat.postMessage") for item in mrkdwn_objects(args["blocks"])]
    return [] if any(slack_text.escape(value) in text for text in shown) else [f"{value[:60]!r} not echoed escaped"]


def report(failures: dict[str, list[str]], cases: int) -> str:
    lines = [f"{len(failures)} of {cases} cases failed:"]
    for case, problems in list(failures.items())[:20]:
        lines.append(f"  {case}: " + " | ".join(problems[:3]))
    return "\n".join(lines)


KINDS = list(CORPUS)


# -- the fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("field", TEXT_FIELDS)
async def test_text_fields(bot: Harness, field: str, kind: str) -> None:
    view = await bot.open_form()
    failures = {}
    for text in CORPUS[kind]:
        outcome = await bot.submit(view, {field: typed(text)})
        expected = expected_text(field, text)
        problems = judge(outcome, field, expected)
        if isinstance(expected, str):
            problems += echoed_escaped(outcome, expected)
        if problems:
            failures[repr(text)[:80]] = problems
    assert not failures, report(failures, len(CORPUS[kind]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("field", CHOICE_FIELDS)
async def test_tampered_choices(bot: Harness, field: str, kind: str) -> None:
    view = await bot.open_form()
    failures = {}
    for value in CORPUS[kind]:
        outcome = await bot.submit(view, {field: {"selected_option": tampered_option(value)}})
        problems = judge(outcome, field, expected_choice(field, value))
        if problems:
            failures[repr(value)[:80]] = problems
    assert not failures, report(failures, len(CORPUS[kind]))


async def test_tampered_dry_run_checkbox(bot: Harness) -> None:
    view = await bot.open_form()
    failures = {}
    for value in ALL:
        outcome = await bot.submit(view, {"dryrun": {"selected_options": [tampered_option(value)]}})
        problems = judge(outcome, "dryrun", True if value == "true" else None)
        if problems:
            failures[repr(value)[:80]] = problems
    assert not failures, report(failures, len(ALL))


async def test_the_offered_dry_run_option_runs_a_dry_run(bot: Harness) -> None:
    view = await bot.open_form()
    [offered] = element(view, "dryrun")["options"]
    outcome = await bot.submit(view, {"dryrun": {"selected_options": [offered]}})
    assert judge(outcome, "dryrun", True) == []


# -- the command text ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_command_text(bot: Harness, kind: str) -> None:
    """The form opens for any text, pre-filled or with the words it could not place named escaped."""
    failures = {}
    for text in CORPUS[kind]:
        outcome, view = await bot.command(text)
        problems = list(outcome.problems)
        if view is None:
            problems.append("no form opened")
        else:
            problems += prefilled_submission_problems(await submit_prefilled(bot, view))
        if problems:
            failures[repr(text)[:80]] = problems
    assert not failures, report(failures, len(CORPUS[kind]))


async def submit_prefilled(bot: Harness, view: dict[str, Any]) -> Outcome:
    """Press Run on the pre-filled form, typing the good values only where nothing was pre-filled."""
    entries: dict[str, dict[str, Any]] = {}
    for field in TEXT_FIELDS:
        initial = element(view, field).get("initial_value")
        if initial is not None:
            entries[field] = typed(initial)
    for field in CHOICE_FIELDS:
        initial = element(view, field).get("initial_option")
        if initial is not None:
            entries[field] = {"selected_option": initial}
    if element(view, "dryrun").get("initial_options"):
        entries["dryrun"] = {"selected_options": element(view, "dryrun")["initial_options"]}
    return await bot.submit(view, entries)


def prefilled_submission_problems(outcome: Outcome) -> list[str]:
    """What a form pre-filled by the bot itself offers is always valid, except an email off the regex."""
    problems = list(outcome.problems)
    if outcome.ran is None and set(outcome.errors) - {"user_email"}:
        problems.append(f"the pre-filled form was refused: {outcome.ack!r}")
    return problems


async def test_long_choice_search_with_hostile_text(bot: Harness) -> None:
    """The external select's search (long choice lists) answers any typed text with valid options."""
    failures = {}
    for text in ALL:
        answers = []

        async def ack(**kwargs: Any) -> None:
            answers.append(kwargs)  # noqa: B023 - consumed within this iteration

        try:
            await bot.listeners.options(ack, {"block_id": "meraki_org_id", "value": text})
        except Exception as exc:
            failures[repr(text)[:80]] = [f"raised {type(exc).__name__}: {exc}"]
            continue
        options = answers[0]["options"] if len(answers) == 1 else None
        if not isinstance(options, list) or any(not 0 < len(o["value"]) <= 150 for o in options):
            failures[repr(text)[:80]] = [f"bad answer {answers!r}"]
    assert not failures, report(failures, len(ALL))


# -- Nautobot repeating hostile input back ---------------------------------------------------------


@pytest.mark.parametrize("field", TEXT_FIELDS)
async def test_a_refusal_that_echoes_the_input_keeps_the_form(bot: Harness, field: str) -> None:
    """Nautobot's refusal repeats the input: the form comes back escaped, with everything typed in it."""
    refuse_with_echo(bot.nautobot)
    view = await bot.open_form()
    failures, cases = {}, 0
    for text in ALL:
        expected = expected_text(field, text)
        if not isinstance(expected, str):
            continue
        cases += 1
        outcome = await bot.submit(view, {field: typed(text)})
        problems = list(outcome.problems)
        shown = outcome.ack.get("view") if outcome.ack.get("response_action") == "update" else None
        if shown is None:
            problems.append(f"expected the form back, got {outcome.ack!r}")
        else:
            kept = {name: element(shown, name).get("initial_value") for name in ("user_email", "user_name")}
            kept[field] = element(shown, field).get("initial_value")
            wanted = {"user_email": GOOD["user_email"], "user_name": GOOD["user_name"], field: expected}
            if kept != wanted:
                problems.append(f"the form came back with {kept!r}, not {wanted!r}")
            if shown.get("callback_id") != forms.CALLBACK_ID:
                problems.append("the form came back without its submit callback")
        if problems:
            failures[repr(text)[:80]] = problems
    accept_runs(bot.nautobot)
    assert cases >= (5 if field == "user_email" else 100)  # the Job's regex admits few of them
    assert not failures, report(failures, cases)
