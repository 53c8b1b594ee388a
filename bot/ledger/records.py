"""What the ledger holds: a request's states and the moves between them, its record, and audit entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict

from bot.ledger.approval import Approval
from bot.ledger.nautobot_approval import NautobotApproval
from bot.models import InputValue, RunRequest, RunStatus


class LedgerError(Exception):
    """The ledger cannot do what was asked."""


class UnknownRequest(LedgerError):
    """No request is recorded under that id."""


class IllegalTransition(LedgerError):
    """The request is not in a state this step may follow: it was never there, or another worker moved it."""

    def __init__(self, request_id: str, state: RequestState, action: str):
        super().__init__(f"request {request_id} is {state.value}; cannot {action}")
        self.request_id = request_id
        self.state = state
        self.action = action


class SchemaTooNew(LedgerError):
    """The database was upgraded by a newer bot; writing to it could corrupt that bot's records."""


class LostLease(IllegalTransition):
    """Another replica took the request over (this one's lease ran out): this one must stop working on it."""

    def __init__(self, request_id: str, state: RequestState, owner: str | None):
        LedgerError.__init__(self, f"request {request_id} ({state.value}) is now worked on by {owner}")
        self.request_id = request_id
        self.state = state
        self.action = "go on"
        self.owner = owner


class LedgerUnavailable(LedgerError):
    """The database could not be reached or refused the statement."""


class RequestState(StrEnum):
    """Where a request stands in the bot's own bookkeeping (not the Job's status in Nautobot)."""

    RECEIVED = "received"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    ANNOUNCED = "announced"
    LOGGED = "logged"
    DONE = "done"
    REFUSED = "refused"
    UNSENT = "unsent"
    ASKING_APPROVAL = "asking_approval"
    """Needs approval: its messages (the requester's, the approvers') are being posted."""
    AWAITING_APPROVAL = "awaiting_approval"
    """Waits for its approvers: nobody works on it; the sweep fires its reminders, escalation and expiry."""
    APPROVED = "approved"
    """Approved by enough people: to be sent to Nautobot like any request."""
    NOT_APPROVED = "not_approved"
    """Denied, withdrawn or expired: its messages are being closed; nothing runs."""

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES: frozenset[RequestState] = frozenset({RequestState.DONE, RequestState.REFUSED})

TRANSITIONS: Mapping[RequestState, frozenset[RequestState]] = {
    RequestState.SUBMITTING: frozenset({RequestState.RECEIVED, RequestState.UNSENT, RequestState.APPROVED}),
    RequestState.SUBMITTED: frozenset({RequestState.SUBMITTING}),
    RequestState.ANNOUNCED: frozenset({RequestState.SUBMITTED}),
    RequestState.LOGGED: frozenset({RequestState.ANNOUNCED}),
    RequestState.DONE: frozenset({RequestState.LOGGED, RequestState.NOT_APPROVED}),
    RequestState.REFUSED: frozenset({RequestState.RECEIVED, RequestState.SUBMITTING}),
    RequestState.UNSENT: frozenset({RequestState.RECEIVED, RequestState.SUBMITTING}),
    RequestState.ASKING_APPROVAL: frozenset({RequestState.RECEIVED}),
    RequestState.AWAITING_APPROVAL: frozenset({RequestState.ASKING_APPROVAL}),
}
"""Target state → the states it may be reached from."""

STATUS_STATES: frozenset[RequestState] = frozenset({RequestState.SUBMITTED, RequestState.ANNOUNCED})
"""States in which a new run status may be recorded."""

WORKING_STATES: frozenset[RequestState] = frozenset(
    {
        RequestState.RECEIVED,
        RequestState.SUBMITTING,
        RequestState.SUBMITTED,
        RequestState.ANNOUNCED,
        RequestState.LOGGED,
        RequestState.ASKING_APPROVAL,
        RequestState.APPROVED,
        RequestState.NOT_APPROVED,
    }
)
"""States in which a replica works on a request, under a lease; the others wait for a person, or are final."""


class Record(RunRequest):
    """One request as the ledger holds it: what was asked (the fields of :class:`RunRequest`, declared there once)
    and where it stands; a detached snapshot, safe to pass anywhere. Built from a row of the ``requests`` table,
    whose columns carry the fields' names."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    state: RequestState
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    result_id: str | None = None
    scheduled_job_id: str | None = None
    message_channel: str | None = None
    message_ts: str | None = None
    run_status: RunStatus | None = None
    log_posted: bool = False
    error: str | None = None
    finished_at: datetime | None = None
    owner: str | None = None
    """The replica working on it; None while nobody is (it waits for a person, or it is finished)."""
    lease_until: datetime | None = None
    """Until when the owner holds it; past this, another replica may take it over."""
    resumes: int = 0
    """How many times a replica picked it up after its owner stopped working on it."""
    approval: Approval | None = None
    """Who must approve it and what they decided; None for a request that needed no approval."""
    approval_due: datetime | None = None
    """When its next approval timer (remind, escalate, expire) fires, while it waits for approval."""
    nautobot_approval: NautobotApproval | None = None
    """Where the bot told Nautobot's approvers of a run Nautobot holds for approval; None: nobody was told."""

    @property
    def final(self) -> bool:
        """Nothing more will happen for this request: a restarted bot leaves it alone."""
        return self.state.final

    def to_request(self) -> RunRequest:
        """The request as it was asked, for resuming it after a restart: a plain :class:`RunRequest`, without the
        record's state (pydantic's own validation would hand the record back as it is, since it is one)."""
        return RunRequest.model_validate(self.model_dump(include=ASKED))


