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
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

API_PREFIX = "/api/v1"

ORG_ACCESS_LEVELS = ("full", "read-only", "enterprise", "none")
TARGET_ACCESS_LEVELS = ("full", "read-only", "guest-ambassador", "monitor-only")
ADMIN_FIELDS = ("email", "name", "orgAccess", "tags", "networks", "authenticationMethod")
UPDATABLE_ADMIN_FIELDS = ("name", "orgAccess", "tags", "networks")
ACCOUNT_STATUSES = ("ok", "pending", "locked", "unverified")

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

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_FIRST_ADMIN_ID = 646829496481090000


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
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _Problem(Exception):
    """Raised by endpoint code to answer with a Meraki-style error body."""

    def __init__(self, status: int, *messages: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, messages)
        self.reply = _error(status, *messages, headers=headers)


@dataclass
class _Fault:
    """Base for injected behaviour limited by a regex and a remaining count."""

    times: int | None
    match: re.Pattern[str] | None

    def claim(self, key: str) -> bool:
        """Consume one use if this fault applies to ``key`` ("METHOD /path")."""
        if self.times == 0 or (self.match is not None and not self.match.search(key)):
            return False
        if self.times is not None:
            self.times -= 1
        return True


@dataclass
class _Failure(_Fault):
    reply: _Reply


@dataclass
class _Delay(_Fault):
    seconds: float


@dataclass
class _Gathering(_Fault):
    barrier: threading.Barrier

    def wait(self) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):  # timed out, or the stand-in stopped
            self.barrier.wait()


_F = TypeVar("_F", bound=_Fault)


@dataclass
class _Org:
    id: str
    name: str
    api_enabled: bool
    forbidden: bool
    listed: bool


@dataclass
class _Call:
    record: RecordedRequest
    body: bytes
    params: dict[str, str]


def _error(status: int, *messages: str, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, {"errors": list(messages)}, dict(headers or {}))


def _one_of(values: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in values]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern is not None else None


def _check_times(times: int | None) -> None:
    if times is not None and times < 1:
        raise ValueError("times must be a positive integer or None")


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

    def _send(self, reply: _Reply) -> None:
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


