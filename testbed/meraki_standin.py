"""A strict, local stand-in for the Meraki Dashboard API v1.

Integration tests run our Nautobot Job in a separate Celery worker process that talks
to this server through the real ``meraki`` SDK, while the pytest process owns the
server and reads or changes its state directly. The stand-in is deliberately stricter
than the SDK: it validates request bodies the way the dashboard does, so a payload the
real API would reject fails here too instead of passing silently.

Only the standard library is used, so the server runs anywhere the tests do.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from testbed.meraki_dashboard import DashboardApi, Org
from testbed.meraki_faults import Delay, Failure, Gathering, check_times, claim, compile_match
from testbed.meraki_replies import (
    ADMIN_NOT_FOUND,
    API_DISABLED,
    BAD_JSON,
    EMAIL_TAKEN,
    FORBIDDEN,
    INVALID_API_KEY,
    ORG_NOT_FOUND,
    RATE_LIMITED,
    SERVER_ERROR,
    Problem,
    RecordedRequest,
    Reply,
    default_error,
    error,
    parse_json,
)
from testbed.meraki_validation import ACCOUNT_STATUSES

__all__ = [
    "ADMIN_NOT_FOUND",
    "API_DISABLED",
    "API_PREFIX",
    "BAD_JSON",
    "EMAIL_TAKEN",
    "FORBIDDEN",
    "INVALID_API_KEY",
    "ORG_NOT_FOUND",
    "RATE_LIMITED",
    "SERVER_ERROR",
    "MerakiStandIn",
    "RecordedRequest",
]


API_PREFIX = "/api/v1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], standin: MerakiStandIn) -> None:
        super().__init__(address, _Handler)
        self.standin = standin


class _Handler(BaseHTTPRequestHandler):
    """Turns raw HTTP into a call on the stand-in; all behaviour lives in MerakiStandIn."""

    server: _Server
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.standin._serve(self.command, self.path, headers, body)
        with contextlib.suppress(OSError):  # the client gave up, e.g. its timeout expired during a delay
            self._send(reply)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log is the place to look, not stderr."""


