"""What every request to Nautobot's REST API shares: sending it (a GET sent again once after a transport
error), any paginated list or single object, and Nautobot's status.

:class:`~bot.nautobot.client.NautobotClient` adds the Jobs and their results on top; the chatops app and
the object search use only what is here. The client is built from plain values (URL, token, TLS), never
from the settings, so nothing in :mod:`bot.nautobot` depends on how the bot is configured.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from bot.nautobot.capabilities import Capabilities
from bot.nautobot.errors import NautobotError
from bot.nautobot.responses import Answers, is_tls_failure
from bot.nautobot.transport import http_client, log_request, normalise_base

RETRY_DELAY = 0.5
"""Seconds before the single retry of a GET that failed in transport."""
MAX_PAGES = 20
"""Pages :meth:`NautobotRest.list_objects` reads before it gives up on a list that keeps going."""
TIMEOUT = 15.0


class NautobotRest:
    """The connection to one Nautobot and the requests that are not about Jobs (Nautobot 2.x and 3.x)."""

    def __init__(
        self,
        base_url: str,
        token: str | SecretStr,
        *,
        verify: bool | str | os.PathLike[str] = True,
        timeout: float = TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        """``verify`` is whether to check Nautobot's certificate, or the CA bundle to check it with;
        ``on_retry`` is called each time a GET is sent again after a transport error (a metric counts it)."""
        self.base_url = normalise_base(base_url)
        self._on_retry = on_retry
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._answers = Answers(self.base_url, self._token, timeout)
        self._http = http_client(self.base_url, self._token, verify=verify, timeout=timeout, transport=transport)
        self.capabilities = Capabilities()
        """What this Nautobot can do, by the version its latest status answer named (unknown until one came)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def result_url(self, result_id: str) -> str:
        """The JobResult's web page (not its API URL): the link people follow."""
        return self._answers.result_url(result_id)

    def scheduled_url(self, scheduled_id: str) -> str:
        """The scheduled job's web page, where an approval can be looked at."""
        return f"{self.base_url}/extras/scheduled-jobs/{scheduled_id}/"

    async def status(self) -> dict[str, Any]:
        """``GET /api/status/``, plus ``"api-version"`` from the response header when Nautobot sends it.

        Each answer also updates :attr:`capabilities` (a Nautobot upgraded under the bot is noticed).
        """
        what = "read Nautobot's status"
        response = await self._request("GET", "/api/status/", what=what)
        self._answers.expect(response, what, 200)
        body = self._answers.mapping(response, what)
        api_version = response.headers.get("API-Version")
        if api_version and "api-version" not in body:
            body["api-version"] = api_version
        self.capabilities = Capabilities.from_status(body)
        return body

    # Any list or object (e.g. an app's API under /api/plugins/)

    async def list_objects(
        self, path: str, *, what: str, params: Sequence[tuple[str, str]] = (), page_size: int = 500
    ) -> list[dict[str, Any]]:
        """Every object of a paginated list endpoint, following ``next`` for at most :data:`MAX_PAGES` pages.

        ``params`` is a sequence of pairs, so a filter may be given several values (``command=a&command=b``).
        """
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            query = httpx.QueryParams([*params, ("limit", str(page_size)), ("offset", str(len(found)))])
            response = await self._request("GET", path, what=what, params=query)
            self._answers.expect(response, what, 200)
            body = self._answers.mapping(response, what)
            results = body.get("results")
            if not isinstance(results, list):
                raise self._answers.unexpected(response, what)
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
        self._answers.expect(response, what, 200)
        return self._answers.mapping(response, what)

    async def create_object(self, path: str, data: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """``POST`` one object (201); a POST is never retried."""
        response = await self._request("POST", path, what=what, json=dict(data))
        if response.status_code == 400:
            raise self._answers.refused(response, what)
        self._answers.expect(response, what, 201)
        return self._answers.mapping(response, what)

    async def probe(self, path: str) -> int | str:
        """The status of ``GET path?limit=1``, or the name of the transport error: may the token read there?"""
        try:
            response = await self._http.get(path, params={"limit": "1"})
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return response.status_code

    # Transport

    async def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: httpx.QueryParams | Mapping[str, str | int] | None = None,
        json: Any = None,
        read_only: bool = False,
    ) -> httpx.Response:
        """Send once; a GET (or a ``read_only`` query) is sent a second time after a transport error (but not
        after a TLS failure)."""
        attempts = 2 if method == "GET" or read_only else 1
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                response = await self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                log_request(method, path, type(exc).__name__, started)
                if attempt < attempts and not is_tls_failure(exc):
                    if self._on_retry is not None:
                        self._on_retry()
                    await asyncio.sleep(RETRY_DELAY)
                    continue
                raise self._answers.unreachable(exc, method, what) from exc
            log_request(method, path, response.status_code, started)
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def segment(value: str) -> str:
    """``value`` as one path segment of a URL: an id can never reach another endpoint."""
    return quote(str(value), safe="")
