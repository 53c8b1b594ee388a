"""Approvals in Slack, end to end with the real Job: nothing reaches Nautobot before the approvals the policy asks
for, N distinct approvers (never the requester), a denial with its reason, a withdrawal, an expiry, a wait that
survives the bot's restart, and approvers Nautobot vouches for (a Nautobot group's linked members, a required account
link); every message shows how it ended."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, OTHER_USER, POLICY, USER, entered, open_form, start_connected, submit
from testbed.slack_standin import SlackStandIn
from tests.support.restarts import ADMIN_POSTS, assert_once, job_runs, kill

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]

CAROL, DAVE = "U0CAROL", "U0DAVE"
APPROVERS = "S0APPROVERS"
APPROVE, DENY, WITHDRAW = "approval_approve", "approval_deny", "approval_withdraw"


def policy(**rule: object) -> str:
    """The test policy, with full access needing two approvals from the approvers' group, which the requester
    is in (the requester's own click never counts)."""
    approval = {
        "commands": ["/meraki-add-user"],
        "when": {"meraki_access_level": ["full"]},
        "approvers": {"groups": [APPROVERS]},
        "count": 2,
    } | rule
    return json.dumps(POLICY | {"approvals": [approval]})


@pytest.fixture
def people(slack: SlackStandIn) -> SlackStandIn:
    slack.add_user(CAROL, name="carol", real_name="Carol Approver")
    slack.add_user(DAVE, name="dave", real_name="Dave Approver")
    slack.add_usergroup(APPROVERS, [USER, OTHER_USER, CAROL])
    return slack


def ask_full(slack: SlackStandIn, email: str) -> tuple[dict, int]:
    """Ask for full access; the waiting message once it is in the channel, and where the channel stood before."""
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, email, access="full"))
    waiting = slack.wait_for(lambda: _with_button(slack.messages(CHANNEL)[before:], WITHDRAW), timeout=30)
    return waiting, before


def _with_button(messages: list[dict], action_id: str) -> dict | None:
    return next((m for m in messages if action_id in json.dumps(m.get("blocks"))), None)


def asked(slack: SlackStandIn, person: str) -> dict:
    """The approver's direct message with the Approve and Deny buttons."""
    return slack.wait_for(lambda: _with_button(slack.messages(slack.dm_with(person) or ""), APPROVE), timeout=30)


def click(slack: SlackStandIn, person: str, action_id: str, message: dict) -> None:
    slack.click_button(message["channel"], message["ts"], action_id, user_id=person)


def told(slack: SlackStandIn, person: str, words: str) -> dict:
    """What the person alone was told of their click: a message only they see, or a direct message."""

    def seen() -> dict | None:
        dm = slack.dm_with(person)
        direct = slack.messages(dm) if dm else []
        alone = [e for e in slack.ephemerals if e.get("recipient") == person]
        return next((m for m in [*alone, *direct] if words in json.dumps(m.get("blocks"))), None)

    return slack.wait_for(seen, timeout=30)


def test_two_distinct_approvers_run_it_once_and_the_requester_never_counts(
    people: SlackStandIn, chatops, meraki, nautobot: NautobotStack
) -> None:
    start_connected(chatops, people, ACCESS_POLICY=policy(), HEARTBEAT_SECONDS="1")
    waiting, before = ask_full(people, "approved.full@example.com")
    assert "Needs 2 approvals" in json.dumps(waiting["blocks"])
    assert people.dm_with(USER) is None or _with_button(people.messages(people.dm_with(USER)), APPROVE) is None

    bob_dm = asked(people, OTHER_USER)
    carol_dm = asked(people, CAROL)
    assert people.dm_with(DAVE) is None  # not an approver: never asked
    link = f"https://standin.slack.com/archives/{CHANNEL}/p{waiting['ts'].replace('.', '')}"
    assert link in json.dumps(bob_dm["blocks"])  # the approver finds the requester's message

    click(people, USER, APPROVE, bob_dm)  # the requester, in the group, clicking another's message
    told(people, USER, "asked for this yourself")
    click(people, OTHER_USER, APPROVE, bob_dm)
    told(people, OTHER_USER, "1 of 2")
    click(people, OTHER_USER, APPROVE, bob_dm)  # twice: counts once
    told(people, OTHER_USER, "counts once")
    assert job_runs(nautobot, "approved.full@example.com") == []  # nothing reaches Nautobot before the approvals
    assert meraki.requests_to("POST", ADMIN_POSTS) == []

    click(people, CAROL, APPROVE, carol_dm)
    assert_once(nautobot, people, meraki, before, "approved.full@example.com")
    [run] = job_runs(nautobot, "approved.full@example.com")
    assert run["task_kwargs"]["approved_by"] == "Slack users U456 (bob), U0CAROL (carol)"
    for person in (OTHER_USER, CAROL):  # every approver's message shows the ending, without buttons
        [dm] = people.messages(people.dm_with(person) or "-")
        assert "Approved by" in json.dumps(dm["blocks"]) and APPROVE not in json.dumps(dm["blocks"])


