"""Publishing each person's Home: coalesced per person, paced within Slack's Tier 4, never on a caller's time.

A state change asks for a person's Home to be redrawn; so do the next twenty changes of the same burst (a run's
statuses, an approval's votes, the grant it made). Each person has at most one worker: it lets a burst settle,
keeps a person's publishes apart, takes a turn of the workspace's ``views.publish`` budget (Tier 4: 100+ a
minute), and only then draws the Home from the ledger, so the one publish shows everything the burst changed. A
change that comes while a publish is under way makes one more, after it. The callers only mark the person; the
worker is a task of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.slack.errors import slack_error
from bot.slack.pacing import TokenBucket

log = logging.getLogger("bot.home")

SETTLE = 0.5
"""Seconds a person's first change waits for the rest of its burst before the Home is drawn."""
SPACING = 2.0
"""Seconds at least between two publishes to one person: a run's passing statuses are not each worth one."""
PUBLISHES_PER_MINUTE = 100.0
"""Slack's Tier 4, which ``views.publish`` belongs to: "100+ per minute" per app and workspace."""
PUBLISH_BURST = 20
"""Publishes that may go at once before the rate holds them (many people opening the Home together)."""

Draw = Callable[[str], Awaitable[dict[str, Any]]]
"""A person's Home view as it stands now (``type: home``)."""
Send = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""``views.publish`` of a view to a person."""


class HomePublisher:
    """Redraws people's Homes on request (see the module's description)."""

    def __init__(
        self,
        draw: Draw,
        send: Send,
        *,
        settle: float = SETTLE,
        spacing: float = SPACING,
        per_minute: float = PUBLISHES_PER_MINUTE,
        burst: int = PUBLISH_BURST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.draw = draw
        self.send = send
        self.settle = settle
        self.spacing = spacing
        self.clock = clock
        self.sleep = sleep
        self._budget = TokenBucket(per_minute / 60.0, burst, clock=clock, sleep=sleep)
        self._stale: set[str] = set()
        """People whose Home changed since it was last drawn."""
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._published_at: dict[str, float] = {}
        self.enabled = True
        """False once Slack said the app has no Home tab: refreshes stop until a person opens the Home."""

    def refresh(self, people: Iterable[str]) -> None:
        """Have each person's Home redrawn soon; returns at once."""
        for person in people:
            if not person:
                continue
            self._stale.add(person)
            if person not in self._workers:
                self._workers[person] = asyncio.create_task(self._work(person))

    def opened(self, person: str) -> None:
        """The person opened their Home: it exists (whatever Slack said before), and is redrawn."""
        self.enabled = True
        self.refresh([person])

    def pending(self) -> int:
        """People whose Home waits to be redrawn or is being drawn."""
        return len(self._workers)

    async def idle(self) -> None:
        """Wait until no Home waits to be drawn (tests, and a graceful stop)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def stop(self) -> None:
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, person: str) -> None:
        try:
            while person in self._stale:
                await self.sleep(self.settle)
                last = self._published_at.get(person)
                if last is not None and self.clock() - last < self.spacing:
                    await self.sleep(self.spacing - (self.clock() - last))
                await self._budget.take()
                self._stale.discard(person)  # changes from here on come after the ledger is read: drawn again
                if self.enabled:
                    await self._publish(person)
        finally:  # in the same step as the last look at _stale: a change from now on starts a new worker
            if self._workers.get(person) is asyncio.current_task():
                del self._workers[person]

    async def _publish(self, person: str) -> None:
        try:
            view = await self.draw(person)
            await self.send(person, view)
        except SlackApiError as exc:
            error = slack_error(exc)
            if error == "not_enabled":
                self.enabled = False
                log.warning(
                    "Slack says the app has no Home tab: enable it in the app's manifest "
                    "(features.app_home.home_tab_enabled); Homes are drawn again once someone opens theirs"
                )
                return
            log.warning("could not publish the Home of user=%s: %s", person, error or exc)
        except Exception:  # one person's Home failing keeps nobody else's from being drawn
            log.exception("could not draw the Home of user=%s", person)
        else:
            log.debug("published the Home of user=%s (%d blocks)", person, len(view.get("blocks") or ()))
        finally:
            self._published_at[person] = self.clock()
            if len(self._published_at) > 10_000:  # people seen long ago need no spacing any more
                self._forget_idle()

    def _forget_idle(self) -> None:
        horizon = self.clock() - self.spacing
        for person, at in list(self._published_at.items()):
            if at < horizon:
                del self._published_at[person]
