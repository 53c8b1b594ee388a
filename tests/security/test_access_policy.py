"""Who may use /meraki-add-user: the policy's settings, its decisions, and the listeners that enforce it.

Slack and Nautobot are the in-process fakes here (``FakeSlack``, ``httpx.MockTransport``); the same
rules against the real Nautobot and the Slack stand-in are in ``test_chatops_grants.py`` and
``test_audit.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import bot.nautobot.rest as nautobot_rest
from bot.access import (
    Access,
    AccessPolicy,
    Actor,
    ChatOpsGrants,
    CommandPolicy,
    Decision,
    SlackGroups,
    choice_notice,
    grants_decision,
    policy_decision,
    refused_choices,
    restricted_form,
)
from bot.app import wire
from bot.ledger import Ledger
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.models import JobForm, ModalContext
from bot.nautobot import AccessGrant, ChatOpsApp, FormCache, NautobotClient
from bot.settings import Settings, SettingsError, load_settings
from bot.slack import modal as forms
from bot.slack.pacing import ChannelPacer
from testbed.fake_nautobot import (
    ACME_ORG,
    APPROVED_BY,
    JOB_ID,
    JOB_LIST,
    JOB_NAME,
    JOBS_PATH,
    REQUESTED_BY,
    RUN_PATH,
    VARIABLES,
    VARIABLES_PATH,
    FakeNautobot,
    ok,
)
from testbed.fake_slack import Events, FakeAck, FakeSlack, view_dict, view_text
from tests.support.audit_trail import audit_trail

pytestmark = [pytest.mark.security, pytest.mark.usefixtures("no_retry_delay")]

ALICE, BOB, MALLORY = "U0ALICE", "U0BOB", "U0MALLORY"
NETOPS, RANDOM = "C0NETOPS", "C0RANDOM"
ADMINS_GROUP, NETOPS_GROUP = "S0ADMINS", "S0NETOPS"
TEAM = "T0ACME"
GOOD = {
    "user_email": "jane@example.com",
    "user_name": "Jane Doe",
    "meraki_org_id": ACME_ORG,
    "meraki_access_level": "read-only",
}
POLICY = {
    "allow": [
        {"users": [ALICE], "channels": [NETOPS]},
        {"groups": [NETOPS_GROUP], "channels": [NETOPS]},
    ],
    "restrict": {
        "/meraki-add-user": {
            "meraki_access_level": {"full": {"groups": [ADMINS_GROUP]}, "enterprise": {"groups": [ADMINS_GROUP]}}
        }
    },
}
REQUIRED = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_APP_TOKEN": "xapp-1",
    "NAUTOBOT_URL": "https://n",
    "NAUTOBOT_TOKEN": "t",
}


def add_part(policy: dict[str, Any]) -> CommandPolicy:
    """What the add command sees of ``policy``."""
    return AccessPolicy.model_validate(policy).for_command("/meraki-add-user", main=True)


def members_of(groups: dict[str, set[str]]):
    return lambda group: frozenset(groups.get(group, set()))


def form() -> JobForm:
    return JobForm.from_api({"id": JOB_ID, "name": JOB_NAME}, VARIABLES)


# -- settings ------------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    for name in ("ACCESS_POLICY", "ACCESS_POLICY_FILE", "NAUTOBOT_CHATOPS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_a_policy_the_bot_starts_and_refuses_everyone_naming_the_setting(env):
    settings = load_settings(Settings)
    decision = policy_decision(settings.policy, Actor(ALICE, channel_id=NETOPS), members_of({}), command="/x")
    assert not decision.allowed
    assert "ACCESS_POLICY" in decision.remedy and "ACCESS_POLICY_FILE" in decision.remedy


def test_a_json_policy_from_the_environment(env):
    env.setenv("ACCESS_POLICY", json.dumps(POLICY))
    settings = load_settings(Settings)
    assert settings.policy == AccessPolicy.model_validate(POLICY)
    assert settings.policy_setting == "ACCESS_POLICY"
    assert settings.policy.groups() == {ADMINS_GROUP, NETOPS_GROUP}


def test_a_yaml_policy_file(env, tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "allow:\n  - groups: [S0NETOPS]\n    channels: ['*']\nrestrict:\n"
        "  /meraki-add-user:\n    meraki_access_level:\n      full: {users: [U0ALICE]}\n"
    )
    env.setenv("ACCESS_POLICY_FILE", str(path))
    settings = load_settings(Settings)
    assert settings.policy.allow[0].channels == ("*",)
    assert settings.policy.restrict["/meraki-add-user"]["meraki_access_level"]["full"].users == (ALICE,)
    assert settings.policy_setting == "ACCESS_POLICY_FILE"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"ACCESS_POLICY": "{allow: []"}, "ACCESS_POLICY: is not valid JSON"),
        (
            {"ACCESS_POLICY": '{"allow": [{"users": ["alice"], "channels": ["C0NETOPS"]}]}'},
            "ACCESS_POLICY allow[0].users: 'alice' is not a Slack user id (U… or W…) or *",
        ),
        (
            {"ACCESS_POLICY": '{"allow": [{"channels": ["C0NETOPS"]}]}'},
            "ACCESS_POLICY allow[0]: names nobody: give users, groups or both",
        ),
        ({"ACCESS_POLICY": '{"allow": [{"users": ["U0ALICE"]}]}'}, "ACCESS_POLICY allow[0].channels: is not set"),
        (
            {"ACCESS_POLICY": '{"allow": [{"users": ["U0ALICE"], "channels": ["netops"]}]}'},
            "'netops' is not a Slack channel id (C…, G… or D…) or *",
        ),
        ({"ACCESS_POLICY": '{"alow": []}'}, "ACCESS_POLICY alow: Extra inputs are not permitted"),
        (
            {
                "ACCESS_POLICY": json.dumps(
                    {"restrict": {"/meraki-add-user": {"meraki_org_id": {"1": {"groups": ["x"]}}}}}
                )
            },
            "user group id",
        ),
        (
            {"ACCESS_POLICY_FILE": "/nonexistent/policy.yaml"},
            "ACCESS_POLICY_FILE: cannot read /nonexistent/policy.yaml",
        ),
        (
            {"ACCESS_POLICY": '{"allow": [{"users": ["*"], "channels": ["*"]}]}', "NAUTOBOT_CHATOPS": "true"},
            "NAUTOBOT_CHATOPS: is on, so Nautobot's Access Grants decide",
        ),
        ({"NAUTOBOT_CHATOPS_COMMAND": "*"}, "NAUTOBOT_CHATOPS_COMMAND: must be a command name"),
    ],
)
def test_a_broken_policy_stops_the_bot_with_one_line_per_problem(env, variables, expected):
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(Settings)
    assert expected in str(raised.value)


def test_both_policy_settings_at_once_are_refused(env, tmp_path: Path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(POLICY))
    env.setenv("ACCESS_POLICY", json.dumps(POLICY))
    env.setenv("ACCESS_POLICY_FILE", str(path))
    with pytest.raises(SettingsError, match="set only one of them"):
        load_settings(Settings)


# -- the bot's own policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "groups", "allowed", "says"),
    [
        (Actor(ALICE, channel_id=NETOPS), {}, True, ""),
        (Actor(BOB, channel_id=NETOPS), {NETOPS_GROUP: {BOB}}, True, ""),
        (Actor(BOB, channel_id=NETOPS), {NETOPS_GROUP: {ALICE}}, False, "no rule of the bot's access policy names you"),
        (Actor(ALICE, channel_id=RANDOM), {}, False, "but not in this channel"),
        (Actor(MALLORY, channel_id=NETOPS), {ADMINS_GROUP: {MALLORY}}, False, "names you"),
    ],
    ids=["listed user", "group member", "not in the group", "other channel", "only a restrict group"],
)
def test_users_groups_and_channels(actor, groups, allowed, says):
    decision = policy_decision(add_part(POLICY), actor, members_of(groups), command="/x")
    assert decision.allowed is allowed
    assert says in decision.reason
    if not allowed:
        assert "ACCESS_POLICY" in decision.remedy


def test_wildcards_allow_everyone_everywhere():
    policy = add_part({"allow": [{"users": ["*"], "channels": ["*"]}]})
    assert policy_decision(policy, Actor("W0GRID", channel_id="G0PRIVATE"), members_of({}), command="/x").allowed


def test_a_channel_refusal_names_the_channels_that_are_allowed():
    decision = policy_decision(add_part(POLICY), Actor(ALICE, channel_id=RANDOM), members_of({}), command="/x")
    assert NETOPS in decision.remedy and RANDOM not in decision.remedy


def test_restricted_choices_are_left_out_for_everyone_but_their_group():
    policy = add_part(POLICY)
    plain = policy_decision(policy, Actor(ALICE, channel_id=NETOPS), members_of({}), command="/x")
    admin = policy_decision(policy, Actor(ALICE, channel_id=NETOPS), members_of({ADMINS_GROUP: {ALICE}}), command="/x")

    assert plain.denied_choices == {"meraki_access_level": {"full", "enterprise"}}
    assert admin.denied_choices == {}
    shown = restricted_form(form(), plain).variable("meraki_access_level")
    assert [value for value, _ in shown.choices] == ["read-only", "none"]
    assert restricted_form(form(), admin) == form()
    assert (
        choice_notice(form(), plain)
        == "Not offered to you by the access policy: Organization Access: Full, Enterprise."
    )


def test_a_restricted_default_is_not_kept():
    decision = Decision(allowed=True, reason="", denied_choices={"meraki_access_level": frozenset({"read-only"})})
    assert restricted_form(form(), decision).variable("meraki_access_level").default is None


def test_a_restricted_choice_in_a_submission_is_refused_on_its_field():
    decision = Decision(allowed=True, reason="", denied_choices={"meraki_access_level": frozenset({"full"})})
    errors = refused_choices({**GOOD, "meraki_access_level": "full"}, form(), decision, setting="ACCESS_POLICY")
    assert list(errors) == ["meraki_access_level"]
    assert "You may not choose Full" in errors["meraki_access_level"]
    assert refused_choices(GOOD, form(), decision, setting="ACCESS_POLICY") == {}


# -- nautobot-chatops' rule ----------------------------------------------------------------------


def grants(*rows: tuple[str, str, str, str]) -> list[AccessGrant]:
    return [AccessGrant(command=c, subcommand=s, grant_type=t, value=v) for c, s, t, v in rows]


EVERYWHERE = [("meraki", "add-user", "organization", TEAM), ("meraki", "add-user", "channel", "*")]


@pytest.mark.parametrize(
    ("rows", "allowed", "says"),
    [
        ([*EVERYWHERE, ("meraki", "add-user", "user", ALICE)], True, ""),
        ([*EVERYWHERE, ("meraki", "*", "user", ALICE)], True, ""),
        ([*EVERYWHERE, ("*", "*", "user", "*")], True, ""),
        ([*EVERYWHERE, ("meraki", "get-admins", "user", ALICE)], False, f"not permitted by user {ALICE} (alice)"),
        ([*EVERYWHERE, ("nautobot", "*", "user", ALICE)], False, "by user"),
        ([*EVERYWHERE, ("meraki", "add-user", "user", BOB)], False, "by user"),
        ([("meraki", "add-user", "channel", "*"), ("meraki", "add-user", "user", ALICE)], False, "in organization"),
        ([("*", "*", "organization", "*"), ("meraki", "add-user", "user", ALICE)], False, f"in channel {NETOPS}"),
        ([], False, f"in organization {TEAM}"),
    ],
    ids=[
        "exact",
        "subcommand *",
        "* *",
        "other subcommand",
        "other command",
        "other user",
        "no org",
        "no channel",
        "none",
    ],
)
def test_an_organization_a_channel_and_a_user_grant_must_all_match(rows, allowed, says):
    actor = Actor(ALICE, user_name="alice", channel_id=NETOPS, team_id=TEAM)
    decision = grants_decision(
        grants(*rows), actor, command="meraki", subcommand="add-user", slash_command="/meraki-add-user"
    )
    assert decision.allowed is allowed
    assert says in decision.reason
    if not allowed:
        assert "Access Grant" in decision.remedy and "'meraki'" in decision.remedy and "'add-user'" in decision.remedy


def test_grant_values_match_exactly():
    rows = [*EVERYWHERE, ("meraki", "add-user", "user", ALICE.lower())]
    actor = Actor(ALICE, channel_id=NETOPS, team_id=TEAM)
    decision = grants_decision(grants(*rows), actor, command="meraki", subcommand="add-user", slash_command="/x")
    assert not decision.allowed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def grants_api(pages: list[list[dict]], calls: list[httpx.Request]) -> NautobotClient:
    """Nautobot's list endpoint, handing out ``pages`` by offset as its paginator does."""
    by_offset = {sum(len(before) for before in pages[:index]): pages[index] for index in range(len(pages))}
    total = sum(len(page) for page in pages)

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        offset = int(request.url.params["offset"])
        page = by_offset[offset]
        following = "https://nautobot.example.com/next" if offset + len(page) < total else None
        return httpx.Response(200, json={"count": total, "next": following, "previous": None, "results": page})

    return NautobotClient("https://nautobot.example.com", "t" * 40, transport=httpx.MockTransport(answer))


