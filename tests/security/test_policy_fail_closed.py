"""Unknown or invalid means refused: no mistake in the access policy and no input weakens a check.

Each test guards one reproduced hole: ``restrict`` entries that name no real choice were ignored (the
choice stayed open to everyone), Retry with an empty form cache skipped the per-choice check, Cancel
checked only the person, and people of another Slack workspace were allowed by ``users: ["*"]``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.access import Access, AccessPolicy, Actor, CommandPolicy, SlackGroups, policy_problems
from bot.app import wire
from bot.doctor import Status, run_checks
from bot.ledger import Ledger
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.models import JobForm, ModalContext
from bot.nautobot import FormCache
from bot.settings import Settings
from bot.slack import modal as forms
from bot.slack.pacing import ChannelPacer
from testbed.fake_nautobot import (
    ACME_ORG,
    BASE,
    JOB_ID,
    JOB_LIST,
    JOB_NAME,
    JOBS_PATH,
    RUN_PATH,
    TOKEN,
    VARIABLES,
    VARIABLES_PATH,
    FakeNautobot,
    ok,
)
from testbed.fake_slack import Events, FakeAck, FakeSlack, view_dict, view_text
from testbed.manifest import bot_scopes
from testbed.slack_standin import SlackStandIn
from tests.support.audit_trail import audit_trail
from tests.support.ledger_reads import unfinished

pytestmark = [pytest.mark.security, pytest.mark.usefixtures("no_retry_delay")]

ALICE, BOB = "U0ALICE", "U0BOB"
NETOPS = "C0NETOPS"
ADMINS = "S0ADMINS"
TEAM, OTHER_TEAM = "T0ACME", "T0GLOBEX"
BOT_TOKEN, APP_TOKEN = "xoxb-1111-2222-policyCheck", "xapp-1-A0STANDIN-3333-policyCheck"
GOOD = {
    "user_email": "jane@example.com",
    "user_name": "Jane Doe",
    "meraki_org_id": ACME_ORG,
    "meraki_access_level": "read-only",
}
EVERYONE = [{"users": ["*"], "channels": ["*"]}]
ADMIN_ONLY = {"groups": [ADMINS]}
SOUND_RESTRICT = {
    "meraki_access_level": {"full": ADMIN_ONLY, "enterprise": ADMIN_ONLY},
    "meraki_network_access": {"full": ADMIN_ONLY},
}
MISTAKES = {
    "label": (
        {"meraki_access_level": {"Full": ADMIN_ONLY}},
        "restrict names Full for meraki_access_level, whose choices are full, read-only, enterprise, none "
        "(Full is a label: use its value, full)",
    ),
    "misspelt variable": (
        {"meraki_acces_level": {"full": ADMIN_ONLY}},
        "restrict names meraki_acces_level, which the Job has no variable of (did you mean meraki_access_level?)",
    ),
    "not a choice": ({"dryrun": {"false": ADMIN_ONLY}}, "restrict names dryrun, which is a DryRunVar, not a choice"),
}


def job_form(variables: list[dict[str, Any]] = VARIABLES) -> JobForm:
    return JobForm.from_api({"id": JOB_ID, "name": JOB_NAME}, variables)


def policy(restrict: dict[str, Any], **more: Any) -> AccessPolicy:
    """Everyone may add; ``restrict`` is the add command's."""
    return AccessPolicy.model_validate({"allow": EVERYONE, "restrict": by_command(restrict), **more})


def by_command(restrict: dict[str, Any]) -> dict[str, Any]:
    return {"/meraki-add-user": restrict} if restrict else {}


def add_part(restrict: dict[str, Any]) -> CommandPolicy:
    return policy(restrict).for_command("/meraki-add-user", main=True)


# -- the check against the Job's form ------------------------------------------------------------


@pytest.mark.parametrize(("restrict", "problem"), MISTAKES.values(), ids=MISTAKES.keys())
def test_each_restrict_mistake_is_reported_by_the_check(restrict, problem):
    assert policy_problems(add_part(restrict), job_form()) == [problem]


def test_a_sound_policy_and_no_policy_have_no_problems():
    assert policy_problems(add_part(SOUND_RESTRICT), job_form()) == []
    assert policy_problems(None, job_form()) == []


def test_a_choice_value_in_other_letter_case_is_named():
    [problem] = policy_problems(add_part({"meraki_access_level": {"FULL": ADMIN_ONLY}}), job_form())
    assert "values are case-sensitive: use full" in problem


