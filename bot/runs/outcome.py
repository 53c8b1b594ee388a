"""What an entry point hands the core (:class:`Ask`) and what it gets back (:class:`SubmitOutcome`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from bot.ledger import AuditOutcome, LedgerError
from bot.models import JobForm, RunRequest
from bot.nautobot import JobFieldErrors, NautobotError, Submission
from bot.policy import ApprovalRule


def request_key(key: str, values: dict[str, Any], attempt: int = 0) -> str:
    """The idempotency key: the same submission delivered twice maps to one key, a changed one does not."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{key}:{digest}" + (f":{attempt}" if attempt else "")


@dataclass(frozen=True)
class Ask:
    """A checked request, as an entry point (the modal, a command's text, "… for real") hands it to the core."""

    key: str
    """What makes two deliveries one request: the modal's view, the command's trigger, the dry run's request."""
    requester_id: str
    channel_id: str
    """Where the request's messages go."""
    form: JobForm
    values: dict[str, Any]
    approval: ApprovalRule | None = None
    """The policy's rule that this request must be approved by (in Slack, before it is sent); None: it needs none."""


class NoApprovers(Exception):
    """The request needs approval, but too few people other than the requester may give it: nothing is kept."""


class Sent(StrEnum):
    """What became of sending a request to Nautobot."""

    SUBMITTED = "submitted"
    """Nautobot took it: a run to follow, or a scheduled job awaiting approval."""
    AWAITING_APPROVAL = "awaiting_approval"
    """Recorded, and waiting for its approvers in Slack; it is sent to Nautobot once they approve."""
    NO_APPROVERS = "no_approvers"
    """It needs approval that nobody can give (the requester never approves their own): nothing is kept."""
    DUPLICATE = "duplicate"
    """Another delivery of the same request is already sending it; this one does nothing."""
    FIELD_ERRORS = "field_errors"
    """Nautobot refused the input; the person can correct the form and send it again."""
    NOT_RUN = "not_run"
    """Nautobot refused it for good (permissions, a disabled Job), or may have it after all; nothing is kept."""
    UNSENT = "unsent"
    """Nautobot could not be reached; the request is kept and a Retry sends it again."""
    UNRECORDED = "unrecorded"
    """The ledger failed while the request was being sent; once it answers, the request is taken up again."""
    NOT_RECORDED = "not_recorded"
    """The ledger could not record the request: nothing was sent, nothing is kept."""


@dataclass(frozen=True)
class SubmitOutcome:
    """One request's outcome, the same whether it came from the modal, a command's text or a button."""

    sent: Sent
    submission: Submission | None = None
    error: NautobotError | LedgerError | NoApprovers | None = None
    request: RunRequest | None = None
    """The request as recorded; None when none was (a duplicate delivery, or the ledger failed)."""

    @property
    def accepted(self) -> bool:
        """The core has the request: what becomes of it is told in its channel from now on."""
        return self.sent in (Sent.SUBMITTED, Sent.AWAITING_APPROVAL)

    @classmethod
    def refused(cls, error: NautobotError) -> SubmitOutcome:
        if isinstance(error, JobFieldErrors):
            return cls(Sent.FIELD_ERRORS, error=error)
        return cls(Sent.UNSENT if error.retryable else Sent.NOT_RUN, error=error)


class Answer(Protocol):
    """How an entry point answers an outcome; the core says when."""

    async def tell(self, outcome: SubmitOutcome) -> None:
        """What the person sees, before the request is announced (within Slack's 3 s where a modal waits)."""

    async def record(self, outcome: SubmitOutcome) -> None:
        """The outcome's audit entry, once the person was told and the request announced."""


METRIC = {
    Sent.SUBMITTED: "submitted",
    Sent.AWAITING_APPROVAL: "awaiting_approval",
    Sent.NO_APPROVERS: "refused",
    Sent.DUPLICATE: "duplicate",
    Sent.FIELD_ERRORS: "refused",
    Sent.NOT_RUN: "refused",
    Sent.UNSENT: "unsent",
    Sent.UNRECORDED: "unrecorded",
    Sent.NOT_RECORDED: "unrecorded",
}
"""Each outcome as the requests metric counts it."""

AUDITED = {
    Sent.SUBMITTED: AuditOutcome.SUBMITTED,
    Sent.AWAITING_APPROVAL: AuditOutcome.AWAITING_APPROVAL,
    Sent.NO_APPROVERS: AuditOutcome.REFUSED,
    Sent.FIELD_ERRORS: AuditOutcome.REFUSED,
    Sent.NOT_RUN: AuditOutcome.REFUSED,
    Sent.UNSENT: AuditOutcome.UNSENT,
    Sent.UNRECORDED: AuditOutcome.FAILED,
}
"""Each outcome as the audit records it. A duplicate has no entry of its own (the delivery that sends the request
records it), nor has a request the ledger could not record."""
