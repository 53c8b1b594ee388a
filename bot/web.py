"""The bot's HTTP servers: probes and metrics in both modes, and Slack's Request URL in HTTP mode.

``/healthz`` (liveness) checks nothing but that the event loop answers, so a Nautobot outage never
gets the bot restarted; ``/readyz`` (readiness) reports whether it can do its work right now. Its
answer is kept for ``READINESS_CACHE_SECONDS`` and only one check runs at a time, so however often it
is asked, Nautobot and the ledger are asked at most once per that time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot import logs
from bot.metrics import Metrics

log = logging.getLogger("bot.web")
access_log = logging.getLogger("bot.web.access")

READINESS_TIMEOUT = 2.0
CHECK_TIMEOUT = 1.5
"""Each named check gets less than the whole readiness budget, so a slow one is reported by name."""
SHUTDOWN_TIMEOUT = 5.0
"""Slack wants an answer within 3 s, so no request worth waiting for is older than this."""
READINESS_CACHE_SECONDS = 5.0
"""How long one readiness answer is served to every probe that asks."""
DETAIL_LIMIT = 200
NO_STORE = {"Cache-Control": "no-store"}

ReadinessResult = Mapping[str, bool | str]
Readiness = Callable[[], Awaitable[ReadinessResult]]
Check = Callable[[], Awaitable[bool]]


def build_web(
    *,
    bolt_app: AsyncApp | None,
    readiness: Readiness,
    metrics: Metrics,
    events_path: str = "/slack/events",
    readiness_timeout: float = READINESS_TIMEOUT,
    readiness_cache: float = READINESS_CACHE_SECONDS,
    probes: bool = True,
) -> web.Application:
    """The web application; with ``bolt_app`` it also receives Slack's requests at ``events_path``.

    ``probes=False`` leaves out /healthz, /readyz and /metrics: Slack's server when the probes have their own.
    """
    app = web.Application()
    if probes:
        app.router.add_get("/healthz", _healthz)
        app.router.add_get("/readyz", _readyz_handler(SharedReadiness(readiness, readiness_timeout, readiness_cache)))
        app.router.add_get("/metrics", _metrics_handler(metrics))
    if bolt_app is not None:
        app.router.add_post(events_path, _slack_handler(bolt_app))
    return app


async def start_web(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on ``host:port``; ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(
        app, access_log_class=DebugAccessLogger, access_log=access_log, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("web server listening on %s", ", ".join(_address(a) for a in runner.addresses))
    return runner


def combine_checks(
    checks: Mapping[str, Check], *, notes: Mapping[str, Callable[[], str]] | None = None, timeout: float = CHECK_TIMEOUT
) -> Readiness:
    """One readiness function from named checks run side by side; a check that raises or is slow is false.

    The reason goes in ``<name>_detail`` as an exception class name, never its message, which could
    carry a URL or a token. ``notes`` are shown as details and never make the bot unready: what they
    describe has a fallback (Nautobot's events: polling).
    """

    async def readiness() -> dict[str, bool | str]:
        results = await asyncio.gather(*(_run_check(check, timeout) for check in checks.values()))
        combined: dict[str, bool | str] = {}
        for name, (ok, detail) in zip(checks, results, strict=True):
            combined[name] = ok
            if detail:
                combined[f"{name}_detail"] = detail
        for name, note in (notes or {}).items():
            combined[name] = note()
        return combined

    return readiness


class SharedReadiness:
    """One readiness answer shared by every probe: kept for ``cache_seconds``, and at most one check under way.

    Probes that ask while a check runs wait for it and get its answer. The check runs in its own task, so a
    probe that hangs up does not cut it short for the others.
    """

    def __init__(self, readiness: Readiness, timeout: float, cache_seconds: float) -> None:
        self.readiness = readiness
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._answer: tuple[dict[str, bool], dict[str, str]] | None = None
        self._answered_at = 0.0
        self._running: asyncio.Task[tuple[dict[str, bool], dict[str, str]]] | None = None
        self._last_ready: bool | None = None

    async def __call__(self) -> tuple[dict[str, bool], dict[str, str]]:
        if self._answer is not None and time.monotonic() - self._answered_at < self.cache_seconds:
            return self._answer
        if self._running is None:
            self._running = asyncio.create_task(self._check())
            self._running.add_done_callback(self._finished)
        return await asyncio.shield(self._running)

    async def _check(self) -> tuple[dict[str, bool], dict[str, str]]:
        checks, details = await _ask(self.readiness, self.timeout)
        ready = _is_ready(checks)
        if ready != self._last_ready:  # log changes only: probes ask every few seconds
            failing = ", ".join(name for name, ok in checks.items() if not ok)
            log.info("readiness: %s", "ready" if ready else f"not ready ({failing or 'no checks'})")
            self._last_ready = ready
        return checks, details

    def _finished(self, task: asyncio.Task[tuple[dict[str, bool], dict[str, str]]]) -> None:
        self._running = None
        if not task.cancelled() and task.exception() is None:
            self._answer, self._answered_at = task.result(), time.monotonic()


class DebugAccessLogger(AbstractAccessLogger):
    """One DEBUG line per request (method, path, status, duration): no query, headers or body."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug("%s %s %s %.3fs", request.method, request.path, response.status, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)


# -- handlers ------------------------------------------------------------------------------------


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers=NO_STORE)


def _is_ready(checks: Mapping[str, bool]) -> bool:
    return bool(checks) and all(checks.values())


def _readyz_handler(readiness: SharedReadiness) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def readyz(_request: web.Request) -> web.Response:
        checks, details = await readiness()
        ready = _is_ready(checks)
        body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
        if details:
            body["details"] = details
        return web.json_response(body, status=200 if ready else 503, headers=NO_STORE)

    return readyz


def _metrics_handler(metrics: Metrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics_view(_request: web.Request) -> web.Response:
        await metrics.refresh()
        body, content_type = metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type, **NO_STORE})

    return metrics_view


def _slack_handler(bolt_app: AsyncApp) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Bolt's own aiohttp adapter: request verification (signature, 5-minute window) stays in Bolt."""

    async def slack_events(request: web.Request) -> web.Response:
        bolt_response = await bolt_app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    return slack_events


# -- readiness -----------------------------------------------------------------------------------


async def _ask(readiness: Readiness, timeout: float) -> tuple[dict[str, bool], dict[str, str]]:
    """The checks as booleans and their details as strings; a readiness that fails is one false check."""
    try:
        result = await asyncio.wait_for(readiness(), timeout)
    except TimeoutError:
        return {"readiness": False}, {"readiness": f"timed out after {timeout:g} s"}
    except Exception as exc:
        log.warning("readiness check raised %s", type(exc).__name__)
        return {"readiness": False}, {"readiness": type(exc).__name__}
    checks = {name: value is True for name, value in result.items() if not isinstance(value, str)}
    details = {name: scrub(value) for name, value in result.items() if isinstance(value, str)}
    return checks, details


async def _run_check(check: Check, timeout: float) -> tuple[bool, str | None]:
    try:
        ok = await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        return False, f"timed out after {timeout:g} s"
    except Exception as exc:
        return False, type(exc).__name__
    return ok is True, None


def scrub(text: str) -> str:
    """A detail as it may leave the process: no token-like strings (the log scrubber's rules), and short."""
    cleaned = logs.scrub(text)
    return cleaned if len(cleaned) <= DETAIL_LIMIT else cleaned[: DETAIL_LIMIT - 1] + "…"


def _address(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"
    return str(address)