def grant_row(kind: str, value: str) -> dict[str, Any]:
    return {"command": "meraki", "subcommand": "*", "grant_type": kind, "name": value, "value": value}


async def test_grants_are_read_page_by_page_with_both_command_filters_and_cached(monkeypatch):
    calls: list[httpx.Request] = []
    pages = [[grant_row("organization", "*"), grant_row("channel", "*")], [grant_row("user", ALICE)]]
    client = grants_api(pages, calls)
    clock = Clock()
    cache = ChatOpsGrants(ChatOpsApp(client), "meraki", "add-user", ttl=30, clock=clock)

    first = await cache.current()
    assert [g.grant_type for g in first] == ["organization", "channel", "user"]
    assert calls[0].url.params.get_list("command") == ["meraki", "*"]
    assert len(calls) == 2  # two pages
    assert cache.peek() == first
    await cache.current()
    assert len(calls) == 2  # cached
    await cache.current(fresh=True)
    assert len(calls) == 4  # read again, as on a submission
    clock.now += 31
    assert cache.peek() is None
    await client.aclose()


async def test_grants_that_cannot_be_read_refuse_with_a_retry_hint(monkeypatch):
    monkeypatch.setattr(nautobot_rest, "RETRY_DELAY", 0)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    client = NautobotClient("https://nautobot.example.com", "t" * 40, transport=httpx.MockTransport(down))
    access = Access(
        None, groups=SlackGroups(FakeSlack()), grants=ChatOpsGrants(ChatOpsApp(client), "meraki", "add-user")
    )  # type: ignore[arg-type]
    decision = await access.decide(Actor(ALICE, channel_id=NETOPS, team_id=TEAM))
    assert not decision.allowed and decision.unavailable
    assert "could not check your access" in decision.reason and "Try again" in decision.remedy
    assert access.decide_now(Actor(ALICE)) is None  # nothing cached: the command opens a loading view first
    await client.aclose()


