"""Every Slack message the bot writes, as ``(fallback_text, blocks)``; and escaping of untrusted text.

Text typed by people or returned by Nautobot goes through :func:`escape` before it reaches a
``mrkdwn`` field, so nobody can make the bot ping ``<!channel>``, mention someone or hide a link.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.models import LOG_LEVELS, REQUESTED_BY, JobForm, JobRun, LogEntry, RunRequest, RunStatus

SECTION_MAX = 3000
FIELD_MAX = 2000
CONTEXT_MAX = 2000
FALLBACK_MAX = 3000
FIELDS_PER_SECTION = 10
MAX_INPUT_FIELDS = 40
MESSAGE_BLOCKS_MAX = 50
LOG_MESSAGE_CHARS = 12_000
LONG_LOG_ENTRIES = 150
LONG_LOG_CHARS = 12_000
FAILING_LINES_SHOWN = 10
FAILING_LINE_MAX = 500

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
INFO_ICON = "\u2139\ufe0f"
LEVEL_ICONS: dict[str, str] = {
    "debug": "🔍",
    "info": INFO_ICON,
    "success": "✅",
    "warning": "⚠️",
    "failure": "❌",
    "error": "🛑",
    "critical": "🔥",
}

# ``\Z``, not ``$``: ``$`` also matches before a final newline, which would end up inside ``<...>``.
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}\Z")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}\Z")
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
ENTITY_MAX = len("&amp;")
_URL = re.compile(r"^https?://[^\s<>|]+\Z")


# -- text safety ---------------------------------------------------------------------------------


def clean(text: str) -> str:
    """Replace lone surrogates, drop control and bidi-override characters (keep ``\\n`` and ``\\t``)."""
    text = str(text).encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _UNSAFE_CHARS.sub("", text.replace("\r\n", "\n"))


def truncate(text: str, limit: int) -> str:
    """Cut to ``limit`` characters, marking the cut with ``…``."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _entity_safe_cut(text: str, cut: int) -> int:
    """Move ``cut`` back so it does not split ``&amp;``/``&lt;``/``&gt;``."""
    partial = _PARTIAL_ENTITY.search(text, 0, cut)
    return partial.start() if partial else cut


def _cap(text: str, limit: int) -> str:
    """Cut already-escaped ``mrkdwn`` to ``limit`` characters without splitting an entity."""
    if len(text) <= limit:
        return text
    return text[: _entity_safe_cut(text, limit - 1)].rstrip() + "…"


def escape(text: str, *, limit: int | None = None) -> str:
    """Make untrusted text inert in ``mrkdwn``: clean it, escape ``&``, ``<``, ``>``, cap its length.

    Not idempotent, on purpose: it escapes text, not ``mrkdwn``, so ``&amp;`` typed by someone is shown
    as typed. Escape each piece of text exactly once, where it is put into ``mrkdwn``.
    """
    escaped = clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if limit is None:
        return escaped
    return _cap(escaped, limit) if limit > 0 else ""


def mention(user_id: str) -> str:
    """``<@U123>`` for a real Slack user id; anything else is shown as escaped text."""
    return f"<@{user_id}>" if _USER_ID.match(user_id or "") else escape(user_id or "someone", limit=100)


def channel_link(channel_id: str) -> str:
    return f"<#{channel_id}>" if _CHANNEL_ID.match(channel_id or "") else escape(channel_id or "?", limit=100)


def link(url: str | None, text: str) -> str:
    """A ``<url|text>`` link for an http(s) URL; without a usable URL only the escaped text."""
    label = escape(text, limit=200).replace("|", "¦")
    if not url or not _URL.match(url):
        return label
    return f"<{url.replace('&', '&amp;')}|{label}>"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_cap(text, SECTION_MAX) or " ", verbatim=True))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_cap(text, CONTEXT_MAX) or " ", verbatim=True)])


def _fallback(text: str) -> str:
    """Notification text is parsed like ``mrkdwn`` too, so it is built from escaped parts."""
    return _cap(text, FALLBACK_MAX)


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


def format_counts(counts: dict[str, int]) -> str:
    parts = [f"{counts[level]} {level}" for level in LOG_LEVELS if counts.get(level)]
    return " · ".join(parts) if parts else "no log lines"


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


