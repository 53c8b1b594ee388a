"""What a person's Home shows, read from the ledger: every query bounded, however long the person's history.

- their latest requests (and how many they made in all, for "and N more");
- the requests waiting for approval that they may decide: the oldest waiting ones, read a bounded batch at a
  time, of which those naming them (or a user group of theirs) as an approver, not asked by them, not decided by
  them yet, and with a message the bot asked them in (its buttons' checks need one);
- their active time-bound grants, soonest to end first: those they asked for, and those granted to their email
  address (when Slack tells it: :mod:`bot.home.emails`).

The reads are ledger steps like any other (off the event loop); they write nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Connection, false, func, select

from bot.ledger import Approval, Ledger, Record, RequestState
from bot.ledger.grant import Grant, GrantState
from bot.ledger.schema import GRANTS, REQUESTS, to_record

REQUESTS_SHOWN = 10
"""A person's latest requests shown; the older ones are counted."""
APPROVALS_SHOWN = 10
GRANTS_SHOWN = 10
WAITING_READ = 200
"""Requests waiting for approval read per Home: the oldest first (they expire first); those past it are counted
as "more", not shown."""

Members = Callable[..., Awaitable[frozenset[str]]]
"""A Slack user group's members (cached): ``members(group_id)``."""


@dataclass(frozen=True)
class Shown:
    """What a person's Home holds: each part as shown, and how many more there are."""

    requests: tuple[Record, ...] = ()
    requests_more: int = 0
    approvals: tuple[Record, ...] = ()
    approvals_more: int = 0
    """Requests they may decide beyond those shown, among the :data:`WAITING_READ` oldest waiting ones."""
    approvals_unread: bool = False
    """More requests wait than were read: there may be more for them to decide."""
    grants: tuple[Grant, ...] = ()
    grants_more: int = 0


async def read(ledger: Ledger, person: str, members: Members, email: str | None = None) -> Shown:
    """``person``'s Home as the ledger has it now (``email``: their address, for the grants they hold)."""
    requests, made = await ledger._run(functools.partial(_latest_requests, person, REQUESTS_SHOWN), write=False)
    waiting, read_all = await ledger._run(functools.partial(_waiting, WAITING_READ), write=False)
    decidable = [record for record in waiting if await may_decide(record, person, members)]
    grants, held = await ledger._run(functools.partial(_active_grants, person, email, GRANTS_SHOWN), write=False)
    return Shown(
        requests=tuple(requests),
        requests_more=max(made - len(requests), 0),
        approvals=tuple(decidable[:APPROVALS_SHOWN]),
        approvals_more=max(len(decidable) - APPROVALS_SHOWN, 0),
        approvals_unread=not read_all,
        grants=tuple(sorted(grants, key=lambda grant: grant.expires_at)),
        grants_more=max(held - len(grants), 0),
    )


async def may_decide(record: Record, person: str, members: Members) -> bool:
    """Whether ``person`` is asked to decide on ``record`` now, as far as the cached user groups tell: a click is
    checked again, with the groups read from Slack, by the approvals' own checks."""
    approval = record.approval
    if approval is None or person == record.requester_id or approval.voted(person) is not None:
        return False
    if notice_for(approval, person) is None:
        return False
    users, groups = approval.deciders(escalated=approval.escalated)
    if person in users:
        return True
    for group in sorted(set(groups)):
        try:
            if person in await members(group):
                return True
        except Exception:  # Slack unreachable: not shown now; the approvers' message still asks them
            return False
    return False


def notice_for(approval: Approval, person: str) -> tuple[str, str] | None:
    """The message that asked ``person`` to decide (``(channel, ts)``): their direct message, else the approvers'
    channel's; None when the bot asked them nowhere."""
    mine = [notice for notice in approval.notices if notice.person == person and notice.ts]
    shared = [notice for notice in approval.notices if notice.person is None and notice.ts]
    asked = mine or shared
    return (asked[-1].channel, asked[-1].ts) if asked else None


def _latest_requests(person: str, limit: int, conn: Connection) -> tuple[list[Record], int]:
    mine = REQUESTS.c.requester_id == person
    rows = conn.execute(select(REQUESTS).where(mine).order_by(REQUESTS.c.created_at.desc()).limit(limit)).all()
    made = conn.execute(select(func.count()).select_from(REQUESTS).where(mine)).scalar_one()
    return [to_record(row) for row in rows], int(made)


def _waiting(limit: int, conn: Connection) -> tuple[list[Record], bool]:
    """The oldest requests waiting for approval, and whether that was all of them."""
    waiting = REQUESTS.c.state == RequestState.AWAITING_APPROVAL.value
    rows = conn.execute(select(REQUESTS).where(waiting).order_by(REQUESTS.c.created_at).limit(limit + 1)).all()
    return [to_record(row) for row in rows[:limit]], len(rows) <= limit


def _active_grants(person: str, email: str | None, limit: int, conn: Connection) -> tuple[list[Grant], int]:
    # The requester and the address are inside the grant's JSON: JSON_EXTRACT on SQLite, ->> on PostgreSQL.
    asked = GRANTS.c.grant["requester_id"].as_string() == person
    to_them = func.lower(GRANTS.c.grant["email"].as_string()) == email.lower() if email else false()
    theirs = (GRANTS.c.state == GrantState.ACTIVE.value) & (asked | to_them)
    rows = conn.execute(select(GRANTS.c.grant).where(theirs).order_by(GRANTS.c.due).limit(limit)).all()
    held = conn.execute(select(func.count()).select_from(GRANTS).where(theirs)).scalar_one()
    return [Grant.model_validate(row.grant) for row in rows], int(held)