# -- user groups ---------------------------------------------------------------------------------


async def test_group_members_are_cached_for_their_ttl():
    slack = FakeSlack(usergroups={NETOPS_GROUP: [BOB]})
    clock = Clock()
    groups = SlackGroups(slack, ttl=300, clock=clock)  # type: ignore[arg-type]

    assert groups.peek(NETOPS_GROUP) is None
    assert await groups.members(NETOPS_GROUP) == {BOB}
    slack.usergroups[NETOPS_GROUP] = [ALICE]
    assert await groups.members(NETOPS_GROUP) == {BOB}
    assert slack.calls_to("usergroups_users_list") == [{"usergroup": NETOPS_GROUP}]
    clock.now += 301
    assert await groups.members(NETOPS_GROUP) == {ALICE}
    assert len(slack.calls_to("usergroups_users_list")) == 2


async def test_a_group_slack_cannot_list_has_no_members_for_a_while():
    slack = FakeSlack(usergroups={})
    clock = Clock()
    groups = SlackGroups(slack, ttl=300, clock=clock)  # type: ignore[arg-type]
    assert await groups.members("S0GONE") == frozenset()
    clock.now += 10
    assert await groups.members("S0GONE") == frozenset()
    assert len(slack.calls_to("usergroups_users_list")) == 1
    clock.now += 25  # failures are remembered for a shorter time than answers
    await groups.members("S0GONE")
    assert len(slack.calls_to("usergroups_users_list")) == 2


