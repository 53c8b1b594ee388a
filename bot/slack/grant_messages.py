"""The messages of a time-bound grant after it was made: told ahead of its end, how it ended, and the alarm when
its revoke did not run in time. Each goes into the grant's own thread (the alarm also to the requester directly).
"""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject, MarkdownTextObject

from bot.ledger.grant import Grant
from bot.models import JobRun, RunStatus
from bot.slack.text import context, escape, fallback, link, mention, section, when

REVOKE_NOW_ACTION_ID = "grant_revoke_now"
EXTEND_ACTION_ID = "grant_extend"

Message = tuple[str, list[Block]]

DONE = {
    "removed": "the administrator the grant created was removed.",
    "restored": "the access from before the grant is back.",
    "changed": "the access was changed by hand since the grant, so the revoke left it alone: check it in the Meraki "
    "dashboard.",
    "gone": "nothing was left to revoke (already as before the grant, or no longer an administrator).",
}
"""The Revoke Job's outcomes, as the grant's thread tells them."""


def _whose(grant: Grant) -> str:
    return f"{escape(grant.email, limit=254)} in {escape(grant.organization, limit=200)}"


def warning_message(grant: Grant) -> Message:
    """Ahead of the end: until when, Extend (the form again, filled in) and Revoke now (the requester ends it)."""
    ends = f"⏰ {mention(grant.requester_id)} the time-bound access of {_whose(grant)} ends {when(grant.expires_at)}."
    confirm = ConfirmObject(
        title="Revoke now?",
        text=MarkdownTextObject(text=f"The access of {_whose(grant)} goes back to what it was before the grant."),
        confirm="Revoke now",
        deny="Keep it",
    )
    button = ButtonElement(
        text="Revoke now", action_id=REVOKE_NOW_ACTION_ID, value=grant.scheduled_job_id, style="danger", confirm=confirm
    )
    extend = ButtonElement(text="Extend", action_id=EXTEND_ACTION_ID, value=grant.scheduled_job_id)
    blocks: list[Block] = [
        section(ends),
        context("Extend asks again for more time, through the same checks and approvals; the one revoke moves."),
        ActionsBlock(elements=[extend, button]),
    ]
    return fallback(f"The time-bound access of {grant.email} in {grant.organization} ends soon."), blocks


def ended_message(grant: Grant, run: JobRun) -> Message:
    """How the revoke ended: what the Revoke Job says was done, and who asked if it was revoked early."""
    outcome = str((run.result or {}).get("outcome") or "")
    done = DONE.get(outcome, f"the revoke ended with '{escape(outcome, limit=40)}'.")
    if run.status is not RunStatus.SUCCEEDED:
        head = (
            f"❗ {mention(grant.requester_id)} *the revoke of {_whose(grant)} {run.status.value}*: the access may "
            "still be in place. Read its log, then check it."
        )
    elif grant.revoked_by is not None:
        head = f"🔒 *Revoked early* by {mention(grant.revoked_by)}: {done}"
    elif outcome == "changed":
        head = f"⚠️ {mention(grant.requester_id)} *Expired*, {_whose(grant)}: {done}"
    else:
        head = f"⌛ *Expired*: {done}"
    summary = str((run.result or {}).get("summary") or "")
    lines = [head, escape(summary, limit=500)] if summary else [head]
    blocks: list[Block] = [section("\n".join(lines)), context(link(run.url, "The revoke's JobResult in Nautobot"))]
    return fallback(f"{grant.email} in {grant.organization}: {outcome or run.status.value}"), blocks


def late_message(grant: Grant) -> Message:
    """The revoke did not run at its time: said loudly, and the bot runs it itself."""
    text = (
        f"🚨 {mention(grant.requester_id)} the revoke of {_whose(grant)} was due {when(grant.expires_at)} but "
        "Nautobot has not run it (its scheduler or workers look down). The bot runs it now; the result follows here."
    )
    return fallback(f"The revoke of {grant.email} in {grant.organization} is late: the bot runs it now."), [
        section(text)
    ]


def revoking_message(grant: Grant, person: str) -> Message:
    text = f"🔒 {mention(person)} asked to revoke the access of {_whose(grant)} now. The result follows here."
    return fallback(f"Revoking the access of {grant.email} in {grant.organization} now."), [section(text)]


def failed_to_start_message(grant: Grant, reason: str, *, again: bool) -> Message:
    then = "It tries again in a few minutes; meanwhile the access stays." if again else "Meanwhile the access stays."
    text = (
        f"❗ {mention(grant.requester_id)} the bot could not run the revoke of {_whose(grant)}: "
        f"{escape(reason, limit=500)}. {then}"
    )
    return fallback(f"Could not run the revoke of {grant.email} in {grant.organization}."), [section(text)]
