"""A request's wait for approval, as ledger steps: asked, waiting, each person's decision, and the timers.

Every step that reads the approval and writes it back holds the request's row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's write lock, taken up front): two approvers clicking at once on two replicas are counted
one after the other, so the second sees the first's vote and N approvals are N distinct people. A step that
ends the wait (approved, denied, withdrawn, expired) moves the request to a working state held by the replica
that made it: that replica sends it or closes its messages, and another takes it up should it die first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.ledger.approval import Approval, Ending, Notice, Vote
from bot.ledger.records import IllegalTransition, LostLease, Record, RequestState
from bot.ledger.replica import Replica
from bot.ledger.schema import REQUESTS, now, to_record
from bot.ledger.statements import locked_change

WAITING = frozenset({RequestState.ASKING_APPROVAL, RequestState.AWAITING_APPROVAL})
"""States in which a person's decision counts."""
TIMERS_PER_SWEEP = 100


@dataclass(frozen=True)
class Fired:
    """What one request's timers did in one sweep."""

    record: Record
    reminded: bool = False
    escalated: bool = False
    expired: bool = False


Change = Callable[[Record], dict[str, Any] | None]
"""Given the request as locked, the columns to write (None: nothing); raises to refuse."""


class ApprovalSteps(Replica):
    """The approval steps of the ledger (see the module's description)."""

    async def ask_approval(self, request_id: str, approval: Approval) -> Record:
        """The request needs ``approval``: its messages are posted next, under this replica's lease."""
        return await self._update(
            request_id,
            frozenset({RequestState.RECEIVED}),
            "ask for approval",
            state=RequestState.ASKING_APPROVAL.value,
            approval=approval.model_dump(mode="json"),
            updated_at=now(),
        )

    async def approval_message(self, request_id: str, *, channel: str, ts: str, link: str | None) -> Record:
        """The requester's message is in Slack (``link`` to it, if Slack gave one): the ending, and the run's
        messages later, go there."""

        def change(record: Record) -> dict[str, Any] | None:
            if record.state is not RequestState.ASKING_APPROVAL or record.approval is None:
                raise IllegalTransition(request_id, record.state, "record its message")
            if record.owner not in (None, self.owner):
                raise LostLease(request_id, record.state, record.owner)
            approval = record.approval.model_copy(update={"link": link})
            return {"message_channel": channel, "message_ts": ts, "approval": _dump(approval)}

        return await self._locked(request_id, change)

    async def approval_notice(self, request_id: str, notice: Notice) -> Record:
        """An approvers' message is in Slack: its buttons count from now on."""

        def change(record: Record) -> dict[str, Any] | None:
            approval = _waiting(record, "record an approvers' message")
            if approval.noticed(notice.channel, notice.ts):
                return None
            return {"approval": _dump(approval.model_copy(update={"notices": (*approval.notices, notice)}))}

        return await self._locked(request_id, change)

    async def awaiting_approval(self, request_id: str) -> Record:
        """Every message is posted: nobody works on the request until a person decides or a timer fires."""

        def change(record: Record) -> dict[str, Any] | None:
            if record.state is not RequestState.ASKING_APPROVAL or record.approval is None:
                raise IllegalTransition(request_id, record.state, "wait for approval")
            if record.owner not in (None, self.owner):
                raise LostLease(request_id, record.state, record.owner)
            return {
                "state": RequestState.AWAITING_APPROVAL.value,
                "approval_due": record.approval.next_due(),
                "owner": None,
                "lease_until": None,
            }

        return await self._locked(request_id, change)

    async def vote(self, request_id: str, vote: Vote, *, approved_by: str | None = None) -> tuple[Record, bool]:
        """Count ``vote`` once per person; ``(record, counted)``. A denial ends the wait; so does the last approval
        needed, which also fills the Job variable ``approved_by`` (when given) with who approved."""

        counted: list[bool] = []

        def change(record: Record) -> dict[str, Any] | None:
            counted.clear()  # a step may run again (SQLite's shared transaction): only its last run counts
            approval = _waiting(record, "decide")
            if approval.voted(vote.person) is not None:
                return None
            counted.append(True)
            approval = approval.model_copy(update={"votes": (*approval.votes, vote)})
            if not vote.approve:
                return self._ending(approval, Ending.DENIED)
            if len(approval.approvals) < approval.count:
                return {"approval": _dump(approval)}
            values = self._ending(approval, Ending.APPROVED)
            if approved_by:
                who = ", ".join(vote.label for vote in approval.approvals)
                values["inputs"] = {**record.inputs, approved_by: f"Slack users {who}"}
            return values

        record = await self._locked(request_id, change)
        return record, bool(counted)

    async def withdraw(self, request_id: str) -> Record:
        """The requester withdrew it: nothing runs."""
        return await self._locked(
            request_id, lambda record: self._ending(_waiting(record, "withdraw"), Ending.WITHDRAWN)
        )

    async def closed(self, request_id: str) -> Record:
        """Its messages show how the wait ended. Final."""
        stamp = now()
        allowed = frozenset({RequestState.NOT_APPROVED})
        return await self._update(
            request_id, allowed, "close it", state=RequestState.DONE.value, updated_at=stamp, finished_at=stamp
        )

    async def fire_timers(self) -> list[Fired]:
        """Fire every approval timer that is due, each once across replicas: reminders and escalations are for the
        caller to post; an expired wait is this replica's to close."""
        stamp = now()
        due = (
            select(REQUESTS.c.request_id)
            .where(REQUESTS.c.state == RequestState.AWAITING_APPROVAL.value, REQUESTS.c.approval_due <= stamp)
            .order_by(REQUESTS.c.approval_due)
            .limit(TIMERS_PER_SWEEP)
        )
        fired: list[Fired] = []
        for request_id in await self._run(lambda conn: list(conn.scalars(due)), write=False):
            outcome = await self._fire(request_id, stamp)
            if outcome is not None:
                fired.append(outcome)
        return fired

    async def _fire(self, request_id: str, stamp: datetime) -> Fired | None:
        what: dict[str, bool] = {}

        def change(record: Record) -> dict[str, Any] | None:
            what.clear()
            approval = record.approval
            if record.state is not RequestState.AWAITING_APPROVAL or approval is None or approval.next_due() > stamp:
                return None  # another replica fired it first, or someone decided meanwhile
            if approval.expire_at <= stamp:
                what["expired"] = True
                return self._ending(approval, Ending.EXPIRED)
            reminded = approval.remind_at is not None and not approval.reminded and approval.remind_at <= stamp
            escalated = approval.escalate_at is not None and not approval.escalated and approval.escalate_at <= stamp
            what.update(reminded=reminded, escalated=escalated)
            approval = approval.model_copy(
                update={"reminded": approval.reminded or reminded, "escalated": approval.escalated or escalated}
            )
            return {"approval": _dump(approval), "approval_due": approval.next_due()}

        record = await self._locked(request_id, change)
        return Fired(record, **what) if what else None

    def _ending(self, approval: Approval, ending: Ending) -> dict[str, Any]:
        """The wait ends: the request moves to a working state held by this replica, which sends it or closes it."""
        state = RequestState.APPROVED if ending is Ending.APPROVED else RequestState.NOT_APPROVED
        stamp = now()
        return {
            "state": state.value,
            "approval": _dump(approval.model_copy(update={"ending": ending})),
            "approval_due": None,
            "owner": self.owner,
            "lease_until": stamp + self.lease,
        }

    async def _locked(self, request_id: str, change: Change) -> Record:
        """Read the request holding its row, and write what ``change`` makes of it, in one step."""
        missing = f"no request {request_id} in the ledger"
        step = functools.partial(
            locked_change, REQUESTS.c.request_id, request_id, lambda row: change(to_record(row)), missing
        )
        record = to_record(await self._run(step, write=True))
        self._remember(record)
        return record


def _waiting(record: Record, action: str) -> Approval:
    """The request's approval, if a decision may still change it."""
    if record.state not in WAITING or record.approval is None:
        raise IllegalTransition(record.request_id, record.state, action)
    return record.approval


def _dump(approval: Approval) -> dict[str, Any]:
    return approval.model_dump(mode="json")