async def test_decide_now_needs_every_group_in_the_cache():
    slack = FakeSlack(usergroups={NETOPS_GROUP: [BOB], ADMINS_GROUP: []})
    access = Access(AccessPolicy.model_validate(POLICY), groups=SlackGroups(slack), installed_team=TEAM)  # type: ignore[arg-type]
    actor = Actor(BOB, channel_id=NETOPS, team_id=TEAM)
    assert access.decide_now(actor) is None
    assert (await access.decide(actor)).allowed
    assert access.decide_now(actor).allowed
    assert len(slack.calls_to("usergroups_users_list")) == 2


# -- the listeners -------------------------------------------------------------------------------


@pytest.fixture
def nautobot(events: Events) -> FakeNautobot:
    return (
        FakeNautobot(events)
        .with_quick_run()
        .on("GET", JOBS_PATH, ok(JOB_LIST))
        .on("GET", VARIABLES_PATH, ok([*VARIABLES, REQUESTED_BY, APPROVED_BY]))
    )


@pytest.fixture
def slack(events: Events) -> FakeSlack:
    return FakeSlack(events, usergroups={NETOPS_GROUP: [BOB], ADMINS_GROUP: [ALICE]})


@pytest.fixture
async def bot(nautobot: FakeNautobot, slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Listeners]:
    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)  # still a point where the task may be cancelled

    client = nautobot.client()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    cache = FormCache(client, JOB_NAME)
    await cache.refresh()
    access = Access(AccessPolicy.model_validate(POLICY), groups=SlackGroups(slack), installed_team=TEAM)  # type: ignore[arg-type]
    listeners = wire(
        slack=slack,  # type: ignore[arg-type]
        nautobot=client,
        ledger=ledger,
        commands=[SlashCommand("/meraki-add-user", cache, access)],
        follow_timeout=60.0,
        pacer=ChannelPacer(0),
        sleep=no_sleep,
    )
    yield listeners
    await listeners.runs.stop()
    await client.aclose()
    await ledger.close()