class MerakiStandIn(DashboardApi):
    """Meraki Dashboard API v1 stand-in served from a daemon thread on localhost.

    Faults (``fail_with``/``delay``) apply to requests whose ``"METHOD /path"`` (path
    without ``/api/v1`` and without the query) matches ``match`` with ``re.search``;
    anchor the pattern with ``^...$`` to target one endpoint exactly.
    """

    def __init__(self, api_key: str = "standin-api-key", host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._failures: list[Failure] = []
        self._delays: list[Delay] = []
        self._gatherings: list[Gathering] = []
        super().__init__()

    # lifecycle

    def start(self) -> MerakiStandIn:
        """Bind and serve; a restart after ``stop`` reuses the port so ``base_url`` holds."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"meraki-standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; delayed requests are released at once."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        with self._lock:
            for gathering in self._gatherings:
                gathering.barrier.abort()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> MerakiStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The SDK's ``base_url``; it stays readable after ``stop`` to test refused connections."""
        if self.port == 0:
            raise RuntimeError("MerakiStandIn.base_url is only known after start()")
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    # state

    def add_organization(
        self,
        org_id: str,
        name: str,
        *,
        api_enabled: bool = True,
        forbidden: bool = False,
        listed: bool | None = None,
    ) -> dict[str, Any]:
        """Add an org; ``forbidden`` orgs answer 403 to every request about them.

        A forbidden org is hidden from the org list unless ``listed``: the dashboard lists an org
        whose own rules then refuse the key (an IP allow-list, say) like any other.
        """
        with self._lock:
            if org_id in self._orgs:
                raise ValueError(f"organization {org_id!r} already exists")
            self._orgs[org_id] = Org(org_id, name, api_enabled, forbidden, not forbidden if listed is None else listed)
            self._admins[org_id] = []
            return self._org_json(self._orgs[org_id])

    def add_network(self, org_id: str, net_id: str, name: str) -> dict[str, Any]:
        with self._lock:
            self._require_org(org_id)
            if net_id in self._networks:
                raise ValueError(f"network {net_id!r} already exists")
            self._networks[net_id] = self._network_json(org_id, net_id, name)
            return copy.deepcopy(self._networks[net_id])

    def add_admin(
        self,
        org_id: str,
        email: str,
        name: str,
        org_access: str = "read-only",
        networks: list[dict[str, str]] | None = None,
        *,
        tags: list[dict[str, str]] | None = None,
        account_status: str = "pending",
        two_factor: bool = False,
        last_active: str = "",
        has_api_key: bool = False,
    ) -> dict[str, Any]:
        """Seed an existing admin without validation, e.g. to provoke a duplicate."""
        if account_status not in ACCOUNT_STATUSES:
            raise ValueError(f"account_status must be one of {ACCOUNT_STATUSES}")
        with self._lock:
            self._require_org(org_id)
            admin = self._new_admin(email, name, org_access, tags or [], networks or [])
            admin.update(
                accountStatus=account_status,
                twoFactorAuthEnabled=two_factor,
                lastActive=last_active,
                hasApiKey=has_api_key,
            )
            self._admins[org_id].append(admin)
            return copy.deepcopy(admin)

    def update_admin(self, org_id: str, admin_id: str, **fields: Any) -> dict[str, Any]:
        """Change an admin without validation, as someone would by hand in the dashboard."""
        with self._lock:
            self._require_org(org_id)
            admin = next(a for a in self._admins[org_id] if a["id"] == admin_id)
            admin.update(copy.deepcopy(fields))
            return copy.deepcopy(admin)

    def set_identity(self, email: str, name: str) -> None:
        """Who the API key belongs to, as ``GET /administered/identities/me`` answers."""
        with self._lock:
            self._identity = {"email": email, "name": name}

    def admins(self, org_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._require_org(org_id)
            return copy.deepcopy(self._admins[org_id])

    def reset(self) -> None:
        """Forget everything except the API key; ``requests`` is cleared in place."""
        with self._lock:
            self.clear_faults()  # releases held requests too
            self._clear_state()
            self.requests.clear()

    # faults

    def fail_with(
        self,
        status: int,
        *,
        times: int | None = 1,
        match: str | None = None,
        retry_after: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer matching requests with ``status`` before auth and routing are looked at."""
        if status < 400:
            raise ValueError("fail_with needs an error status (>= 400)")
        check_times(times)
        reply = Reply(status, body if body is not None else {"errors": [default_error(status)]})
        if status == 429 or retry_after is not None:
            reply.headers["Retry-After"] = str(retry_after if retry_after is not None else 1)
        with self._lock:
            self._failures.append(Failure(times, compile_match(match), reply))

    def rate_limit(self, org_id: str, *, times: int, retry_after: int) -> None:
        """The next ``times`` requests about organization ``org_id`` get 429 with ``Retry-After: retry_after``.

        Meraki's limit is per organization, so requests about other organizations are unaffected.
        """
        self.fail_with(
            429, times=times, retry_after=retry_after, match=rf"^[A-Z]+ /organizations/{re.escape(org_id)}(/|$)"
        )

    def delay(self, seconds: float, *, times: int | None = None, match: str | None = None) -> None:
        """Hold matching requests for ``seconds`` before answering them."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        check_times(times)
        with self._lock:
            self._delays.append(Delay(times, compile_match(match), seconds))

    def gather(self, count: int, *, match: str, timeout: float) -> None:
        """Hold the next ``count`` matching requests until all of them have arrived, then answer them together.

        Each is answered from the state at that moment, so two clients that both read before either
        writes are made to, whatever their timing. When ``timeout`` passes first, the requests held so
        far and any later ones are answered at once.
        """
        if count < 2:
            raise ValueError("gather needs at least two requests")
        with self._lock:
            self._gatherings.append(Gathering(count, compile_match(match), threading.Barrier(count, timeout=timeout)))

    def clear_faults(self) -> None:
        with self._lock:
            self._failures.clear()
            self._delays.clear()
            for gathering in self._gatherings:
                gathering.barrier.abort()
            self._gatherings.clear()

    # observation

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches ``path_regex`` entirely."""
        pattern = re.compile(path_regex)
        with self._lock:
            return [
                request
                for request in self.requests
                if request.method == method.upper() and pattern.fullmatch(request.path)
            ]

    # request handling (runs on server threads)

    def _serve(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        url = urlsplit(raw_path)
        path = url.path[len(API_PREFIX) :] if url.path.startswith(API_PREFIX + "/") else url.path
        record = RecordedRequest(method, path, parse_qs(url.query, keep_blank_values=True), headers, parse_json(body))
        key = f"{method} {path}"
        with self._lock:
            self.requests.append(record)
            failure = claim(self._failures, key)
            delay = claim(self._delays, key)
            gathering = claim(self._gatherings, key)
        if delay is not None:
            self._stopping.wait(delay.seconds)
        if gathering is not None:
            gathering.wait()
        if failure is not None:
            reply = copy.deepcopy(failure.reply)
        else:
            reply = self._answer(record, body, in_api=url.path.startswith(API_PREFIX + "/"))
        record.status = reply.status
        return reply

    def _answer(self, record: RecordedRequest, body: bytes, *, in_api: bool) -> Reply:
        try:
            return self._respond(record, body, in_api=in_api)
        except Exception as exc:  # an answer must always go out, or the SDK retries blindly
            return error(500, f"Meraki stand-in failure: {exc!r}")

    def _respond(self, record: RecordedRequest, body: bytes, *, in_api: bool) -> Reply:
        with self._lock:
            if not self._authorized(record.headers):
                return error(401, INVALID_API_KEY)
            if not in_api:
                return error(404, "Not found")
            try:
                return self._route(record, body)
            except Problem as problem:
                return problem.reply

    def _authorized(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip() == self.api_key
        return headers.get("x-cisco-meraki-api-key") == self.api_key
