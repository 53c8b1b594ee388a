"""The messages about a request, as ``(fallback_text, blocks)``: its parent message, Cancel, and errors.

Every piece of untrusted text goes through :func:`bot.slack.text.escape` on its way into a block; the
fallback text is plain and escaped where it is sent (:func:`bot.slack.text.outgoing`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    SectionBlock,
)

from bot.models import FILLED_BY_BOT, JobForm, JobRun, RunRequest, RunStatus
from bot.slack.log_messages import format_counts
from bot.slack.text import URL, channel_link, context, escape, fallback, link, mention, section, truncate, when

FIELD_MAX = 2000
FIELDS_PER_SECTION = 10
MAX_INPUT_FIELDS = 40


STATUS_ICONS: dict[RunStatus, str] = {
    RunStatus.SUBMITTED: "📨",
    RunStatus.QUEUED: "⏳",
    RunStatus.RUNNING: "🏃",
    RunStatus.AWAITING_APPROVAL: "🕒",
    RunStatus.SUCCEEDED: "✅",
    RunStatus.FAILED: "❌",
    RunStatus.CANCELLED: "🚫",
    RunStatus.DENIED: "⛔",
    RunStatus.TIMED_OUT: "⌛",
}
STATUS_TEXT: dict[RunStatus, str] = {
    RunStatus.SUBMITTED: "Sending the request to Nautobot…",
    RunStatus.QUEUED: "Queued in Nautobot, waiting for a worker.",
    RunStatus.RUNNING: "Running in Nautobot.",
    RunStatus.AWAITING_APPROVAL: "Waiting for approval in Nautobot; it runs once someone approves it there.",
    RunStatus.SUCCEEDED: "Succeeded.",
    RunStatus.FAILED: "Failed. The reason and the log are in the thread.",
    RunStatus.CANCELLED: "Cancelled in Nautobot.",
    RunStatus.DENIED: "Not approved in Nautobot, so it did not run. See the link for the approvers' comments.",
    RunStatus.TIMED_OUT: "Still running in Nautobot; the bot stopped following it. See the link for the result.",
}


# -- the parent message --------------------------------------------------------------------------


def format_duration(span: timedelta) -> str:
    seconds = max(int(span.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _display_value(value: Any, choice_label: str | None) -> str:
    if choice_label is not None:
        return choice_label
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def input_rows(inputs: Mapping[str, Any], form: JobForm | None) -> list[tuple[str, str]]:
    """(label, value) for each input in the Job's order; the dry-run flag is shown in the header."""
    order = [var.name for var in form.variables] if form else []
    names = [name for name in order if name in inputs]
    names += [name for name in inputs if name not in names]
    rows = []
    for name in names:
        var = form.variable(name) if form else None
        if (var and var.type == "DryRunVar") or (var is None and name == "dryrun") or name in FILLED_BY_BOT:
            continue  # the dry-run flag is in the header, the requester in the "Requested by" line
        value = inputs[name]
        label = var.display_label if var else name.replace("_", " ").capitalize()
        choice = var.choice_label(value) if var and isinstance(value, str) else None
        rows.append((label, _display_value(value, choice)))
    return rows


def input_sections(rows: list[tuple[str, str]]) -> list[Block]:
    shown = rows[:MAX_INPUT_FIELDS]
    fields = []
    for label, value in shown:
        title = escape(label, limit=200)
        value_text = escape(value, limit=FIELD_MAX - len(title) - 4)
        fields.append(MarkdownTextObject(text=f"*{title}*\n{value_text}", verbatim=True))
    blocks: list[Block] = [
        SectionBlock(fields=fields[start : start + FIELDS_PER_SECTION])
        for start in range(0, len(fields), FIELDS_PER_SECTION)
    ]
    if len(rows) > len(shown):
        blocks.append(context(f"…and {len(rows) - len(shown)} more inputs, listed in Nautobot."))
    return blocks


def _status_line(status: RunStatus, dryrun: bool) -> str:
    if status is RunStatus.SUCCEEDED and dryrun:
        return "Dry run succeeded: nothing was changed."
    return STATUS_TEXT[status]


