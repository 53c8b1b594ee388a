"""The messages of a request that waits for approval: the requester's, each approver's, and the Deny reason's
modal. Each shows how the wait ended once it has, with who decided and why, and loses its buttons then."""

from __future__ import annotations

import json
from collections.abc import Iterable

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
)
from slack_sdk.models.views import View

from bot.ledger import Approval, Ending, NoticeKind
from bot.models import JobForm, RunRequest
from bot.policy import describe_duration
from bot.slack.messages import input_rows, input_sections
from bot.slack.text import channel_link, context, escape, fallback, link, mention, section, when

APPROVE_ACTION_ID = "approval_approve"
DENY_ACTION_ID = "approval_deny"
WITHDRAW_ACTION_ID = "approval_withdraw"
DENY_CALLBACK_ID = "approval_deny_reason"
REASON_BLOCK_ID = "reason"
REASON_ACTION_ID = "reason_text"
REASON_MAX = 500

Message = tuple[str, list[Block]]


def who(users: Iterable[str], groups: Iterable[str], nautobot_groups: Iterable[str] = ()) -> str:
    names = [mention(user) for user in users] + [f"<!subteam^{group}>" for group in groups if group.isalnum()]
    names += [f"the linked members of Nautobot group *{escape(group, limit=150)}*" for group in nautobot_groups]
    return ", ".join(names) or "nobody"


def _needs(approval: Approval) -> str:
    count = f"{approval.count} approval" + ("s" if approval.count > 1 else "")
    deciders = who(
        *approval.deciders(escalated=approval.escalated), approval.nautobot_deciders(escalated=approval.escalated)
    )
    linked = " (each with a Slack account linked to an active Nautobot user)" if approval.require_account_link else ""
    return f"Needs {count} from {deciders}{linked}, since {when(approval.since)}."


def ending_line(approval: Approval) -> str | None:
    """How the wait ended, with who decided and why; None while it goes on."""
    approvers = ", ".join(mention(vote.person) for vote in approval.approvals)
    if approval.ending is Ending.APPROVED:
        return f"✅ Approved by {approvers}: sent to Nautobot."
    if approval.ending is Ending.DENIED and approval.denial is not None:
        reason = escape(approval.denial.reason, limit=REASON_MAX)
        return f"❌ Denied by {mention(approval.denial.person)}: {reason}. Nothing was run."
    if approval.ending is Ending.WITHDRAWN:
        return "↩️ Withdrawn by the requester. Nothing was run."
    if approval.ending is Ending.EXPIRED:
        waited = describe_duration(approval.expire_at - approval.since)
        return f"⌛ Expired: nobody decided within {waited}. Nothing was run."
    return None


def _progress(approval: Approval) -> str | None:
    if approval.ending is not None or not approval.approvals:
        return None
    return f"Approved so far by {', '.join(mention(vote.person) for vote in approval.approvals)}."


def waiting_message(request: RunRequest, form: JobForm | None, approval: Approval) -> Message:
    """The requester's message in their channel: who must approve and since when; Withdraw while it waits."""
    job = escape(request.job_name, limit=200)
    dry = " (dry run)" if request.dryrun else ""
    ending = ending_line(approval)
    head = ending or f"⏳ *{job}*{dry}: waiting for approval"
    blocks: list[Block] = [
        section(f"{head}\nRequested by {mention(request.requester_id)}" + (f" · *{job}*{dry}" if ending else "")),
        *input_sections(input_rows(request.inputs, form)),
        context(" ".join(text for text in (_needs(approval), _progress(approval)) if text)),
    ]
    if approval.ending is None:
        blocks.append(_withdraw(request.request_id))
    return fallback(f"{request.job_name}{dry}: {_plain(ending) or 'waiting for approval'}"), blocks


LEADS = {NoticeKind.ASK: "", NoticeKind.REMINDER: "🔔 Reminder: ", NoticeKind.ESCALATION: "⏫ Escalated to you: "}


