"""A person's email address, so their Home can show the time-bound access they hold (granted to their address),
not only the access they asked for.

Slack gives it with ``users.info`` when the bot token has ``users:read`` and ``users:read.email``. Both scopes are
optional: without them Slack answers ``missing_scope``, or leaves the address out, and the Home shows the grants a
person asked for only (``doctor`` says so). Addresses are cached for a while, so a Home drawn again and again asks
Slack once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.errors import slack_error

log = logging.getLogger("bot.home")

KEPT_FOR = 600.0
"""Seconds an address (or its absence) is kept: a changed profile shows within ten minutes."""
PEOPLE_KEPT = 10_000
NO_SCOPE = frozenset({"missing_scope", "not_allowed_token_type"})


class Emails:
    """Each person's address as Slack's profile has it (None: unknown, or the bot may not read it)."""

    def __init__(self, client: AsyncWebClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.clock = clock
        self.readable = True
        """False once Slack said the token lacks the scopes: no more asking until the bot restarts."""
        self._kept: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    async def of(self, person: str) -> str | None:
        if not self.readable or not person:
            return None
        kept = self._kept.get(person)
        if kept is not None and kept[1] > self.clock():
            return kept[0]
        address = await self._read(person)
        self._kept[person] = (address, self.clock() + KEPT_FOR)
        self._kept.move_to_end(person)
        while len(self._kept) > PEOPLE_KEPT:
            self._kept.popitem(last=False)
        return address

    async def _read(self, person: str) -> str | None:
        try:
            answer = await self.client.users_info(user=person)
        except SlackApiError as exc:
            error = slack_error(exc)
            if error in NO_SCOPE:
                self.readable = False
                log.warning(
                    "the Home shows only the access people asked for: the bot token cannot read email addresses "
                    "(%s; add users:read and users:read.email, then reinstall the app)",
                    error,
                )
            else:
                log.warning(
                    "user=%s: Slack gave no profile (%s); their Home shows the access they asked for", person, error
                )
            return None
        except Exception as exc:  # Slack out of reach: the Home is drawn without it, and the next draw asks again
            log.warning("user=%s: Slack gave no profile (%s)", person, exc)
            return None
        profile = (answer.get("user") or {}).get("profile") or {}
        address = str(profile.get("email") or "").strip()
        return address or None
