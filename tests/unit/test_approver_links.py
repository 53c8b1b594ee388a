"""Approvers Nautobot vouches for: a rule's ``nautobot_groups`` (the Slack users linked to a Nautobot group's active
members) and ``require_account_link``. Whom the bot tells, each click checked against Nautobot at the click (fail
closed, with how to link an account), and the Nautobot user named in the vote, the Job's ``approved_by`` and what the
person is told."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.ledger import Approval, Ledger, RequestState
from bot.models import APPROVED_BY, RunRequest
from bot.nautobot import NautobotAuthError, NautobotUnreachable
from bot.nautobot.approvers import ApproverLookup
from bot.policy import ApprovalRule
from bot.runs.approvals import Approvals, Decider
from bot.runs.approver_links import ApproverLinks
from bot.runs.outcome import Sent
from bot.slack import approval_messages
from bot.slack.thread import SlackThreads, Thread
from testbed.fake_nautobot import FakeNautobot
from testbed.fake_slack import FakeSlack, blocks_text
from tests.unit.test_approval_checks import _NoForms, ledger  # noqa: F401 - the ledger fixture
from tests.unit.test_nautobot_approvers import ADMIN, GROUP, OUTSIDER, USERS, on_3_2, page, user
from tests.unit.test_nautobot_approvers import CAROL as CAROL_ID

pytestmark = pytest.mark.asyncio

ALICE, BOB, CAROL, DAVE = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"
CAROL_CLICKS, BOB_CLICKS = Decider(CAROL, "U0CAROL (carol)", "carol"), Decider(BOB, "U0BOB (bob)", "bob")
SLACK_GROUP, LEADS = "S0APPROVERS", "network-leads"


class FakeLookup:
    """Nautobot's answers: each group's linked members (Slack id → username), every Slack id's linked active user;
    ``down`` makes every lookup fail as Nautobot would."""

    def __init__(self, groups: dict[str, dict[str, str]], links: dict[str, str]) -> None:
        self.groups = groups
        self.links = links
        self.down: Exception | None = None
        self.asked = 0

    async def group_links(self, groups: Iterable[str]) -> dict[str, str]:
        self._answer()
        return {slack: name for group in groups for slack, name in self.groups.get(group, {}).items()}

    async def linked_users(self, slack_users: Iterable[str]) -> dict[str, str]:
        self._answer()
        return {slack: self.links[slack] for slack in slack_users if slack in self.links}

    def _answer(self) -> None:
        self.asked += 1
        if self.down is not None:
            raise self.down


def _approvals(ledger: Ledger, slack: FakeSlack, lookup: FakeLookup) -> Approvals:  # noqa: F811 - the fixture
    async def members(group: str, *, fresh: bool = False) -> frozenset[str]:
        return frozenset(slack.usergroups.get(group, ()))

    approvals = Approvals(ledger, SlackThreads(slack), _NoForms(), members)  # type: ignore[arg-type]
    approvals.links = ApproverLinks(lookup)  # type: ignore[arg-type]
    return approvals


def _rule(approvers: dict[str, Any], **more: Any) -> ApprovalRule:
    return ApprovalRule.model_validate({"commands": ["*"], "approvers": approvers, "expire_after": "1h", **more})


async def _ask(approvals: Approvals, rule: ApprovalRule, request_id: str = "V1") -> Sent:
    request = RunRequest(request_id=request_id, requester_id=ALICE, channel_id="C0NETOPS", job_name="Create")
    await approvals.ledger.record(request)
    outcome = await approvals.ask(request, rule)
    if outcome.sent is Sent.AWAITING_APPROVAL:
        await approvals.post(request_id, None)
    return outcome.sent


async def _told(ledger: Ledger, request_id: str = "V1") -> dict[str, Thread]:  # noqa: F811 - the fixture
    """Each person told directly, and the message that asked them."""
    record = await ledger.get(request_id)
    assert record is not None and record.approval is not None
    return {notice.person: Thread(notice.channel, notice.ts) for notice in record.approval.notices if notice.person}


async def test_the_linked_members_of_a_nautobot_group_are_told_and_approve_as_their_nautobot_user(
    ledger: Ledger,  # noqa: F811 - the fixture
) -> None:
    lookup = FakeLookup({LEADS: {CAROL: "carol.lead", ALICE: "alice"}}, {})
    approvals = _approvals(ledger, FakeSlack(), lookup)

    assert await _ask(approvals, _rule({"nautobot_groups": [LEADS]})) is Sent.AWAITING_APPROVAL

    told = await _told(ledger)
    assert set(told) == {CAROL}  # the requester, though linked in the group, is never asked
    counted, answer = await approvals.decide(
        "V1", Decider(CAROL, "U0CAROL (carol)", "carol"), told[CAROL], approve=True
    )
    assert counted, answer
    assert answer == (
        "Approved: the request is sent to Nautobot now. Recorded as Nautobot user carol.lead, linked to your Slack "
        "account."
    )
    record = await ledger.get("V1")
    assert record is not None and record.approval is not None
    assert record.approval.approvals[0].label == "U0CAROL (carol, Nautobot user carol.lead)"
    assert record.inputs[APPROVED_BY] == "Slack users U0CAROL (carol, Nautobot user carol.lead)"


async def test_membership_is_read_from_nautobot_at_the_click_and_a_failed_lookup_refuses_it(
    ledger: Ledger,  # noqa: F811 - the fixture
) -> None:
    lookup = FakeLookup({LEADS: {CAROL: "carol", DAVE: "dave"}}, {})
    approvals = _approvals(ledger, FakeSlack(), lookup)
    await _ask(approvals, _rule({"nautobot_groups": [LEADS]}))
    told = await _told(ledger)

    lookup.down = NautobotUnreachable("Nautobot is down")
    counted, answer = await approvals.decide("V1", Decider(DAVE, "dave"), told[DAVE], approve=True)
    assert not counted
    assert answer == (
        "The bot could not ask Nautobot whether you may approve this request. Nothing was decided; try again."
    )
    lookup.down = NautobotAuthError("the token may not view users")
    assert await approvals.refusal("V1", Decider(DAVE, "dave"), told[DAVE]) == answer

    lookup.down = None
    del lookup.groups[LEADS][CAROL]  # carol left the group (or her link went) after she was asked
    counted, answer = await approvals.decide("V1", Decider(CAROL, "carol"), told[CAROL], approve=True)
    assert not counted
    assert "your Slack account is not linked to an active member of the Nautobot group(s) network-leads" in answer
    assert "Link ChatOps Account" in answer

    record = await ledger.get("V1")
    assert record is not None and record.state is RequestState.AWAITING_APPROVAL
    assert record.approval is not None and record.approval.votes == ()


async def test_a_slack_approver_without_an_account_link_is_refused_where_the_rule_requires_one(
    ledger: Ledger,  # noqa: F811 - the fixture
) -> None:
    lookup = FakeLookup({}, {CAROL: "carol", ALICE: "alice"})
    approvals = _approvals(ledger, FakeSlack(usergroups={SLACK_GROUP: [ALICE, BOB, CAROL]}), lookup)
    rule = _rule({"groups": [SLACK_GROUP]}, require_account_link=True)

    assert await _ask(approvals, rule) is Sent.AWAITING_APPROVAL
    told = await _told(ledger)

    counted, answer = await approvals.decide("V1", Decider(BOB, "bob"), told[BOB], approve=True)
    assert not counted
    assert "linked to an active Nautobot user, and yours is not. Nothing was decided." in answer
    assert "Apps → Nautobot ChatOps → Link ChatOps Account" in answer and "ask a Nautobot admin" in answer
    counted, answer = await approvals.decide(
        "V1", Decider(CAROL, "U0CAROL (carol)", "carol"), told[CAROL], approve=True
    )
    assert counted and "Recorded as Nautobot user carol" in answer


async def test_without_the_requirement_a_slack_approver_needs_no_nautobot(
    ledger: Ledger,  # noqa: F811 - the fixture
) -> None:
    lookup = FakeLookup({}, {})
    approvals = _approvals(ledger, FakeSlack(usergroups={SLACK_GROUP: [ALICE, BOB]}), lookup)
    await _ask(approvals, _rule({"groups": [SLACK_GROUP]}))
    lookup.down = NautobotUnreachable("Nautobot is down")

    counted, answer = await approvals.decide(
        "V1", Decider(BOB, "U0BOB (bob)", "bob"), (await _told(ledger))[BOB], approve=True
    )

    assert counted and "Nautobot user" not in answer
    record = await ledger.get("V1")
    assert record is not None and record.inputs[APPROVED_BY] == "Slack users U0BOB (bob)"


async def test_asking_counts_only_people_nautobot_vouches_for_and_refuses_when_it_cannot_tell(
    ledger: Ledger,  # noqa: F811 - the fixture
) -> None:
    lookup = FakeLookup({LEADS: {ALICE: "alice"}}, {BOB: "bob"})
    approvals = _approvals(ledger, FakeSlack(usergroups={SLACK_GROUP: [ALICE, BOB, CAROL]}), lookup)

    # Bob is the one person other than the requester linked: two approvals cannot be had.
    assert (
        await _ask(approvals, _rule({"groups": [SLACK_GROUP]}, require_account_link=True, count=2)) is Sent.NO_APPROVERS
    )
    assert await _ask(approvals, _rule({"nautobot_groups": [LEADS]}), "V2") is Sent.NO_APPROVERS  # only the requester

    lookup.down = NautobotUnreachable("Nautobot is down")
    assert await _ask(approvals, _rule({"users": [BOB], "nautobot_groups": [LEADS]}), "V3") is Sent.NO_APPROVERS
    record = await ledger.get("V3")
    assert record is not None and record.state is RequestState.REFUSED
    assert "could not read who may approve it from Nautobot (Nautobot is down)" in str(record.error)


# -- the lookups, against Nautobot's recorded answers --------------------------------------------------------


async def test_a_groups_links_and_a_slack_users_link_are_read_as_they_stand_now() -> None:
    """Through :func:`on_3_2`'s answers: admin → U0ADMIN2 (its link changed), carol's link deleted, an outsider
    (not in the group) → U0OUTSIDE; the users list answers by group name, or by id for the outsider (inactive)."""
    nautobot = on_3_2(FakeNautobot())

    def users(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("groups") == GROUP:
            return page([user(ADMIN, "admin"), user(CAROL_ID, "carol")])
        ids = request.url.params.get_list("id")
        everyone = [user(ADMIN, "admin"), {**user(OUTSIDER, "gone"), "is_active": False}]
        return page([each for each in everyone if each["id"] in ids])

    nautobot.on("GET", USERS, users)
    client = nautobot.client()
    lookup = ApproverLookup(client)
    try:
        assert await lookup.group_links([GROUP, GROUP]) == {"U0ADMIN2": "admin"}
        assert await lookup.linked_users(["U0ADMIN2", "U0OUTSIDE", "U0CAROL", "U0NOBODY"]) == {"U0ADMIN2": "admin"}
        assert await lookup.linked_users(["U0NOBODY"]) == {}  # no link: Nautobot's users are not asked
    finally:
        await client.aclose()
    asked = [request.url.params.get_list("id") for request in nautobot.requests if request.url.path == USERS]
    assert asked == [[], [ADMIN, OUTSIDER]]


async def test_the_messages_name_the_nautobot_groups_escaped_and_the_link_requirement() -> None:
    since = datetime(2026, 12, 7, 6, 9, tzinfo=UTC)
    groups = (LEADS, "<!channel> & co")
    approval = Approval(users=(BOB,), nautobot_groups=groups, require_account_link=True, since=since, expire_at=since)
    request = RunRequest(request_id="V1", requester_id=ALICE, channel_id="C0NETOPS", job_name="Create")

    _, blocks = approval_messages.waiting_message(request, None, approval)

    shown = blocks_text(blocks)
    assert f"<@{BOB}>, the linked members of Nautobot group *{LEADS}*, the linked members of Nautobot group " in shown
    assert "*&lt;!channel&gt; &amp; co*" in shown and "<!channel>" not in shown
    assert "(each with a Slack account linked to an active Nautobot user)" in shown
