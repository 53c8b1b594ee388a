"""The bot's logging: one-line text or JSON events, a correlation id per request, secrets scrubbed.

A request's id is kept in a context variable, so every line logged while handling it (by the bot,
slack_bolt, httpx or SQLAlchemy) carries it, including lines from the follow task started for it:
asyncio copies the context into a task when the task is created.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import IO, Any, Literal

import re2

__all__ = [
    "CorrelationFilter",
    "JsonFormatter",
    "ScrubFilter",
    "TextFormatter",
    "configure",
    "correlation",
    "current_correlation",
    "new_correlation_id",
    "reset_correlation",
    "scrub",
    "set_correlation",
]

REDACTED = "[redacted]"

_correlation: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Loggers that drown the bot's own lines: the lowest level each keeps, normally and at DEBUG.
# aiosqlite logs every statement with its parameters, so it stays at INFO even then.
QUIET: dict[str, tuple[int, int]] = {
    "httpx": (logging.WARNING, logging.DEBUG),
    "httpcore": (logging.WARNING, logging.DEBUG),
    "sqlalchemy.engine": (logging.WARNING, logging.DEBUG),
    "aiosqlite": (logging.WARNING, logging.INFO),
}

# Slack bot/user/app tokens, Authorization header values (also as they appear in a repr'd dict of
# headers), Nautobot's 40-hex API tokens, and the password of a ``scheme://user:password@host`` URL
# (STORE_URL's, in a database driver's error), keeping user and host; one already shown as ``****``
# stays. One RE2 pattern, so a clean message costs one scan, in time linear in its length whatever it
# holds (a backtracking regex took quadratic time on e.g. ``"a-" * n``). RE2 has no lookaround, so what
# Python's ``re`` would look at around a match is matched and decided in :func:`_masked`.
_S = r"\s\v\x1c-\x1f\x{85}\p{Z}"
"""Python's ``\\s`` for text, to go inside a character class: RE2's own ``\\s`` is ASCII only."""


def _secret_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return options


_SECRET = re2.compile(
    (
        rf"(?P<auth>authorization['\"]?[{_S}]*[:=][{_S}]*['\"]?(?:token|bearer)[{_S}]+)[^{_S}'\",;)}}\]]+"
        rf"|(?P<url>\b[a-z][a-z0-9+.-]*://[^{_S}:/@'\"<>]*:)(?P<password>[^{_S}/@'\"<>]+)@"
        r"|xox[abpr]-[A-Za-z0-9-]+"
        r"|xapp-[A-Za-z0-9-]+"
        r"|xwfp-[A-Za-z0-9-]+"  # a Workflow Builder step's own token
        r"|(?P<hex>[0-9A-Fa-f]{40,})"  # a run of hex digits: only one of exactly 40 is a token
    ).encode(),
    _secret_options(),
)
_AUTH, _URL, _PASSWORD, _HEX = (_SECRET.groupindex[name] for name in (b"auth", b"url", b"password", b"hex"))

# Everything a LogRecord carries on its own; whatever else is on a record came from ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "correlation_id"}

_SCRUB_DEPTH = 8

_installed: list[logging.Handler] = []
_exceptions = logging.Formatter()


# -- correlation id ------------------------------------------------------------------------------


def new_correlation_id() -> str:
    """A short random id (12 hex characters): enough to tell apart the requests in a day of logs."""
    return secrets.token_hex(6)


def current_correlation() -> str | None:
    return _correlation.get()


def set_correlation(cid: str | None) -> Token[str | None]:
    """For code that cannot use ``with correlation(...)``; hand the token to ``reset_correlation``."""
    return _correlation.set(cid)


def reset_correlation(token: Token[str | None]) -> None:
    _correlation.reset(token)


@contextmanager
def correlation(cid: str) -> Iterator[str]:
    """Every line logged inside, and in tasks created inside, carries ``cid``."""
    token = _correlation.set(cid)
    try:
        yield cid
    finally:
        _correlation.reset(token)


class CorrelationFilter(logging.Filter):
    """Stamps ``record.correlation_id``; an explicit ``extra={"correlation_id": ...}`` is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = _correlation.get()
        return True


# -- secrets -------------------------------------------------------------------------------------


