"""No secret leaves the bot: whole flows through the real bot process (DEBUG logs, text and JSON), the
Slack stand-in and the real Nautobot, then a scan of every line the bot wrote, every payload Slack
received from it and the Job's log and result in Nautobot.

The tokens are random for this module: the bot's Slack tokens and signing secret, and a Nautobot
token issued to the bot's user for this module alone.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import pytest

from testbed.bot_process import BotProcess
from testbed.manifest import bot_scopes
from testbed.meraki_standin import MerakiStandIn
from testbed.nautobot_stack import NautobotStack
from testbed.slack_flow import (
    CHANNEL,
    OTHER_USER,
    USER,
    bot_env,
    entered,
    open_form,
    parent_message,
    start_connected,
    submit,
)
from testbed.slack_standin import SlackStandIn
from tests.security.secret_scan import Secret, random_secrets, scan

pytestmark = [pytest.mark.security, pytest.mark.e2e, pytest.mark.nautobot]

RESULT_URL = re.compile(r"/extras/job-results/([0-9a-f-]{36})/")


@pytest.fixture(scope="module")
def module_secrets() -> dict[str, Secret]:
    return random_secrets()


@pytest.fixture(scope="module")
def slack(module_secrets: dict[str, Secret]) -> Iterator[SlackStandIn]:
    bot_token, app_token = module_secrets["SLACK_BOT_TOKEN"].value, module_secrets["SLACK_APP_TOKEN"].value
    with SlackStandIn(scopes=bot_scopes(), bot_token=bot_token, app_token=app_token) as standin:
        standin.add_user(USER, name="alice", real_name="Alice Admin")
        standin.add_user(OTHER_USER, name="bob", real_name="Bob Bystander")
        standin.add_channel(CHANNEL, name="netops", members={USER, OTHER_USER}, bot_member=True)
        yield standin


def issue_bot_token(nautobot: NautobotStack, key: str) -> None:
    """A Nautobot token of the bot's own user (with its permissions), known only to this module."""
    code = (
        "from nautobot.users.models import Token, User\n"
        f"Token.objects.create(user=User.objects.get(username='chatops-bot'), key='{key}')\n"
    )
    argv = [nautobot.release.server, "shell", "--command", code]
    done = subprocess.run(argv, env=nautobot.env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def nautobot_token(nautobot: NautobotStack, module_secrets: dict[str, Secret]) -> str:
    token = module_secrets["NAUTOBOT_TOKEN"].value
    issue_bot_token(nautobot, token)
    with nautobot.client(token) as client:
        assert client.get("/api/extras/jobs/").status_code == 200
    return token


@pytest.fixture(scope="module", params=["text", "json"])
def chatops(request, slack, nautobot, nautobot_token, module_secrets, tmp_path_factory) -> Iterator[BotProcess]:
    """The bot at DEBUG, logging as text or as JSON, holding only this module's secrets."""
    env = bot_env(slack, nautobot) | {
        "NAUTOBOT_TOKEN": nautobot_token,
        "SLACK_SIGNING_SECRET": module_secrets["SLACK_SIGNING_SECRET"].value,
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": request.param,
    }
    process = start_connected(BotProcess(tmp_path_factory.mktemp(f"bot-{request.param}"), env), slack)
    yield process
    process.stop()


@pytest.fixture
def flow(stack: NautobotStack, slack: SlackStandIn, chatops: BotProcess) -> SlackStandIn:
    assert chatops.alive(), chatops.output()[-4000:]
    return slack


# -- what is scanned -------------------------------------------------------------------------------


def slack_payloads(slack: SlackStandIn) -> dict[str, str]:
    """What the bot sent to Slack: every Web API call's arguments (the token it authenticates with
    aside) and every Socket Mode ack, plus what Slack keeps of it: messages, views, files."""
    sent = {
        f"slack {call.method} #{number}": json.dumps(call.args, default=str)
        for number, call in enumerate(slack.calls)
        if call.method != "apps.connections.open"
    }
    acks = [envelope.ack for envelope in slack.envelopes if envelope.ack]
    sent["slack socket acks"] = json.dumps(acks, default=str)
    sent["slack messages"] = json.dumps(slack.messages(CHANNEL), default=str)
    sent["slack views"] = json.dumps(slack.views, default=str)
    sent["slack ephemerals and files"] = json.dumps([slack.ephemerals, slack.files], default=str)
    return sent


def job_records(nautobot: NautobotStack, slack: SlackStandIn) -> dict[str, str]:
    """Each JobResult the bot linked to, and its log, as Nautobot's API gives them."""
    linked = set(RESULT_URL.findall(json.dumps(slack.messages(CHANNEL))))
    records = {}
    for result_id in sorted(linked):
        result = nautobot.admin.get(f"/api/extras/job-results/{result_id}/").raise_for_status()
        logs = nautobot.admin.get(f"/api/extras/job-results/{result_id}/logs/").raise_for_status()
        records[f"nautobot job result {result_id}"] = result.text
        records[f"nautobot job log {result_id}"] = logs.text
    return records


def everything(chatops: BotProcess, slack: SlackStandIn, nautobot: NautobotStack) -> dict[str, str]:
    return {"bot output": chatops.output(), **slack_payloads(slack), **job_records(nautobot, slack)}


def assert_no_secret(sources: dict[str, str], module_secrets: dict[str, Secret], meraki: MerakiStandIn) -> None:
    secrets = [*module_secrets.values(), Secret("MERAKI_DASHBOARD_API_KEY", meraki.api_key)]
    leaks = scan(sources, secrets)
    assert not leaks, "\n".join(str(leak) for leak in leaks[:10])


# -- the scanner can fail --------------------------------------------------------------------------


def test_the_scanner_finds_planted_secrets(module_secrets: dict[str, Secret]) -> None:
    bot_token, nautobot_token = module_secrets["SLACK_BOT_TOKEN"], module_secrets["NAUTOBOT_TOKEN"]
    clean = {"log": "INFO bot.runs announced request=V1:abc result=62a5b0d4 xoxb-[redacted]"}
    assert scan(clean, module_secrets.values()) == []
    planted = {
        "whole": f"Authorization: Bearer {bot_token.value}",
        "after the prefix": f"token={bot_token.core}",
        "cut short": f"token {nautobot_token.value[:14]}…",
        "middle": f'{{"key": "…{nautobot_token.value[10:24]}…"}}',
    }
    found = {(leak.secret, leak.source) for leak in scan(planted, module_secrets.values())}
    assert found == {
        ("SLACK_BOT_TOKEN", "whole"),
        ("SLACK_BOT_TOKEN", "after the prefix"),
        ("NAUTOBOT_TOKEN", "cut short"),
        ("NAUTOBOT_TOKEN", "middle"),
    }


# -- the flows ---------------------------------------------------------------------------------------


def test_a_successful_run_leaks_no_secret(flow, chatops, nautobot, meraki, module_secrets) -> None:
    view = open_form(flow, "jane.doe@example.com read-only")
    _, before = submit(flow, view, entered(view, "jane.doe@example.com", network="Branch Office"))
    parent = parent_message(flow, before)
    assert "succeeded" in parent["text"].lower()

    sources = everything(chatops, flow, nautobot)
    assert any(name.startswith("nautobot job log") for name in sources)
    assert "DEBUG" in sources["bot output"]  # the bot really logged at DEBUG
    assert_no_secret(sources, module_secrets, meraki)
    # The same scan over the same capture finds a token once one is in it.
    planted = {"bot output": sources["bot output"] + module_secrets["SLACK_APP_TOKEN"].value[:-12]}
    assert [leak.secret for leak in scan(planted, module_secrets.values())] == ["SLACK_APP_TOKEN"]


def test_a_failing_run_leaks_no_secret(flow, chatops, nautobot, meraki, module_secrets) -> None:
    view = open_form(flow)
    _, before = submit(flow, view, entered(view, "jane.doe@example.com", network="No Such Network"))
    assert "failed" in parent_message(flow, before)["text"].lower()
    assert_no_secret(everything(chatops, flow, nautobot), module_secrets, meraki)


def test_a_run_nautobot_refuses_leaks_no_secret(flow, chatops, nautobot, meraki, module_secrets) -> None:
    view = open_form(flow)
    nautobot.set_job_enabled(False)
    try:
        ack, _ = submit(flow, view, entered(view, "jane.doe@example.com"))
    finally:
        nautobot.set_job_enabled(True)
    assert ack["response_action"] == "update"
    assert "Nothing was submitted" in json.dumps(flow.current_view(USER)["blocks"])
    assert_no_secret(everything(chatops, flow, nautobot), module_secrets, meraki)


def test_an_outage_at_submit_leaks_no_secret(flow, chatops, nautobot, meraki, module_secrets) -> None:
    view = open_form(flow)
    with nautobot.web_down():
        ack, _ = submit(flow, view, entered(view, "jane.doe@example.com"))
    assert ack["response_action"] == "update"
    assert "Nothing was submitted" in json.dumps(flow.current_view(USER)["blocks"])
    assert_no_secret(everything(chatops, flow, nautobot), module_secrets, meraki)
