"""Nautobot's answers, read: a body when it is what was asked for, else the :mod:`errors` that says why.

Whatever Nautobot (or a proxy in front of it) echoes back is cut short and has the bot's token
taken out before it becomes part of an error.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import re2
from pydantic import SecretStr, ValidationError

from bot.logs import scrub
from bot.nautobot.errors import (
    JobFieldErrors,
    NautobotError,
    NautobotServerError,
    NautobotUnreachable,
    auth_error,
    errors_of,
    maybe_done,
    no_worker,
    summarise,
)

T = TypeVar("T")

EXCERPT_MAX = 200
MASK = "**********"
"""What the token becomes in an echoed answer: the mask pydantic shows for a ``SecretStr``."""
_PROXY_STATUSES = frozenset({502, 503, 504})
_MAYBE_FORWARDED = frozenset({502, 504})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
BODY_READ_MAX = 64 * 1024
"""Characters of a body that is not JSON read for its excerpt: an error page says what went wrong at its top."""
SCRUB_MAX = 1_000
"""Characters of an echoed text read (and scrubbed): more than any excerpt or detail shows."""
DETAIL_MAX = 500


def _tag_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.dot_nl = True
    options.log_errors = False
    return options


# Both linear in the text, where one backtracking regex took quadratic time on many unclosed tags: RE2 for the
# script and style blocks (an unclosed one is one scan, not one scan per opening), and a tag that cannot hold
# a "<", so each "<" is looked at once.
_BLOCKS = re2.compile(r"<script\b.*?</script\s*>|<style\b.*?</style\s*>", _tag_options())
_TAG = re.compile(r"<[^<>]*>")


def _text_of(page: str) -> str:
    """A page's text on one line: its tags, scripts and styles taken out."""
    return " ".join(_TAG.sub(" ", _BLOCKS.sub(" ", page)).split())


