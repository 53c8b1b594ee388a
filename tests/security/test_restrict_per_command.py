"""``restrict`` is per slash command, never by position.

Reproduced hole: ``restrict`` applied only to the first command of ``COMMANDS``, so anyone allowed
``/meraki-remove-user`` could remove anyone from any organization (default "All organizations"), and
reordering ``COMMANDS`` silently moved ``restrict`` off the add command. Now each command names its own
restrictions; the old shape and a command ``COMMANDS`` does not bind stop the start; each command's
restrictions are checked against its own Job's live form (a misfit refuses that command only); and
``restrict`` applies with nautobot-chatops' grants too. The last part runs the real bot against the real
Nautobot's Remove Meraki User: only S0ADMINS may remove from Acme Corp or pick All organizations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.access import Access, AccessPolicy, Actor, SlackGroups
from bot.app import commands
from bot.doctor import Status, run_checks
from bot.models import JobForm
from bot.nautobot import NautobotClient
from bot.settings import Settings, SettingsError, load_settings
from testbed.bot_process import BotProcess
from testbed.fake_nautobot import ACME_ORG, JOB_ID, VARIABLES
from testbed.fake_slack import FakeSlack
from testbed.meraki_standin import MerakiStandIn
from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME, GLOBEX
from testbed.slack_flow import CHANNEL, bot_env, option, start_connected
from testbed.slack_standin import SlackStandIn
from tests.security.everyone_granted import EveryoneGranted
from tests.support.audit_trail import audit_rows
from tests.support.polling import wait_until

pytestmark = pytest.mark.security

ADD, FIND, REMOVE = "/meraki-add-user", "/meraki-find-user", "/meraki-remove-user"
ALICE, ADMIN = "U0ALICE", "U0ADMIN"
ADMINS = "S0ADMINS"
TEAM = "T0ACME"
ADMINS_ONLY = {"groups": [ADMINS]}
ACME_RESTRICT = {REMOVE: {"meraki_org_id": {"all": ADMINS_ONLY, ACME: ADMINS_ONLY}}}
"""The README's example: only S0ADMINS may remove from Acme Corp, and only they may pick All organizations."""
EVERYONE_EVERYWHERE = [{"users": ["*"], "channels": ["*"], "commands": ["*"]}]
BASE_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_APP_TOKEN": "xapp-1",
    "NAUTOBOT_URL": "https://nautobot.example.com",
    "NAUTOBOT_TOKEN": "t" * 40,
}


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("ACCESS_POLICY", "ACCESS_POLICY_FILE", "NAUTOBOT_CHATOPS", "COMMANDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**BASE_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    return load_settings(Settings, _env_file=None)


def slack_with_admins() -> FakeSlack:
    return FakeSlack(usergroups={ADMINS: [ADMIN]})


def remove_form() -> JobForm:
    """The shape of Remove Meraki User's organization variable: a choice with All organizations as its default."""
    choices = [["all", "All organizations"], [ACME_ORG, "Acme Corp (111111)"], ["222222", "Globex (222222)"]]
    org = {"name": "meraki_org_id", "type": "ChoiceVar", "label": "Meraki Organization", "required": True}
    return JobForm.from_api(
        {"id": JOB_ID, "name": "Remove Meraki User"}, [{**org, "choices": choices, "default": "all"}]
    )


# -- the setting ---------------------------------------------------------------------------------


def test_the_old_shape_stops_the_start_and_shows_the_rewrite(monkeypatch: pytest.MonkeyPatch) -> None:
    old = {"allow": EVERYONE_EVERYWHERE, "restrict": {"meraki_access_level": {"full": ADMINS_ONLY}}}

    with pytest.raises(SettingsError) as caught:
        settings(monkeypatch, ACCESS_POLICY=json.dumps(old))

    said = str(caught.value)
    assert "ACCESS_POLICY restrict: is in the old shape" in said and "meraki_access_level" in said
    assert 'restrict: {"/meraki-add-user": {"meraki_access_level": {"full": {"groups": ["S0ADMINS"]}}}}' in said


def test_a_restrict_for_a_command_commands_does_not_bind_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    typo = {"allow": EVERYONE_EVERYWHERE, "restrict": {"/meraki-remove-usr": {"meraki_org_id": {"all": ADMINS_ONLY}}}}

    with pytest.raises(SettingsError) as caught:
        settings(monkeypatch, ACCESS_POLICY=json.dumps(typo))

    assert "ACCESS_POLICY restrict names /meraki-remove-usr, which COMMANDS does not bind" in str(caught.value)
    assert "did you mean /meraki-remove-user?" in str(caught.value)


def test_restrict_stays_with_its_command_when_commands_are_reordered(monkeypatch: pytest.MonkeyPatch) -> None:
    reordered = {
        REMOVE: {"job": "Remove Meraki User", "confirm": True},
        ADD: {"job": "Create Meraki User"},
        FIND: {"job": "Find Meraki User", "run_from_text": True},
    }
    policy = {"allow": EVERYONE_EVERYWHERE, "restrict": {ADD: {"meraki_access_level": {"full": ADMINS_ONLY}}}}
    loaded = settings(monkeypatch, ACCESS_POLICY=json.dumps(policy), COMMANDS=json.dumps(reordered))
    nautobot = NautobotClient(loaded.nautobot_base, "t" * 40)

    built = {command.slash: command.access for command in commands(loaded, FakeSlack(), nautobot, None)}  # type: ignore[arg-type]

    assert loaded.main_command == REMOVE
    assert built[ADD].applying is not None and set(built[ADD].applying.restrict) == {"meraki_access_level"}
    assert built[REMOVE].applying is not None and built[REMOVE].applying.restrict == {}


# -- deciding ------------------------------------------------------------------------------------


def guard(policy: dict[str, Any], slash: str, *, grants: Any = None) -> Access:
    access = Access(
        AccessPolicy.model_validate(policy),
        groups=SlackGroups(slack_with_admins()),  # type: ignore[arg-type]
        grants=grants,
        slash_command=slash,
        main=slash == ADD,
        installed_team=TEAM,
    )
    access.form_changed(remove_form())
    return access


async def test_only_admins_may_remove_from_acme_or_pick_all_organizations() -> None:
    policy = {"allow": EVERYONE_EVERYWHERE, "restrict": ACME_RESTRICT}

    alice = await guard(policy, REMOVE).decide(Actor(ALICE, channel_id=CHANNEL, team_id=TEAM))
    admin = await guard(policy, REMOVE).decide(Actor(ADMIN, channel_id=CHANNEL, team_id=TEAM))

    assert alice.allowed and alice.denied_choices == {"meraki_org_id": frozenset({"all", ACME})}
    assert admin.allowed and admin.denied_choices == {}


async def test_restrict_applies_with_nautobot_chatops_grants_too() -> None:
    access = guard({"restrict": ACME_RESTRICT}, REMOVE, grants=EveryoneGranted("remove-user"))

    alice = await access.decide(Actor(ALICE, channel_id=CHANNEL, team_id=TEAM))
    admin = await access.decide(Actor(ADMIN, channel_id=CHANNEL, team_id=TEAM))

    assert alice.allowed and alice.source == "NAUTOBOT_CHATOPS"
    assert alice.denied_choices == {"meraki_org_id": frozenset({"all", ACME})}
    assert admin.allowed and admin.denied_choices == {}


async def test_a_misfit_restrict_refuses_its_own_command_only() -> None:
    labelled = {REMOVE: {"meraki_org_id": {"All organizations": ADMINS_ONLY}}}
    policy = {"allow": EVERYONE_EVERYWHERE, "restrict": labelled}
    actor = Actor(ADMIN, channel_id=CHANNEL, team_id=TEAM)

    removing = await guard(policy, REMOVE).decide(actor)
    adding = Access(
        AccessPolicy.model_validate(policy),
        groups=SlackGroups(slack_with_admins()),  # type: ignore[arg-type]
        installed_team=TEAM,
    )
    adding.form_changed(JobForm.from_api({"id": JOB_ID, "name": "Create Meraki User"}, VARIABLES))

    assert not removing.allowed and "switched off" in removing.reason
    assert "All organizations is a label: use its value, all" in removing.reason
    assert (await adding.decide(actor)).allowed


# -- the real bot, the real Remove Meraki User ---------------------------------------------------


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    from testbed.manifest import bot_scopes

    with SlackStandIn(scopes=bot_scopes()) as standin:
        standin.add_user(ALICE, name="alice", real_name="Alice Operator")
        standin.add_user(ADMIN, name="ada", real_name="Ada Admin")
        standin.add_channel(CHANNEL, name="netops", members={ALICE, ADMIN}, bot_member=True)
        standin.add_usergroup(ADMINS, [ADMIN])
        yield standin


@pytest.fixture(scope="module")
def policed(slack: SlackStandIn, nautobot: NautobotStack, tmp_path_factory) -> Iterator[BotProcess]:
    policy = {"allow": [{"users": [ALICE, ADMIN], "channels": [CHANNEL], "commands": ["*"]}], "restrict": ACME_RESTRICT}
    env = {**bot_env(slack, nautobot), "ACCESS_POLICY": json.dumps(policy), "SLACK_GROUP_CACHE_SECONDS": "0"}
    process = start_connected(BotProcess(tmp_path_factory.mktemp("restrict-bot"), env), slack)
    yield process
    process.stop()


def remove_form_for(slack: SlackStandIn, user: str, text: str) -> dict:
    shown = (slack.current_view(user) or {}).get("id")
    slack.slash_command(command=REMOVE, text=text, user_id=user, channel_id=CHANNEL)

    def opened() -> dict | None:
        view = slack.current_view(user)
        return view if view and view["id"] != shown and view.get("submit") else None

    return slack.wait_for(opened, timeout=60)


def org_select(view: dict) -> dict:
    [block] = [b for b in view["blocks"] if b.get("block_id") == "meraki_org_id"]
    return block["element"]


def offered(view: dict) -> list[str]:
    return [choice["value"] for choice in org_select(view)["options"]]


def picked(view: dict, value: str) -> dict:
    """An option exactly as the form offered it."""
    return {"value": {"selected_option": option(view, "meraki_org_id", value)}}


JANE = "jane.doe@example.com"


@pytest.mark.e2e
@pytest.mark.nautobot
def test_only_admins_may_remove_from_acme_or_from_all_organizations(
    stack: NautobotStack, slack: SlackStandIn, policed: BotProcess, meraki: MerakiStandIn
):
    slack.add_usergroup(ADMINS, [ADMIN])
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only", account_status="ok")
    meraki.add_admin(GLOBEX, JANE, "Jane Doe", "read-only", account_status="ok")
    for org in (ACME, GLOBEX):  # removing Jane never leaves an organization without a full administrator
        meraki.add_admin(org, f"ops.{org}@example.com", "Ops Team", "full", account_status="ok")
    before = len(slack.messages(CHANNEL))

    form = remove_form_for(slack, ALICE, JANE)
    assert offered(form) == [GLOBEX]  # not All, not Acme Corp
    assert "initial_option" not in org_select(form)  # the Job's default, all, is not picked for her
    assert "Not offered to you by the access policy" in json.dumps(form["blocks"])
    [org_input] = [b for b in form["blocks"] if b.get("block_id") == "meraki_org_id"]
    assert not org_input.get("optional")  # Slack submits nothing until she picks one: no default in its place

    admins_form = remove_form_for(slack, ADMIN, JANE)
    assert offered(admins_form) == ["all", ACME, GLOBEX]
    assert org_select(admins_form)["initial_option"]["value"] == "all"
    slack.add_usergroup(ADMINS, [])  # taken out of S0ADMINS while the form is open
    for kept in ("all", ACME):
        values = {"user_email": {"value": {"value": JANE}}, "meraki_org_id": picked(admins_form, kept)}
        ack = slack.submit_view(admins_form["id"], values, user_id=ADMIN)
        assert ack["response_action"] == "errors" and "You may not choose" in ack["errors"]["meraki_org_id"]

    def refused_submissions() -> list[dict] | None:
        rows = [
            r for r in audit_rows(policed) if (r["user_id"], r["action"], r["outcome"]) == (ADMIN, "submit", "denied")
        ]
        return rows if len(rows) >= 2 else None

    assert len(wait_until(refused_submissions, 15)) == 2  # each refused, and recorded
    assert len(slack.messages(CHANNEL)) == before  # nothing was run: no run's message
    assert JANE in [admin["email"] for admin in meraki.admins(ACME)]
    assert JANE in [admin["email"] for admin in meraki.admins(GLOBEX)]

    values = {"user_email": {"value": {"value": JANE}}, "meraki_org_id": picked(form, GLOBEX)}
    summary = slack.submit_view(form["id"], values, user_id=ALICE)  # what she may pick still runs (Dry run unticked)
    assert summary["response_action"] == "update" and summary["view"]["submit"]["text"] == "Confirm"
    slack.submit_view(slack.current_view(ALICE)["id"], {}, user_id=ALICE)

    def ended() -> dict | None:
        return next((m for m in slack.messages(CHANNEL)[before:] if "succeeded" in m["text"].lower()), None)

    assert "succeeded" in slack.wait_for(ended, 120)["text"].lower()  # Dry run left unticked: for real
    assert JANE not in [admin["email"] for admin in meraki.admins(GLOBEX)]
    assert JANE in [admin["email"] for admin in meraki.admins(ACME)]  # and only where she may
    slack.add_usergroup(ADMINS, [ADMIN])


@pytest.mark.e2e
@pytest.mark.nautobot
async def test_doctor_checks_each_commands_restrict_against_its_own_job(
    stack: NautobotStack, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    env = bot_env(slack, stack)
    labelled = {REMOVE: {"meraki_org_id": {"All organizations": ADMINS_ONLY}}}
    for restrict, status in ((ACME_RESTRICT, Status.OK), (labelled, Status.FAIL)):
        policy = {"allow": [{"users": ["*"], "channels": ["*"], "commands": ["*"]}], "restrict": restrict}
        for name, value in {
            **env,
            "ACCESS_POLICY": json.dumps(policy),
            "STORE_URL": f"sqlite:///{tmp_path}/l.db",
        }.items():
            monkeypatch.setenv(name, value)
        checks = await run_checks(Settings)
        [check] = [check for check in checks if check.name == "access policy"]
        assert check.status is status, check
    assert "/meraki-remove-user does not fit the Job 'Remove Meraki User'" in check.detail
    assert "All organizations is a label: use its value, all" in check.detail
