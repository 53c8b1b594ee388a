"""What can go wrong talking to Nautobot, as exceptions whose ``str()`` a person can act on.

::

    NautobotError                    base; ``status`` and ``detail`` say what Nautobot answered
    ├── NautobotUnreachable    [R]   no answer from Nautobot itself: network, DNS, TLS, timeout, proxy page
    │                                (a POST whose answer was lost has ``request_sent`` and is not retryable)
    ├── NautobotServerError    [R]   Nautobot failed (5xx)
    ├── NoWorker               [R]   no Celery worker on the Job's queue; nothing was queued
    ├── NautobotAuthError            the token is refused, or lacks a permission
    ├── JobNotFound                  no such Job visible to the bot's user
    ├── JobDisabled                  the Job is disabled or not installed
    └── JobFieldErrors               Nautobot refused the input (400); ``errors`` maps fields to messages

``[R]`` marks ``retryable``: the same request may succeed later, so a request that met it is kept
for a Retry; any other error is final for that request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PERMISSIONS_HINT = (
    "Give the bot's Nautobot user an ObjectPermission with the actions view and run on extras.job, "
    "and view on extras.jobresult and extras.joblogentry; running a Job also needs a token with Write enabled."
)
_CREDENTIAL_HINT = "Create a new API token for the bot's Nautobot user, set NAUTOBOT_TOKEN to it and restart the bot."
_QUEUE = re.compile(r"on queue (?P<queue>\S+?)\.?$")


class NautobotError(Exception):
    """Base of every error the client raises; ``str()`` is meant for people."""

    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class NautobotUnreachable(NautobotError):
    """No answer from Nautobot itself: network, DNS, TLS, timeout, or a proxy error page.

    ``request_sent`` is True when the request may have reached Nautobot before the answer was
    lost; for a POST that means it may have been carried out, so it is then not ``retryable``.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: str = "",
        request_sent: bool = False,
        retryable: bool = True,
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.request_sent = request_sent
        self.retryable = retryable


class NautobotAuthError(NautobotError):
    """The token is missing, invalid, expired or inactive, or lacks a permission."""


class JobNotFound(NautobotError):
    """No Job of that name or id is visible to the bot's user."""

    def __init__(self, message: str, *, job: str, status: int | None = None, detail: str = "") -> None:
        super().__init__(message, status=status, detail=detail)
        self.job = job


class JobDisabled(NautobotError):
    """The Job exists but may not run: disabled (403) or not installed (405)."""

    def __init__(
        self, message: str, *, job: str, installed: bool = True, status: int | None = None, detail: str = ""
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.job = job
        self.installed = installed


class JobFieldErrors(NautobotError):
    """Nautobot refused the input (400); ``errors`` is its body's ``errors`` (or field map) as sent."""

    def __init__(
        self, message: str, *, errors: dict[str, list[str]] | list[str], status: int | None = 400, detail: str = ""
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.errors = errors


class NoWorker(NautobotError):
    """Nautobot has no Celery worker on the Job's queue (503); nothing was queued."""

    retryable = True

    def __init__(self, message: str, *, queue: str | None, status: int | None = 503, detail: str = "") -> None:
        super().__init__(message, status=status, detail=detail)
        self.queue = queue


class NautobotServerError(NautobotError):
    """Nautobot itself failed (5xx with its JSON, or any 500)."""

    retryable = True


# -- messages ------------------------------------------------------------------------------------


def maybe_done(base_url: str, what: str, reason: str) -> str:
    return (
        f"Nautobot at {base_url} gave no answer when asked to {what} ({reason}); the request may still have been "
        f"carried out. Look for the run in Nautobot ({base_url}/extras/job-results/) before trying again."
    )


def auth_error(status: int, detail: str, what: str) -> NautobotAuthError:
    folded = detail.casefold()
    if "permission" in folded:
        message = f"Nautobot denied the bot's user permission to {what} ({detail}). {PERMISSIONS_HINT}"
    elif "inactive" in folded:
        message = (
            f"Nautobot refused to {what}: the bot's Nautobot user is inactive ({detail}). Reactivate the user in "
            "Nautobot, or set NAUTOBOT_TOKEN to a token of an active user, and restart the bot."
        )
    elif "not provided" in folded or "no credentials" in folded:
        message = (
            f"Nautobot refused to {what}: no API token reached it ({detail}). Set NAUTOBOT_TOKEN; if it is set, "
            "make sure any proxy in front of Nautobot passes the Authorization header on."
        )
    else:
        message = f"Nautobot rejected the bot's API token when asked to {what} ({detail}). {_CREDENTIAL_HINT}"
    return NautobotAuthError(message, status=status, detail=detail)


def job_not_found(job: str, *, status: int | None, detail: str = "") -> JobNotFound:
    return JobNotFound(
        f"No Job named {job!r} in Nautobot that the bot's user can see, so nothing ran. Add (and sync) the Git "
        "repository that holds it in Nautobot, or check the command's job in COMMANDS; the user also needs view "
        "on extras.job.",
        job=job,
        status=status,
        detail=detail,
    )


def no_worker(detail: str) -> NoWorker:
    match = _QUEUE.search(detail)
    queue = match.group("queue") if match else None
    return NoWorker(
        f"Nautobot has no Celery worker running on queue {queue or 'default'}, so the Job was not queued and "
        "nothing ran. Start a Nautobot Celery worker (nautobot-server celery worker) and try again.",
        queue=queue,
        detail=detail,
    )


def errors_of(body: Any, excerpt: str) -> dict[str, list[str]] | list[str]:
    """Nautobot's 400: ``{"errors": {...}}``, ``{"errors": [...]}``, or DRF's top-level field map."""
    errors = body.get("errors", body) if isinstance(body, Mapping) else body
    if isinstance(errors, Mapping):
        if set(errors) == {"detail"}:
            return flatten(errors["detail"])
        return {str(key): flatten(value) for key, value in errors.items()}
    if isinstance(errors, list | str):
        return flatten(errors)
    return [excerpt] if excerpt else ["Nautobot refused the request without saying why."]


def flatten(value: Any) -> list[str]:
    """Every message in a DRF error value (a string, a list, a field map, nested), fields named in front."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [f"{key}: {text}" for key, item in value.items() for text in flatten(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in flatten(item)]
    return [str(value)]


def summarise(errors: dict[str, list[str]] | list[str], limit: int = 5) -> str:
    if isinstance(errors, Mapping):
        parts = [f"{name}: {' '.join(texts)}" for name, texts in errors.items()]
    else:
        parts = list(errors)
    shown = "; ".join(parts[:limit])
    return shown + (f"; and {len(parts) - limit} more" if len(parts) > limit else "")