def _timing(status: RunStatus, run: JobRun | None, elapsed: timedelta | None) -> str | None:
    if status.is_final:
        took = (run.duration if run and status is not RunStatus.TIMED_OUT else None) or elapsed
        return f"Took {format_duration(took)}" if took is not None else None
    return f"Waiting for {format_duration(elapsed)}" if elapsed is not None else None


def _details(status: RunStatus, run: JobRun | None, nautobot_url: str | None, elapsed: timedelta | None) -> list[str]:
    """The parent message's small print: the link to Nautobot, how long, and the log's counts once it ended."""
    details: list[str] = []
    target = run.url if run else nautobot_url
    if target:
        details.append(link(target, "Open the JobResult in Nautobot" if run else "Open in Nautobot"))
    timing = _timing(status, run, elapsed)
    if timing:
        details.append(timing)
    if status.is_final and run is not None and run.log_counts is not None:
        details.append(f"Log: {format_counts(run.log_counts)}")
    until = _revoked_at(run) if status is RunStatus.SUCCEEDED else None
    if until is not None:
        details.append(f"⏳ Until {when(until)}, then revoked")
    return details


def _revoked_at(run: JobRun | None) -> datetime | None:
    """When a time-bound grant the run made is revoked: its result's ``revoke.start_time`` (bot.runs.grants)."""
    revoke = (run.result or {}).get("revoke") if run is not None else None
    start = revoke.get("start_time") if isinstance(revoke, dict) else None
    try:
        moment = datetime.fromisoformat(start) if isinstance(start, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _actions(
    request: RunRequest, run: JobRun | None, status: RunStatus, form: JobForm | None, *, cancellable: bool
) -> list[Block]:
    """Cancel while the run goes on; "… for real" under a dry run that succeeded and whose Job has a dry run."""
    if cancellable and run is not None and not status.is_final:
        return [cancel_actions(request.request_id)]
    if status is RunStatus.SUCCEEDED and request.dryrun and form is not None and form.dry_run_variable:
        return [for_real_actions(request)]
    return []


def parent_message(
    request: RunRequest,
    run: JobRun | None = None,
    status: RunStatus | None = None,
    *,
    form: JobForm | None = None,
    nautobot_url: str | None = None,
    elapsed: timedelta | None = None,
    cancellable: bool = False,
) -> tuple[str, list[Block]]:
    """The channel message for one request, updated in place as its status changes.

    ``nautobot_url`` is the link when there is no JobResult yet (e.g. the approval page).
    ``cancellable`` adds a Cancel button (only the requester may use it) while the run is going.
    """
    status = status or (run.status if run else RunStatus.SUBMITTED)
    icon = STATUS_ICONS[status]
    job = escape(request.job_name, limit=200)
    dry = " (dry run)" if request.dryrun else ""
    state = _status_line(status, request.dryrun)
    blocks: list[Block] = [
        section(f"{icon} *{job}*{dry}: {state}\nRequested by {mention(request.requester_id)}"),
        *input_sections(input_rows(request.inputs, form)),
    ]
    details = _details(status, run, nautobot_url, elapsed)
    if details:
        blocks.append(context(" · ".join(details)))
    blocks += _actions(request, run, status, form, cancellable=cancellable)
    return fallback(f"{icon} {request.job_name}{dry}: {state}"), blocks


FOR_REAL_ACTION_ID = "run_for_real"


def for_real_label(job_name: str) -> str:
    """ "Remove for real" for Remove Meraki User: Jobs are named by what they do; else "Run for real"."""
    verb = job_name.split(" ", 1)[0]
    return f"{verb} for real" if verb.isalpha() and len(verb) <= 12 else "Run for real"


def for_real_actions(request: RunRequest) -> ActionsBlock:
    """A dry run that succeeded: the same inputs again with dry run off, for the requester (asked to confirm)."""
    label = for_real_label(request.job_name)
    confirm = ConfirmObject(
        title=truncate(f"{label}?", 100),
        text=MarkdownTextObject(
            text=f"{escape(request.job_name, limit=200)} runs again with the same inputs, *not* as a dry run: what "
            "the dry run listed is done for real.",
            verbatim=True,
        ),
        confirm=truncate(label, 30),
        deny="Not now",
    )
    button = ButtonElement(
        text=label, action_id=FOR_REAL_ACTION_ID, value=request.request_id[:2000], style="danger", confirm=confirm
    )
    return ActionsBlock(block_id="for_real", elements=[button])


def only_requester_may_run_for_real(requester_id: str) -> tuple[str, list[Block]]:
    text = f"Only {mention(requester_id)}, who asked for this dry run, can run it for real."
    return fallback("Only the person who asked for this dry run can run it for real."), [section(text)]


CANCEL_ACTION_ID = "cancel_run"


def cancel_actions(request_id: str) -> ActionsBlock:
    confirm = ConfirmObject(
        title="Cancel this run?",
        text=MarkdownTextObject(
            text="Nautobot stops the Job where it is; whatever it already did in Meraki stays done.", verbatim=True
        ),
        confirm="Cancel the run",
        deny="Keep it running",
    )
    button = ButtonElement(
        text="Cancel", action_id=CANCEL_ACTION_ID, value=request_id[:2000], style="danger", confirm=confirm
    )
    return ActionsBlock(block_id="cancel", elements=[button])


def only_requester_may_cancel(requester_id: str) -> tuple[str, list[Block]]:
    text = f"Only {mention(requester_id)}, who asked for this run, can cancel it."
    return fallback("Only the person who asked for this run can cancel it."), [section(text)]


def cancel_requested(url: str | None) -> tuple[str, list[Block]]:
    text = "🛑 Cancel sent to Nautobot. The thread gets the log once the Job has stopped."
    blocks: list[Block] = [section(text)]
    if url and URL.match(url):
        blocks.append(context(link(url, "Open the JobResult in Nautobot")))
    return fallback(text), blocks


# -- the log thread ------------------------------------------------------------------------------


def error_message(
    what_happened: str,
    what_was_done: str,
    next_step: str,
    *,
    url: str | None = None,
    url_text: str = "Open in Nautobot",
) -> tuple[str, list[Block]]:
    """An error for the requester (ephemeral or DM): what happened, what was (not) done, what to do."""
    text = (
        f"⚠️ *What happened:* {escape(what_happened, limit=1200)}\n"
        f"*What was done:* {escape(what_was_done, limit=800)}\n"
        f"*What to do:* {escape(next_step, limit=800)}"
    )
    blocks: list[Block] = [section(text)]
    if url and URL.match(url):
        blocks.append(context(link(url, url_text)))
    return fallback(f"⚠️ {truncate(what_happened, 1200)} {truncate(next_step, 800)}"), blocks


_WHY_NOT = {
    "is_archived": "because it was archived",
    "channel_not_found": "because it no longer exists, or I can no longer see it",
    "restricted_action": "because posting there is restricted",
    "message_not_found": "because the request's message there was deleted",
    "cant_update_message": "because the request's message there can no longer be updated",
    "edit_window_closed": "because the request's message there can no longer be updated",
}


def cannot_post_in_channel(
    channel_id: str, *, bot_name: str = "meraki-admin", submitted: bool = False, reason: str = ""
) -> tuple[str, list[Block]]:
    """Tell the requester why the bot cannot post in the channel (by default: not a member) and what to do."""
    name = escape(bot_name, limit=80)
    done = (
        "Your request was submitted to Nautobot; I'll send its progress here instead."
        if submitted
        else "Nothing was submitted."
    )
    why = _WHY_NOT.get(reason)
    if why is not None:
        text = f"⚠️ I can't post in {channel_link(channel_id)} {why}. {done}"
        return fallback(f"I can't post in that channel any more; the request goes on here. {done}"), [section(text)]
    text = (
        f"⚠️ I can't post in {channel_link(channel_id)} because I'm not a member of it. {done}\n"
        f"To use me there, type `/invite @{name}` in that channel, then run the command again."
    )
    return fallback(f"I can't post in that channel: invite me with /invite @{bot_name}."), [section(text)]
