"""What the ledger keeps of a run Nautobot holds for approval: where the bot told its approvers, whether it
reminded them, and whether those messages show the decision. Stored as JSON in the request's own row (the
``nautobot_approval`` column), apart from the bot's own approvals (``approval``), which mean something else.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ApproverNotice(BaseModel):
    """One message that told of the run waiting in Nautobot: rewritten once Nautobot says how it was decided."""

    model_config = ConfigDict(frozen=True)

    channel: str
    ts: str
    person: str | None = None
    """The Slack user a direct message went to; None for the approvers' channel."""
    reminder: bool = False


class NautobotApproval(BaseModel):
    """The bot's telling of Nautobot's approvers, claimed once across replicas and restarts."""

    model_config = ConfigDict(frozen=True)

    since: datetime
    """When a replica took on telling them: the reminder counts from here."""
    notices: tuple[ApproverNotice, ...] = ()
    reminded: bool = False
    decided: str | None = None
    """How Nautobot decided, once the messages were rewritten to show it (each is rewritten once)."""

    @property
    def people(self) -> tuple[str, ...]:
        """The Slack users who were told directly (a reminder goes to the same people)."""
        return tuple(dict.fromkeys(n.person for n in self.notices if n.person is not None and not n.reminder))

    @property
    def channels(self) -> tuple[str, ...]:
        """The approvers' channels that were told."""
        return tuple(dict.fromkeys(n.channel for n in self.notices if n.person is None and not n.reminder))
