"""The running bot: ledger, Slack connection (Socket Mode or HTTP), health and metrics, resume, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import Bot, build
from bot.ledger import Ledger
from bot.ledger.retention import Retention, sweep_forever
from bot.metrics import Metrics
from bot.nautobot import NautobotClient, NautobotError
from bot.settings import Settings
from bot.slack.errors import slack_error
from bot.supervise import supervised
from bot.web import Readiness, build_web, combine_checks, start_web

log = logging.getLogger("bot.serve")

AUTH_CHECK_EVERY = 60.0
CONNECT_FIRST_PAUSE = 1.0
CONNECT_PAUSE_CAP = 60.0
CONNECT_ERRORS = (SlackApiError, aiohttp.ClientError, OSError, TimeoutError)
"""What a failed attempt to reach Slack raises; anything else is a fault of the bot, and ends the start."""
VERSION_CHECK_EVERY = 600.0
"""How often the bot asks Nautobot's version (and so what it can do) besides the readiness checks."""
VERSION_RETRY_FIRST, VERSION_RETRY_CAP = 5.0, 300.0
EXIT_FORCED = 1
"""The exit code of a second stop signal: the shutdown was cut short."""


class SlackAuthCheck:
    """HTTP mode has no socket to watch: readiness asks auth.test, at most once a minute."""

    def __init__(self, bot: Bot):
        self.bot = bot
        self.checked_at = 0.0
        self.ok = False

    async def __call__(self) -> bool:
        if time.monotonic() - self.checked_at > AUTH_CHECK_EVERY:
            try:
                self.ok = bool((await self.bot.app.client.auth_test()).get("ok"))
            except Exception:
                self.ok = False
            self.checked_at = time.monotonic()
        return self.ok


async def serve(settings: Settings, ledger: Ledger) -> int:
    metrics = Metrics()
    bot = build(settings, ledger, metrics)
    socket = None
    if settings.slack_mode == "socket":
        if settings.slack_app_token is None:  # the settings refuse Socket Mode without it
            raise ValueError("SLACK_APP_TOKEN is not set, and Socket Mode needs it")
        socket = AsyncSocketModeHandler(bot.app, settings.slack_app_token.get_secret_value())
        metrics.watch_socket(socket.client.is_connected)
        slack_ready: Callable[[], Awaitable[bool]] = socket.client.is_connected
    else:
        slack_ready = SlackAuthCheck(bot)

    async def nautobot_ready() -> bool:
        await bot.nautobot.status()
        return True

    readiness = combine_checks(
        {"slack": slack_ready, "nautobot": nautobot_ready, "ledger": ledger.writable},
        notes={"nautobot_events": bot.events.readiness} if bot.events is not None else None,
    )
    runner = await _start_servers(settings, bot, readiness, metrics)

    # What start-up built lives as long as the process: frozen, a full garbage collection no longer walks it
    # (one took 77-88 ms, stalling every ack in flight; frozen, about 2 ms).
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    _stop_on_signals(stop)
    background = [
        asyncio.create_task(bot.runs.keep_leases(settings.heartbeat_seconds)),
        asyncio.create_task(_watch_nautobot_version(bot.nautobot)),
        asyncio.create_task(
            sweep_forever(ledger, Retention(settings.ledger_keep_requests_days, settings.ledger_keep_audit_days))
        ),
    ]
    background.append(asyncio.create_task(bot.warm()))  # group members and grants, before the first command
    for command in bot.commands:  # each command's form, before its first use
        background.append(asyncio.create_task(command.forms.keep_fresh()))
    if bot.events is not None:
        # Never gone for good: a subscription that dies of a fault of the bot's own starts again, and says so.
        background.append(asyncio.create_task(supervised(bot.events.run, stopped=bot.events.stopped)))
        background.append(asyncio.create_task(bot.reader.prepare()))  # reads after end events, ready in time
    log.info(
        "replica %s; leases of %g s, renewed every %g s",
        ledger.owner,
        ledger.lease.total_seconds(),
        settings.heartbeat_seconds,
    )
    starting = asyncio.create_task(_start(bot, socket, settings))
    told = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, told}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done() and starting.exception() is not None:
            log.error("the bot could not start", exc_info=starting.exception())
            return 1
        await told
    finally:
        log.info("stopping (at most %g s)", settings.shutdown_seconds)
        for task in (starting, told, *background):
            task.cancel()
        try:
            await asyncio.wait_for(_shutdown(bot, socket, runner), settings.shutdown_seconds)
        except TimeoutError:
            log.warning(
                "stopped after %g s with work still under way: each request keeps its last recorded step in the "
                "ledger, and another replica or the next start takes it up once its lease runs out",
                settings.shutdown_seconds,
            )
    return 0


