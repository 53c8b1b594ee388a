"""The ledger's approval steps, on SQLite and PostgreSQL: N approvals are N distinct people, a vote counts once
however often it arrives, and each timer fires once across replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.ledger import Approval, Ending, IllegalTransition, Ledger, Notice, RequestState, Vote
from bot.models import RunRequest
from tests.support.ledger_backends import Backend

pytestmark = pytest.mark.asyncio


def _approval(count: int = 2, **timers: datetime) -> Approval:
    stamp = datetime.now(UTC)
    return Approval(
        users=("U0BOB", "U0CAROL", "U0DAVE"),
        count=count,
        since=stamp,
        expire_at=timers.pop("expire_at", stamp + timedelta(hours=1)),
        **timers,
    )


def _vote(person: str, *, approve: bool = True) -> Vote:
    return Vote(person=person, label=person, approve=approve, at=datetime.now(UTC))


async def _waiting(ledger: Ledger, approval: Approval, request_id: str = "V1") -> None:
    request = RunRequest(request_id=request_id, requester_id="U0ALICE", channel_id="C0", job_name="Create", inputs={})
    await ledger.record(request)
    await ledger.ask_approval(request_id, approval)
    await ledger.approval_message(request_id, channel="C0", ts="1.0", link="https://acme.slack.com/archives/C0/p10")
    await ledger.approval_notice(request_id, Notice(channel="D0BOB", ts="2.0", person="U0BOB"))
    await ledger.approval_notice(request_id, Notice(channel="D0BOB", ts="2.0", person="U0BOB"))  # once
    await ledger.awaiting_approval(request_id)


async def test_two_distinct_approvals_send_it_once_and_a_second_click_counts_nothing(ledger: Ledger) -> None:
    await _waiting(ledger, _approval(count=2))
    record = await ledger.get("V1")
    assert record is not None and record.state is RequestState.AWAITING_APPROVAL and record.owner is None
    assert record.approval is not None and len(record.approval.notices) == 1
    assert record.approval_due == record.approval.expire_at

    record, counted = await ledger.vote("V1", _vote("U0BOB"), approved_by="approved_by")
    assert counted and record.state is RequestState.AWAITING_APPROVAL
    record, counted = await ledger.vote("V1", _vote("U0BOB"), approved_by="approved_by")
    assert not counted and record.state is RequestState.AWAITING_APPROVAL

    record, counted = await ledger.vote("V1", _vote("U0CAROL"), approved_by="approved_by")
    assert counted and record.state is RequestState.APPROVED and record.owner == ledger.owner
    assert record.approval is not None and record.approval.ending is Ending.APPROVED
    assert record.inputs["approved_by"] == "Slack users U0BOB, U0CAROL"
    with pytest.raises(IllegalTransition):
        await ledger.vote("V1", _vote("U0DAVE"))
    assert (await ledger.begin_submit("V1")).state is RequestState.SUBMITTING


async def test_a_denial_ends_the_wait_and_the_request_closes_without_running(ledger: Ledger) -> None:
    await _waiting(ledger, _approval(count=2))
    await ledger.vote("V1", _vote("U0BOB"))
    denial = Vote(person="U0CAROL", label="carol", approve=False, reason="no", at=datetime.now(UTC))
    record, counted = await ledger.vote("V1", denial)
    assert counted and record.state is RequestState.NOT_APPROVED
    assert record.approval is not None and record.approval.ending is Ending.DENIED
    assert record.approval.denial is not None and record.approval.denial.reason == "no"
    with pytest.raises(IllegalTransition):
        await ledger.begin_submit("V1")
    done = await ledger.closed("V1")
    assert done.state is RequestState.DONE and done.final and done.owner is None


async def test_a_withdrawn_request_takes_no_more_votes(ledger: Ledger) -> None:
    await _waiting(ledger, _approval(count=1))
    record = await ledger.withdraw("V1")
    assert record.state is RequestState.NOT_APPROVED and record.approval is not None
    assert record.approval.ending is Ending.WITHDRAWN
    with pytest.raises(IllegalTransition):
        await ledger.vote("V1", _vote("U0BOB"))


async def test_approvals_at_once_from_two_replicas_count_each_person_once(backend: Backend) -> None:
    first = await Ledger.open(backend.url, owner="one")
    second = await Ledger.open(backend.url, owner="two")
    try:
        await _waiting(first, _approval(count=3))
        votes = [
            replica.vote("V1", _vote(person))
            for person in ("U0BOB", "U0CAROL", "U0DAVE")
            for replica in (first, second)
        ]
        results = await asyncio.gather(*votes, return_exceptions=True)
        counted = [result for result in results if isinstance(result, tuple) and result[1]]
        assert len(counted) == 3  # each person once, whichever replica heard them first
        record = await first.get("V1")
        assert record is not None and record.state is RequestState.APPROVED
        assert record.approval is not None and len(record.approval.approvals) == 3
    finally:
        await first.close()
        await second.close()


async def test_each_timer_fires_once_across_replicas_and_expiry_ends_the_wait(backend: Backend) -> None:
    first = await Ledger.open(backend.url, owner="one")
    second = await Ledger.open(backend.url, owner="two")
    past = datetime.now(UTC) - timedelta(seconds=1)
    try:
        await _waiting(first, _approval(remind_at=past, escalate_at=past + timedelta(hours=2)))
        fired = [*(await first.fire_timers()), *(await second.fire_timers())]
        assert [(f.reminded, f.escalated, f.expired) for f in fired] == [(True, False, False)]
        assert not await first.fire_timers()

        await _waiting(first, _approval(expire_at=past), request_id="V2")
        fired = [*(await second.fire_timers()), *(await first.fire_timers())]
        assert [(f.record.request_id, f.expired) for f in fired] == [("V2", True)]
        record = fired[0].record
        assert record.state is RequestState.NOT_APPROVED and record.owner == "two"
        assert record.approval is not None and record.approval.ending is Ending.EXPIRED
    finally:
        await first.close()
        await second.close()
