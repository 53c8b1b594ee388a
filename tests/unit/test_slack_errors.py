"""Slack's error, read from any failed Web API call: its JSON ``error``, or the HTTP status of a page that is not
Slack's JSON (its front ends answer a 5xx with text), never an exception of its own."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.errors import slack_error, transient


def failed(data: dict | str, status: int) -> SlackApiError:
    response = AsyncSlackResponse(
        client=AsyncWebClient(), http_verb="POST", api_url="https://slack.com/api/chat.postMessage",
        req_args={}, data=data, headers={}, status_code=status,
    )  # fmt: skip
    return SlackApiError("failed", response)


@pytest.mark.parametrize(
    ("data", "status", "error", "again"),
    [
        ({"ok": False, "error": "channel_not_found"}, 200, "channel_not_found", False),
        ({"ok": False, "error": "ratelimited"}, 429, "ratelimited", True),
        ({"ok": False, "error": "internal_error"}, 200, "internal_error", True),
        ("<html><body>503 Service Temporarily Unavailable</body></html>", 503, "HTTP 503", True),
        ("upstream connect error", 502, "HTTP 502", True),
        ("", 400, "HTTP 400", False),
    ],
)
def test_slacks_error_is_read_from_json_and_from_a_page(data: dict | str, status: int, error: str, again: bool) -> None:
    exc = failed(data, status)

    assert slack_error(exc) == error
    assert transient(exc) is again


def test_no_answer_at_all_may_work_later() -> None:
    assert transient(ConnectionResetError("reset by peer")) is True