# -- the running bot -----------------------------------------------------------------------------


class SlackWithAuth(FakeSlack):
    """The fake Slack, and ``auth.test`` naming the workspace the app is installed in."""

    async def auth_test(self, **kwargs: Any) -> dict[str, Any]:
        self._record("auth_test", kwargs)
        return {"ok": True, "team_id": TEAM, "user_id": "U0BOT"}


@pytest.fixture
def nautobot(events: Events) -> FakeNautobot:
    return FakeNautobot(events).with_quick_run()


@pytest.fixture
def slack(events: Events) -> SlackWithAuth:
    return SlackWithAuth(events, usergroups={ADMINS: [ALICE]})


Make = Callable[..., Any]


@pytest.fixture
async def make_bot(nautobot: FakeNautobot, slack: SlackWithAuth, tmp_path: Path) -> AsyncIterator[Make]:
    """Listeners wired as the bot wires them, with the given policy; the form cache starts empty unless ``warm``."""
    made: list[tuple[Listeners, Any, Ledger]] = []

    async def make(
        restrict: dict[str, Any], *, warm: bool = True, installed: str | None = TEAM, **more: Any
    ) -> Listeners:
        async def no_sleep(_: float) -> None:
            await asyncio.sleep(0)

        client = nautobot.client()
        ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / f'ledger{len(made)}.sqlite3'}")
        cache = FormCache(client, JOB_NAME)
        if warm:
            await cache.refresh()
        access = Access(policy(restrict, **more), groups=SlackGroups(slack), installed_team=installed)  # type: ignore[arg-type]
        listeners = wire(
            slack=slack,  # type: ignore[arg-type]
            nautobot=client,
            ledger=ledger,
            commands=[SlashCommand("/meraki-add-user", cache, access)],
            follow_timeout=60.0,
            pacer=ChannelPacer(0),
            sleep=no_sleep,
        )
        made.append((listeners, client, ledger))
        return listeners

    yield make
    for listeners, client, ledger in made:
        await listeners.runs.stop()
        await client.aclose()
        await ledger.close()


def command(user: str, team: str = TEAM) -> dict[str, Any]:
    return {
        "team_id": team,
        "channel_id": NETOPS,
        "user_id": user,
        "user_name": user.lower(),
        "command": "/meraki-add-user",
        "text": "",
        "trigger_id": "1.2.3",
    }


def submission(user: str, values: dict[str, Any], team: str = TEAM, view_id: str = "V0FORM") -> tuple[dict, dict]:
    context = ModalContext(channel_id=NETOPS, user_id=user, job_id=JOB_ID)
    state = {}
    for var in VARIABLES:
        value = values.get(var["name"])
        if var["type"] == "ChoiceVar":
            action = {"type": "static_select", "selected_option": {"value": value} if value else None}
        elif var["type"] == "DryRunVar":
            action = {"type": "checkboxes", "selected_options": []}
        else:
            action = {"type": "plain_text_input", "value": value}
        state[var["name"]] = {forms.ACTION_ID: action}
    view = {"id": view_id, "type": "modal", "private_metadata": context.to_metadata(), "state": {"values": state}}
    body = {
        "type": "view_submission",
        "team": {"id": team},
        "user": {"id": user, "username": user.lower(), "team_id": team},
    }
    return body, view


async def opened_view(bot: Listeners, slack: FakeSlack, body: dict) -> dict:
    await bot.slash_command(FakeAck(), body, slack)  # type: ignore[arg-type]
    calls = slack.calls_to("views_update") or slack.calls_to("views_open")
    return view_dict(calls[-1]["view"])


async def noop(**_: Any) -> None:
    pass


def retry_body(request_id: str, user: str) -> dict[str, Any]:
    return {
        "view": {"id": "V0RETRY"},
        "actions": [{"value": request_id}],
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
    }


