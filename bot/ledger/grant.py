"""What the ledger keeps of a time-bound grant: the Create Job's run made it and scheduled its revoke in Nautobot,
and the bot follows it to its end (told ahead, the revoke's result in the grant's thread, the safety net).

A grant is keyed by its revoke's scheduled job: extending a grant moves that one scheduled job, so the extended
grant is the same row with a later expiry (and a fresh warning).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class GrantState(StrEnum):
    ACTIVE = "active"
    """Granted: the sweep warns ahead, then looks for the revoke's run from the expiry on."""
    ENDED = "ended"
    """The revoke ran (or its schedule vanished) and the thread says so. Final."""


class GrantTimer(StrEnum):
    """What a grant's timer asks of the replica that fired it."""

    WARN = "warn"
    """Tell the requester the access ends soon."""
    LOOK = "look"
    """Look for the revoke's run: post its result once it ended."""
    RESCUE = "rescue"
    """The revoke did not run in time: say so loudly, and run it now."""


class Grant(BaseModel):
    """One time-bound grant and how far the bot has followed it."""

    model_config = ConfigDict(frozen=True)

    scheduled_job_id: str
    request_id: str
    requester_id: str
    channel: str
    """The grant's thread: where the warning and the revoke's result go."""
    ts: str | None
    revoke_job: str
    """The Job that revokes it (the scheduled one is a run of it)."""
    email: str
    organization: str
    granted_at: datetime
    expires_at: datetime
    revoke: dict[str, Any]
    """The Revoke Job's ``grant`` input, as the Create Job recorded it."""
    approvers: tuple[str, ...] = ()
    """The Slack users who approved the request in Slack: told with the requester when the revoke goes wrong."""
    warned: bool = False
    rescued_at: datetime | None = None
    """When a replica took on running the revoke itself (the safety net, or "Revoke now")."""
    revoked_by: str | None = None
    """The Slack user who asked to revoke it now; None when it expired."""
    revoke_result_id: str | None = None
    """The run of the Revoke Job the bot started (None: the scheduled one is the revoke)."""
    outcome: str | None = None

    def warn_at(self, ahead: timedelta) -> datetime:
        """``ahead`` of the expiry, but never in the grant's first half (a 1-minute grant is warned at 30 s)."""
        return self.expires_at - min(ahead, (self.expires_at - self.granted_at) / 2)