def _input_rows(request: RunRequest, form: JobForm | None) -> list[tuple[str, str]]:
    """(label, value) for each input in the Job's order; the dry-run flag is shown in the header."""
    order = [var.name for var in form.variables] if form else []
    names = [name for name in order if name in request.inputs]
    names += [name for name in request.inputs if name not in names]
    rows = []
    for name in names:
        var = form.variable(name) if form else None
        if (var and var.type == "DryRunVar") or (var is None and name == "dryrun") or name == REQUESTED_BY:
            continue  # the dry-run flag is in the header, the requester in the "Requested by" line
        value = request.inputs[name]
        label = var.display_label if var else name.replace("_", " ").capitalize()
        choice = var.choice_label(value) if var and isinstance(value, str) else None
        rows.append((label, _display_value(value, choice)))
    return rows


def _input_sections(rows: list[tuple[str, str]]) -> list[Block]:
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
        blocks.append(_context(f"…and {len(rows) - len(shown)} more inputs, listed in Nautobot."))
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
        _section(f"{icon} *{job}*{dry}: {state}\nRequested by {mention(request.requester_id)}"),
        *_input_sections(_input_rows(request, form)),
    ]
    details: list[str] = []
    target = run.url if run else nautobot_url
    if target:
        details.append(link(target, "Open the JobResult in Nautobot" if run else "Open in Nautobot"))
    timing = _timing(status, run, elapsed)
    if timing:
        details.append(timing)
    if status.is_final and run is not None:
        details.append(f"Log: {format_counts(dict(run.log_counts))}")
    if details:
        blocks.append(_context(" · ".join(details)))
    if cancellable and run is not None and not status.is_final:
        blocks.append(cancel_actions(request.request_id))
    return _fallback(f"{icon} {job}{dry}: {state}"), blocks


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
    return _fallback(text), [_section(text)]


def cancel_requested(url: str | None) -> tuple[str, list[Block]]:
    text = "🛑 Cancel sent to Nautobot. The thread gets the log once the Job has stopped."
    blocks: list[Block] = [_section(text)]
    if url and _URL.match(url):
        blocks.append(_context(link(url, "Open the JobResult in Nautobot")))
    return _fallback(text), blocks


# -- the log thread ------------------------------------------------------------------------------


def _entry_text(entry: LogEntry) -> str:
    icon = LEVEL_ICONS.get(entry.log_level, INFO_ICON)
    text = escape(entry.message) or "_(no message)_"
    if entry.log_object:
        text += f" _({escape(entry.log_object, limit=300)})_"
    return f"{icon} {text}"


def log_lines(entries: Iterable[LogEntry]) -> list[str]:
    """Escaped ``mrkdwn`` lines: a bold header whenever the grouping changes, then icon + message."""
    lines: list[str] = []
    grouping: str | None = None
    for entry in entries:
        if entry.grouping != grouping:
            grouping = entry.grouping
            if grouping:
                lines.append(f"*{escape(grouping, limit=200)}*")
        lines.append(_entry_text(entry))
    return lines