@pytest.mark.parametrize(("restrict", "problem"), MISTAKES.values(), ids=MISTAKES.keys())
async def test_each_restrict_mistake_refuses_every_request_at_run_time(
    make_bot: Make, slack: SlackWithAuth, nautobot: FakeNautobot, restrict, problem, caplog
):
    caplog.set_level(logging.ERROR, logger="bot.access")
    bot = await make_bot(restrict)

    view = await opened_view(bot, slack, command(ALICE))  # ALICE is even in the group that may pick everything
    assert view["title"]["text"] == "Not allowed"
    assert problem in view_text(view) and "doctor" in view_text(view)

    ack = FakeAck()
    body, submitted = submission(BOB, GOOD)
    await bot.submission(ack, body, slack, submitted)  # type: ignore[arg-type]
    assert ack.calls[-1]["response_action"] == "update"
    assert "Not allowed" in json.dumps(view_dict(ack.calls[-1]["view"]))
    assert nautobot.count("POST", RUN_PATH) == 0
    assert [(e.action, e.outcome) for e in await audit_trail(bot.ledger)] == [
        ("command", "denied"),
        ("submit", "denied"),
    ]

    await bot.main.forms.refresh()  # the same form again: logged once per change, not per refresh
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and problem in errors[0].getMessage()


async def test_a_cold_form_cache_is_read_before_deciding(make_bot: Make, slack: SlackWithAuth, nautobot: FakeNautobot):
    bot = await make_bot(MISTAKES["label"][0], warm=False)
    body, submitted = submission(BOB, {**GOOD, "meraki_access_level": "full"})
    ack = FakeAck()
    await bot.submission(ack, body, slack, submitted)  # type: ignore[arg-type]
    assert ack.calls[-1]["response_action"] == "update"
    assert "Not allowed" in json.dumps(view_dict(ack.calls[-1]["view"]))
    assert nautobot.count("POST", RUN_PATH) == 0


async def test_a_form_that_changes_under_the_running_bot_refuses_until_it_fits_again(
    make_bot: Make, slack: SlackWithAuth, nautobot: FakeNautobot, caplog
):
    caplog.set_level(logging.WARNING, logger="bot.access")
    bot = await make_bot(SOUND_RESTRICT)
    actor = Actor(BOB, channel_id=NETOPS, team_id=TEAM)
    assert (await bot.main.access.decide(actor)).allowed

    renamed = [
        {**var, "choices": [["admin", "Full"], *var["choices"][1:]]} if var["name"] == "meraki_access_level" else var
        for var in VARIABLES
    ]
    nautobot.on("GET", VARIABLES_PATH, ok(renamed))
    await bot.main.forms.refresh()
    refused = await bot.main.access.decide(actor)
    assert not refused.allowed
    assert "restrict names full for meraki_access_level, whose choices are admin, read-only" in refused.reason
    assert "ACCESS_POLICY" in refused.remedy

    nautobot.on("GET", VARIABLES_PATH, ok(VARIABLES))
    await bot.main.forms.refresh()
    assert (await bot.main.access.decide(actor)).allowed
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]


# -- Retry and Cancel ----------------------------------------------------------------------------


async def kept_request(bot: Listeners, slack: FakeSlack, nautobot: FakeNautobot, user: str, values: dict) -> str:
    """A submission Nautobot could not take: the ledger keeps it for a Retry."""
    nautobot.on("POST", RUN_PATH, httpx.ConnectError("[Errno 111] Connection refused"))
    body, submitted = submission(user, values)
    await bot.submission(FakeAck(), body, slack, submitted)  # type: ignore[arg-type]
    [kept] = await unfinished(bot.ledger)
    assert kept.state.value == "unsent" and kept.inputs["meraki_access_level"] == values["meraki_access_level"]
    nautobot.with_quick_run()
    return kept.request_id


async def test_retry_with_an_empty_form_cache_refuses_a_restricted_choice_held_in_the_ledger(
    make_bot: Make, slack: SlackWithAuth, nautobot: FakeNautobot
):
    bot = await make_bot(SOUND_RESTRICT)
    request_id = await kept_request(bot, slack, nautobot, ALICE, {**GOOD, "meraki_access_level": "full"})
    slack.usergroups[ADMINS] = []  # ALICE leaves the admins …
    bot.main.access.groups = SlackGroups(slack)  # type: ignore[arg-type]
    bot.main.forms.form = None  # … and the bot restarted while Nautobot was down: nothing is cached

    await bot.retry(noop, retry_body(request_id, ALICE), slack)  # type: ignore[arg-type]

    assert nautobot.count("POST", RUN_PATH) == 1  # only the first, failed attempt
    shown = view_text(view_dict(slack.calls_to("views_update")[-1]["view"]))
    assert "You may not choose Full" in shown
    assert (await bot.ledger.get(request_id)).state.value == "unsent"
    retry = [e for e in await audit_trail(bot.ledger) if e.action == "retry"]
    assert [(e.outcome, e.user_id) for e in retry] == [("denied", ALICE)]