ASKED: set[str] = set(RunRequest.model_fields)
"""The fields of a :class:`RunRequest`: what was asked, by whom, where; the ledger keeps each in a column."""


class AuditAction(StrEnum):
    """What a person did."""

    COMMAND = "command"
    SUBMIT = "submit"
    RETRY = "retry"
    CANCEL = "cancel"
    FOR_REAL = "for_real"
    """The "… for real" button of a dry run that succeeded: the same inputs, dry run off."""
    APPROVE = "approve"
    DENY = "deny"
    WITHDRAW = "withdraw"
    REMIND = "remind"
    """The bot reminded the approvers who had not decided yet."""
    ESCALATE = "escalate"
    """The bot asked the people the request escalates to."""
    EXPIRE = "expire"
    """Nobody decided in time: the bot ended the wait."""
    REVOKE = "revoke"
    """The "Revoke now" button of a time-bound grant: its revoke runs before the expiry."""


class AuditOutcome(StrEnum):
    """What became of it."""

    ALLOWED = "allowed"
    """The policy let it through (the command opened the form, Cancel was sent)."""
    DENIED = "denied"
    """The access policy (or nautobot-chatops' grants) refused it."""
    INVALID = "invalid"
    """The form was sent back with field errors; nothing was sent to Nautobot."""
    SUBMITTED = "submitted"
    """Nautobot accepted the run."""
    REFUSED = "refused"
    """Nautobot refused the run (input, permissions, disabled Job); nothing ran."""
    UNSENT = "unsent"
    """A second delivery of a request already under way."""
    FAILED = "failed"
    """The bot could not carry it out (e.g. Nautobot did not cancel the run)."""
    AWAITING_APPROVAL = "awaiting_approval"
    """Recorded, and waiting for its approvers; nothing was sent to Nautobot yet."""
    LIMITED = "limited"
    """Refused for coming too often (the rate limit); nothing ran. One entry per window, not per attempt."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One request, allowed or not: who, when, what, where, and the outcome."""

    action: AuditAction
    outcome: AuditOutcome
    user_id: str
    user_name: str = ""
    channel_id: str = ""
    team_id: str = ""
    request_id: str | None = None
    job_name: str | None = None
    inputs: dict[str, InputValue] | None = None
    reason: str = ""
    source: str = ""
    """Which policy decided: ``ACCESS_POLICY``, ``ACCESS_POLICY_FILE`` or ``NAUTOBOT_CHATOPS``."""
    nautobot_user: str | None = None
    """The Nautobot user the Slack user linked their account to (nautobot-chatops), if known."""
    at: datetime | None = None
    """When it happened; set by the ledger when recorded."""

    def __post_init__(self) -> None:
        # What a person typed is kept, but not all of it: 4,000 characters of junk would make every refusal a
        # 4 KB row. The request itself (and Nautobot's JobResult) keeps the inputs that ran, whole.
        if self.inputs is not None:
            object.__setattr__(self, "inputs", {name: _capped(value) for name, value in self.inputs.items()})
        object.__setattr__(self, "reason", cap_text(self.reason, REASON_MAX))


AUDIT_TEXT_MAX = 500
"""Characters of each text an audit entry keeps of its inputs (e.g. the command's text); the rest is cut."""
REASON_MAX = 2000
"""Characters an audit entry keeps of its reason (which may quote Nautobot's error)."""


def cap_text(text: str, limit: int = AUDIT_TEXT_MAX) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and a marker saying how long it was; the
    result fits in ``limit`` (so capping twice changes nothing)."""
    if len(text) <= limit:
        return text
    marker = f"… [cut: {len(text)} characters]"
    return text[: max(0, limit - len(marker))] + marker


def _capped(value: Any) -> Any:
    """Every text in ``value`` capped (inputs nest only as deep as a form's values: a list, an object)."""
    if isinstance(value, str):
        return cap_text(value)
    if isinstance(value, list):
        return [_capped(item) for item in value]
    if isinstance(value, dict):
        return {name: _capped(item) for name, item in value.items()}
    return value
