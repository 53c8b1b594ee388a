"""How big a chaos run is and how often each fault comes: the full run, and a tiny one for the tests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.durations import Durations


@dataclass(frozen=True)
class ChaosPlan:
    name: str
    seconds: float
    """How long people keep arriving; the faults come within this span."""
    rate: float
    """People arriving per second (each submits one run)."""
    replicas: int = 3
    runs_per_channel: int = 5
    durations: Durations = field(default_factory=lambda: Durations(median=2.0, sigma=0.8, cap=30.0))
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    """The bot's LEASE_SECONDS and HEARTBEAT_SECONDS (the production defaults in the full run)."""
    kill_every: tuple[float, float] = (15.0, 25.0)
    kill_down: tuple[float, float] = (2.0, 8.0)
    """Seconds between two SIGKILLs, and how long the killed replica stays down before it is started again."""
    rolling_restart: bool = True
    redis_down: float = 30.0
    nautobot_down: float = 60.0
    """Seconds Redis (events) and Nautobot are gone, once each (0: not in this plan)."""
    nautobot_503_every: tuple[float, float] = (40.0, 80.0)
    nautobot_503_for: tuple[float, float] = (2.0, 6.0)
    slack_5xx_every: tuple[float, float] = (30.0, 60.0)
    slack_5xx_calls: tuple[int, int] = (3, 10)
    """How often Slack's Web API answers 5xx, and to how many calls of each method in a burst."""
    socket_drop_every: tuple[float, float] = (60.0, 120.0)
    pg_kill_every: tuple[float, float] = (45.0, 90.0)
    drain: float = 300.0
    """Seconds after the arrivals, all faults over, for every request to be run and its log posted."""

    @property
    def runs(self) -> int:
        return int(self.seconds * self.rate)

    def with_minutes(self, minutes: float) -> ChaosPlan:
        return replace(self, seconds=minutes * 60)


FULL = ChaosPlan(name="full", seconds=600.0, rate=1.7)
"""At least 1,000 runs over 10 minutes: about 1.7 a second, a steady load a two-core machine carries honestly."""

TINY = ChaosPlan(
    name="tiny",
    # A dozen people over 16 s, two to a channel, Jobs under 2 s.
    seconds=16.0,
    rate=0.75,
    durations=Durations(median=0.5, sigma=0.3, cap=1.5),
    runs_per_channel=2,
    # Two replicas, each killed about once, with leases short enough to run out within the drain.
    replicas=2,
    kill_every=(6.0, 8.0),
    kill_down=(1.0, 2.0),
    lease_seconds=4.0,
    heartbeat_seconds=1.0,
    # Every other fault at least once.
    redis_down=3.0,
    nautobot_down=2.0,
    nautobot_503_every=(5.0, 7.0),
    nautobot_503_for=(0.5, 1.0),
    slack_5xx_every=(4.0, 6.0),
    slack_5xx_calls=(1, 2),
    socket_drop_every=(8.0, 10.0),
    pg_kill_every=(5.0, 7.0),
    drain=90.0,
)
"""A few runs and a few of each fault, seconds long: exercises every code path in CI."""