class MerakiStandIn:
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
        self._admin_ids = itertools.count(_FIRST_ADMIN_ID)
        self._clear_state()

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
            self._orgs[org_id] = _Org(org_id, name, api_enabled, forbidden, not forbidden if listed is None else listed)
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
        _check_times(times)
        reply = _Reply(status, body if body is not None else {"errors": [_default_error(status)]})
        if status == 429 or retry_after is not None:
            reply.headers["Retry-After"] = str(retry_after if retry_after is not None else 1)
        with self._lock:
            self._failures.append(_Failure(times, _compile(match), reply))

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
        _check_times(times)
        with self._lock:
            self._delays.append(_Delay(times, _compile(match), seconds))

    def gather(self, count: int, *, match: str, timeout: float) -> None:
        """Hold the next ``count`` matching requests until all of them have arrived, then answer them together.

        Each is answered from the state at that moment, so two clients that both read before either
        writes are made to, whatever their timing. When ``timeout`` passes first, the requests held so
        far and any later ones are answered at once.
        """
        if count < 2:
            raise ValueError("gather needs at least two requests")
        with self._lock:
            self._gatherings.append(_Gathering(count, _compile(match), threading.Barrier(count, timeout=timeout)))

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

    def _serve(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Reply:
        url = urlsplit(raw_path)
        path = url.path[len(API_PREFIX) :] if url.path.startswith(API_PREFIX + "/") else url.path
        record = RecordedRequest(method, path, parse_qs(url.query, keep_blank_values=True), headers, _parse_json(body))
        key = f"{method} {path}"
        with self._lock:
            self.requests.append(record)
            failure = self._claim(self._failures, key)
            delay = self._claim(self._delays, key)
            gathering = self._claim(self._gatherings, key)
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

    @staticmethod
    def _claim(faults: list[_F], key: str) -> _F | None:
        """Faults are claimed on arrival, so a held request cannot use up a later fault."""
        return next((fault for fault in faults if fault.claim(key)), None)

    def _answer(self, record: RecordedRequest, body: bytes, *, in_api: bool) -> _Reply:
        try:
            return self._respond(record, body, in_api=in_api)
        except Exception as exc:  # an answer must always go out, or the SDK retries blindly
            return _error(500, f"Meraki stand-in failure: {exc!r}")

    def _respond(self, record: RecordedRequest, body: bytes, *, in_api: bool) -> _Reply:
        with self._lock:
            if not self._authorized(record.headers):
                return _error(401, INVALID_API_KEY)
            if not in_api:
                return _error(404, "Not found")
            try:
                return self._route(record, body)
            except _Problem as problem:
                return problem.reply

    def _authorized(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip() == self.api_key
        return headers.get("x-cisco-meraki-api-key") == self.api_key

    def _route(self, record: RecordedRequest, body: bytes) -> _Reply:
        for pattern, handlers in self._routes():
            found = pattern.fullmatch(record.path)
            if found is None:
                continue
            handler = handlers.get(record.method)
            if handler is None:
                allowed = ", ".join(handlers)
                raise _Problem(405, "Method not allowed", headers={"Allow": allowed})
            params = {name: unquote(value) for name, value in found.groupdict().items()}
            return handler(_Call(record, body, params))
        raise _Problem(404, "Not found")

    def _routes(self) -> list[tuple[re.Pattern[str], dict[str, Callable[[_Call], _Reply]]]]:
        org = r"/organizations/(?P<org_id>[^/]+)"
        return [
            (re.compile(r"/organizations"), {"GET": self._list_organizations}),
            (re.compile(org), {"GET": self._get_organization}),
            (re.compile(org + "/networks"), {"GET": self._list_networks}),
            (re.compile(org + "/admins"), {"GET": self._list_admins, "POST": self._create_admin}),
            (
                re.compile(org + r"/admins/(?P<admin_id>[^/]+)"),
                {"PUT": self._update_admin, "DELETE": self._delete_admin},
            ),
            (re.compile(r"/administered/identities/me"), {"GET": self._identity_me}),
        ]

    # endpoints

    def _list_organizations(self, call: _Call) -> _Reply:
        visible = [self._org_json(org) for org in self._orgs.values() if org.listed]
        return self._paginate(visible, call, default=9000, maximum=9000)

    def _get_organization(self, call: _Call) -> _Reply:
        return _Reply(200, self._org_json(self._accessible_org(call.params["org_id"])))

    def _list_networks(self, call: _Call) -> _Reply:
        org = self._accessible_org(call.params["org_id"])
        networks = [n for n in self._networks.values() if n["organizationId"] == org.id]
        return self._paginate(copy.deepcopy(networks), call, default=1000, maximum=100000)

    def _list_admins(self, call: _Call) -> _Reply:
        org = self._accessible_org(call.params["org_id"])
        wanted = set(call.record.query.get("networkIds[]", []))
        admins = [
            admin
            for admin in self._admins[org.id]
            if not wanted or wanted & {network["id"] for network in admin["networks"]}
        ]
        return _Reply(200, copy.deepcopy(admins))

    def _create_admin(self, call: _Call) -> _Reply:
        org = self._accessible_org(call.params["org_id"])
        payload = _json_object(call.body)
        problems = self._admin_problems(org.id, payload)
        if problems:
            raise _Problem(400, *problems)
        admin = self._new_admin(
            payload["email"],
            payload["name"],
            payload["orgAccess"],
            payload.get("tags", []),
            payload.get("networks", []),
        )
        self._admins[org.id].append(admin)
        return _Reply(201, copy.deepcopy(admin))

    def _update_admin(self, call: _Call) -> _Reply:
        org = self._accessible_org(call.params["org_id"])
        admin = self._find_admin(org.id, call.params["admin_id"])
        payload = _json_object(call.body)
        problems = _string_problems(payload, "name")
        if "orgAccess" in payload and payload["orgAccess"] not in ORG_ACCESS_LEVELS:
            problems.append(f"'orgAccess' must be one of: {_one_of(ORG_ACCESS_LEVELS)}")
        problems += _access_list_problems(payload, "tags", "tag")
        problems += _access_list_problems(payload, "networks", "id")
        problems += self._unknown_network_problems(org.id, payload.get("networks"))
        problems += [f"Unrecognized parameter '{k}'" for k in payload if k not in UPDATABLE_ADMIN_FIELDS]
        if problems:
            raise _Problem(400, *problems)
        admin.update(copy.deepcopy(payload))
        return _Reply(200, copy.deepcopy(admin))

    def _delete_admin(self, call: _Call) -> _Reply:
        org = self._accessible_org(call.params["org_id"])
        admin = self._find_admin(org.id, call.params["admin_id"])
        self._admins[org.id].remove(admin)
        return _Reply(204)

    def _identity_me(self, call: _Call) -> _Reply:
        return _Reply(
            200,
            {
                **self._identity,
                "lastUsedDashboardAt": "2026-11-01T09:30:00.000000Z",
                "authentication": {
                    "mode": "email",
                    "api": {"key": {"created": True}},
                    "twoFactor": {"enabled": False},
                    "saml": {"enabled": False},
                },
            },
        )

    def _find_admin(self, org_id: str, admin_id: str) -> dict[str, Any]:
        admin = next((a for a in self._admins[org_id] if a["id"] == admin_id), None)
        if admin is None:
            raise _Problem(404, ADMIN_NOT_FOUND)
        return admin

    # validation

    def _admin_problems(self, org_id: str, payload: dict[str, Any]) -> list[str]:
        """Every reason the dashboard would refuse this admin, so one call shows them all."""
        required = ("email", "name", "orgAccess")
        problems = [f"'{key}' must be specified" for key in required if key not in payload]
        problems += _email_problems(payload)
        problems += _string_problems(payload, "name")
        if "orgAccess" in payload and payload["orgAccess"] not in ORG_ACCESS_LEVELS:
            problems.append(f"'orgAccess' must be one of: {_one_of(ORG_ACCESS_LEVELS)}")
        problems += _access_list_problems(payload, "tags", "tag")
        problems += _access_list_problems(payload, "networks", "id")
        problems += self._unknown_network_problems(org_id, payload.get("networks"))
        if "authenticationMethod" in payload and payload["authenticationMethod"] != "Email":
            problems.append("'authenticationMethod' must be 'Email'")
        problems += [f"Unrecognized parameter '{k}'" for k in payload if k not in ADMIN_FIELDS]
        if not problems and self._email_taken(org_id, payload["email"]):
            problems.append(EMAIL_TAKEN)
        return problems

    def _unknown_network_problems(self, org_id: str, networks: Any) -> list[str]:
        if not isinstance(networks, list):
            return []
        ids = [item.get("id") for item in networks if isinstance(item, dict)]
        return [
            f"Network '{net_id}' does not exist in organization '{org_id}'"
            for net_id in ids
            if isinstance(net_id, str) and net_id.strip() and not self._in_org(net_id, org_id)
        ]

    def _in_org(self, net_id: str, org_id: str) -> bool:
        return self._networks.get(net_id, {}).get("organizationId") == org_id

    def _email_taken(self, org_id: str, email: str) -> bool:
        wanted = email.casefold()
        return any(admin["email"].casefold() == wanted for admin in self._admins[org_id])

    # helpers

    def _clear_state(self) -> None:
        self._orgs: dict[str, _Org] = {}
        self._networks: dict[str, dict[str, Any]] = {}
        self._admins: dict[str, list[dict[str, Any]]] = {}
        self._failures: list[_Failure] = []
        self._delays: list[_Delay] = []
        self._gatherings: list[_Gathering] = []
        self._identity: dict[str, str] = {"email": "api.owner@example.com", "name": "API Key Owner"}

    def _require_org(self, org_id: str) -> None:
        if org_id not in self._orgs:
            raise KeyError(f"unknown organization {org_id!r}; call add_organization first")

    def _accessible_org(self, org_id: str) -> _Org:
        org = self._orgs.get(org_id)
        if org is None:
            raise _Problem(404, ORG_NOT_FOUND)
        if org.forbidden:
            raise _Problem(403, FORBIDDEN)
        if not org.api_enabled:
            raise _Problem(404, API_DISABLED)
        return org

    def _new_admin(
        self, email: str, name: str, org_access: str, tags: list[Any], networks: list[Any]
    ) -> dict[str, Any]:
        return {
            "id": str(next(self._admin_ids)),
            "name": name,
            "email": email,
            "orgAccess": org_access,
            "accountStatus": "pending",
            "twoFactorAuthEnabled": False,
            "hasApiKey": False,
            "lastActive": "",
            "tags": copy.deepcopy(tags),
            "networks": copy.deepcopy(networks),
            "authenticationMethod": "Email",
        }

    @staticmethod
    def _org_json(org: _Org) -> dict[str, Any]:
        return {
            "id": org.id,
            "name": org.name,
            "url": f"https://n1.meraki.com/o/{org.id}/manage/organization/overview",
            "api": {"enabled": org.api_enabled},
            "licensing": {"model": "co-term"},
            "cloud": {"region": {"name": "North America"}},
            "management": {"details": []},
        }

    @staticmethod
    def _network_json(org_id: str, net_id: str, name: str) -> dict[str, Any]:
        return {
            "id": net_id,
            "organizationId": org_id,
            "name": name,
            "productTypes": ["appliance", "switch", "wireless"],
            "timeZone": "America/Los_Angeles",
            "tags": [],
            "enrollmentString": None,
            "url": f"https://n1.meraki.com/n/{net_id}/manage/usage/list",
            "notes": "",
            "isBoundToConfigTemplate": False,
        }

    def _paginate(self, items: list[dict[str, Any]], call: _Call, *, default: int, maximum: int) -> _Reply:
        """Serve one page and, like the dashboard, point at the next one with an absolute Link."""
        query = call.record.query
        per_page = _per_page(query, default, maximum)
        start = _start_index(items, query)
        page = items[start : start + per_page]
        reply = _Reply(200, page)
        if start + per_page < len(items):
            reply.headers["Link"] = self._link_header(call, per_page, page[-1]["id"])
        return reply

    def _link_header(self, call: _Call, per_page: int, last_id: str) -> str:
        cursors = ("startingAfter", "endingBefore")
        base = {k: v[-1] for k, v in call.record.query.items() if k not in cursors}
        base["perPage"] = str(per_page)
        url = f"{self.base_url}{call.record.path}?"
        first = url + urlencode(base)
        following = url + urlencode({**base, "startingAfter": last_id})
        return f"<{first}>; rel=first, <{following}>; rel=next"


def _default_error(status: int) -> str:
    if status == 429:
        return RATE_LIMITED
    if status >= 500:
        return SERVER_ERROR
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise _Problem(400, BAD_JSON) from None
    if not isinstance(payload, dict):
        raise _Problem(400, "The request body must be a JSON object")
    return payload


def _string_problems(payload: dict[str, Any], key: str) -> list[str]:
    if key not in payload:
        return []
    value = payload[key]
    if not isinstance(value, str):
        return [f"'{key}' must be a string"]
    return [] if value.strip() else [f"'{key}' must not be blank"]


def _email_problems(payload: dict[str, Any]) -> list[str]:
    problems = _string_problems(payload, "email")
    if problems or "email" not in payload:
        return problems
    return [] if _EMAIL.fullmatch(payload["email"]) else ["'email' must be a valid email address"]


def _access_list_problems(payload: dict[str, Any], key: str, id_key: str) -> list[str]:
    """Check ``tags``/``networks``: a list of ``{id_key, access}`` objects and nothing else."""
    if key not in payload:
        return []
    items = payload[key]
    if not isinstance(items, list):
        return [f"'{key}' must be an array"]
    problems: list[str] = []
    for index, item in enumerate(items):
        problems += _access_item_problems(f"{key}[{index}]", item, id_key)
    return problems


def _access_item_problems(where: str, item: Any, id_key: str) -> list[str]:
    if not isinstance(item, dict):
        return [f"'{where}' must be an object"]
    problems: list[str] = []
    if not isinstance(item.get(id_key), str) or not item[id_key].strip():
        problems.append(f"'{where}.{id_key}' must be specified")
    if item.get("access") not in TARGET_ACCESS_LEVELS:
        problems.append(f"'{where}.access' must be one of: {_one_of(TARGET_ACCESS_LEVELS)}")
    known = (id_key, "access")
    problems += [f"Unrecognized parameter '{where}.{k}'" for k in item if k not in known]
    return problems


def _per_page(query: dict[str, list[str]], default: int, maximum: int) -> int:
    raw = query.get("perPage", [str(default)])[-1]
    if not raw.isdigit() or not 3 <= int(raw) <= maximum:
        raise _Problem(400, f"'perPage' must be an integer between 3 and {maximum}")
    return int(raw)


def _start_index(items: list[dict[str, Any]], query: dict[str, list[str]]) -> int:
    if "startingAfter" not in query:
        return 0
    token = query["startingAfter"][-1]
    for index, item in enumerate(items):
        if item["id"] == token:
            return index + 1
    raise _Problem(400, f"'startingAfter' {token!r} is not a valid page token")
