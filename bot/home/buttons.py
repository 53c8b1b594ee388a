"""The buttons of a person's Home: the messages' own (the same action ids and values), so a click on the Home is
handled, and checked, by the very listeners a click in a message is (:mod:`bot.listeners`). Each is offered only
where it would do something for this person; the click is checked again anyway.
"""

from __future__ import annotations

from slack_sdk.models.blocks import ButtonElement, ConfirmObject, MarkdownTextObject

from bot.ledger import Record, RequestState
from bot.ledger.grant import Grant
from bot.models import RunStatus
from bot.slack import approval_messages, grant_messages, messages, modal
from bot.slack.text import escape, truncate

VALUE_MAX = 2000
"""Slack's limit on a button's value (the messages cut request ids there too)."""


def for_request(record: Record, final: RunStatus | None, *, can_cancel: bool) -> list[ButtonElement]:
    """The requester's buttons: Retry (not sent), Cancel (running, when Nautobot can cancel), "… for real" (a dry
    run that succeeded), Withdraw (waiting for approval)."""
    key = record.request_id[:VALUE_MAX]
    if record.state is RequestState.UNSENT:
        return [ButtonElement(text="Retry", action_id=modal.RETRY_ACTION_ID, value=key, style="primary")]
    if record.state in (RequestState.ASKING_APPROVAL, RequestState.AWAITING_APPROVAL) and record.approval:
        return [_withdraw(key)]
    if can_cancel and _running(record):
        return [_cancel(key)]
    if record.dryrun and final is RunStatus.SUCCEEDED and record.state in (RequestState.LOGGED, RequestState.DONE):
        return [_for_real(record)]
    return []


def _running(record: Record) -> bool:
    """Its run goes on in Nautobot, as far as the bot showed."""
    if not record.result_id or record.state is not RequestState.ANNOUNCED:
        return False
    return record.run_status is not None and not record.run_status.is_final


def for_approver(record: Record) -> list[ButtonElement]:
    key = record.request_id[:VALUE_MAX]
    return [
        ButtonElement(text="Approve", action_id=approval_messages.APPROVE_ACTION_ID, value=key, style="primary"),
        ButtonElement(text="Deny", action_id=approval_messages.DENY_ACTION_ID, value=key, style="danger"),
    ]


def for_grant(grant: Grant) -> list[ButtonElement]:
    whose = f"{escape(grant.email, limit=254)} in {escape(grant.organization, limit=200)}"
    revoke = _confirmed(
        "Revoke now",
        grant_messages.REVOKE_NOW_ACTION_ID,
        grant.scheduled_job_id,
        f"The access of {whose} goes back to what it was before the grant.",
        keep="Keep it",
    )
    extend = ButtonElement(text="Extend", action_id=grant_messages.EXTEND_ACTION_ID, value=grant.scheduled_job_id)
    return [extend, revoke]


def _withdraw(key: str) -> ButtonElement:
    text = "The approvers are told; nothing is run."
    return _confirmed("Withdraw", approval_messages.WITHDRAW_ACTION_ID, key, text, keep="Keep it", style=None)


def _cancel(key: str) -> ButtonElement:
    text = "Nautobot is asked to stop the run; what it did so far stays done."
    return _confirmed("Cancel", messages.CANCEL_ACTION_ID, key, text, keep="Let it run")


def _for_real(record: Record) -> ButtonElement:
    label = messages.for_real_label(record.job_name)
    text = (
        f"{escape(record.job_name, limit=200)} runs again with the same inputs, *not* as a dry run: what the dry run "
        "listed is done for real."
    )
    return _confirmed(label, messages.FOR_REAL_ACTION_ID, record.request_id[:VALUE_MAX], text, keep="Not now")


def _confirmed(
    label: str, action_id: str, value: str, text: str, *, keep: str, style: str | None = "danger"
) -> ButtonElement:
    confirm = ConfirmObject(
        title=truncate(f"{label}?", 100),
        text=MarkdownTextObject(text=text, verbatim=True),
        confirm=truncate(label, 30),
        deny=keep,
    )
    return ButtonElement(text=label, action_id=action_id, value=value, style=style, confirm=confirm)
