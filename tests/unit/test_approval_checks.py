"""Each click on an approver's button is checked when it is made, and every check fails closed: a forged value
(another request's id), the requester, someone who left the approvers' group, a request no longer waiting; and a
request nobody but the requester could approve is refused when it is asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.ledger import Ledger, RequestState
from bot.models import RunRequest
from bot.nautobot import NautobotUnreachable
from bot.policy import ApprovalRule
from bot.runs.approvals import Approvals, Decider
from bot.runs.outcome import NoApprovers, Sent
from bot.slack.thread import SlackThreads, Thread
from testbed.fake_slack import FakeSlack

pytestmark = pytest.mark.asyncio

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
GROUP = "S0APPROVERS"


class _NoForms:
    """Nautobot unreachable: messages go without the form's labels."""

    def of(self, job_name: str) -> _NoForms:
        return self

    async def get(self) -> Any:
        raise NautobotUnreachable("Nautobot is down")


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    yield opened
    await opened.close()


def _approvals(ledger: Ledger, slack: FakeSlack) -> Approvals:
    async def members(group: str, *, fresh: bool = False) -> frozenset[str]:
        return frozenset(slack.usergroups.get(group, ()))

    return Approvals(ledger, SlackThreads(slack), _NoForms(), members)  # type: ignore[arg-type]


def _rule(count: int = 1) -> ApprovalRule:
    return ApprovalRule.model_validate(
        {"commands": ["*"], "approvers": {"groups": [GROUP]}, "count": count, "expire_after": "1h"}
    )


async def _asked(approvals: Approvals, request_id: str = "V1", count: int = 1) -> RunRequest:
    request = RunRequest(request_id=request_id, requester_id=ALICE, channel_id="C0NETOPS", job_name="Create")
    await approvals.ledger.record(request)
    outcome = await approvals.ask(request, _rule(count))
    assert outcome.sent is Sent.AWAITING_APPROVAL
    await approvals.post(request_id, None)
    return request


async def _notice_of(ledger: Ledger, person: str, request_id: str = "V1") -> Thread:
    """The direct message that asked ``person`` to decide on ``request_id``."""
    record = await ledger.get(request_id)
    assert record is not None and record.approval is not None
    [notice] = [notice for notice in record.approval.notices if notice.person == person]
    return Thread(notice.channel, notice.ts)


async def test_a_forged_value_the_requester_and_a_former_approver_decide_nothing(ledger: Ledger) -> None:
    slack = FakeSlack(usergroups={GROUP: [ALICE, BOB, CAROL]})
    approvals = _approvals(ledger, slack)
    await _asked(approvals, "V1")
    await _asked(approvals, "V2")
    bob_v1 = await _notice_of(ledger, BOB, "V1")

    told = await approvals.decide("V2", Decider(BOB, "bob"), bob_v1, approve=True)  # V1's message, V2's id
    assert told[0] is False and "does not take decisions on this request from this message" in told[1]
    told = await approvals.decide("V1", Decider(ALICE, "alice"), bob_v1, approve=True)
    assert told[0] is False and "asked for this yourself" in told[1]

    slack.usergroups[GROUP] = [ALICE, CAROL]  # Bob left the group after he was asked
    told = await approvals.decide("V1", Decider(BOB, "bob"), bob_v1, approve=True)
    assert told[0] is False and "not one of this request's approvers" in told[1]

    for request_id in ("V1", "V2"):
        record = await ledger.get(request_id)
        assert record is not None and record.state is RequestState.AWAITING_APPROVAL
        assert record.approval is not None and record.approval.votes == ()


async def test_nobody_but_the_requester_could_approve_so_it_is_refused_at_once(ledger: Ledger) -> None:
    approvals = _approvals(ledger, FakeSlack(usergroups={GROUP: [ALICE, BOB]}))
    request = RunRequest(request_id="V1", requester_id=ALICE, channel_id="C0NETOPS", job_name="Create")
    await ledger.record(request)

    outcome = await approvals.ask(request, _rule(count=2))

    assert outcome.sent is Sent.NO_APPROVERS and isinstance(outcome.error, NoApprovers)
    assert "only 1 person(s) other than you" in str(outcome.error)
    record = await ledger.get("V1")
    assert record is not None and record.state is RequestState.REFUSED


async def test_a_withdrawn_request_takes_no_decision_and_every_message_shows_it(ledger: Ledger) -> None:
    slack = FakeSlack(usergroups={GROUP: [ALICE, BOB]})
    approvals = _approvals(ledger, slack)
    await _asked(approvals)
    bob = await _notice_of(ledger, BOB)

    refused = (False, "Only the person who asked for it may withdraw it. Nothing was withdrawn.")
    assert await approvals.withdraw("V1", BOB) == refused
    assert await approvals.withdraw("V1", ALICE) == (True, "Withdrawn: nothing is run, and the approvers are told.")

    told = await approvals.decide("V1", Decider(BOB, "bob"), bob, approve=True)
    assert told == (False, "This request is no longer waiting for approval. Nothing was decided.")
    record = await ledger.get("V1")
    assert record is not None and record.state is RequestState.DONE
    updated = [call for call in slack.calls_to("chat_update") if call["ts"] == bob.ts]
    assert (
        updated and "Withdrawn" in str(updated[-1]["blocks"]) and "approval_approve" not in str(updated[-1]["blocks"])
    )
