"""nautobot-chatops' Access Grants, command log and account links, against the real Nautobot with the app installed.

Grants and links are made over Nautobot's REST API as its admin, as an operator would; the bot reads
them with its own token, which holds only the permissions the README lists.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.access import Actor, grants_decision
from bot.nautobot import ChatOpsApp, CommandLogEntry, CommandStatus, NautobotClient
from testbed.bot_process import BotProcess
from testbed.nautobot_stack import BOT_TOKEN, NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import (
    CHANNEL,
    DM_ONLY_CHANNEL,
    OTHER_USER,
    USER,
    bot_env,
    entered,
    open_form,
    parent_message,
    start_connected,
    submit,
    workspace,
)
from testbed.slack_standin import TEAM_ID, SlackStandIn
from tests.support.audit_trail import audit_rows, audited

pytestmark = [pytest.mark.security, pytest.mark.nautobot]

GRANTS = "/api/plugins/chatops/accessgrant/"
COMMAND_LOG = "/api/plugins/chatops/commandlog/"
LINKS = "/api/plugins/chatops/accountlink/"


def grant(admin: httpx.Client, kind: str, value: str, command: str = "meraki", subcommand: str = "add-user") -> str:
    created = admin.post(
        GRANTS, json={"command": command, "subcommand": subcommand, "grant_type": kind, "name": value, "value": value}
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def clear(admin: httpx.Client, path: str) -> None:
    for item in admin.get(path, params={"limit": 1000}).raise_for_status().json()["results"]:
        admin.delete(f"{path}{item['id']}/").raise_for_status()


def command_log(admin: httpx.Client, **filters: str) -> list[dict]:
    rows = admin.get(COMMAND_LOG, params={"limit": 1000, **filters}).raise_for_status().json()["results"]
    return sorted(rows, key=lambda row: row["created"])


@pytest.fixture
def admin(stack: NautobotStack) -> Iterator[httpx.Client]:
    """Nautobot's admin with no grants, command log rows or account links left from other tests."""
    for path in (GRANTS, COMMAND_LOG, LINKS):
        clear(stack.admin, path)
    yield stack.admin


def app(stack: NautobotStack) -> ChatOpsApp:
    return ChatOpsApp(NautobotClient(stack.url, BOT_TOKEN))


# -- the app's API as the bot's token sees it ----------------------------------------------------


def test_grants_read_over_the_api_follow_the_apps_rule(stack, admin):
    grant(admin, "organization", TEAM_ID)
    grant(admin, "channel", CHANNEL)
    grant(admin, "user", USER)
    grant(admin, "user", OTHER_USER, subcommand="get-admins")  # another subcommand: no access to add-user
    grant(admin, "user", "U0ELSEWHERE", command="nautobot", subcommand="*")

    async def decide() -> dict[str, bool]:
        chatops = app(stack)
        try:
            grants = await chatops.access_grants("meraki")
        finally:
            await chatops.nautobot.aclose()
        cases = {
            "alice in netops": Actor(USER, channel_id=CHANNEL, team_id=TEAM_ID),
            "bob in netops": Actor(OTHER_USER, channel_id=CHANNEL, team_id=TEAM_ID),
            "alice elsewhere": Actor(USER, channel_id=DM_ONLY_CHANNEL, team_id=TEAM_ID),
            "alice without a team": Actor(USER, channel_id=CHANNEL),
            "alice in another workspace": Actor(USER, channel_id=CHANNEL, team_id="T0OTHER"),
        }
        return {
            name: grants_decision(
                grants, actor, command="meraki", subcommand="add-user", slash_command="/meraki-add-user"
            ).allowed
            for name, actor in cases.items()
        }

    assert asyncio.run(decide()) == {
        "alice in netops": True,
        "bob in netops": False,
        "alice elsewhere": False,
        "alice without a team": False,
        "alice in another workspace": False,
    }


def test_the_bots_token_may_write_the_command_log(stack, admin):
    entry = CommandLogEntry(
        user_id=USER,
        user_name="alice",
        command="meraki",
        subcommand="add-user",
        status=CommandStatus.BLOCKED,
        details="Access to /meraki-add-user is not permitted in channel C999.",
        start_time=datetime.now(UTC) - timedelta(seconds=1),
        runtime=timedelta(milliseconds=120),
        params=[("user_email", "jane@example.com")],
    )

    async def write() -> str:
        chatops = app(stack)
        try:
            return await chatops.log_command(entry)
        finally:
            await chatops.nautobot.aclose()

    row_id = asyncio.run(write())
    [row] = command_log(admin)
    assert row["id"] == row_id
    assert (row["user_id"], row["platform"], row["command"], row["subcommand"]) == (
        USER,
        "Slack",
        "meraki",
        "add-user",
    )
    assert _status(row) == "blocked"
    assert row["params"] == [["user_email", "jane@example.com"]]
    # The bot may add rows, not read them back: it holds no view permission on the command log.
    with stack.client() as bot:
        assert bot.get(COMMAND_LOG).status_code == 403


