"""The running bot: ledger, Slack connection (Socket Mode or HTTP), health and metrics, resume, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from bot.app import Bot, build
from bot.ledger import Ledger
from bot.metrics import Metrics
from bot.settings import Settings
from bot.web import build_web, combine_checks, start_web

log = logging.getLogger("bot.serve")

AUTH_CHECK_EVERY = 60.0


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
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

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

    readiness = combine_checks({"slack": slack_ready, "nautobot": nautobot_ready, "ledger": ledger.writable})
    web = build_web(bolt_app=None if socket else bot.app, readiness=readiness, metrics=metrics)
    runner = await start_web(web, settings.web_host, settings.web_port)
    log.info("health and metrics on %s:%d, slack mode %s", settings.web_host, settings.web_port, settings.slack_mode)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    refresher = asyncio.create_task(bot.forms.keep_fresh())
    leases = asyncio.create_task(bot.runs.keep_leases(settings.heartbeat_seconds))
    warming = asyncio.create_task(bot.access.warm())  # group members and grants, before the first command
    try:
        log.info(
            "replica %s; leases of %g s, renewed every %g s",
            ledger.owner,
            ledger.lease.total_seconds(),
            settings.heartbeat_seconds,
        )
        resumed = await bot.runs.resume()
        if resumed:
            log.info("resumed %d unfinished requests", resumed)
        if socket is not None:
            await socket.connect_async()
        await stop.wait()
    finally:
        log.info("stopping")
        refresher.cancel()
        leases.cancel()
        warming.cancel()
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close_async()
        await runner.cleanup()
        await bot.runs.stop()  # before the ledger closes, so no follow is cut off mid-write
        await bot.audit.drain()  # command-log writes under way reach Nautobot before its client closes
        await bot.nautobot.aclose()
    return 0
