"""The bot's HTTP server: probes and metrics in both modes, and Slack's Request URL in HTTP mode.

``/healthz`` (liveness) checks nothing but that the event loop answers, so a Nautobot outage never
gets the bot restarted; ``/readyz`` (readiness) reports whether it can do its work right now.
"""

from __future__ import annotations

import asyncio
import logging
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
) -> web.Application:
    """The web application; with ``bolt_app`` it also receives Slack's requests at ``events_path``."""
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz_handler(readiness, readiness_timeout))
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


def combine_checks(checks: Mapping[str, Check], *, timeout: float = CHECK_TIMEOUT) -> Readiness:
    """One readiness function from named checks run side by side; a check that raises or is slow is false.

    The reason goes in ``<name>_detail`` as an exception class name, never its message, which could
    carry a URL or a token.
    """

    async def readiness() -> dict[str, bool | str]:
        results = await asyncio.gather(*(_run_check(check, timeout) for check in checks.values()))
        combined: dict[str, bool | str] = {}
        for name, (ok, detail) in zip(checks, results, strict=True):
            combined[name] = ok
            if detail:
                combined[f"{name}_detail"] = detail
        return combined

    return readiness


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


def _readyz_handler(readiness: Readiness, timeout: float) -> Callable[[web.Request], Awaitable[web.Response]]:
    last_ready: bool | None = None

    async def readyz(_request: web.Request) -> web.Response:
        nonlocal last_ready
        checks, details = await _ask(readiness, timeout)
        ready = bool(checks) and all(checks.values())
        if ready != last_ready:  # log changes only: probes ask every few seconds
            failing = ", ".join(name for name, ok in checks.items() if not ok)
            log.info("readiness: %s", "ready" if ready else f"not ready ({failing or 'no checks'})")
            last_ready = ready
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
