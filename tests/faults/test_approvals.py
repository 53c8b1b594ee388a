"""Runs that need an approval in Nautobot: announced as waiting, followed to the decision, across a restart."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, entered, open_form, parent_message, start_connected, submit
from testbed.slack_standin import SlackStandIn
from tests.support.approvals import approval_required, decide
from tests.support.restarts import ADMIN_POSTS, assert_once, kill

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]

SCHEDULED_LINK = re.compile(r"/extras/scheduled-jobs/([0-9a-f-]{36})/")


@pytest.fixture
def approvals(stack: NautobotStack) -> Iterator[NautobotStack]:
    with approval_required(stack):
        yield stack


def awaiting_approval(slack: SlackStandIn, before: int) -> str:
    """Wait for the parent message saying so; return the scheduled job it links to."""

    def announced():
        for message in slack.messages(CHANNEL)[before:]:
            if "Waiting for approval" in message.get("text", ""):
                return SCHEDULED_LINK.search(str(message["blocks"]))
        return None

    return slack.wait_for(announced, timeout=30).group(1)


def ask(slack: SlackStandIn, email: str) -> tuple[str, int]:
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, email))
    return awaiting_approval(slack, before), before


def test_an_approved_run_is_followed_and_posted_once(approvals, slack, chatops, meraki):
    start_connected(chatops, slack)
    scheduled_id, before = ask(slack, "approved@example.com")
    assert meraki.admins(ACME) == []  # nothing runs before the approval

    decide(approvals, scheduled_id, "approve")

    assert_once(approvals, slack, meraki, before, "approved@example.com")
    assert "/extras/job-results/" in str(parent_message(slack, before)["blocks"])


def test_approved_while_the_bot_was_down_is_picked_up_after_the_restart(approvals, slack, chatops, meraki):
    start_connected(chatops, slack)
    scheduled_id, before = ask(slack, "approved.down@example.com")
    slack.wait_for(lambda: "announced request=" in chatops.output(), timeout=10)  # past the window README names
    kill(chatops)

    decide(approvals, scheduled_id, "approve")
    start_connected(chatops, slack)

    assert_once(approvals, slack, meraki, before, "approved.down@example.com")


def test_a_denied_run_ends_with_nothing_run(approvals, slack, chatops, meraki):
    start_connected(chatops, slack)
    scheduled_id, before = ask(slack, "denied@example.com")

    decide(approvals, scheduled_id, "deny")

    def denied():
        return next((m for m in slack.messages(CHANNEL)[before:] if "Not approved" in m.get("text", "")), None)

    parent = slack.wait_for(denied, timeout=60)
    assert "cancel_run" not in str(parent["blocks"])
    assert meraki.admins(ACME) == []
    assert meraki.requests_to("POST", ADMIN_POSTS) == []
