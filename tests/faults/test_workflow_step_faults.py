"""Workflow Builder steps through the bot's restart and an approval: the step waits for its request, and completes
once when the request ends, whichever bot process sees it end."""

from __future__ import annotations

import json

import pytest

from bot.workflow.confirmation import CONFIRM_ACTION_ID
from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, POLICY, USER, start_connected
from testbed.slack_standin import SlackStandIn
from tests.support.restarts import ADMIN_POSTS, job_runs, kill

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]

CAROL = "U0CAROL"
APPROVE = "approval_approve"


def add(email: str, access: str = "read-only") -> dict:
    return {
        "requester": USER,
        "email": email,
        "name": "New Engineer",
        "organization": ACME,
        "access_level": access,
        "channel": CHANNEL,
    }


def completed(slack: SlackStandIn, execution_id: str) -> dict:
    execution = slack.function_ended(execution_id, timeout=120)
    assert execution["state"] == "completed", execution["error"]
    return execution


def test_a_step_whose_bot_was_killed_mid_run_completes_once(stack, slack, chatops, meraki, nautobot: NautobotStack):
    meraki.delay(8, times=1, match=f"POST {ADMIN_POSTS}")  # the Job still runs when the bot dies
    start_connected(chatops, slack, HEARTBEAT_SECONDS="1")
    execution_id = slack.run_function("add_meraki_admin", add("killed.step@example.com"), user_id=USER)
    slack.answer_function_message(execution_id, CONFIRM_ACTION_ID, USER)
    slack.wait_for(lambda: "announced request=step-" in chatops.output(), timeout=60)
    kill(chatops)

    start_connected(chatops, slack, HEARTBEAT_SECONDS="1")
    execution = completed(slack, execution_id)

    assert execution["outputs"]["outcome"] == "created"
    assert len(job_runs(nautobot, "killed.step@example.com")) == 1
    assert len(meraki.requests_to("POST", ADMIN_POSTS)) == 1
    mine = [c for c in slack.calls_to("functions.completeSuccess") if c.args["function_execution_id"] == execution_id]
    assert len(mine) == 1 and mine[0].ok  # completed by the restarted bot, with the token the ledger kept


def test_a_step_needing_approval_waits_and_completes_once_approved(stack, slack, chatops, meraki):
    slack.add_user(CAROL, name="carol", real_name="Carol Approver")
    rule = {
        "commands": ["/meraki-add-user"],
        "when": {"meraki_access_level": ["full"]},
        "approvers": {"users": [CAROL]},
    }
    start_connected(chatops, slack, ACCESS_POLICY=json.dumps(POLICY | {"approvals": [rule]}), HEARTBEAT_SECONDS="1")
    execution_id = slack.run_function("add_meraki_admin", add("approved.step@example.com", "full"), user_id=USER)
    slack.answer_function_message(execution_id, CONFIRM_ACTION_ID, USER)

    def asked() -> dict | None:
        messages = slack.messages(slack.dm_with(CAROL) or "") if slack.dm_with(CAROL) else []
        return next((m for m in messages if APPROVE in json.dumps(m.get("blocks"))), None)

    carol_dm = slack.wait_for(asked, timeout=30)
    assert slack.function_execution(execution_id)["state"] == "open"  # waits for the approval
    assert meraki.requests_to("POST", ADMIN_POSTS) == []
    slack.click_button(carol_dm["channel"], carol_dm["ts"], APPROVE, user_id=CAROL)

    execution = completed(slack, execution_id)
    assert execution["outputs"]["outcome"] == "created"
    assert [admin["email"] for admin in meraki.admins(ACME)] == ["approved.step@example.com"]
