"""A run Nautobot holds for approval, as ledger steps: the bot tells its approvers once, reminds them once, and
shows them the decision once, however many replicas follow the wait and however often the bot restarts.

Each step is one conditional change of the request's ``nautobot_approval`` column under the row's lock (see
:class:`~bot.ledger.approvals.ApprovalSteps`): the replica whose step changed it posts the messages; any other
finds it done and posts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.ledger.approvals import ApprovalSteps
from bot.ledger.nautobot_approval import ApproverNotice, NautobotApproval
from bot.ledger.records import Record
from bot.ledger.schema import now


class NautobotApprovalSteps(ApprovalSteps):
    """The steps of a wait for Nautobot's approvers (see the module's description)."""

    async def tell_nautobot_approvers(self, request_id: str) -> NautobotApproval | None:
        """Take on telling the approvers: the new record if this call took it on, None if it was done before."""
        claimed: list[NautobotApproval] = []

        def change(record: Record) -> dict[str, Any] | None:
            claimed.clear()
            if record.nautobot_approval is not None:
                return None
            claimed.append(NautobotApproval(since=now()))
            return {"nautobot_approval": _dump(claimed[0])}

        await self._locked(request_id, change)
        return claimed[0] if claimed else None

    async def nautobot_notices(self, request_id: str, notices: Sequence[ApproverNotice]) -> None:
        """Messages were posted: they show the decision later (after a restart too)."""

        def change(record: Record) -> dict[str, Any] | None:
            told = record.nautobot_approval
            if told is None or not notices:
                return None
            return {"nautobot_approval": _dump(told.model_copy(update={"notices": (*told.notices, *notices)}))}

        await self._locked(request_id, change)

    async def remind_nautobot_approvers(self, request_id: str, *, told_before: datetime) -> NautobotApproval | None:
        """The reminder of approvers told before ``told_before`` and not reminded yet: fired by this call (the
        record, for whom to remind), or None (not due, fired already, or decided)."""
        fired: list[NautobotApproval] = []

        def change(record: Record) -> dict[str, Any] | None:
            fired.clear()
            told = record.nautobot_approval
            if told is None or told.reminded or told.decided is not None or told.since > told_before:
                return None
            fired.append(told.model_copy(update={"reminded": True}))
            return {"nautobot_approval": _dump(fired[0])}

        await self._locked(request_id, change)
        return fired[0] if fired else None

    async def nautobot_decided(self, request_id: str, outcome: str) -> Record | None:
        """Nautobot decided: the request (its messages to rewrite, its scheduled job) if this call is the one to
        show it, None when nobody was told or they show it already."""
        taken: list[bool] = []

        def change(record: Record) -> dict[str, Any] | None:
            taken.clear()
            told = record.nautobot_approval
            if told is None or told.decided is not None:
                return None
            taken.append(True)
            return {"nautobot_approval": _dump(told.model_copy(update={"decided": outcome}))}

        record = await self._locked(request_id, change)
        return record if taken else None


def _dump(told: NautobotApproval) -> dict[str, Any]:
    return told.model_dump(mode="json")
