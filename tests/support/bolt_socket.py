"""A real Bolt for Python app connected to the Slack stand-in over Socket Mode, on its own loop and thread as the
bot runs in its own process; the ``bolt`` fixture starts one and closes it after the test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from testbed.slack_standin import SlackStandIn


class BoltBot:
    """An AsyncApp on its own loop and thread, as the real bot runs in its own process."""

    def __init__(self, server: SlackStandIn, setup: Callable[[AsyncApp], None], connections: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.handlers = self.run(self._connect(server, setup, connections))

    @staticmethod
    async def _connect(
        server: SlackStandIn, setup: Callable[[AsyncApp], None], connections: int
    ) -> list[AsyncSocketModeHandler]:
        app = AsyncApp(client=AsyncWebClient(token=server.bot_token, base_url=server.api_url))
        setup(app)
        handlers = [AsyncSocketModeHandler(app, server.app_token, ping_interval=1) for _ in range(connections)]
        for handler in handlers:
            await handler.connect_async()
        return handlers

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        for handler in self.handlers:
            self.run(handler.close_async())
        self.run(_cancel_other_tasks())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


async def _cancel_other_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def bolt() -> Iterator[Callable[..., BoltBot]]:
    bots: list[BoltBot] = []

    def start(server: SlackStandIn, setup: Callable[[AsyncApp], None], connections: int = 1) -> BoltBot:
        bot = BoltBot(server, setup, connections)
        bots.append(bot)
        server.wait_connected(5, count=connections)
        return bot

    yield start
    for bot in bots:
        bot.close()