def test_a_denial_with_its_reason_runs_nothing_and_tells_everyone(people: SlackStandIn, chatops, meraki) -> None:
    start_connected(chatops, people, ACCESS_POLICY=policy(count=1), HEARTBEAT_SECONDS="1")
    waiting, _ = ask_full(people, "denied.full@example.com")
    carol_dm = asked(people, CAROL)

    click(people, CAROL, DENY, carol_dm)
    modal = people.wait_for(lambda: people.current_view(CAROL), timeout=30)
    people.submit_view(modal["id"], {"reason": {"reason_text": {"value": "no change window <@U123>"}}}, user_id=CAROL)

    def denied() -> dict | None:
        message = people.message(CHANNEL, waiting["ts"])
        return message if "Denied by" in json.dumps(message["blocks"]) else None

    shown = json.dumps(people.wait_for(denied, timeout=30)["blocks"])
    assert "no change window &lt;@U123&gt;" in shown and WITHDRAW not in shown  # escaped, and no button left
    reply = people.wait_for(
        lambda: next((r for r in people.messages(CHANNEL, thread_ts=waiting["ts"]) if "Denied" in str(r)), None)
    )
    assert f"<@{USER}>" in json.dumps(reply["blocks"])
    assert meraki.admins(ACME) == [] and meraki.requests_to("POST", ADMIN_POSTS) == []


def test_withdrawn_and_expired_requests_run_nothing(people: SlackStandIn, chatops, meraki) -> None:
    start_connected(chatops, people, ACCESS_POLICY=policy(expire_after="6s"), HEARTBEAT_SECONDS="1")
    withdrawn, _ = ask_full(people, "withdrawn.full@example.com")
    click(people, OTHER_USER, WITHDRAW, withdrawn)  # only the requester may
    told(people, OTHER_USER, "Only the person who asked")
    click(people, USER, WITHDRAW, withdrawn)
    told(people, USER, "Withdrawn")

    expiring, _ = ask_full(people, "expired.full@example.com")

    def ended(ts: str, words: str) -> bool:
        return words in json.dumps(people.message(CHANNEL, ts)["blocks"])

    people.wait_for(lambda: ended(withdrawn["ts"], "Withdrawn"), timeout=30)
    people.wait_for(lambda: ended(expiring["ts"], "Expired"), timeout=60)
    carol_dm = people.messages(people.dm_with(CAROL) or "-")[-1]
    people.wait_for(lambda: "Expired" in json.dumps(people.message(carol_dm["channel"], carol_dm["ts"])["blocks"]))
    assert meraki.requests_to("POST", ADMIN_POSTS) == []


def test_a_wait_survives_the_bots_restart_and_runs_once(
    people: SlackStandIn, chatops, meraki, nautobot: NautobotStack
) -> None:
    start_connected(chatops, people, ACCESS_POLICY=policy(count=1), HEARTBEAT_SECONDS="1")
    _, before = ask_full(people, "restart.full@example.com")
    carol_dm = asked(people, CAROL)
    people.wait_for(lambda: "waits for its approvers" in chatops.output(), timeout=30)  # past the README's window
    kill(chatops)

    start_connected(chatops, people, ACCESS_POLICY=policy(count=1), HEARTBEAT_SECONDS="1")
    click(people, CAROL, APPROVE, carol_dm)
    assert_once(nautobot, people, meraki, before, "restart.full@example.com")


def test_undecided_it_reminds_then_escalates_to_someone_who_may_then_approve(
    people: SlackStandIn, chatops, meraki, nautobot: NautobotStack
) -> None:
    rule = {
        "count": 1,
        "approvers": {"users": [OTHER_USER]},
        "remind_after": "2s",
        "escalate_after": "4s",
        "escalate_to": {"users": [DAVE]},
    }
    start_connected(chatops, people, ACCESS_POLICY=policy(**rule), HEARTBEAT_SECONDS="1")
    _, before = ask_full(people, "escalated.full@example.com")
    asked(people, OTHER_USER)

    def reminded() -> bool:
        return any("Reminder" in json.dumps(m["blocks"]) for m in people.messages(people.dm_with(OTHER_USER) or ""))

    people.wait_for(reminded, timeout=30)
    dave_dm = asked(people, DAVE)  # escalated: Dave may decide now
    click(people, DAVE, APPROVE, dave_dm)
    assert_once(nautobot, people, meraki, before, "escalated.full@example.com")
    bob_dms = people.messages(people.dm_with(OTHER_USER) or "")
    assert len(bob_dms) == 2  # asked once, reminded once: each timer fires once
    assert all("Approved by" in json.dumps(m["blocks"]) for m in bob_dms)


def test_two_replicas_count_two_approvers_clicking_at_once_and_run_it_once(
    people: SlackStandIn, replica, meraki, nautobot: NautobotStack
) -> None:
    first, second = replica("bot-a"), replica("bot-b")
    for process in (first, second):
        start_connected(process, people, ACCESS_POLICY=policy())
    people.wait_connected(count=2)
    _, before = ask_full(people, "replicas.full@example.com")
    bob_dm, carol_dm = asked(people, OTHER_USER), asked(people, CAROL)

    clicks = [
        threading.Thread(target=click, args=(people, person, APPROVE, message))
        for person, message in ((OTHER_USER, bob_dm), (CAROL, carol_dm))
    ]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()

    assert_once(nautobot, people, meraki, before, "replicas.full@example.com")