async def test_retry_refuses_when_the_form_cannot_be_read(make_bot: Make, slack: SlackWithAuth, nautobot: FakeNautobot):
    bot = await make_bot(SOUND_RESTRICT)
    request_id = await kept_request(bot, slack, nautobot, ALICE, {**GOOD, "meraki_access_level": "full"})
    bot.main.forms.form = None
    nautobot.on("GET", VARIABLES_PATH, httpx.ConnectError("[Errno 111] Connection refused"))
    nautobot.on("GET", JOBS_PATH, httpx.ConnectError("[Errno 111] Connection refused"))

    await bot.retry(noop, retry_body(request_id, ALICE), slack)  # type: ignore[arg-type]

    assert nautobot.count("POST", RUN_PATH) == 1
    shown = view_dict(slack.calls_to("views_update")[-1]["view"])
    assert "Nothing was sent" in view_text(shown) and "Try again" in view_text(shown)
    assert any(b.get("block_id") == "retry" for b in shown["blocks"])  # the request is kept for another Retry
    assert (await bot.ledger.get(request_id)).state.value == "unsent"
    nautobot.on("GET", JOBS_PATH, ok(JOB_LIST))


async def test_cancel_rechecks_the_choices_the_run_holds(make_bot: Make, slack: SlackWithAuth, nautobot: FakeNautobot):
    bot = await make_bot(SOUND_RESTRICT)
    body, submitted = submission(ALICE, {**GOOD, "meraki_access_level": "full"})
    await bot.submission(FakeAck(), body, slack, submitted)  # type: ignore[arg-type]
    [entry] = [e for e in await audit_trail(bot.ledger) if e.outcome == "submitted"]
    slack.usergroups[ADMINS] = []
    bot.main.access.groups = SlackGroups(slack)  # type: ignore[arg-type]
    bot.main.forms.form = None

    click = {
        "actions": [{"value": entry.request_id}],
        "user": {"id": ALICE, "team_id": TEAM},
        "team": {"id": TEAM},
        "container": {"channel_id": NETOPS},
    }
    await bot.cancel(FakeAck(), click, slack)  # type: ignore[arg-type]

    said = json.dumps(slack.calls_to("chat_postEphemeral")[-1]["blocks"], default=lambda b: b.to_dict())
    assert "You may not choose Full" in said and "Nothing was cancelled" in said
    cancels = [(e.outcome, e.user_id) for e in await audit_trail(bot.ledger) if e.action == "cancel"]
    assert cancels == [("denied", ALICE)]


async def test_cancel_on_a_run_the_ledger_no_longer_holds_is_answered(
    make_bot: Make, slack: SlackWithAuth, nautobot: FakeNautobot
):
    bot = await make_bot(SOUND_RESTRICT)
    click = {
        "actions": [{"value": "V0SWEPT:1"}],
        "user": {"id": ALICE, "team_id": TEAM},
        "team": {"id": TEAM},
        "container": {"channel_id": NETOPS},
    }
    await bot.cancel(FakeAck(), click, slack)  # type: ignore[arg-type]

    [told] = slack.calls_to("chat_postEphemeral")
    assert told["user"] == ALICE and "no longer knows this run" in told["text"]
    assert nautobot.count("POST", RUN_PATH) == 0


# -- Slack workspaces ----------------------------------------------------------------------------


async def test_a_person_from_another_workspace_is_refused_and_audited(
    make_bot: Make, slack: SlackWithAuth, nautobot: FakeNautobot
):
    bot = await make_bot(SOUND_RESTRICT, installed=None)  # users: ["*"], channels: ["*"]
    await bot.main.access.warm()  # at start: auth.test names the workspace the app is installed in
    assert bot.main.access.installed_team == TEAM

    view = await opened_view(bot, slack, command(BOB, team=OTHER_TEAM))
    assert view["title"]["text"] == "Not allowed"
    assert OTHER_TEAM in view_text(view) and "teams" in view_text(view)

    ack = FakeAck()
    body, submitted = submission(BOB, GOOD, team=OTHER_TEAM)
    await bot.submission(ack, body, slack, submitted)  # type: ignore[arg-type]
    assert ack.calls[-1]["response_action"] == "update"
    assert nautobot.count("POST", RUN_PATH) == 0

    trail = [(e.action, e.outcome, e.team_id) for e in await audit_trail(bot.ledger)]
    assert trail == [("command", "denied", OTHER_TEAM), ("submit", "denied", OTHER_TEAM)]
    assert (await bot.main.access.decide(Actor(BOB, channel_id=NETOPS, team_id=TEAM))).allowed


