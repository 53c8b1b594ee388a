"""How the stand-in's Web API answers: replies and Slack errors, the calls it records, and the
faults, held replies and rate limits a test puts in the way."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from testbed.slack_constants import TEAM_ID, RateLimit


@dataclass
class Call:
    """One Web API call as the stand-in answered it.

    ``args`` holds the merged query, form and JSON arguments without the token, with
    JSON-string arguments (``blocks``, ``view``, ``files``…) decoded.
    """

    method: str
    args: dict[str, Any]
    token: str | None
    ok: bool
    error: str | None
    at: float
    status: int = 200
    response: Any = None
    retry_after: int | None = None
    """The ``Retry-After`` seconds of a 429 answer."""


class SlackError(Exception):
    """Raised by a Web API method to answer ``{"ok": false, "error": code, ...extra}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("ok") is True

    @property
    def error(self) -> str | None:
        if isinstance(self.body, dict):
            return self.body.get("error")
        return f"http_{self.status}"

    def to_response(self) -> web.Response:
        if isinstance(self.body, dict):
            return web.json_response(self.body, status=self.status, headers=self.headers)
        return web.Response(text=str(self.body), status=self.status, headers=self.headers)


def error_reply(code: str, **extra: Any) -> Reply:
    return Reply(200, {"ok": False, "error": code, **extra})


def rate_limited_reply(retry_after: int) -> Reply:
    return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


@dataclass
class Fault:
    status: int
    retry_after: int
    error: str | None
    remaining: int

    def reply(self) -> Reply:
        if self.error is not None:
            return error_reply(self.error)
        if self.status == 429:
            return rate_limited_reply(self.retry_after)
        reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return Reply(self.status, reasons.get(self.status, "Error"))


@dataclass
class Hold:
    seconds: float
    when: Callable[[dict[str, Any]], bool] | None


def is_held(hold: Hold | None, args: dict[str, Any]) -> bool:
    return hold is not None and (hold.when is None or hold.when(args))


class Faults:
    """Queued one-shot failures per method, consumed before anything else is checked."""

    def __init__(self) -> None:
        self._queued: dict[str, list[Fault]] = {}

    def add(self, method: str, fault: Fault) -> None:
        self._queued.setdefault(method, []).append(fault)

    def take(self, method: str) -> Reply | None:
        queue = self._queued.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault.reply()


class _Bucket:
    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.updated = time.monotonic()

    def take(self) -> int | None:
        """Consume one call; return the Retry-After seconds when none is left."""
        now = time.monotonic()
        refill = (now - self.updated) * self.limit.per_second
        self.tokens = min(float(self.limit.burst), self.tokens + refill)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.limit.per_second))


class Limiter:
    def __init__(self) -> None:
        self._limits: dict[str, RateLimit] = {}
        self._buckets: dict[tuple[str, str | None], _Bucket] = {}

    def set(self, method: str, limit: RateLimit | None) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if k[0] != method}
        if limit is None:
            self._limits.pop(method, None)
        else:
            self._limits[method] = limit

    def check(self, method: str, args: Mapping[str, Any]) -> int | None:
        limit = self._limits.get(method)
        if limit is None:
            return None
        scope = None
        if limit.per == "channel":
            scope = str(args.get("channel") or args.get("channel_id") or "")
        elif limit.per == "workspace":
            scope = TEAM_ID  # every token the stand-in knows belongs to its one workspace
        bucket = self._buckets.setdefault((method, scope), _Bucket(limit))
        return bucket.take()
