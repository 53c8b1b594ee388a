"""The Nautobot REST client: find a Job, read its variables, run it, follow its JobResult and log.

Every failure becomes a :class:`NautobotError` subclass whose ``str()`` tells a person what
happened and what to do next, so callers can show it as is. The API token lives in a
``SecretStr`` and is never part of a message, a log line or a ``repr``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import SecretStr, ValidationError

from bot.models import JobForm, JobRun, LogEntry

__all__ = [
    "JobDisabled",
    "JobFieldErrors",
    "JobInfo",
    "JobNotFound",
    "NautobotAuthError",
    "NautobotClient",
    "NautobotError",
    "NautobotServerError",
    "NautobotUnreachable",
    "NoWorker",
    "Submission",
]

logger = logging.getLogger("bot.nautobot")

RETRY_DELAY = 0.5
"""Seconds before the single retry of a GET that failed in transport."""
MAX_PAGES = 20
"""Pages :meth:`NautobotClient.list_objects` reads before it gives up on a list that keeps going."""

EXCERPT_MAX = 200
PERMISSIONS_HINT = (
    "Give the bot's Nautobot user an ObjectPermission with the actions view and run on extras.job, "
    "and view on extras.jobresult and extras.joblogentry; running a Job also needs a token with Write enabled."
)
_CREDENTIAL_HINT = "Create a new API token for the bot's Nautobot user, set NAUTOBOT_TOKEN to it and restart the bot."
_PROXY_STATUSES = frozenset({502, 503, 504})
_MAYBE_FORWARDED = frozenset({502, 504})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_QUEUE = re.compile(r"on queue (?P<queue>\S+?)\.?$")

T = TypeVar("T")


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


@dataclass(frozen=True)
class JobInfo:
    """One Job record from ``GET /api/extras/jobs/``."""

    id: str
    name: str
    enabled: bool
    installed: bool
    description: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> JobInfo:
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name") or ""),
            enabled=bool(data.get("enabled")),
            installed=bool(data.get("installed", True)),
            description=str(data.get("description") or ""),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Submission:
    """What ``POST .../run/`` answered: a queued run, or a scheduled job awaiting approval."""

    run: JobRun | None
    scheduled_job_id: str | None
    scheduled_url: str | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def awaiting_approval(self) -> bool:
        return self.run is None and self.scheduled_job_id is not None


class _TokenAuth(httpx.Auth):
    """Adds ``Authorization: Token <key>`` at send time, so no header dict holds the key beforehand."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Token {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_TokenAuth(token=**********)"


