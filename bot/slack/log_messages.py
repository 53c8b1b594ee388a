"""A Job's log as Slack shows it: thread replies grouped like Nautobot's log, a file when long, why it failed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from slack_sdk.models.blocks import Block

from bot.models import LOG_LEVELS, JobRun, LogEntry, LogLevel
from bot.slack.text import (
    INFO_ICON,
    SECTION_MAX,
    clean,
    context,
    entity_safe_cut,
    escape,
    fallback,
    link,
    section,
    truncate,
)

MESSAGE_BLOCKS_MAX = 50
LOG_MESSAGE_CHARS = 12_000
LONG_LOG_ENTRIES = 150
LONG_LOG_CHARS = 12_000
FAILING_LINES_SHOWN = 10
FAILING_LINE_MAX = 500
LEVEL_ICONS: dict[str, str] = {
    "debug": "🔍",
    "info": INFO_ICON,
    "success": "✅",
    "warning": "⚠️",
    "failure": "❌",
    "error": "🛑",
    "critical": "🔥",
}


def format_counts(counts: Mapping[LogLevel, int]) -> str:
    parts = [f"{counts[level]} {level}" for level in LOG_LEVELS if counts.get(level)]
    return " · ".join(parts) if parts else "no log lines"


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
        cut = entity_safe_cut(line, cut if cut > 0 else limit)
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
        return [("The Job wrote no log lines.", [section("The Job wrote no log lines.")])]
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
        (f"Job log, part {number} of {total}" if total > 1 else "Job log", [section(text) for text in texts])
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
    counts: dict[LogLevel, int] = {}
    for entry in entries:
        counts[entry.log_level] = counts.get(entry.log_level, 0) + 1
    text = (
        f"📄 The Job's log has {len(entries)} lines ({format_counts(counts)}), too long for the thread: "
        f"it is attached as `{escape(filename, limit=200)}`."
    )
    return fallback(f"The Job's log has {len(entries)} lines; it is attached as a file."), [section(text)]


# -- failures and errors -------------------------------------------------------------------------


def _traceback_tail(traceback: str | None) -> str | None:
    lines = [line.strip() for line in (traceback or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def failure_summary(run: JobRun | None, entries: Sequence[LogEntry]) -> tuple[str, list[Block]]:
    """Why a run failed: the failing log lines and the exception Nautobot recorded."""
    failing = [entry for entry in entries if entry.failing]
    reason = (run.exception or _traceback_tail(run.traceback)) if run else None
    blocks: list[Block] = [section("❌ *Why it failed*")]
    if reason:
        blocks.append(section(f"*Exception:* `{escape(reason, limit=1000)}`"))
    shown = [
        f"{LEVEL_ICONS[entry.log_level]} {escape(entry.message, limit=FAILING_LINE_MAX) or '_(no message)_'}"
        for entry in failing[:FAILING_LINES_SHOWN]
    ]
    blocks.extend(section(chunk) for chunk in pack_lines(shown))
    if len(failing) > len(shown):
        blocks.append(context(f"…and {len(failing) - len(shown)} more failing lines in the log."))
    if not (reason or failing):
        where = link(run.url, "the JobResult") if run else "the JobResult in Nautobot"
        blocks.append(section(f"Nautobot recorded no error message. Open {where} for details."))
    first = reason or (failing[0].message if failing else "no error message recorded")
    job = run.job_name if run and run.job_name else "The Job"
    return fallback(f"❌ {truncate(job, 200)} failed: {truncate(first, 300)}"), blocks
