"""What a decision may need to look up, cached: Slack user group members and nautobot-chatops grants."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.nautobot import AccessGrant, ChatOpsApp, NautobotError
from bot.slack.errors import slack_error

log = logging.getLogger("bot.access")

FAILED_LOOKUP_TTL = 30.0
"""Seconds a failed group lookup counts as "no members" before Slack is asked again (Tier 2 limits)."""
LOOKUP_ERRORS = (NautobotError, SlackApiError, aiohttp.ClientError, OSError, asyncio.TimeoutError)
"""What a failed look-up of grants or group members raises; the request is then refused, not crashed."""

V = TypeVar("V")


class _Cached(Generic[V]):
    """Values by key for ``ttl`` seconds; one lookup per key at a time."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._values: dict[str, tuple[float, V]] = {}
        self._pending: dict[str, asyncio.Future[V]] = {}

    def peek(self, key: str) -> V | None:
        found = self._values.get(key)
        return found[1] if found is not None and found[0] > self.clock() else None

    def put(self, key: str, value: V, ttl: float | None = None) -> V:
        self._values[key] = (self.clock() + (self.ttl if ttl is None else ttl), value)
        return value

    async def get(self, key: str, load: Callable[[], Awaitable[V]], *, fresh: bool = False) -> V:
        """The cached value, else the result of ``load()``; callers that give up (a timeout) leave it running."""
        if not fresh:
            cached = self.peek(key)
            if cached is not None:
                return cached
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(load())
            self._pending[key] = task
            task.add_done_callback(lambda done: self._settled(key, done))
        return await asyncio.shield(task)

    def _settled(self, key: str, task: asyncio.Future[V]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # a lookup nobody waits for any more must not log "never retrieved"


class SlackGroups:
    """Members of Slack user groups (``usergroups.users.list``, scope ``usergroups:read``), cached."""

    def __init__(self, client: AsyncWebClient, *, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self._cache: _Cached[frozenset[str]] = _Cached(ttl, clock)

    def peek(self, group_id: str) -> frozenset[str] | None:
        return self._cache.peek(group_id)

    async def members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        """``fresh``: asked of Slack now, whatever is cached (an approver's click is checked against today's group)."""
        return await self._cache.get(group_id, lambda: self._load(group_id), fresh=fresh)

    async def _load(self, group_id: str) -> frozenset[str]:
        try:
            answer = await self.client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            # Fails closed: an unreadable group has no members until Slack answers again.
            error = slack_error(exc) or str(exc)
            log.warning("cannot read the members of user group %s: %s", group_id, error)
            return self._cache.put(group_id, frozenset(), min(self._cache.ttl, FAILED_LOOKUP_TTL))
        users = answer.get("users") or []
        return self._cache.put(group_id, frozenset(str(user) for user in users))


class ChatOpsGrants:
    """nautobot-chatops' Access Grants for one command, cached for a short TTL."""

    def __init__(
        self,
        app: ChatOpsApp,
        command: str,
        subcommand: str,
        *,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        self.command = command
        self.subcommand = subcommand
        self._cache: _Cached[tuple[AccessGrant, ...]] = _Cached(ttl, clock)

    def sibling(self, subcommand: str) -> ChatOpsGrants:
        """The same grants checked for another subcommand: one cache, one read from Nautobot for both (a
        command's grants are one list there, whatever subcommand they name)."""
        other = copy.copy(self)  # shallow: the cache is shared
        other.subcommand = subcommand
        return other

    def peek(self) -> tuple[AccessGrant, ...] | None:
        return self._cache.peek(self.command)

    async def current(self, *, fresh: bool = False) -> tuple[AccessGrant, ...]:
        """The grants; ``fresh`` reads them from Nautobot even when the cache holds them."""
        return await self._cache.get(self.command, self._load, fresh=fresh)

    async def _load(self) -> tuple[AccessGrant, ...]:
        grants = tuple(await self.app.access_grants(self.command))
        return self._cache.put(self.command, grants)
