"""Workflow Builder steps end to end: a workflow reaches the bot's step (the Slack stand-in's ``function_executed``
with the execution's own token), the bot process runs the Job in the real Nautobot for the person who used the
workflow once that person confirms it in Slack, and completes the step once with the Job's outputs, or fails it
with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.workflow.confirmation import CONFIRM_ACTION_ID
from testbed.bot_process import BotProcess
from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, USER, bot_env, start_connected
from testbed.slack_standin import SlackStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.nautobot]

STRANGER = "U789"
"""A person of the workspace whom the access policy does not name."""


@pytest.fixture(scope="module")
def chatops(slack: SlackStandIn, nautobot: NautobotStack, tmp_path_factory) -> Iterator[BotProcess]:
    """One bot process for the module; a stranger in the workspace besides the policy's two people."""
    slack.add_user(STRANGER, name="mallory", real_name="Mallory Stranger")
    process = BotProcess(tmp_path_factory.mktemp("bot"), bot_env(slack, nautobot))
    try:
        yield start_connected(process, slack)
    finally:
        process.stop()


@pytest.fixture
def flow(stack: NautobotStack, slack: SlackStandIn, chatops: BotProcess) -> SlackStandIn:
    """Each test: the Meraki stand-in seeded afresh (``stack``), the bot still running."""
    assert chatops.alive(), chatops.output()[-4000:]
    return slack


def ended(slack: SlackStandIn, execution_id: str, timeout: float = 90) -> dict[str, Any]:
    return slack.function_ended(execution_id, timeout=timeout)


def confirmed(slack: SlackStandIn, execution_id: str, user_id: str = USER) -> str:
    """The person the step names confirms it in the bot's direct message."""
    slack.answer_function_message(execution_id, CONFIRM_ACTION_ID, user_id)
    return execution_id


def add(email: str, requester: str = USER) -> dict[str, Any]:
    """The step's inputs as an onboarding workflow fills them: the person who used it, the new engineer."""
    return {
        "requester": requester,
        "email": email,
        "name": "New Engineer",
        "organization": ACME,
        "access_level": "read-only",
        "channel": CHANNEL,
    }


def test_a_workflow_adds_an_admin_and_the_step_completes_with_its_outputs(flow, chatops, meraki):
    execution_id = confirmed(flow, flow.run_function("add_meraki_admin", add("new.engineer@example.com"), user_id=USER))

    execution = ended(flow, execution_id)

    assert execution["state"] == "completed", execution["error"]
    [admin] = meraki.admins(ACME)
    outputs = execution["outputs"]
    assert outputs["outcome"] == "created" and outputs["admin_id"] == admin["id"]
    assert "/extras/job-results/" in outputs["result_url"] and outputs["request_id"].startswith("step-")
    [completion] = [call for call in flow.calls_to("functions.completeSuccess") if call.ok]
    assert completion.token == execution["bot_access_token"]
    parent = next(m for m in flow.messages(CHANNEL) if "new.engineer@example.com" in str(m.get("blocks")))
    assert f"<@{USER}>" in str(parent["blocks"])  # the person who used the workflow asked, in the audit too
    assert execution["bot_access_token"] not in chatops.output()  # the step's token never reaches a log


def test_a_step_refused_by_the_policy_fails_with_its_reason(flow, meraki):
    execution_id = flow.run_function("add_meraki_admin", add("refused@example.com", STRANGER), user_id=STRANGER)
    confirmed(flow, execution_id, STRANGER)

    execution = ended(flow, execution_id, timeout=30)

    assert execution["state"] == "failed" and execution["error"].startswith("Refused: ")
    assert f"You ({STRANGER}) may not use /meraki-add-user" in execution["error"], execution["error"]
    assert meraki.admins(ACME) == [] and meraki.requests_to("POST", ".*") == []
    dm = flow.calls_to("conversations.open")
    assert any(call.args.get("users") == STRANGER for call in dm)  # the person hears why, directly


def test_a_redelivered_step_runs_once_and_completes_once(flow, meraki):
    execution_id = flow.run_function("add_meraki_admin", add("twice@example.com"), user_id=USER)
    flow.redeliver(execution_id)
    flow.redeliver(execution_id)
    confirmed(flow, execution_id)

    execution = ended(flow, execution_id)
    flow.redeliver(execution_id)  # and once more after it completed

    assert execution["state"] == "completed", execution["error"]
    assert len(meraki.admins(ACME)) == 1 and len(meraki.requests_to("POST", ".*/admins")) == 1
    mine = [
        call
        for call in flow.calls_to("functions.completeSuccess")
        if call.args["function_execution_id"] == execution_id
    ]
    assert len(mine) == 1
    assert len(flow.function_messages(execution_id)) == 1  # one confirmation asked, whatever Slack redelivered