def scrub(text: str, *, secrets: Iterable[str] = (), mask: str = REDACTED) -> str:
    """``text`` with Slack tokens, Authorization values, Nautobot tokens, URL passwords and ``secrets`` masked.

    The one scrubber of the bot: log lines, probe details, Nautobot's echoed answers and ``doctor``'s
    report all go through it. ``secrets`` are known values (a database password, a signing secret)
    that no pattern could recognise. Linear in the length of ``text``: it runs on the event loop.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask)
    # RE2 reads UTF-8: a lone surrogate (a name read with surrogateescape) cannot be encoded, so it becomes a
    # "?", which cannot join what is around it into something no pattern knows (as "\\udcff" + hex digits would).
    return _masked(text.encode("utf-8", "replace"), mask.encode()).decode("utf-8")


def _masked(data: bytes, mask: bytes) -> bytes:
    """``data`` with every match of :data:`_SECRET` that is a secret masked: one search from where the last
    match ended (or, after a run of hex digits, from its last digit), so ``data`` is read about once."""
    pieces, done, start = [], 0, 0
    while (match := _SECRET.search(data, start)) is not None:
        begin, end = match.span()
        if match.group(_HEX) is not None and end - begin != 40:  # a digest, not a token: only 40 digits are
            start = end - 1  # its last digit, an "a", may begin "authorization"
            continue
        pieces += [data[done:begin], _replacement(match, mask)]
        done = start = end
    return b"".join([*pieces, data[done:]])


def _replacement(match: re2._Match[bytes], mask: bytes) -> bytes:
    url = match.group(_URL)
    if url is None:
        return (match.group(_AUTH) or b"") + mask
    password = match.group(_PASSWORD)
    shown = password if not password.strip(b"*") else mask  # one shown as ``****`` already stays
    # The user part can hold a token too (``https://<token>:x-oauth-basic@host``); it holds no "@", so
    # this second look cannot match a URL again.
    return _masked(url, mask) + shown + b"@"


def _scrub_value(value: Any, depth: int = 0) -> Any:
    """A copy of an extra with its strings scrubbed; the caller's own dicts and lists are left as they were."""
    if isinstance(value, str):
        return scrub(value)
    if type(value) not in (dict, list, tuple):
        return value
    if depth >= _SCRUB_DEPTH:  # deep or circular: its text is scrubbed instead
        return scrub(_safe_repr(value))
    if type(value) is dict:
        return {key: _scrub_value(item, depth + 1) for key, item in value.items()}
    items = [_scrub_value(item, depth + 1) for item in value]
    return items if type(value) is list else tuple(items)


class ScrubFilter(logging.Filter):
    """The last line of defence: a token that reached a log call does not reach the log.

    The message is rendered here (its arguments too), so the formatters only see scrubbed text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(_message(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _exceptions.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for key, value in _extras(record).items():
            setattr(record, key, _scrub_value(value))
        return True


# -- formatting ----------------------------------------------------------------------------------


def _message(record: logging.LogRecord) -> str:
    """The rendered message; a call whose arguments do not fit its format still gives a line."""
    try:
        return record.getMessage()
    except Exception:
        return f"{_safe_repr(record.msg)} % {_safe_repr(record.args)}"


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD}


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC to the millisecond, e.g. ``2026-11-25T21:00:00.123Z``."""
    seconds, millis = divmod(round(created * 1000), 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def _traceback(record: logging.LogRecord) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = _exceptions.formatException(record.exc_info)
    return record.exc_text or None


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger> <message> [cid=<id>]``, then the traceback, if any, on the lines below.

    Line breaks in the message are escaped, so a value typed into Slack cannot forge a log line.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = _message(record).replace("\r", "\\r").replace("\n", "\\n")
        line = f"{_timestamp(record.created)} {record.levelname} {record.name} {message}"
        cid = getattr(record, "correlation_id", None)
        if cid:
            line += f" [cid={cid}]"
        exc = _traceback(record)
        if exc:
            line += "\n" + exc
        if record.stack_info:
            line += "\n" + record.stack_info
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers; values JSON cannot hold are given as their ``repr``."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        cid = getattr(record, "correlation_id", None)
        if cid:
            event["correlation_id"] = cid
        exc = _traceback(record)
        if exc:
            event["exc"] = exc
        if record.stack_info:
            event["stack"] = record.stack_info
        for key, value in _extras(record).items():
            event[f"extra_{key}" if key in event else key] = value
        try:
            return json.dumps(event, default=_safe_repr)
        except (TypeError, ValueError, RecursionError):  # non-string keys, circular references
            return json.dumps({key: _jsonable(value) for key, value in event.items()}, default=_safe_repr)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, default=_safe_repr)
    except (TypeError, ValueError, RecursionError):
        return _safe_repr(value)
    return value


# -- setting it up -------------------------------------------------------------------------------


def _level(level: str) -> int:
    levels = logging.getLevelNamesMapping()
    name = level.strip().upper()
    if name.isdigit():
        return int(name)
    if name not in levels:
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return levels[name]


def configure(level: str, fmt: Literal["text", "json"] = "text", stream: IO[str] | None = None) -> None:
    """Log every logger's lines to ``stream`` (default: the current ``sys.stderr``) at ``level``.

    Calling it again replaces the handler it installed before, so lines are never written twice.
    """
    formatters: dict[str, type[logging.Formatter]] = {"text": TextFormatter, "json": JsonFormatter}
    if fmt not in formatters:
        raise ValueError(f"unknown log format {fmt!r}; use text or json")
    threshold = _level(level)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(CorrelationFilter())
    handler.addFilter(ScrubFilter())
    handler.setFormatter(formatters[fmt]())
    root = logging.getLogger()
    while _installed:
        old = _installed.pop()
        root.removeHandler(old)
        old.flush()
        old.close()
    root.addHandler(handler)
    _installed.append(handler)
    root.setLevel(threshold)
    for name, (normal, debug) in QUIET.items():
        logging.getLogger(name).setLevel(max(threshold, debug if threshold <= logging.DEBUG else normal))