async def _watch_nautobot_version(nautobot: NautobotClient) -> None:
    """Keep :attr:`NautobotClient.capabilities` current: what Nautobot can do (e.g. cancel, 3.2+) follows its version.

    Until Nautobot first answers, the capabilities are unknown and count as absent (no Cancel button).
    """
    pause, told = VERSION_RETRY_FIRST, None
    while True:
        try:
            await nautobot.status()
        except NautobotError as exc:
            log.warning("cannot read Nautobot's version (asking again in %g s): %s", pause, exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, VERSION_RETRY_CAP)
            continue
        if nautobot.capabilities != told:
            told = nautobot.capabilities
            log.info("Nautobot %s: %s", ".".join(map(str, told.version or ())) or "of no version", told.describe())
        pause = VERSION_RETRY_FIRST
        await asyncio.sleep(VERSION_CHECK_EVERY)


async def _start_servers(settings: Settings, bot: Bot, readiness: Readiness, metrics: Metrics) -> web.AppRunner:
    """The probes (/healthz, /readyz, /metrics) on the probe address; in HTTP mode Slack's /slack/events on
    WEB_HOST:WEB_PORT, on the same server when the two addresses are one.

    The runner returned stops every server: with two, Slack's stops the probes' as it shuts down.
    """
    probe_host, probe_port = settings.probe_address
    cache = settings.readiness_cache_seconds
    together = settings.probes_with_events
    probes = build_web(
        bolt_app=bot.app if together else None, readiness=readiness, metrics=metrics, readiness_cache=cache
    )
    probe_runner = await start_web(probes, probe_host, probe_port)
    log.info("health and metrics on %s:%d, slack mode %s", probe_host, probe_port, settings.slack_mode)
    if settings.slack_mode != "http" or together:
        return probe_runner

    async def stop_probes(_app: web.Application) -> None:
        await probe_runner.cleanup()

    slack = build_web(bolt_app=bot.app, readiness=readiness, metrics=metrics, probes=False)
    slack.on_shutdown.append(stop_probes)
    try:
        runner = await start_web(slack, settings.web_host, settings.web_port)
    except BaseException:
        if probe_runner.server is not None:
            await probe_runner.cleanup()
        raise
    log.info("Slack's requests on %s:%d (/slack/events)", settings.web_host, settings.web_port)
    return runner


async def _start(bot: Bot, socket: AsyncSocketModeHandler | None, settings: Settings) -> None:
    """Take up what nobody works on, then connect to Slack; a stop signal may cut either short."""
    resumed = await bot.runs.resume()
    if resumed:
        log.info("taking up %d unfinished requests", resumed)
    if socket is not None and settings.slack_app_token is not None:
        # Its own client, without Slack's built-in retries: the attempts below are the only ones, one line each.
        opener = AsyncWebClient(base_url=str(settings.slack_api_url), retry_handlers=[])
        await _connect(socket, opener, settings.slack_app_token.get_secret_value())


async def _connect(socket: AsyncSocketModeHandler, opener: AsyncWebClient, app_token: str) -> None:
    """Open the Socket Mode connection, trying again with growing pauses while Slack cannot be reached.

    One line per attempt says why; the traceback only at DEBUG.
    """
    pause = CONNECT_FIRST_PAUSE
    for attempt in itertools.count(1):
        try:
            answer = await opener.apps_connections_open(app_token=app_token)
            socket.client.wss_uri = answer["url"]
            await socket.connect_async()
            log.info("connected to Slack (Socket Mode) after %d attempt(s)", attempt)
            return
        except CONNECT_ERRORS as exc:
            log.warning("cannot connect to Slack (attempt %d): %s; trying again in %g s", attempt, _why(exc), pause)
            log.debug("the connection to Slack failed", exc_info=exc)
        await asyncio.sleep(pause)
        pause = min(pause * 2, CONNECT_PAUSE_CAP)


async def _shutdown(bot: Bot, socket: AsyncSocketModeHandler | None, runner: web.AppRunner) -> None:
    if socket is not None:
        with contextlib.suppress(Exception):
            await socket.close_async()
    await runner.cleanup()
    await bot.runs.stop()  # before the ledger closes, so no follow is cut off mid-write; leases handed back
    await bot.drain_audits()  # command-log writes under way reach Nautobot before its client closes
    await bot.aclose()


def _stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM or SIGINT: stop gracefully; a second one while stopping: exit at once."""

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("%s again while stopping: exiting at once", signal.Signals(signum).name)
            logging.shutdown()
            os._exit(EXIT_FORCED)
        log.info("%s received", signal.Signals(signum).name)
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


def _why(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack answered {slack_error(exc) or 'nothing'}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
