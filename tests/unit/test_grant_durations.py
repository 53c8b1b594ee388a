"""For how long a grant may last: the policy's ``durations`` read and checked, the form's pre-picked duration per
access level, a submission asking for longer than allowed refused on the field, and ``full for 4h`` typed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.access import Access, SlackGroups
from bot.app import wire
from bot.ledger import Ledger
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.models import JobForm, ModalContext
from bot.nautobot import FormCache
from bot.policy import AccessPolicy, policy_problems
from bot.slack import modal as forms
from bot.slack.modal import parse_command_text
from bot.slack.pacing import ChannelPacer
from testbed.fake_nautobot import (
    ACME_ORG,
    JOB,
    JOB_ID,
    JOB_NAME,
    RUN_PATH,
    VARIABLES,
    VARIABLES_PATH,
    FakeNautobot,
    ok,
)
from testbed.fake_slack import FakeAck, FakeSlack, view_dict

pytestmark = pytest.mark.usefixtures("no_retry_delay")

DURATION = next(var for var in VARIABLES if var["name"] == "duration")
WITHOUT_DURATION = [var for var in VARIABLES if var["name"] != "duration"]
FORM = JobForm.from_api(JOB, VARIABLES)
LIMITS = {
    "per": "meraki_access_level",
    "limits": {
        "full": {"longest": "8h", "default": "2h"},
        "read-only": {"longest": "until removed", "default": "until removed"},
    },
}


def policy(**durations: Any) -> AccessPolicy:
    return AccessPolicy.model_validate({"durations": {"/meraki-add-user": {**LIMITS, **durations}}})


def rule(**durations: Any):
    found = policy(**durations).for_command("/meraki-add-user", main=True).durations
    assert found is not None
    return found


def test_a_longer_duration_than_the_level_allows_is_refused_on_the_field() -> None:
    limits = rule()
    assert limits.refusal({"meraki_access_level": "full", "duration": "4h"}, FORM) == {}
    assert limits.refusal({"meraki_access_level": "full", "duration": "8h"}, FORM) == {}
    refused = limits.refusal({"meraki_access_level": "full", "duration": ""}, FORM)
    assert refused == {
        "duration": "Full (Organization Access) is granted for at most 8 h: pick a shorter time (asked: until removed)."
    }
    assert limits.refusal({"meraki_access_level": "read-only", "duration": ""}, FORM) == {}
    assert limits.refusal({"meraki_access_level": "enterprise", "duration": ""}, FORM) == {}  # no limit named
    garbage = limits.refusal({"meraki_access_level": "full", "duration": "x" * 5000}, FORM)
    assert "not a duration" in garbage["duration"]


def test_the_form_pre_picks_each_levels_default() -> None:
    limits = rule()
    assert limits.default_choice({"meraki_access_level": "full"}, FORM) == "2h"
    assert limits.default_choice({}, FORM) == ""  # the Job's default level, read-only: until removed
    assert limits.default_choice({"meraki_access_level": "none"}, FORM) is None


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"full": {"longest": "8h", "default": "1d"}}, "default (1 day) is longer than longest (8 h)"),
        ({"full": {"longest": "8h", "default": "until removed"}}, "default (until removed) is longer than longest"),
        ({"full": {"longest": "eight", "default": "2h"}}, "is not a duration"),
        ({}, "at least 1 item"),
    ],
)
def test_a_limit_that_makes_no_sense_stops_the_start(limits: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        policy(limits=limits)
    assert problem in str(raised.value)


def test_durations_name_slash_commands_each_one_bound() -> None:
    with pytest.raises(ValidationError, match="not \\*"):
        AccessPolicy.model_validate({"durations": {"*": LIMITS}})
    with pytest.raises(ValidationError, match="slash command"):
        AccessPolicy.model_validate({"durations": {"meraki-add-user": LIMITS}})
    assert ("durations", "/meraki-add-user") in policy().commands_named()


def test_limits_the_jobs_form_does_not_have_switch_the_command_off() -> None:
    command = "/meraki-add-user"
    assert policy_problems(policy().for_command(command, main=True), FORM) == []
    misfit = policy(per="access", limits={"superuser": {"longest": "8h", "default": "3h"}})
    problems = policy_problems(misfit.for_command(command, main=True), FORM)
    assert problems == ["durations for /meraki-add-user names access, which the Job has no choice variable of"]
    misfit = policy(limits={"superuser": {"longest": "8h", "default": "3h"}})
    problems = policy_problems(misfit.for_command(command, main=True), FORM)
    assert problems == [
        "durations for /meraki-add-user limits superuser, which is not a choice of meraki_access_level",
        "durations for /meraki-add-user pre-picks 3 h for superuser, which is not a choice of duration",
    ]
    without = JobForm.from_api(JOB, WITHOUT_DURATION)  # a Job with no duration at all: nothing could be limited
    problems = policy_problems(policy().for_command(command, main=True), without)
    assert problems == ["durations for /meraki-add-user names duration, which the Job has no choice variable of"]


def test_full_for_4h_typed_after_the_command_fills_the_duration() -> None:
    prefill = parse_command_text("bob@example.com full for 4h", FORM)
    assert prefill.values["meraki_access_level"] == "full"
    assert prefill.values["duration"] == "4h"
    assert prefill.unused == []
    assert parse_command_text("bob@example.com for", FORM).unused == ["for"]  # nothing follows: said


# -- through the listeners -----------------------------------------------------------------------------

ALICE, NETOPS, TEAM = "U0ALICE", "C0NETOPS", "T0ACME"


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[tuple[Listeners, FakeNautobot, FakeSlack]]:
    nautobot = FakeNautobot().with_quick_run().on("GET", VARIABLES_PATH, ok(VARIABLES))
    slack = FakeSlack()
    client = nautobot.client()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    cache = FormCache(client, JOB_NAME)
    await cache.refresh()
    allow = {"allow": [{"users": [ALICE], "channels": [NETOPS]}]}
    rules = AccessPolicy.model_validate({**allow, "durations": {"/meraki-add-user": LIMITS}})
    access = Access(rules, groups=SlackGroups(slack), installed_team=TEAM)  # type: ignore[arg-type]
    listeners = wire(
        slack=slack,  # type: ignore[arg-type]
        nautobot=client,
        ledger=ledger,
        commands=[SlashCommand("/meraki-add-user", cache, access)],
        follow_timeout=60.0,
        pacer=ChannelPacer(0),
    )
    yield listeners, nautobot, slack
    await listeners.runs.stop()
    await client.aclose()
    await ledger.close()


def _submitted(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    context = ModalContext(channel_id=NETOPS, user_id=ALICE, job_id=JOB_ID)
    state = {}
    for var in VARIABLES:
        value = values.get(var["name"])
        if var["type"] == "ChoiceVar":
            action = {"type": "static_select", "selected_option": {"value": value} if value is not None else None}
        elif var["type"] == "DryRunVar":
            action = {"type": "checkboxes", "selected_options": []}
        else:
            action = {"type": "plain_text_input", "value": value}
        state[var["name"]] = {forms.ACTION_ID: action}
    view = {"id": "V0FORM", "type": "modal", "private_metadata": context.to_metadata(), "state": {"values": state}}
    body = {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": ALICE, "username": "alice"}}
    return body, view


async def test_the_form_pre_picks_the_duration_of_the_access_typed(bot, ack: FakeAck) -> None:
    listeners, _, slack = bot
    body = {
        "team_id": TEAM,
        "channel_id": NETOPS,
        "user_id": ALICE,
        "command": "/meraki-add-user",
        "text": "bob@example.com full",
        "trigger_id": "1.2.3",
    }
    await listeners.slash_command(ack, body, slack)
    view = view_dict((slack.calls_to("views_update") or slack.calls_to("views_open"))[-1]["view"])
    [block] = [b for b in view["blocks"] if b.get("block_id") == "duration"]
    assert block["element"]["initial_option"]["value"] == "2h"


async def test_a_grant_longer_than_allowed_is_refused_on_its_field_and_nothing_runs(bot, ack: FakeAck) -> None:
    listeners, nautobot, slack = bot
    good = {"user_email": "jane@example.com", "user_name": "Jane Doe", "meraki_org_id": ACME_ORG}
    body, view = _submitted({**good, "meraki_access_level": "full", "duration": ""})
    await listeners.submission(ack, body, slack, view)
    assert ack.calls[-1]["response_action"] == "errors"
    assert "at most 8 h" in ack.calls[-1]["errors"]["duration"]
    assert nautobot.count("POST", RUN_PATH) == 0

    body, view = _submitted({**good, "meraki_access_level": "full", "duration": "4h"})
    await listeners.submission(ack, body, slack, view)
    assert nautobot.count("POST", RUN_PATH) == 1
