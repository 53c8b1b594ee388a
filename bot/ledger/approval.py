"""What the ledger keeps of a request that needs approval: who must approve, what each person decided, where the
approvers were told, and its timers. Stored whole as JSON in the request's own row, so a decision reads and
writes it in one locked step: N approvals are N distinct people, however many clicks, replicas and redeliveries.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Ending(StrEnum):
    """How a wait for approval ended."""

    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class NoticeKind(StrEnum):
    """Why an approvers' message was posted."""

    ASK = "ask"
    REMINDER = "reminder"
    ESCALATION = "escalation"


class Vote(BaseModel):
    """One person's decision: an approval, or a denial with its reason."""

    model_config = ConfigDict(frozen=True)

    person: str
    label: str
    """The person as messages name them, e.g. ``U0AAA (alice)``."""
    approve: bool
    reason: str = ""
    at: datetime


class Notice(BaseModel):
    """A message that asked for a decision: its buttons count only from here, and it shows the ending."""

    model_config = ConfigDict(frozen=True)

    channel: str
    ts: str
    person: str | None = None
    """The approver a direct message went to; None for the approvers' channel."""
    kind: NoticeKind = NoticeKind.ASK


class Approval(BaseModel):
    """The approval a request needs (a snapshot of the rule when it was asked) and how it stands."""

    model_config = ConfigDict(frozen=True)

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    escalate_users: tuple[str, ...] = ()
    escalate_groups: tuple[str, ...] = ()
    nautobot_groups: tuple[str, ...] = ()
    """Nautobot groups whose members' linked Slack users may approve."""
    escalate_nautobot_groups: tuple[str, ...] = ()
    require_account_link: bool = False
    """Every approver must have linked their Slack account to an active Nautobot user."""
    count: int = 1
    notify: str = "dm"
    since: datetime
    remind_at: datetime | None = None
    escalate_at: datetime | None = None
    expire_at: datetime
    reminded: bool = False
    escalated: bool = False
    votes: tuple[Vote, ...] = ()
    notices: tuple[Notice, ...] = ()
    ending: Ending | None = None
    link: str | None = None
    """A link to the requester's message, for the approvers' messages."""

    @property
    def approvals(self) -> tuple[Vote, ...]:
        return tuple(vote for vote in self.votes if vote.approve)

    @property
    def denial(self) -> Vote | None:
        return next((vote for vote in self.votes if not vote.approve), None)

    def voted(self, person: str) -> Vote | None:
        return next((vote for vote in self.votes if vote.person == person), None)

    def next_due(self) -> datetime:
        """When the next timer fires: a reminder or the escalation not yet done, else the expiry."""
        pending = [self.expire_at]
        if self.remind_at is not None and not self.reminded:
            pending.append(self.remind_at)
        if self.escalate_at is not None and not self.escalated:
            pending.append(self.escalate_at)
        return min(pending)

    def deciders(self, *, escalated: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(users, groups)`` who may decide: the approvers, and once ``escalated`` those it escalates to."""
        if not escalated:
            return self.users, self.groups
        users = tuple(dict.fromkeys((*self.users, *self.escalate_users)))
        return users, tuple(dict.fromkeys((*self.groups, *self.escalate_groups)))

    def nautobot_deciders(self, *, escalated: bool) -> tuple[str, ...]:
        """The Nautobot groups whose linked members may decide, and once ``escalated`` those it escalates to."""
        if not escalated:
            return self.nautobot_groups
        return tuple(dict.fromkeys((*self.nautobot_groups, *self.escalate_nautobot_groups)))

    def noticed(self, channel: str, ts: str) -> bool:
        return any(notice.channel == channel and notice.ts == ts for notice in self.notices)
