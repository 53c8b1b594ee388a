"""What Slack said went wrong with a Web API call.

Slack's answers carry ``{"ok": false, "error": "..."}``, but not every failure is such an answer: its front ends
answer a 5xx with a plain-text or HTML page, and slack_sdk then raises :class:`SlackApiError` with that text as the
response's data. Reading ``error`` off it must not raise in turn (that would turn one failed call into a lost
message), so every reader goes through :func:`slack_error`, and every retry decision through :func:`transient`.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
"""Slack's answers that may change on another try."""


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code (``"ratelimited"``, ``"channel_not_found"``…), or ``"HTTP <status>"`` when the answer
    was not Slack's JSON (a 5xx page), or ``""`` when there was no answer."""
    response = exc.response
    if response is None:
        return ""
    data = getattr(response, "data", response)  # a SlackResponse, or the plain dict some callers raise with
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = getattr(response, "status_code", 0)
    return f"HTTP {status}" if status else ""


def transient(exc: Exception) -> bool:
    """Whether the same call may succeed later: a 5xx or 429 (JSON or not), a transient error code, or no answer
    at all (the connection failed or timed out)."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 0) or 0
        return status >= 500 or status == 429 or slack_error(exc) in TRANSIENT_ERRORS
    return True