class NautobotClient:
    """Async client for the parts of Nautobot's REST API the bot uses (Nautobot 2.x and 3.x)."""

    def __init__(
        self,
        base_url: str,
        token: str | SecretStr,
        *,
        verify: bool | str | os.PathLike[str] = True,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = _normalise_base(base_url)
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=_TokenAuth(self._token),
            headers={"Accept": "application/json", "User-Agent": "meraki-chatops"},
            timeout=httpx.Timeout(timeout),
            verify=_tls(verify) if transport is None else True,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"NautobotClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> NautobotClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def result_url(self, result_id: str) -> str:
        """The JobResult's web page (not its API URL): the link people follow."""
        return f"{self.base_url}/extras/job-results/{result_id}/"

    def scheduled_url(self, scheduled_id: str) -> str:
        """The scheduled job's web page, where an approval can be looked at."""
        return f"{self.base_url}/extras/scheduled-jobs/{scheduled_id}/"

    # Jobs

    async def find_job(self, name: str) -> JobInfo:
        """The Job named ``name``; raises :class:`JobNotFound` when the search is empty."""
        what = f"look up the Job {name!r}"
        response = await self._request("GET", "/api/extras/jobs/", what=what, params={"name": name})
        self._expect(response, what, 200)
        body = self._json(response, what)
        results = body.get("results") if isinstance(body, Mapping) else body
        if not isinstance(results, list):
            raise self._unexpected(response, what)
        matches = [item for item in results if isinstance(item, Mapping)]
        if not matches:
            raise _job_not_found(name, status=response.status_code)
        exact = next((item for item in matches if item.get("name") == name), matches[0])
        return JobInfo.from_api(exact)

    async def job_form(self, name: str) -> JobForm:
        """The Job and its variables in field order, ready for the Slack modal."""
        job = await self.find_job(name)
        what = f"read the variables of the Job {name!r}"
        response = await self._request("GET", f"/api/extras/jobs/{_segment(job.id)}/variables/", what=what)
        if response.status_code == 404:
            raise _job_not_found(name, status=404, detail=self._detail(response))
        self._expect(response, what, 200)
        variables = self._json(response, what)
        if not isinstance(variables, list):
            raise self._unexpected(response, what)
        return self._parse(response, what, lambda: JobForm.from_api(job.raw, variables))

    async def run_job(self, job_id: str, data: dict[str, Any]) -> Submission:
        """Run the Job once; a POST is never retried, since a retry could run the Job twice."""
        what = f"run the Job {job_id}"
        path = f"/api/extras/jobs/{_segment(job_id)}/run/"
        response = await self._request("POST", path, what=what, json={"data": data})
        if response.status_code == 201:
            return self._submission(response, what)
        raise await self._run_error(response, job_id, what)

    # Results

    async def job_result(self, result_id: str) -> JobRun:
        """A snapshot of the JobResult, its ``url`` being the web page."""
        what = f"read the JobResult {result_id}"
        response = await self._request("GET", f"/api/extras/job-results/{_segment(result_id)}/", what=what)
        if response.status_code == 404:
            raise self._result_not_found(response, result_id)
        self._expect(response, what, 200)
        return self._job_run(response, what)

    async def job_results(self, result_ids: list[str]) -> dict[str, JobRun]:
        """Snapshots of many JobResults in one request, by id; ids Nautobot does not return are left out."""
        what = f"read {len(result_ids)} JobResults"
        params = [("id", result_id) for result_id in result_ids] + [("limit", str(len(result_ids)))]
        response = await self._request("GET", "/api/extras/job-results/", what=what, params=params)
        self._expect(response, what, 200)
        found = self._mapping(response, what).get("results") or []
        runs = self._parse(response, what, lambda: [JobRun.from_api(item, self.base_url) for item in found])
        return {run.result_id: run for run in runs}

    async def results_since(self, job_id: str, since: datetime) -> list[dict[str, Any]]:
        """This Job's results created since ``since``, newest first, as Nautobot sends them.

        A bot that died while sending a run looks here for it before sending it again.
        """
        what = "list the Job's recent results"
        params = {"job_model": job_id, "date_created__gte": since.isoformat(), "limit": 100}
        response = await self._request("GET", "/api/extras/job-results/", what=what, params=params)
        self._expect(response, what, 200)
        return list(self._json(response, what).get("results") or [])

    async def job_logs(self, result_id: str) -> list[LogEntry]:
        """Every log line of the run, oldest first (the first is Nautobot's ``initialization`` line)."""
        what = f"read the log of the JobResult {result_id}"
        response = await self._request("GET", f"/api/extras/job-results/{_segment(result_id)}/logs/", what=what)
        if response.status_code == 404:
            raise self._result_not_found(response, result_id)
        self._expect(response, what, 200)
        items = self._json(response, what)
        if not isinstance(items, list):
            raise self._unexpected(response, what)
        entries = self._parse(response, what, lambda: [LogEntry.from_api(item) for item in items])
        return sorted(entries, key=lambda entry: entry.created)

    async def scheduled_job(self, scheduled_id: str) -> dict[str, Any]:
        """The scheduled job record (its ``state`` tells whether an approval is pending)."""
        what = f"read the scheduled job {scheduled_id}"
        response = await self._request("GET", f"/api/extras/scheduled-jobs/{_segment(scheduled_id)}/", what=what)
        if response.status_code == 404:
            raise NautobotError(
                f"Nautobot has no scheduled job {scheduled_id} that the bot's user can see; it may have been "
                f"approved, denied or deleted. Check {self.scheduled_url(scheduled_id)}.",
                status=404,
                detail=self._detail(response),
            )
        self._expect(response, what, 200)
        return self._mapping(response, what)

    async def scheduled_run(self, scheduled_id: str) -> JobRun | None:
        """The run an approved scheduled job started, once Nautobot's scheduler has started it."""
        what = f"look for the run of the scheduled job {scheduled_id}"
        params = {"scheduled_job": scheduled_id, "limit": 1}
        response = await self._request("GET", "/api/extras/job-results/", what=what, params=params)
        self._expect(response, what, 200)
        results = self._mapping(response, what).get("results") or []
        if not results:
            return None
        return self._parse(response, what, lambda: JobRun.from_api(results[0], self.base_url))

    async def cancel(self, result_id: str) -> JobRun:
        """Cancel a queued or running Job (Nautobot 3.2+); an already finished run is returned as is."""
        what = f"cancel the JobResult {result_id}"
        response = await self._request("POST", f"/api/extras/job-results/{_segment(result_id)}/cancel/", what=what)
        if response.status_code == 200:
            return self._job_run(response, what)
        if response.status_code == 409:
            return await self.job_result(result_id)
        if response.status_code == 404:
            raise self._cancel_not_found(response, result_id)
        raise self._error(response, what)

    async def status(self) -> dict[str, Any]:
        """``GET /api/status/``, plus ``"api-version"`` from the response header when Nautobot sends it."""
        what = "read Nautobot's status"
        response = await self._request("GET", "/api/status/", what=what)
        self._expect(response, what, 200)
        body = self._mapping(response, what)
        api_version = response.headers.get("API-Version")
        if api_version and "api-version" not in body:
            body["api-version"] = api_version
        return body

    # Any other list or object (e.g. an app's API under /api/plugins/)

    async def list_objects(
        self, path: str, *, what: str, params: Sequence[tuple[str, str]] = (), page_size: int = 500
    ) -> list[dict[str, Any]]:
        """Every object of a paginated list endpoint, following ``next`` for at most :data:`MAX_PAGES` pages.

        ``params`` is a sequence of pairs, so a filter may be given several values (``command=a&command=b``).
        """
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            query = httpx.QueryParams([*params, ("limit", str(page_size)), ("offset", str(len(found)))])
            response = await self._request("GET", path, what=what, params=query)  # type: ignore[arg-type]
            self._expect(response, what, 200)
            body = self._mapping(response, what)
            results = body.get("results")
            if not isinstance(results, list):
                raise self._unexpected(response, what)
            found += [item for item in results if isinstance(item, dict)]
            if not body.get("next") or not results:
                return found
        raise NautobotError(
            f"Nautobot listed more than {MAX_PAGES * page_size} objects when asked to {what}; the bot read none "
            "of them. Remove the objects that are no longer needed.",
        )

    async def get_object(self, path: str, *, what: str, params: Mapping[str, str] | None = None) -> dict | None:
        """One object, or None when Nautobot has none the bot's user can see (404)."""
        response = await self._request("GET", path, what=what, params=dict(params or {}))
        if response.status_code == 404:
            return None
        self._expect(response, what, 200)
        return self._mapping(response, what)

    async def create_object(self, path: str, data: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """``POST`` one object (201); a POST is never retried."""
        response = await self._request("POST", path, what=what, json=dict(data))
        if response.status_code == 400:
            errors = _errors_of(self._body(response), self._excerpt(response))
            raise NautobotError(
                f"Nautobot refused to {what}: {_summarise(errors)}.", status=400, detail=self._detail(response)
            )
        self._expect(response, what, 201)
        return self._mapping(response, what)

    # Transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send once; a GET is sent a second time after a transport error (but not after a TLS failure)."""
        attempts = 2 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                response = await self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                _log_request(method, path, type(exc).__name__, started)
                if attempt < attempts and not _is_tls_failure(exc):
                    await asyncio.sleep(RETRY_DELAY)
                    continue
                raise self._unreachable(exc, method, what) from exc
            _log_request(method, path, response.status_code, started)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, exc: httpx.TransportError, method: str, what: str) -> NautobotUnreachable:
        reason = self._redact(_reason(exc))
        sent = not isinstance(exc, _NOT_SENT)
        if _is_tls_failure(exc):
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
                _maybe_done(self.base_url, what, reason), detail=reason, request_sent=True, retryable=False
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

    # Responses

    def _expect(self, response: httpx.Response, what: str, status: int) -> None:
        if response.status_code != status:
            raise self._error(response, what)

    def _error(self, response: httpx.Response, what: str) -> NautobotError:
        """Map any status nobody handled more specifically to the right error."""
        status = response.status_code
        detail = self._detail(response)
        if status in (401, 403):
            return _auth_error(status, detail, what)
        if 300 <= status < 400:
            return self._redirect(response, what)
        if status == 503 and "celery worker" in detail.casefold():
            return _no_worker(detail)
        if status in _PROXY_STATUSES and not self._has_json_detail(response):
            return self._proxy_error(response, what)
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

    async def _run_error(self, response: httpx.Response, job_id: str, what: str) -> NautobotError:
        status = response.status_code
        detail = self._detail(response)
        if status == 400:
            return self._field_errors(response, job_id)
        if status == 403 and "not enabled" in detail:
            return JobDisabled(
                f"The Job {job_id} is not enabled to be run in Nautobot, so nothing ran. Enable it in Nautobot "
                "(Jobs → Edit → Enabled) and try again.",
                job=job_id,
                status=status,
                detail=detail,
            )
        if status == 405:
            return JobDisabled(
                f"The Job {job_id} cannot run because Nautobot does not have its code installed ({detail}); nothing "
                "ran. Sync the Git repository that holds it (Extensibility → Git Repositories → Sync) and try again.",
                job=job_id,
                installed=False,
                status=status,
                detail=detail,
            )
        if status == 404:
            return await self._run_not_found(job_id, detail)
        return self._error(response, what)

    async def _run_not_found(self, job_id: str, detail: str) -> NautobotError:
        """A 404 on ``/run/`` while the Job is visible means no ``run`` action: Nautobot restricts by it."""
        what = f"look up the Job {job_id}"
        probe = await self._request("GET", f"/api/extras/jobs/{_segment(job_id)}/", what=what)
        if probe.status_code == 404:
            return _job_not_found(job_id, status=404, detail=detail)
        if probe.status_code != 200:
            return self._error(probe, what)
        return NautobotAuthError(
            f"The bot's Nautobot user can see the Job {job_id} but may not run it, so nothing ran: no "
            "ObjectPermission gives it the run action on this Job. Add the action run to its ObjectPermission "
            "on extras.job (and check that the permission's constraints include this Job).",
            status=404,
            detail=detail,
        )

    def _field_errors(self, response: httpx.Response, job_id: str) -> JobFieldErrors:
        body = self._body(response)
        errors = _errors_of(body, self._excerpt(response))
        return JobFieldErrors(
            f"Nautobot refused the input for the Job {job_id}, so nothing ran: {_summarise(errors)}. "
            "Correct these values and submit again.",
            errors=errors,
            status=response.status_code,
            detail=self._detail(response),
        )

    def _submission(self, response: httpx.Response, what: str) -> Submission:
        body = self._mapping(response, what)
        result = body.get("job_result")
        scheduled = body.get("scheduled_job", body.get("schedule"))
        if not isinstance(result, Mapping) and not isinstance(scheduled, Mapping):
            raise self._unexpected(response, what)
        run = self._parse(response, what, lambda: JobRun.from_api(result, self.base_url)) if result else None
        scheduled_id = str(scheduled.get("id", "")) if isinstance(scheduled, Mapping) else ""
        return Submission(
            run=run,
            scheduled_job_id=scheduled_id or None,
            scheduled_url=self.scheduled_url(scheduled_id) if scheduled_id else None,
            raw=body,
        )

    def _job_run(self, response: httpx.Response, what: str) -> JobRun:
        body = self._mapping(response, what)
        return self._parse(response, what, lambda: JobRun.from_api(body, self.base_url))

    def _result_not_found(self, response: httpx.Response, result_id: str) -> NautobotError:
        return NautobotError(
            f"Nautobot has no JobResult {result_id} that the bot's user can see; it may have been deleted, or the "
            f"user lacks view on extras.jobresult. Check {self.result_url(result_id)}.",
            status=404,
            detail=self._detail(response),
        )

    def _cancel_not_found(self, response: httpx.Response, result_id: str) -> NautobotError:
        if "matches the given query" in self._detail(response):
            return self._result_not_found(response, result_id)
        return NautobotError(
            f"This Nautobot has no API to cancel a Job (it needs Nautobot 3.2 or later); nothing was cancelled. "
            f"Cancel the run in Nautobot's web UI: {self.result_url(result_id)}.",
            status=404,
            detail=self._detail(response),
        )

    def _redirect(self, response: httpx.Response, what: str) -> NautobotError:
        location = response.headers.get("Location", "")
        return NautobotError(
            f"Nautobot at {self.base_url} answered {response.status_code} (redirect to {location or '?'}) when asked "
            f"to {what}. Set NAUTOBOT_URL to the address Nautobot itself serves (the scheme and host it redirects "
            "to, without /api), then restart the bot.",
            status=response.status_code,
            detail=location,
        )

    def _proxy_error(self, response: httpx.Response, what: str) -> NautobotUnreachable:
        status = response.status_code
        excerpt = self._excerpt(response)
        if response.request.method != "GET" and status in _MAYBE_FORWARDED:
            reason = f"{status} {response.reason_phrase} from a proxy"
            return NautobotUnreachable(
                _maybe_done(self.base_url, what, reason),
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

    def _unexpected(self, response: httpx.Response, what: str) -> NautobotError:
        return NautobotError(
            f"Nautobot's answer when asked to {what} has an unexpected shape ({self._excerpt(response)}). "
            "Check that NAUTOBOT_URL points at Nautobot 2.x or 3.x itself.",
            status=response.status_code,
            detail=self._excerpt(response),
        )

    def _parse(self, response: httpx.Response, what: str, build: Callable[[], T]) -> T:
        try:
            return build()
        except (ValidationError, TypeError, ValueError):
            raise self._unexpected(response, what) from None

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            excerpt = self._excerpt(response)
            raise NautobotError(
                f"Nautobot's answer when asked to {what} is not JSON ({excerpt or 'empty'}). Check that "
                "NAUTOBOT_URL points at Nautobot itself, not a login page or another site.",
                status=response.status_code,
                detail=excerpt,
            ) from None

    def _mapping(self, response: httpx.Response, what: str) -> dict[str, Any]:
        body = self._json(response, what)
        if not isinstance(body, dict):
            raise self._unexpected(response, what)
        return body

    @staticmethod
    def _body(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _has_json_detail(self, response: httpx.Response) -> bool:
        body = self._body(response)
        return isinstance(body, Mapping) and isinstance(body.get("detail"), str)

    def _detail(self, response: httpx.Response) -> str:
        """Nautobot's ``detail`` text, else a short excerpt of the body."""
        body = self._body(response)
        if isinstance(body, Mapping) and isinstance(body.get("detail"), str):
            return self._redact(body["detail"])
        return self._excerpt(response)

    def _excerpt(self, response: httpx.Response) -> str:
        text = " ".join(_TAGS.sub(" ", response.text).split())
        text = self._redact(text)
        return text if len(text) <= EXCERPT_MAX else text[: EXCERPT_MAX - 1] + "…"

    def _redact(self, text: str) -> str:
        """Cut the token out of anything echoed back (a debug page or proxy could reflect headers)."""
        secret = self._token.get_secret_value()
        return text.replace(secret, "**********") if secret else text


def _normalise_base(base_url: str) -> str:
    base = str(base_url).strip().rstrip("/")
    return base.removesuffix("/api") if base.endswith("/api") else base


def _tls(verify: bool | str | os.PathLike[str]) -> bool | ssl.SSLContext:
    """httpx 0.28 wants an ``SSLContext`` for a CA bundle; a path string is deprecated there."""
    if isinstance(verify, bool):
        return verify
    try:
        return ssl.create_default_context(cafile=os.fspath(verify))
    except (OSError, ssl.SSLError) as exc:
        raise NautobotError(
            f"Cannot load the CA bundle {os.fspath(verify)} ({exc}). Set NAUTOBOT_CA_BUNDLE to a readable PEM file "
            "holding the CA that signed Nautobot's certificate, then restart the bot.",
            detail=str(exc),
        ) from None


def _segment(value: str) -> str:
    return quote(str(value), safe="")


def _log_request(method: str, path: str, status: int | str, started: float) -> None:
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    logger.debug(
        "nautobot request method=%s path=%s status=%s elapsed_ms=%s",
        method,
        path,
        status,
        elapsed_ms,
        extra={"method": method, "path": path, "status": status, "elapsed_ms": elapsed_ms},
    )


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_tls_failure(exc: BaseException) -> bool:
    if any(isinstance(item, ssl.SSLError | ssl.CertificateError) for item in _causes(exc)):
        return True
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "[SSL" in text


def _is_dns_failure(exc: BaseException) -> bool:
    if any(isinstance(item, socket.gaierror) for item in _causes(exc)):
        return True
    text = str(exc).casefold()
    return any(hint in text for hint in ("name or service not known", "nodename nor servname", "name resolution"))


def _reason(exc: httpx.TransportError) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _maybe_done(base_url: str, what: str, reason: str) -> str:
    return (
        f"Nautobot at {base_url} gave no answer when asked to {what} ({reason}); the request may still have been "
        f"carried out. Look for the run in Nautobot ({base_url}/extras/job-results/) before trying again."
    )


def _auth_error(status: int, detail: str, what: str) -> NautobotAuthError:
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


def _job_not_found(job: str, *, status: int | None, detail: str = "") -> JobNotFound:
    return JobNotFound(
        f"No Job named {job!r} in Nautobot that the bot's user can see, so nothing ran. Add (and sync) the Git "
        "repository that holds it in Nautobot, or check NAUTOBOT_JOB_NAME; the user also needs view on extras.job.",
        job=job,
        status=status,
        detail=detail,
    )


def _no_worker(detail: str) -> NoWorker:
    match = _QUEUE.search(detail)
    queue = match.group("queue") if match else None
    return NoWorker(
        f"Nautobot has no Celery worker running on queue {queue or 'default'}, so the Job was not queued and "
        "nothing ran. Start a Nautobot Celery worker (nautobot-server celery worker) and try again.",
        queue=queue,
        detail=detail,
    )


def _errors_of(body: Any, excerpt: str) -> dict[str, list[str]] | list[str]:
    """Nautobot's 400: ``{"errors": {...}}``, ``{"errors": [...]}``, or DRF's top-level field map."""
    errors = body.get("errors", body) if isinstance(body, Mapping) else body
    if isinstance(errors, Mapping):
        if set(errors) == {"detail"}:
            return _messages(errors["detail"])
        return {str(key): _messages(value) for key, value in errors.items()}
    if isinstance(errors, list | str):
        return _messages(errors)
    return [excerpt] if excerpt else ["Nautobot refused the request without saying why."]


def _messages(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [f"{key}: {text}" for key, item in value.items() for text in _messages(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _messages(item)]
    return [str(value)]


def _summarise(errors: dict[str, list[str]] | list[str], limit: int = 5) -> str:
    if isinstance(errors, Mapping):
        parts = [f"{name}: {' '.join(texts)}" for name, texts in errors.items()]
    else:
        parts = list(errors)
    shown = "; ".join(parts[:limit])
    return shown + (f"; and {len(parts) - limit} more" if len(parts) > limit else "")
