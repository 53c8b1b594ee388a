"""The Slack workspace the app is installed in, from Slack's ``auth.test``: until it is known, nobody is let in.

Without ``teams`` in the policy, the installed workspace is the only one whose people may be allowed. Slack may
not answer at start (an outage, a network not ready yet), so the bot keeps asking, pausing longer after each
failure, until it answers; every decision meanwhile refuses (see :func:`bot.access.decisions.team_decision`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("bot.access")

FIRST_PAUSE = 2.0
"""Seconds before asking ``auth.test`` again after its first failure; doubled after each, up to :data:`MAX_PAUSE`."""
MAX_PAUSE = 60.0


class Workspace:
    """The installed workspace's id, once Slack has named it; one for every command."""

    def __init__(
        self,
        team: str | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        first_pause: float = FIRST_PAUSE,
        max_pause: float = MAX_PAUSE,
    ):
        self.team = team or None
        self._sleep = sleep
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._asking = asyncio.Lock()  # one question at a time, however many commands wait for the answer

    async def learn(self, client: AsyncWebClient) -> str:
        """Ask ``auth.test`` until it names the workspace (with back-off); returns at once when already known.

        Runs until Slack answers: start it as a task, which the bot cancels when it stops.
        """
        async with self._asking:
            pause = self._first_pause
            while not self.team:
                team = await self._ask(client, pause)
                if team:
                    self.team = team
                    log.info("installed in Slack workspace %s: people of other workspaces are refused", team)
                    break
                await self._sleep(pause)
                pause = min(pause * 2, self._max_pause)
            return self.team

    @staticmethod
    async def _ask(client: AsyncWebClient, pause: float) -> str:
        try:
            answer = await client.auth_test()
        except Exception as exc:  # whatever went wrong, the answer is still unknown: refuse and ask again
            log.warning(
                "cannot learn the Slack workspace the app is installed in (asking again in %g s; until then every "
                "request is refused): %s",
                pause,
                exc,
            )
            return ""
        team = str(answer.get("team_id") or "")
        if not team:
            log.warning("Slack's auth.test named no workspace (asking again in %g s)", pause)
        return team
