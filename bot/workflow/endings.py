"""How a step ends, in words a workflow author understands: the outputs of a Job that succeeded, or an error that
says what happened, what was (not) done, and where to look.

An ending is ``{"outputs": {...}}`` or ``{"error": "..."}``: what ``functions.completeSuccess`` /
``functions.completeError`` are sent, kept in the ledger until Slack has it.
"""

from __future__ import annotations

from typing import Any

from bot.ledger import Ending, Record, RequestState
from bot.models import JobRun, RunStatus
from bot.workflow.specs import StepSpec

ERROR_MAX = 1500
"""Characters of an error a step sends (Workflow Builder shows it in the workflow's activity)."""
WHERE = "The person who used the workflow got a message from the bot with the details."


def success(outputs: dict[str, Any]) -> dict[str, Any]:
    return {"outputs": outputs}


def failure(error: str) -> dict[str, Any]:
    text = " ".join(error.split())
    return {"error": text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"}


def refused(reason: str, remedy: str = "") -> dict[str, Any]:
    """The access policy (or the step's own checks) refused the request: nothing ran."""
    return failure(f"Refused: {reason} Nothing ran. {remedy}".strip())


def unconfirmed(requester_id: str) -> dict[str, Any]:
    """The person named as the step's requester did not confirm it before the step's time ran out."""
    return failure(
        f"Not confirmed: the requester ({requester_id}) did not confirm this step in Slack in time. Nothing ran. "
        "Run the workflow again, and confirm in the bot's direct message."
    )


def declined(requester_id: str) -> dict[str, Any]:
    """The person named as the step's requester declined it (the workflow asked in their name)."""
    return failure(
        f"Declined: the requester ({requester_id}) declined to run this step as them. Nothing ran. "
        "Ask the person the step names in Requested by, or set it to Person who used this workflow."
    )


def of_request(spec: StepSpec, record: Record, run: JobRun | None) -> dict[str, Any] | None:
    """How a step ends once its request is final (``run``: its JobResult, when Nautobot ran it); None while the
    request goes on."""
    if record.state is RequestState.REFUSED:
        return failure(f"Nautobot did not run the Job: {record.error or 'refused'}. Nothing ran. {WHERE}")
    if record.state is not RequestState.DONE:
        return None
    if record.approval is not None and record.approval.ending not in (None, Ending.APPROVED):
        return failure(_not_approved(record))
    if run is None:
        return failure(f"The request ended without a Job result the bot could read. {WHERE}")
    if run.status is RunStatus.SUCCEEDED:
        return success(outputs(spec, record, run))
    what = {
        RunStatus.FAILED: "The Job failed",
        RunStatus.CANCELLED: "The Job was cancelled",
        RunStatus.DENIED: "Nautobot's approvers denied the Job; nothing ran",
    }.get(run.status, f"The Job ended as {run.status.value}")
    return failure(f"{what}: see its log at {run.url} . {WHERE}")


def outputs(spec: StepSpec, record: Record, run: JobRun) -> dict[str, Any]:
    """The step's outputs of a Job that succeeded; outputs without a value are left out (all are optional but the
    outcome and the request id)."""
    result = run.result or {}
    found = {
        "outcome": str(result.get("outcome") or "succeeded"),
        "request_id": record.request_id,
        "result_url": run.url,
        **spec.outputs(result),
    }
    return {name: value for name, value in found.items() if value is not None}


def _not_approved(record: Record) -> str:
    approval = record.approval
    ending = approval.ending if approval is not None else None
    denial = approval.denial if approval is not None else None
    if ending is Ending.DENIED and denial is not None:
        reason = f" ({denial.reason})" if denial.reason else ""
        return f"Not approved: {denial.label} denied the request{reason}. Nothing ran."
    if ending is Ending.WITHDRAWN:
        return "Not approved: the requester withdrew the request. Nothing ran."
    if ending is Ending.EXPIRED:
        return "Not approved: nobody decided in time. Nothing ran."
    return "Not approved. Nothing ran."


def timed_out(waited: str) -> dict[str, Any]:
    """The request is still under way (most often: waiting for its approvers) when the step may wait no longer."""
    return failure(
        f"The request is still under way after {waited} (waiting for approval, or a long Job), longer than a "
        "workflow step may wait. It goes on: the person who used the workflow is told in Slack when it ends. "
        "Run the rest of the workflow by hand, or run the workflow again once it has ended."
    )


LOST = failure("The bot stopped before it could send this request to Nautobot; nothing ran. Run the workflow again.")
