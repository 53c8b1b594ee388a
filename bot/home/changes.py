"""What the core tells the App Home: a state change it made, about a request or a grant, whose people's Homes may
show it. The core calls :meth:`HomeChanges.changed` after each such change; it never waits for a publish."""

from __future__ import annotations

from bot.ledger.grant import Grant
from bot.models import RunRequest


class HomeChanges:
    """Nobody's Home is watched: every change is ignored (the core's default, and the tests' that need no Home)."""

    def changed(self, *about: RunRequest | Grant | None) -> None:
        """``about``: the requests (records carry their approvers) and grants whose state just changed."""


NOBODY = HomeChanges()
