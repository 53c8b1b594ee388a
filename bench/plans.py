"""How big each benchmark run is: the full run, ``--quick`` (under two minutes), and a tiny one for the tests."""

from __future__ import annotations

from dataclasses import dataclass

from bench.durations import Durations
from bench.scenarios import Burst, Wave

TARGET_AT = 500
"""The number of runs in flight the latency, request and rate targets are set for."""


@dataclass(frozen=True)
class Plan:
    name: str
    waves: tuple[Wave, ...]
    burst: Burst
    real_runs: int
    """Runs against a real Nautobot (0: skipped)."""


# Most Jobs end in seconds; the lognormal's tail reaches the cap now and then.
FULL_DURATIONS = Durations(median=2.0, sigma=0.8, cap=30.0)
SHORT_DURATIONS = Durations(median=1.0, sigma=0.6, cap=5.0)

FULL = Plan(
    name="full",
    waves=tuple(
        Wave(runs=n, rate=25.0, probes=20, probe_rate=5.0, plateau=8.0, durations=FULL_DURATIONS, drain=30.0)
        for n in (10, 100, 500, 1000)
    ),
    burst=Burst(runs=100, rate=25.0, settle=130.0, drain=30.0),
    real_runs=5,
)

QUICK = Plan(
    name="quick",
    waves=tuple(
        Wave(runs=n, rate=50.0, probes=5, probe_rate=10.0, plateau=1.5, durations=SHORT_DURATIONS, drain=2.0)
        for n in (10, 100)
    ),
    burst=Burst(runs=8, rate=50.0, settle=10.0, drain=2.0),
    real_runs=0,
)

TINY = Plan(
    name="tiny",
    waves=(
        Wave(
            runs=5,
            rate=50.0,
            probes=0,
            probe_rate=10.0,
            runs_per_channel=1,
            plateau=0.5,
            durations=Durations(median=0.3, sigma=0.3, cap=1.0),
            drain=2.0,
        ),
    ),
    burst=Burst(runs=2, rate=50.0, settle=4.0, drain=2.0),
    real_runs=0,
)

PLANS = {plan.name: plan for plan in (FULL, QUICK, TINY)}