def test_an_account_link_is_found_for_its_slack_user_only(stack, admin):
    user = admin.post("/api/users/users/", json={"username": f"alice-{time.time_ns()}", "password": "x" * 20})
    assert user.status_code == 201, user.text
    link = admin.post(
        LINKS, json={"nautobot_user": user.json()["id"], "platform": "slack", "user_id": USER, "email": ""}
    )
    assert link.status_code == 201, link.text

    async def look() -> tuple:
        chatops = app(stack)
        try:
            return await chatops.linked_user(USER), await chatops.linked_user(OTHER_USER)
        finally:
            await chatops.nautobot.aclose()

    alice, bob = asyncio.run(look())
    assert alice is not None and alice.username == user.json()["username"]
    assert bob is None
    with stack.client() as bot:  # why the change log is needed: the app lists only the caller's own links
        assert bot.get(LINKS, params={"user_id": USER}).json()["count"] == 0


# -- the bot process with NAUTOBOT_CHATOPS on --------------------------------------------------


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with workspace() as standin:
        yield standin


@pytest.fixture(scope="module")
def chatops_bot(slack: SlackStandIn, nautobot: NautobotStack, tmp_path_factory) -> Iterator[BotProcess]:
    env = bot_env(slack, nautobot)
    del env["ACCESS_POLICY"]  # the grants decide
    env |= {"NAUTOBOT_CHATOPS": "true", "NAUTOBOT_CHATOPS_CACHE_SECONDS": "1"}
    process = start_connected(BotProcess(tmp_path_factory.mktemp("chatops-bot"), env), slack)
    yield process
    process.stop()


def shown_text(slack: SlackStandIn, user: str = USER) -> str:
    return json.dumps((slack.current_view(user) or {}).get("blocks"))


def refused_view(slack: SlackStandIn, user: str, shown_before: str | None) -> dict:
    def refused() -> dict | None:
        view = slack.current_view(user)
        done = view and view["id"] != shown_before and "Not allowed" in json.dumps(view.get("title"))
        return view if done else None

    return slack.wait_for(refused, timeout=30)


def test_grants_let_the_user_run_it_and_refuse_another(stack, admin, slack, chatops_bot, meraki):
    grant(admin, "organization", TEAM_ID)
    grant(admin, "channel", CHANNEL)
    grant(admin, "user", USER)
    time.sleep(1.5)  # NAUTOBOT_CHATOPS_CACHE_SECONDS=1

    before = (slack.current_view(OTHER_USER) or {}).get("id")
    slack.slash_command(text="", user_id=OTHER_USER, channel_id=CHANNEL)
    refused = refused_view(slack, OTHER_USER, before)
    text = json.dumps(refused["blocks"])
    assert f"not permitted by user {OTHER_USER}" in text and "Access Grant" in text and "add-user" in text

    view = open_form(slack)
    _, shown = submit(slack, view, entered(view, "granted@example.com"))
    assert "succeeded" in parent_message(slack, shown)["text"].lower()
    assert [admin["email"] for admin in meraki.admins(ACME)] == ["granted@example.com"]

    rows = slack.wait_for(lambda: [r for r in command_log(admin) if r["user_id"] == USER] or None, timeout=30)
    statuses = {row["user_id"]: _status(row) for row in command_log(admin)}
    assert statuses == {OTHER_USER: "blocked", USER: "succeeded"}
    assert ["user_email", "granted@example.com"] in rows[-1]["params"]
    audited(chatops_bot, user_id=USER, action="submit", outcome="submitted")
    trail = [(r["user_id"], r["action"], r["outcome"], r["source"]) for r in audit_rows(chatops_bot)]
    assert (OTHER_USER, "command", "denied", "NAUTOBOT_CHATOPS") in trail
    assert (USER, "submit", "submitted", "NAUTOBOT_CHATOPS") in trail


def test_a_grant_removed_while_the_form_is_open_stops_the_submission(stack, admin, slack, chatops_bot, meraki):
    grant(admin, "organization", "*")
    grant(admin, "channel", "*")
    user_grant = grant(admin, "user", USER)
    time.sleep(1.5)
    view = open_form(slack)

    admin.delete(f"{GRANTS}{user_grant}/").raise_for_status()
    ack, _ = submit(slack, view, entered(view, "too.late@example.com"))

    assert ack["response_action"] == "update"
    text = json.dumps(ack["view"]["blocks"])
    assert f"not permitted by user {USER}" in text and "Nothing was submitted" in text
    assert meraki.admins(ACME) == []
    denied = audited(chatops_bot, action="submit", outcome="denied")
    assert denied[-1]["user_id"] == USER


def _status(row: dict) -> str:
    status = row["status"]
    return status["value"] if isinstance(status, dict) else status
