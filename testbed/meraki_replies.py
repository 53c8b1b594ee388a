"""What reaches the Meraki stand-in and what it answers: the recorded request, the reply, and the
dashboard's error bodies and messages."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

INVALID_API_KEY = "Invalid API key"
ORG_NOT_FOUND = "Organization not found"
API_DISABLED = (
    "To make requests you must first enable API access via Organization > Settings page in the Meraki dashboard."
)
FORBIDDEN = "You do not have permission to access this organization"
RATE_LIMITED = "API rate limit exceeded for organization"
SERVER_ERROR = "Internal server error"
EMAIL_TAKEN = "Email has already been taken"
ADMIN_NOT_FOUND = "Admin not found"
BAD_JSON = "The request body could not be parsed as JSON"


@dataclass
class RecordedRequest:
    """One request as the stand-in received it.

    ``status`` is ``None`` while the request is still being answered (for example while
    a ``delay`` holds it), so tests can see that a call arrived even if it hangs.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    status: int | None = None
    received_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` on arrival, so tests can measure how long a client waited between calls."""


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Problem(Exception):
    """Raised by endpoint code to answer with a Meraki-style error body."""

    def __init__(self, status: int, *messages: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, messages)
        self.reply = error(status, *messages, headers=headers)


def error(status: int, *messages: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"errors": list(messages)}, dict(headers or {}))


def default_error(status: int) -> str:
    if status == 429:
        return RATE_LIMITED
    if status >= 500:
        return SERVER_ERROR
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise Problem(400, BAD_JSON) from None
    if not isinstance(payload, dict):
        raise Problem(400, "The request body must be a JSON object")
    return payload
