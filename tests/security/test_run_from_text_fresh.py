"""A command that runs from its text decides access afresh before anything runs, as a submission does.

Reproduced hole: ``/meraki-find-user bob@example.com`` ran Find with the access decision cached when
the command arrived (nautobot-chatops' grants are cached for ``NAUTOBOT_CHATOPS_CACHE_SECONDS``), so
a revoked grant still ran it for the cache's lifetime. The real bot, the real Nautobot with
nautobot-chatops: a grant revoked within the cache's lifetime refuses the next run, and nothing reaches
Nautobot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import NautobotStack
from testbed.slack_flow import CHANNEL, USER, bot_env, start_connected, workspace
from testbed.slack_standin import SlackStandIn
from tests.support.audit_trail import audited

pytestmark = [pytest.mark.security, pytest.mark.e2e, pytest.mark.nautobot]

GRANTS = "/api/plugins/chatops/accessgrant/"
FIND = "/meraki-find-user"
JANE = "jane.doe@example.com"


def grant(admin: httpx.Client, kind: str, value: str) -> str:
    body = {"command": "meraki", "subcommand": "find-user", "grant_type": kind, "name": value, "value": value}
    created = admin.post(GRANTS, json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def job_results(admin: httpx.Client) -> int:
    return admin.get("/api/extras/job-results/", params={"limit": 1}).raise_for_status().json()["count"]


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with workspace() as standin:
        yield standin


@pytest.fixture(scope="module")
def granted(nautobot: NautobotStack) -> Iterator[str]:
    """Grants for find-user: any workspace and channel, and USER (whose grant id is yielded)."""
    admin = nautobot.admin
    for item in admin.get(GRANTS, params={"limit": 1000}).raise_for_status().json()["results"]:
        admin.delete(f"{GRANTS}{item['id']}/").raise_for_status()
    grant(admin, "organization", "*")
    grant(admin, "channel", "*")
    yield grant(admin, "user", USER)
    for item in admin.get(GRANTS, params={"limit": 1000}).raise_for_status().json()["results"]:
        admin.delete(f"{GRANTS}{item['id']}/").raise_for_status()


@pytest.fixture(scope="module")
def chatops_bot(slack: SlackStandIn, nautobot: NautobotStack, granted: str, tmp_path_factory) -> Iterator[BotProcess]:
    env = bot_env(slack, nautobot)
    del env["ACCESS_POLICY"]  # the grants decide
    env |= {"NAUTOBOT_CHATOPS": "true", "NAUTOBOT_CHATOPS_CACHE_SECONDS": "600"}  # far longer than the test
    process = start_connected(BotProcess(tmp_path_factory.mktemp("fresh-bot"), env), slack)
    yield process
    process.stop()


def finished(slack: SlackStandIn, before: int) -> dict:
    def final() -> dict | None:
        for message in slack.messages(CHANNEL)[before:]:
            if any(word in message.get("text", "").lower() for word in ("succeeded", "failed")):
                return message
        return None

    return slack.wait_for(final, timeout=120)


def test_a_grant_revoked_within_the_cache_lifetime_refuses_the_next_run_from_text(
    stack: NautobotStack, slack: SlackStandIn, granted: str, chatops_bot: BotProcess
):
    admin = stack.admin
    before = len(slack.messages(CHANNEL))
    slack.slash_command(command=FIND, text=JANE, user_id=USER, channel_id=CHANNEL)
    assert "succeeded" in finished(slack, before)["text"].lower()  # granted: it ran, and the grants are cached
    audited(chatops_bot, user_id=USER, action="command", outcome="allowed")

    admin.delete(f"{GRANTS}{granted}/").raise_for_status()  # revoked, well within the 600 s cache
    messages, results, told = len(slack.messages(CHANNEL)), job_results(admin), len(slack.ephemerals)
    slack.slash_command(command=FIND, text=JANE, user_id=USER, channel_id=CHANNEL)

    [denied] = audited(chatops_bot, user_id=USER, action="command", outcome="denied")
    assert f"not permitted by user {USER}" in denied["reason"]
    refusal = slack.wait_for(lambda: slack.ephemerals[told:], timeout=30)
    said = json.dumps(refusal)
    assert f"not permitted by user {USER}" in said and "Nothing ran" in said
    assert job_results(admin) == results  # nothing was sent to Nautobot
    assert len(slack.messages(CHANNEL)) == messages  # and no run's message
