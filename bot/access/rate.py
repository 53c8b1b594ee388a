"""How often one person may use one command: at most ``limit`` commands in any ``window`` seconds.

A person fixing a typo types a command a few times in a minute; a script types it dozens of times. Past the
limit a command is refused before anything costly (the audit write, the form, Nautobot): the listener answers
at once, says when to try again, and records the first refusal of each window only.

Each replica counts on its own, in memory. Slack spreads commands over the replicas' connections, so with
``n`` replicas one person gets at most ``n * limit`` commands through per window: still bounded, and a shared
count would cost a ledger write (on SQLite a disk flush) on every command, before the form may open (Slack's
trigger dies in 3 s), and make refusing depend on the ledger being up.

Why not the ``limits`` package: its in-memory storage starts a thread (``threading.Timer``) to expire entries
on a hit after any 10 ms pause, that is on nearly every command here, and counts on the wall clock, which
jumps. What is needed is a few lines: a log of the last ``limit`` times per person and command.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

from bot.metrics import NAMESPACE


@dataclass(frozen=True, slots=True)
class Limited:
    """A command refused for coming too often."""

    retry_after: float
    """Seconds until the person may use the command again."""
    first: bool
    """The first refusal of this window: the one to record (the others are only counted)."""

    @property
    def wait_text(self) -> str:
        """``"42 seconds"``, ``"3 minutes"``: rounded up, never "0"."""
        seconds = max(1, math.ceil(self.retry_after))
        if seconds < 120:
            return f"{seconds} second{'s' if seconds != 1 else ''}"
        return f"{math.ceil(seconds / 60)} minutes"


@dataclass(slots=True)
class _Log:
    times: deque[float]
    """When the last (at most ``limit``) commands that went through arrived."""
    quiet_until: float = -math.inf
    """Until when further refusals are not recorded (one record per window)."""


@dataclass
class RateLimit:
    """At most ``limit`` commands per person and command in any ``window`` seconds; ``limit`` 0: no limit.

    Refused commands do not count: a person told to wait who waits gets through, whatever a script of theirs
    kept sending meanwhile.
    """

    limit: int
    window: float
    registry: CollectorRegistry | None = None
    """Where the ``rate_limited_total`` counter goes (the bot's metrics); None: not counted."""
    clock: Callable[[], float] = time.monotonic
    _logs: OrderedDict[tuple[str, str], _Log] = field(default_factory=OrderedDict, init=False, repr=False)
    _refused: Counter | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.limit < 0 or self.window <= 0:
            raise ValueError("a rate limit needs a limit of 0 or more and a window of more than 0 seconds")
        if self.registry is not None:
            self._refused = Counter(
                "rate_limited_total",
                "Slash commands refused because the person used the command too often (RATE_LIMIT_COMMANDS "
                "per RATE_LIMIT_SECONDS), by command; nothing ran for them.",
                ["command"],
                namespace=NAMESPACE,
                registry=self.registry,
            )

    @property
    def describe(self) -> str:
        """``"5 commands per 60 seconds"``, for messages and the audit."""
        return f"{self.limit} command{'s' if self.limit != 1 else ''} per {self.window:g} seconds"

    def check(self, user_id: str, command: str) -> Limited | None:
        """Count this command, or say why it is refused: None lets it through."""
        if self.limit == 0:
            return None
        now = self.clock()
        self._forget_idle(now)
        key = (user_id, command)
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = _Log(deque(maxlen=self.limit))
        self._logs.move_to_end(key)  # the most recently active last: the idle ones are found first
        if len(log.times) < self.limit or log.times[0] <= now - self.window:
            log.times.append(now)  # the oldest drops out of the full log
            return None
        first = now >= log.quiet_until
        if first:
            log.quiet_until = now + self.window
        if self._refused is not None:
            self._refused.labels(command).inc()
        return Limited(retry_after=log.times[0] + self.window - now, first=first)

    def _forget_idle(self, now: float) -> None:
        """Drop people idle for a whole window (the oldest-touched first): memory stays bounded by who was active
        within one window, at a constant cost per command."""
        while self._logs:
            key, log = next(iter(self._logs.items()))
            newest = log.times[-1] if log.times else -math.inf
            if newest > now - self.window or now < log.quiet_until:
                return
            del self._logs[key]