def approver_message(
    request: RunRequest, form: JobForm | None, approval: Approval, kind: NoticeKind = NoticeKind.ASK
) -> Message:
    """What an approver gets: who asked, where, the inputs as the summary shows them, Approve and Deny."""
    job = escape(request.job_name, limit=200)
    dry = " (dry run)" if request.dryrun else ""
    ending = ending_line(approval)
    lead = LEADS[kind] if ending is None else ""
    asks = f"{lead}{mention(request.requester_id)} asks to run *{job}*{dry} in {channel_link(request.channel_id)}."
    thread = f"{link(approval.link, 'Open the request in its channel')} · " if approval.link else ""
    blocks: list[Block] = [
        section(asks if ending is None else f"{ending}\n{asks}"),
        *input_sections(input_rows(request.inputs, form)),
        context(thread + " ".join(text for text in (_needs(approval), _progress(approval)) if text)),
    ]
    if approval.ending is None:
        blocks.append(_decide(request.request_id))
    plain = _plain(ending) or f"{LEADS[kind][2:]}approval asked for {request.job_name}{dry}"
    return fallback(plain), blocks


def _plain(text: str | None) -> str | None:
    """A message's line without its mentions' markup, for the notification text."""
    return text.replace("*", "") if text else None


def _decide(request_id: str) -> ActionsBlock:
    approve = ButtonElement(text="Approve", action_id=APPROVE_ACTION_ID, value=request_id[:2000], style="primary")
    deny = ButtonElement(text="Deny", action_id=DENY_ACTION_ID, value=request_id[:2000], style="danger")
    return ActionsBlock(block_id="approval", elements=[approve, deny])


def _withdraw(request_id: str) -> ActionsBlock:
    confirm = ConfirmObject(
        title="Withdraw this request?",
        text=MarkdownTextObject(text="The approvers are told; nothing is run.", verbatim=True),
        confirm="Withdraw",
        deny="Keep it",
    )
    button = ButtonElement(text="Withdraw", action_id=WITHDRAW_ACTION_ID, value=request_id[:2000], confirm=confirm)
    return ActionsBlock(block_id="withdraw", elements=[button])


def deny_modal(request_id: str, channel: str, ts: str, job_name: str) -> View:
    """Deny asks why: the reason goes to the requester and into the audit."""
    reason = InputBlock(
        block_id=REASON_BLOCK_ID,
        label="Why do you deny it?",
        element=PlainTextInputElement(action_id=REASON_ACTION_ID, multiline=True, max_length=REASON_MAX),
    )
    return View(
        type="modal",
        callback_id=DENY_CALLBACK_ID,
        title="Deny the request",
        submit="Deny",
        close="Back",
        private_metadata=json.dumps({"r": request_id, "c": channel, "t": ts}),
        blocks=[section(f"You deny the request to run *{escape(job_name, limit=200)}*."), reason],
    )


def denied_from_modal(view: dict[str, object]) -> tuple[str, str, str, str]:
    """``(request_id, channel, ts, reason)`` from a submitted Deny modal; ValueError for anything else."""
    try:
        meta = json.loads(str(view.get("private_metadata") or ""))
        state = view["state"]["values"]  # type: ignore[index]
        reason = str(state[REASON_BLOCK_ID][REASON_ACTION_ID]["value"] or "").strip()
        return str(meta["r"]), str(meta["c"]), str(meta["t"]), reason
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a Deny modal: {exc}") from None


def requester_reply(requester_id: str, approval: Approval) -> Message | None:
    """The ending as a reply in the requester's thread, naming them so that they hear of it; None while it waits."""
    ending = ending_line(approval)
    if ending is None or approval.ending is None:
        return None
    return fallback(f"Your request was {approval.ending.value}."), [section(f"{mention(requester_id)} {ending}")]


def decided(what: str) -> Message:
    """What the person who clicked is told (ephemeral)."""
    return fallback(what), [section(escape(what, limit=1500))]
