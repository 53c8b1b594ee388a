"""An approval rule as it stands when a request is asked, kept with the request: later policy changes do not move
its goalposts."""

from __future__ import annotations

from datetime import datetime

from bot.ledger import Approval
from bot.policy import ApprovalRule


def snapshot(rule: ApprovalRule, since: datetime) -> Approval:
    """The wait ``rule`` sets for a request asked at ``since``: who may approve, how many, and its timers."""
    escalate = rule.escalate_to
    return Approval(
        users=rule.approvers.users,
        groups=rule.approvers.groups,
        escalate_users=escalate.users if escalate else (),
        escalate_groups=escalate.groups if escalate else (),
        nautobot_groups=rule.approvers.nautobot_groups,
        escalate_nautobot_groups=escalate.nautobot_groups if escalate else (),
        require_account_link=rule.require_account_link,
        count=rule.count,
        notify=rule.notify,
        since=since,
        remind_at=since + rule.remind_after if rule.remind_after else None,
        escalate_at=since + rule.escalate_after if rule.escalate_after else None,
        expire_at=since + rule.expire_after,
    )
