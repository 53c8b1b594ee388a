"""A run Nautobot holds for approval: the approvers the bot can find are told (on 3.x: the stage's approver group
→ its users → their nautobot-chatops account links to Slack), and the approvers' channel; nobody else. They are
reminded once, told once across a restart, and shown the decision; the requester's thread names who decided."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.nautobot_stack import NautobotStack
from testbed.slack_flow import CHANNEL, OTHER_USER, USER, start_connected
from testbed.slack_standin import SlackStandIn
from tests.faults.test_approvals import ask
from tests.support.approvals import approval_required, decide
from tests.support.restarts import kill, replies

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]

CAROL, DAVE = "U0CAROL01", "U0DAVE001"
"""Slack users: carol is linked to the Nautobot admin (an approver); dave to a Nautobot user outside the group."""
APPROVERS_CHANNEL = "C0APPROVE"
REMIND = 4


def _link(stack: NautobotStack, username: str, slack_id: str) -> str:
    admin = stack.admin
    (user,) = admin.get("/api/users/users/", params={"username": username}).raise_for_status().json()["results"]
    body = {"nautobot_user": user["id"], "platform": "slack", "user_id": slack_id}
    link = admin.post("/api/plugins/chatops/accountlink/", json=body)
    assert link.status_code == 201, link.text
    return link.json()["id"]


@pytest.fixture
def approvals(stack: NautobotStack, slack: SlackStandIn) -> Iterator[NautobotStack]:
    """Approval required; the admin (who decides) linked to carol, an outsider linked to dave."""
    admin = stack.admin
    outsider = admin.post("/api/users/users/", json={"username": "outsider-dave"})
    assert outsider.status_code == 201, outsider.text
    links = [_link(stack, "admin", CAROL), _link(stack, "outsider-dave", DAVE)]
    slack.add_user(CAROL, name="carol")
    slack.add_user(DAVE, name="dave")
    slack.add_channel(APPROVERS_CHANNEL, name="approvers", members={CAROL}, bot_member=True)
    try:
        with approval_required(stack):
            yield stack
    finally:
        for link in links:
            admin.delete(f"/api/plugins/chatops/accountlink/{link}/")
        admin.delete(f"/api/users/users/{outsider.json()['id']}/")


def _dm(slack: SlackStandIn, user: str) -> list[dict]:
    channel = slack.dm_with(user)
    return slack.messages(channel) if channel else []


def _blocks(message: dict) -> str:
    return str(message.get("blocks"))


def _assert_asks(message: dict, scheduled_id: str) -> None:
    blocks = _blocks(message)
    assert f"/extras/scheduled-jobs/{scheduled_id}/" in blocks
    assert "Decide in Nautobot" in blocks
    assert "'type': 'actions'" not in blocks and "button" not in blocks  # Nautobot decides, not a button
    assert f"<@{USER}>" in blocks


def _thread(slack: SlackStandIn, before: int) -> str:
    parent = next(m for m in slack.messages(CHANNEL)[before:] if "Create Meraki User" in m.get("text", ""))
    return "\n".join(_blocks(reply) for reply in replies(slack, parent["ts"]))


def test_the_approvers_are_told_reminded_once_and_shown_who_approved(approvals, slack, chatops):
    lts = approvals.release.is_lts
    settings = {"NAUTOBOT_APPROVERS_CHANNEL": APPROVERS_CHANNEL, "NAUTOBOT_APPROVAL_REMIND_SECONDS": str(REMIND)}
    start_connected(chatops, slack, **settings)
    scheduled_id, before = ask(slack, "told.approvers@example.com")

    (asked,) = slack.wait_for(lambda: slack.messages(APPROVERS_CHANNEL) or None, timeout=30)
    _assert_asks(asked, scheduled_id)
    if lts:  # 2.4 names no approvers: the channel alone is told
        assert "No approver could be told directly" in _blocks(asked)
        assert _dm(slack, CAROL) == []
    else:
        try:
            (dm,) = slack.wait_for(lambda: _dm(slack, CAROL) or None, timeout=30)
        except TimeoutError:
            pytest.fail(f"carol was not told: {_blocks(asked)}\n{chatops.output()[-6000:]}")
        _assert_asks(dm, scheduled_id)
        assert f"<@{CAROL}>" in _blocks(asked)  # the channel sees who was told directly
    told = slack.wait_for(lambda: "approvers were told" in _thread(slack, before) or None, timeout=30)
    assert told

    # One reminder, to the same people, however many looks and a restart.
    slack.wait_for(lambda: len(slack.messages(APPROVERS_CHANNEL)) == 2 or None, timeout=60)
    assert "Reminder" in _blocks(slack.messages(APPROVERS_CHANNEL)[1])
    if not lts:
        slack.wait_for(lambda: len(_dm(slack, CAROL)) == 2 or None, timeout=30)
    # Killed once the ledger holds the reminders (a kill between Slack's answer and that write would leave them
    # out of the messages that show the decision).
    slack.wait_for(lambda: "reminded the approvers of request=" in chatops.output() or None, timeout=10)
    kill(chatops)
    start_connected(chatops, slack, **settings)
    slack.wait_for(lambda: "resum" in chatops.output() or None, timeout=20)

    decide(approvals, scheduled_id, "approve")

    def shown(messages: list[dict]) -> bool:
        return bool(messages) and all("Approved in Nautobot" in _blocks(m) for m in messages)

    slack.wait_for(lambda: shown(slack.messages(APPROVERS_CHANNEL)) and (lts or shown(_dm(slack, CAROL))), timeout=60)
    assert len(slack.messages(APPROVERS_CHANNEL)) == 2  # told once and reminded once, across the restart
    assert "Decide in Nautobot" not in _blocks(slack.messages(APPROVERS_CHANNEL)[0])
    assert len(_dm(slack, CAROL)) == (0 if lts else 2)
    # Nautobot names who approved (3.x: the stage's response; 2.4: the scheduled job's approved_by_user).
    slack.wait_for(lambda: "Approved in Nautobot by *admin*" in _thread(slack, before) or None, timeout=30)
    assert _dm(slack, DAVE) == [] and _dm(slack, OTHER_USER) == [] and _dm(slack, USER) == []


def test_a_denial_is_shown_to_the_approvers(approvals, slack, chatops):
    start_connected(chatops, slack, NAUTOBOT_APPROVERS_CHANNEL=APPROVERS_CHANNEL)
    scheduled_id, before = ask(slack, "denied.approvers@example.com")
    slack.wait_for(lambda: slack.messages(APPROVERS_CHANNEL) or None, timeout=30)

    decide(approvals, scheduled_id, "deny")

    slack.wait_for(lambda: "Denied in Nautobot" in _blocks(slack.messages(APPROVERS_CHANNEL)[0]) or None, timeout=60)
    if not approvals.release.is_lts:  # 2.4 deletes a denied scheduled job, and with it who denied
        (dm,) = _dm(slack, CAROL)
        assert "Denied in Nautobot" in _blocks(dm)
        slack.wait_for(lambda: "Denied in Nautobot by *admin*" in _thread(slack, before) or None, timeout=30)
    assert _dm(slack, DAVE) == []


def test_nobody_told_is_said_in_the_requesters_thread(stack, slack, chatops):
    with approval_required(stack):
        start_connected(chatops, slack)
        scheduled_id, before = ask(slack, "nobody.told@example.com")
        slack.wait_for(lambda: "could not tell anyone" in _thread(slack, before) or None, timeout=30)
        assert "nobody was told" in chatops.output()
        decide(stack, scheduled_id, "deny")