class Answers:
    """Reads the answers of one Nautobot, at ``base_url``, asked with ``token``."""

    def __init__(self, base_url: str, token: SecretStr, timeout: float) -> None:
        self.base_url = base_url
        self._token = token
        self._timeout = timeout

    def result_url(self, result_id: str) -> str:
        """The JobResult's web page (not its API URL): the link people follow."""
        return f"{self.base_url}/extras/job-results/{result_id}/"

    # -- bodies ----------------------------------------------------------------------------------

    def expect(self, response: httpx.Response, what: str, status: int) -> None:
        if response.status_code != status:
            raise self.error(response, what)

    def parse(self, response: httpx.Response, what: str, build: Callable[[], T]) -> T:
        try:
            return build()
        except (ValidationError, TypeError, ValueError):
            raise self.unexpected(response, what) from None

    def json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except (ValueError, RecursionError):
            excerpt = self.excerpt(response)
            raise NautobotError(
                f"Nautobot's answer when asked to {what} is not JSON ({excerpt or 'empty'}). Check that "
                "NAUTOBOT_URL points at Nautobot itself, not a login page or another site.",
                status=response.status_code,
                detail=excerpt,
            ) from None

    def mapping(self, response: httpx.Response, what: str) -> dict[str, Any]:
        body = self.json(response, what)
        if not isinstance(body, dict):
            raise self.unexpected(response, what)
        return body

    def detail(self, response: httpx.Response) -> str:
        """Nautobot's ``detail`` text, else a short excerpt of the body."""
        body = _body(response)
        if isinstance(body, Mapping) and isinstance(body.get("detail"), str):
            return _cut(self.redact(body["detail"]), DETAIL_MAX)
        return self.excerpt(response)

    def excerpt(self, response: httpx.Response) -> str:
        """The start of the body as one line of text, tags taken out; only its first :data:`BODY_READ_MAX`
        characters are read."""
        return _cut(self.redact(_text_of(_head(response.text, BODY_READ_MAX))), EXCERPT_MAX)

    def redact(self, text: str) -> str:
        """Cut the token out of anything echoed back (a debug page or proxy could reflect headers).

        Only the first :data:`SCRUB_MAX` characters are read and returned.
        """
        token = self._token.get_secret_value()
        return scrub(_head(text, SCRUB_MAX), secrets=(token,), mask=MASK)

    # -- errors ----------------------------------------------------------------------------------

    def error(self, response: httpx.Response, what: str) -> NautobotError:
        """Map any status nobody handled more specifically to the right error."""
        status = response.status_code
        detail = self.detail(response)
        if status in (401, 403):
            return auth_error(status, detail, what)
        if 300 <= status < 400:
            return self.redirect(response, what)
        if status == 503 and "celery worker" in detail.casefold():
            return no_worker(detail)
        if status in _PROXY_STATUSES and not _has_json_detail(response):
            return self.proxy_error(response, what)
        if status >= 500:
            return NautobotServerError(
                f"Nautobot failed with {status} {response.reason_phrase} when asked to {what}: {detail}. "
                "This is a fault inside Nautobot, not in the request; check the Nautobot server logs, then try again.",
                status=status,
                detail=detail,
            )
        return NautobotError(
            f"Nautobot answered {status} {response.reason_phrase} when asked to {what}: {detail or '(empty body)'}. "
            "Nothing more was done; check the Nautobot logs, and that it runs Nautobot 2.x or 3.x.",
            status=status,
            detail=detail,
        )

    def unexpected(self, response: httpx.Response, what: str) -> NautobotError:
        return NautobotError(
            f"Nautobot's answer when asked to {what} has an unexpected shape ({self.excerpt(response)}). "
            "Check that NAUTOBOT_URL points at Nautobot 2.x or 3.x itself.",
            status=response.status_code,
            detail=self.excerpt(response),
        )

    def refused(self, response: httpx.Response, what: str) -> NautobotError:
        """A 400 to a plain create: Nautobot's reasons in one line."""
        errors = errors_of(_body(response), self.excerpt(response))
        return NautobotError(
            f"Nautobot refused to {what}: {summarise(errors)}.", status=400, detail=self.detail(response)
        )

    def field_errors(self, response: httpx.Response, job_id: str) -> JobFieldErrors:
        errors = errors_of(_body(response), self.excerpt(response))
        return JobFieldErrors(
            f"Nautobot refused the input for the Job {job_id}, so nothing ran: {summarise(errors)}. "
            "Correct these values and submit again.",
            errors=errors,
            status=response.status_code,
            detail=self.detail(response),
        )

    def result_not_found(self, response: httpx.Response, result_id: str) -> NautobotError:
        return NautobotError(
            f"Nautobot has no JobResult {result_id} that the bot's user can see; it may have been deleted, or the "
            f"user lacks view on extras.jobresult. Check {self.result_url(result_id)}.",
            status=404,
            detail=self.detail(response),
        )

    def cancel_not_found(self, response: httpx.Response, result_id: str) -> NautobotError:
        if "matches the given query" in self.detail(response):
            return self.result_not_found(response, result_id)
        return NautobotError(
            f"This Nautobot has no API to cancel a Job (it needs Nautobot 3.2 or later); nothing was cancelled. "
            f"Cancel the run in Nautobot's web UI: {self.result_url(result_id)}.",
            status=404,
            detail=self.detail(response),
        )

    def redirect(self, response: httpx.Response, what: str) -> NautobotError:
        location = response.headers.get("Location", "")
        return NautobotError(
            f"Nautobot at {self.base_url} answered {response.status_code} (redirect to {location or '?'}) when asked "
            f"to {what}. Set NAUTOBOT_URL to the address Nautobot itself serves (the scheme and host it redirects "
            "to, without /api), then restart the bot.",
            status=response.status_code,
            detail=location,
        )

    def proxy_error(self, response: httpx.Response, what: str) -> NautobotUnreachable:
        status = response.status_code
        excerpt = self.excerpt(response)
        if response.request.method != "GET" and status in _MAYBE_FORWARDED:
            reason = f"{status} {response.reason_phrase} from a proxy"
            return NautobotUnreachable(
                maybe_done(self.base_url, what, reason),
                status=status,
                detail=excerpt,
                request_sent=True,
                retryable=False,
            )
        return NautobotUnreachable(
            f"Nautobot at {self.base_url} is unavailable: {status} {response.reason_phrase} came from the web server "
            f"or proxy in front of it when asked to {what}. Nautobot may be starting or down; try again in a minute, "
            "and check the Nautobot web service if this persists.",
            status=status,
            detail=excerpt,
        )

    def unreachable(self, exc: httpx.TransportError, method: str, what: str) -> NautobotUnreachable:
        """No answer at all: whether the request may have reached Nautobot decides if it may be sent again."""
        reason = self.redact(transport_reason(exc))
        sent = not isinstance(exc, _NOT_SENT)
        if is_tls_failure(exc):
            message = (
                f"TLS verification failed while connecting to Nautobot at {self.base_url} ({reason}); nothing was "
                "sent. If Nautobot's certificate comes from a private CA, set NAUTOBOT_CA_BUNDLE to that CA's PEM "
                "file (NAUTOBOT_VERIFY_TLS=false turns checking off: only for testing)."
            )
        elif _is_dns_failure(exc):
            host = urlsplit(self.base_url).hostname or self.base_url
            message = (
                f"Cannot resolve {host}, the host in NAUTOBOT_URL ({reason}); nothing was sent to Nautobot. "
                "Check NAUTOBOT_URL and the bot's DNS, then try again."
            )
        elif not sent:
            message = (
                f"Cannot connect to Nautobot at {self.base_url} ({reason}); nothing was sent. Check that Nautobot "
                "is running and reachable from the bot and that NAUTOBOT_URL is right, then try again."
            )
        elif method != "GET":
            return NautobotUnreachable(
                maybe_done(self.base_url, what, reason), detail=reason, request_sent=True, retryable=False
            )
        elif isinstance(exc, httpx.TimeoutException):
            message = (
                f"Nautobot at {self.base_url} did not answer within {self._timeout:g} s when asked to {what}. "
                "It may be overloaded or restarting; try again in a minute."
            )
        else:
            message = (
                f"The connection to Nautobot at {self.base_url} broke when asked to {what} ({reason}). "
                "Try again in a minute; if it keeps happening, check Nautobot and any proxy in front of it."
            )
        return NautobotUnreachable(message, detail=reason, request_sent=sent)


def _head(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, less the word the limit cuts: a secret cut short is no
    longer one the patterns know (nor the token one ``replace`` finds), and no secret holds a space."""
    if len(text) <= limit or text[limit - 1].isspace() or text[limit].isspace():
        return text[:limit]
    words = text[:limit].rsplit(maxsplit=1)
    return words[0] if len(words) == 2 else ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return None


def _has_json_detail(response: httpx.Response) -> bool:
    body = _body(response)
    return isinstance(body, Mapping) and isinstance(body.get("detail"), str)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_tls_failure(exc: BaseException) -> bool:
    if any(isinstance(item, ssl.SSLError | ssl.CertificateError) for item in _causes(exc)):
        return True
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "[SSL" in text


def _is_dns_failure(exc: BaseException) -> bool:
    if any(isinstance(item, socket.gaierror) for item in _causes(exc)):
        return True
    text = str(exc).casefold()
    return any(hint in text for hint in ("name or service not known", "nodename nor servname", "name resolution"))


def transport_reason(exc: httpx.TransportError) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
