"""Where a request stands, in one line of a person's Home: the ledger's state, the run's status it recorded, how
an approval ended, and (for an ended run) how Nautobot says it ended."""

from __future__ import annotations

from bot.ledger import Record, RequestState
from bot.models import RunStatus
from bot.slack.approval_messages import ending_line
from bot.slack.messages import STATUS_ICONS, STATUS_TEXT
from bot.slack.text import escape

ERROR_MAX = 300

_PLAIN: dict[RequestState, str] = {
    RequestState.RECEIVED: "📨 Being sent to Nautobot.",
    RequestState.SUBMITTING: "📨 Being sent to Nautobot.",
    RequestState.APPROVED: "✅ Approved: being sent to Nautobot.",
    RequestState.ASKING_APPROVAL: "🕒 Waiting for approval: the approvers are being asked.",
}


def status_line(record: Record, final: RunStatus | None) -> str:
    """``final``: how Nautobot says the run ended, when it ended and Nautobot told."""
    if record.state in _PLAIN:
        return _PLAIN[record.state]
    if record.state is RequestState.UNSENT:
        return "⚠️ Not sent: Nautobot could not be reached. *Retry* sends it again."
    if record.state is RequestState.REFUSED:
        return f"⛔ Nautobot refused it, nothing ran: {escape(record.error or 'no reason given', limit=ERROR_MAX)}"
    return _approval_line(record) or _run_line(record, final)


def _approval_line(record: Record) -> str | None:
    """How its wait for approval stands, while it does or when it ended with nothing run; None: it ran."""
    approval = record.approval
    if approval is None:
        return None
    if record.state is RequestState.AWAITING_APPROVAL:
        return f"🕒 Waiting for approval: {len(approval.approvals)} of {approval.count}."
    unrun = record.state is RequestState.NOT_APPROVED or (record.state is RequestState.DONE and not record.result_id)
    return (ending_line(approval) or "Not approved. Nothing was run.") if unrun else None


def _run_line(record: Record, final: RunStatus | None) -> str:
    status = final or record.run_status
    if record.state in (RequestState.LOGGED, RequestState.DONE) and (status is None or not status.is_final):
        return "🏁 Finished: the result is in the thread."
    status = status or RunStatus.SUBMITTED
    if status is RunStatus.SUCCEEDED and record.dryrun:
        return f"{STATUS_ICONS[status]} Dry run succeeded: nothing was changed."
    return f"{STATUS_ICONS[status]} {STATUS_TEXT[status]}"