async def test_the_policy_names_the_workspaces_it_allows(make_bot: Make, slack: SlackWithAuth):
    bot = await make_bot(SOUND_RESTRICT, teams=[OTHER_TEAM])  # even before auth.test answered
    assert (await bot.main.access.decide(Actor(BOB, channel_id=NETOPS, team_id=OTHER_TEAM))).allowed
    refused = await bot.main.access.decide(Actor(BOB, channel_id=NETOPS, team_id=TEAM))
    assert not refused.allowed and "another Slack workspace" in refused.reason


# -- doctor --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(
        bot_token="xoxb-1111-2222-policyCheck", app_token="xapp-1-A0-3333-policy", scopes=bot_scopes()
    ) as s:
        yield s


@pytest.fixture
def doctor_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, standin: SlackStandIn) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    values = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": standin.api_url,
        "NAUTOBOT_URL": BASE,
        "NAUTOBOT_TOKEN": TOKEN,
        "STORE_URL": f"sqlite:///{tmp_path}/ledger.sqlite3",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


async def policy_check(env: pytest.MonkeyPatch, restrict: dict[str, Any], allow: list[dict[str, Any]] | None = None):
    """``allow`` defaults to everyone, for every command (no command left uncovered)."""
    allow = allow if allow is not None else [{**rule, "commands": ["*"]} for rule in EVERYONE]
    env.setenv("ACCESS_POLICY", json.dumps({"allow": allow, "restrict": by_command(restrict)}))
    fake = (
        FakeNautobot()
        .with_job()
        .on("GET", "/api/status/", httpx.Response(200, json={"nautobot-version": "3.2.7", "celery-workers-running": 1}))
    )
    checks = await run_checks(Settings, nautobot_factory=lambda _settings: httpx.MockTransport(fake))
    names = [check.name for check in checks]
    assert names.index("access policy") == names.index("job variables") + 1
    return next(check for check in checks if check.name == "access policy")


@pytest.mark.parametrize(("restrict", "problem"), MISTAKES.values(), ids=MISTAKES.keys())
async def test_doctor_fails_on_a_restrict_that_names_no_real_choice(doctor_env, restrict, problem):
    check = await policy_check(doctor_env, restrict)
    assert check.status is Status.FAIL
    assert problem in check.detail
    assert "refuses every request" in check.fix


async def test_doctor_warns_when_organization_access_is_restricted_but_network_access_is_open(doctor_env):
    check = await policy_check(doctor_env, {"meraki_access_level": {"full": ADMIN_ONLY, "enterprise": ADMIN_ONLY}})
    assert check.status is Status.WARN
    assert "network access full" in check.detail and "meraki_network_access" in check.fix


async def test_doctor_passes_a_policy_that_restricts_every_access_granting_choice(doctor_env):
    check = await policy_check(doctor_env, SOUND_RESTRICT)
    assert check.status is Status.OK, check


async def test_doctor_warns_of_commands_no_rule_covers(doctor_env):
    check = await policy_check(doctor_env, SOUND_RESTRICT, allow=EVERYONE)  # rules without commands

    assert check.status is Status.WARN
    assert "covers /meraki-find-user, /meraki-remove-user: nobody may use them" in check.detail
    assert '"commands": ["/meraki-find-user"]' in check.fix


def test_a_guest_from_another_workspace_in_a_shared_channel_is_refused_by_its_own_team() -> None:
    """In a Slack Connect channel the interaction's team is the channel's; the person's own is user.team_id."""
    from bot.access import AccessPolicy, Actor, team_decision

    body = {"user": {"id": "U0GUEST", "username": "guest", "team_id": "T0OTHER"}, "team": {"id": "T0HOME"}}
    guest = Actor.from_interaction(body, "C0SHARED")
    policy = AccessPolicy.model_validate({"allow": [{"users": ["*"], "channels": ["*"]}]})
    refused = team_decision(policy, guest, "T0HOME", command="/meraki-add-user", setting="ACCESS_POLICY")
    assert refused is not None and not refused.allowed and "T0OTHER" in refused.reason
    member = Actor.from_interaction({"user": {"id": "U0ALICE", "team_id": "T0HOME"}, "team": {"id": "T0HOME"}}, "C1")
    assert team_decision(policy, member, "T0HOME", command="/meraki-add-user", setting="ACCESS_POLICY") is None