def test_a_request_only_its_requester_could_approve_is_refused_in_the_form(people: SlackStandIn, chatops) -> None:
    start_connected(chatops, people, ACCESS_POLICY=policy(count=1, approvers={"users": [USER]}))
    view = open_form(people)
    before = len(people.messages(CHANNEL))
    people.submit_view(view["id"], entered(view, "alone.full@example.com", access="full"), user_id=USER)

    shown = people.wait_for(lambda: (v := people.current_view(USER)) and "Not sent" in json.dumps(v) and v, timeout=30)
    assert "only 0 person(s) other than you" in json.dumps(shown)
    assert people.messages(CHANNEL)[before:] == [] and people.dm_with(USER) is None


def test_killed_while_asking_the_approvers_it_asks_the_rest_once_after_the_restart(
    people: SlackStandIn, chatops, meraki, nautobot: NautobotStack
) -> None:
    start_connected(chatops, people, ACCESS_POLICY=policy(count=1), HEARTBEAT_SECONDS="1")
    people.hold_reply("conversations.open", 20, when=lambda args: args.get("users") == CAROL)  # the first asked
    waiting, before = ask_full(people, "asking.full@example.com")
    people.wait_for(lambda: any(c.method == "conversations.open" for c in people.calls), timeout=30)
    kill(chatops)  # the requester's message is out; no approver has been asked yet
    assert people.dm_with(OTHER_USER) is None

    start_connected(chatops, people, ACCESS_POLICY=policy(count=1), HEARTBEAT_SECONDS="1")
    bob_dm = asked(people, OTHER_USER)
    asked(people, CAROL)
    click(people, OTHER_USER, APPROVE, bob_dm)
    assert_once(nautobot, people, meraki, before, "asking.full@example.com")
    for person in (OTHER_USER, CAROL):
        assert len(people.messages(people.dm_with(person) or "")) == 1  # each asked once
    parents = [m for m in people.messages(CHANNEL)[before:] if WITHDRAW in json.dumps(m.get("history"))]
    assert [m["ts"] for m in parents] == [waiting["ts"]]  # the one requester's message became the run's


LEADS = "meraki-chatops-leads"
"""A Nautobot group whose linked members may approve; lead-carol (linked to Slack's carol) is in it, outsider-dave
(linked to Slack's dave) is not, and bob has no link at all."""


@pytest.fixture
def leads(nautobot: NautobotStack, people: SlackStandIn) -> Iterator[None]:
    admin = nautobot.admin
    group = admin.post("/api/users/groups/", json={"name": LEADS}).raise_for_status().json()
    created = []
    try:
        for username, slack_id, groups in (("lead-carol", CAROL, [group["id"]]), ("outsider-dave", DAVE, [])):
            user = admin.post("/api/users/users/", json={"username": username, "groups": groups}).raise_for_status()
            created.append(f"/api/users/users/{user.json()['id']}/")
            body = {"nautobot_user": user.json()["id"], "platform": "slack", "user_id": slack_id}
            link = admin.post("/api/plugins/chatops/accountlink/", json=body).raise_for_status()
            created.append(f"/api/plugins/chatops/accountlink/{link.json()['id']}/")
        yield
    finally:
        for path in [*reversed(created), f"/api/users/groups/{group['id']}/"]:
            admin.delete(path)


def test_a_nautobot_groups_linked_member_approves_and_nobody_else_counts(
    people: SlackStandIn, leads: None, chatops, meraki, nautobot: NautobotStack
) -> None:
    rule = {"count": 1, "approvers": {"users": [OTHER_USER], "nautobot_groups": [LEADS]}, "require_account_link": True}
    start_connected(chatops, people, ACCESS_POLICY=policy(**rule), HEARTBEAT_SECONDS="1")
    _, before = ask_full(people, "linked.full@example.com")
    carol_dm = asked(people, CAROL)  # linked to a member of the Nautobot group: told like any approver
    bob_dm = asked(people, OTHER_USER)  # named by Slack id: told, though the rule wants his account linked
    assert people.dm_with(DAVE) is None  # linked, but to a Nautobot user outside the group

    click(people, OTHER_USER, APPROVE, bob_dm)
    told(people, OTHER_USER, "linked to an active Nautobot user, and yours is not")
    click(people, DAVE, APPROVE, carol_dm)  # a click from outside the group, as a forged payload would carry
    told(people, DAVE, f"not linked to an active member of the Nautobot group(s) {LEADS}")
    assert job_runs(nautobot, "linked.full@example.com") == []

    click(people, CAROL, APPROVE, carol_dm)
    told(people, CAROL, "Recorded as Nautobot user lead-carol")
    assert_once(nautobot, people, meraki, before, "linked.full@example.com")
    [run] = job_runs(nautobot, "linked.full@example.com")
    assert run["task_kwargs"]["approved_by"] == "Slack users U0CAROL (carol, Nautobot user lead-carol)"