def command(user: str, channel: str = NETOPS, text: str = "") -> dict[str, Any]:
    return {
        "team_id": TEAM,
        "channel_id": channel,
        "user_id": user,
        "user_name": user.lower(),
        "command": "/meraki-add-user",
        "text": text,
        "trigger_id": "1.2.3",
    }


def submission(user: str, values: dict[str, Any], channel: str = NETOPS) -> tuple[dict, dict]:
    context = ModalContext(channel_id=channel, user_id=user, job_id=JOB_ID)
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
    view = {"id": "V0FORM", "type": "modal", "private_metadata": context.to_metadata(), "state": {"values": state}}
    body = {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": user, "username": user.lower()}}
    return body, view


async def opened_view(bot: Listeners, slack: FakeSlack, ack: FakeAck, body: dict) -> dict:
    await bot.slash_command(ack, body, slack)  # type: ignore[arg-type]
    calls = slack.calls_to("views_update") or slack.calls_to("views_open")
    return view_dict(calls[-1]["view"])


async def test_default_deny_at_the_command_names_the_setting(bot: Listeners, slack, ack):
    bot.main.access.policy = None
    view = await opened_view(bot, slack, ack, command(ALICE))
    text = view_text(view)
    assert view["title"]["text"] == "Not allowed"
    assert "ACCESS_POLICY" in text and "Nothing was submitted" in text
    [entry] = await audit_trail(bot.ledger)
    assert (entry.action, entry.outcome, entry.user_id, entry.channel_id) == ("command", "denied", ALICE, NETOPS)


async def test_a_group_member_gets_the_form_without_the_restricted_choices(bot: Listeners, slack, ack):
    view = await opened_view(bot, slack, ack, command(BOB, text="bob@example.com full"))
    block = next(b for b in view["blocks"] if b.get("block_id") == "meraki_access_level")
    assert [o["value"] for o in block["element"]["options"]] == ["read-only", "none"]
    assert "initial_option" not in block["element"] or block["element"]["initial_option"]["value"] != "full"
    shown = [b.get("block_id") for b in view["blocks"]]
    assert "requested_by" not in shown and "approved_by" not in shown  # the bot fills them itself
    assert "Approved by" not in view_text(view)
    assert "Not offered to you by the access policy: Organization Access: Full, Enterprise." in view_text(view)


async def test_an_admin_group_member_is_offered_every_choice(bot: Listeners, slack, ack):
    view = await opened_view(bot, slack, ack, command(ALICE))
    block = next(b for b in view["blocks"] if b.get("block_id") == "meraki_access_level")
    assert [o["value"] for o in block["element"]["options"]] == ["full", "read-only", "enterprise", "none"]


async def test_someone_in_no_rule_is_refused_at_the_command_and_at_a_forged_submission(
    bot: Listeners, slack, ack, nautobot
):
    view = await opened_view(bot, slack, ack, command(MALLORY))
    assert view["title"]["text"] == "Not allowed"

    body, submitted = submission(MALLORY, GOOD)
    await bot.submission(ack, body, slack, submitted)  # type: ignore[arg-type]
    assert ack.calls[-1]["response_action"] == "update"
    assert "Not allowed" in json.dumps(view_dict(ack.calls[-1]["view"]))
    assert nautobot.count("POST", RUN_PATH) == 0
    assert [(e.action, e.outcome) for e in await audit_trail(bot.ledger)] == [
        ("command", "denied"),
        ("submit", "denied"),
    ]


async def test_access_taken_away_while_the_form_is_open_stops_the_submission(bot: Listeners, slack, ack, nautobot):
    view = await opened_view(bot, slack, ack, command(ALICE))
    assert view["callback_id"] == forms.CALLBACK_ID

    bot.main.access.policy = AccessPolicy.model_validate({"allow": [{"users": [BOB], "channels": [NETOPS]}]})
    body, submitted = submission(ALICE, GOOD)
    await bot.submission(ack, body, slack, submitted)  # type: ignore[arg-type]

    assert ack.calls[-1]["response_action"] == "update"
    assert nautobot.count("POST", RUN_PATH) == 0


async def test_a_restricted_choice_is_refused_at_submission(bot: Listeners, slack, ack, nautobot):
    body, submitted = submission(BOB, {**GOOD, "meraki_access_level": "full"})
    await bot.submission(ack, body, slack, submitted)  # type: ignore[arg-type]

    assert ack.calls[-1]["response_action"] == "errors"
    assert "You may not choose Full" in ack.calls[-1]["errors"]["meraki_access_level"]
    assert nautobot.count("POST", RUN_PATH) == 0
    [entry] = await audit_trail(bot.ledger)
    assert (entry.action, entry.outcome, entry.user_id) == ("submit", "denied", BOB)


async def test_an_allowed_submission_tells_the_job_who_asked(bot: Listeners, slack, ack, nautobot):
    body, submitted = submission(BOB, GOOD)
    await bot.submission(ack, body, slack, submitted)  # type: ignore[arg-type]

    assert ack.calls[-1] == {}
    [sent] = nautobot.run_bodies()
    assert sent["data"]["requested_by"] == f"Slack user {BOB} (u0bob) via meraki-chatops"
    [entry] = await audit_trail(bot.ledger)
    assert (entry.action, entry.outcome, entry.source) == ("submit", "submitted", "ACCESS_POLICY")
    assert entry.inputs["user_email"] == "jane@example.com" and entry.request_id


async def test_a_submission_cannot_say_who_approved_it(bot: Listeners, slack, ack, nautobot):
    """A forged view carrying an ``approved_by`` field: the bot reads only the fields it shows."""
    body, submitted = submission(BOB, GOOD)
    forged = {"type": "plain_text_input", "value": "Slack users U0CEO (the boss)"}
    submitted["state"]["values"]["approved_by"] = {forms.ACTION_ID: forged}
    await bot.submission(ack, body, slack, submitted)  # type: ignore[arg-type]

    assert ack.calls[-1] == {}
    [sent] = nautobot.run_bodies()
    assert "approved_by" not in sent["data"]
    [entry] = await audit_trail(bot.ledger)
    assert "approved_by" not in entry.inputs


async def test_cancel_checks_the_policy_before_the_requester_rule(bot: Listeners, slack, ack, nautobot):
    body, submitted = submission(BOB, GOOD)
    await bot.submission(ack, body, slack, submitted)  # type: ignore[arg-type]
    [record] = [r for r in await audit_trail(bot.ledger) if r.outcome == "submitted"]

    async def click(user: str) -> str:
        await bot.cancel(
            FakeAck(),
            {
                "actions": [{"value": record.request_id}],
                "user": {"id": user, "team_id": TEAM},
                "container": {"channel_id": NETOPS},
            },
            slack,  # type: ignore[arg-type]
        )
        return json.dumps(slack.calls_to("chat_postEphemeral")[-1]["blocks"], default=lambda b: b.to_dict())

    assert "no rule of the bot" in await click(MALLORY)  # not in the policy: refused by it
    assert "Only <@U0BOB>" in await click(ALICE)  # in the policy, but not the requester
    outcomes = [(e.action, e.user_id, e.outcome) for e in await audit_trail(bot.ledger) if e.action == "cancel"]
    assert outcomes == [("cancel", MALLORY, "denied"), ("cancel", ALICE, "denied")]


async def test_a_searched_choice_list_offers_only_what_the_person_may_pick(bot: Listeners):
    answers: list[dict[str, Any]] = []

    async def ack(**kwargs: Any) -> None:
        answers.append(kwargs)

    for user in (ALICE, BOB, MALLORY):
        metadata = ModalContext(channel_id=NETOPS, user_id=user, job_id=JOB_ID).to_metadata()
        body = {
            "user": {"id": user, "team_id": TEAM},
            "view": {"private_metadata": metadata},
            "block_id": "meraki_access_level",
        }
        await bot.options(ack, {**body, "value": ""})

    offered = [[option["value"] for option in answer["options"]] for answer in answers]
    assert offered == [["full", "read-only", "enterprise", "none"], ["read-only", "none"], []]