def _split_long(line: str, limit: int) -> list[str]:
    """Split an escaped line into pieces of at most ``limit``, at whitespace when possible."""
    pieces = []
    while len(line) > limit:
        cut = max(line.rfind("\n", limit // 2, limit), line.rfind(" ", limit // 2, limit))
        cut = _entity_safe_cut(line, cut if cut > 0 else limit)
        if cut <= 0:  # a limit shorter than the entity the line starts with: that entity stays whole
            cut = (line.find(";") + 1 if line.startswith("&") else 0) or 1
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces


def pack_lines(lines: Iterable[str], limit: int = SECTION_MAX) -> list[str]:
    """Join lines with newlines into chunks of at most ``limit`` characters each.

    Entities are never split: with a ``limit`` below :data:`ENTITY_MAX` a chunk may hold one whole entity.
    """
    chunks: list[str] = []
    current = ""
    for line in lines:
        for piece in _split_long(line, limit):
            candidate = f"{current}\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
                continue
            if current:
                chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def log_messages(
    entries: Sequence[LogEntry],
    *,
    max_chars_per_message: int = LOG_MESSAGE_CHARS,
    max_blocks: int = MESSAGE_BLOCKS_MAX,
) -> list[tuple[str, list[Block]]]:
    """The Job's log as thread replies: each section ≤ 3000 characters, each message ≤ ``max_blocks``."""
    if not entries:
        return [("The Job wrote no log lines.", [_section("The Job wrote no log lines.")])]
    section_limit = max(min(SECTION_MAX, max_chars_per_message), 100)
    max_blocks = min(max(max_blocks, 1), MESSAGE_BLOCKS_MAX)
    messages: list[list[str]] = [[]]
    for chunk in pack_lines(log_lines(entries), section_limit):
        current = messages[-1]
        size = sum(len(text) for text in current)
        if current and (len(current) >= max_blocks or size + len(chunk) > max_chars_per_message):
            messages.append([chunk])
        else:
            current.append(chunk)
    total = len(messages)
    return [
        (f"Job log, part {number} of {total}" if total > 1 else "Job log", [_section(text) for text in texts])
        for number, texts in enumerate(messages, start=1)
    ]


def is_long_log(entries: Sequence[LogEntry]) -> bool:
    """Past this size the thread gets a file instead of many messages."""
    return len(entries) > LONG_LOG_ENTRIES or sum(len(entry.message) for entry in entries) > LONG_LOG_CHARS


def log_file(entries: Iterable[LogEntry]) -> str:
    """Plain text of the whole log for a file upload; continuation lines are indented."""
    lines = []
    for entry in entries:
        stamp = entry.created.isoformat(timespec="seconds")
        message = clean(entry.message).replace("\n", "\n    ")
        suffix = f"  [{clean(entry.log_object)}]" if entry.log_object else ""
        lines.append(f"{stamp}  {entry.log_level:<8}  {clean(entry.grouping) or '-':<16}  {message}{suffix}")
    return "\n".join(lines) + "\n"


def long_log_message(entries: Sequence[LogEntry], *, filename: str = "job-log.txt") -> tuple[str, list[Block]]:
    """The short thread reply that goes with the log file."""
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.log_level] = counts.get(entry.log_level, 0) + 1
    text = (
        f"📄 The Job's log has {len(entries)} lines ({format_counts(counts)}), too long for the thread: "
        f"it is attached as `{escape(filename, limit=200)}`."
    )
    return _fallback(f"The Job's log has {len(entries)} lines; it is attached as a file."), [_section(text)]


# -- failures and errors -------------------------------------------------------------------------


def _traceback_tail(traceback: str | None) -> str | None:
    lines = [line.strip() for line in (traceback or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def failure_summary(run: JobRun | None, entries: Sequence[LogEntry]) -> tuple[str, list[Block]]:
    """Why a run failed: the failing log lines and the exception Nautobot recorded."""
    failing = [entry for entry in entries if entry.failing]
    reason = (run.exception or _traceback_tail(run.traceback)) if run else None
    blocks: list[Block] = [_section("❌ *Why it failed*")]
    if reason:
        blocks.append(_section(f"*Exception:* `{escape(reason, limit=1000)}`"))
    shown = [
        f"{LEVEL_ICONS[entry.log_level]} {escape(entry.message, limit=FAILING_LINE_MAX) or '_(no message)_'}"
        for entry in failing[:FAILING_LINES_SHOWN]
    ]
    blocks.extend(_section(chunk) for chunk in pack_lines(shown))
    if len(failing) > len(shown):
        blocks.append(_context(f"…and {len(failing) - len(shown)} more failing lines in the log."))
    if not (reason or failing):
        where = link(run.url, "the JobResult") if run else "the JobResult in Nautobot"
        blocks.append(_section(f"Nautobot recorded no error message. Open {where} for details."))
    first = reason or (failing[0].message if failing else "no error message recorded")
    job = run.job_name if run and run.job_name else "The Job"
    return _fallback(f"❌ {escape(job, limit=200)} failed: {escape(first, limit=300)}"), blocks


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
    blocks: list[Block] = [_section(text)]
    if url and _URL.match(url):
        blocks.append(_context(link(url, url_text)))
    return _fallback(f"⚠️ {escape(what_happened, limit=1200)} {escape(next_step, limit=800)}"), blocks


def cannot_post_in_channel(
    channel_id: str, *, bot_name: str = "meraki-admin", submitted: bool = False
) -> tuple[str, list[Block]]:
    """Tell the requester the bot is not in the channel and how to invite it."""
    name = escape(bot_name, limit=80)
    done = (
        "Your request was submitted to Nautobot; I'll send its progress here instead."
        if submitted
        else "Nothing was submitted."
    )
    text = (
        f"⚠️ I can't post in {channel_link(channel_id)} because I'm not a member of it. {done}\n"
        f"To use me there, type `/invite @{name}` in that channel, then run the command again."
    )
    return _fallback(f"I can't post in that channel: invite me with /invite @{name}."), [_section(text)]
