"""How big each benchmark run is: the full run, ``--quick``, and a tiny one for the tests.

Every scenario runs once per design (ours with events, ours-polling, baseline), so a plan takes three
times its scenarios, and the one-core run (ours alone, about 15 s) once: ``--quick`` about 5 minutes, the
full plan 41 to 44, 21 of them waiting for the
final statuses of the 1,000 runs at Tier 3's pace. To fit the third design the full plan's drains went
from 30 s to 20 s: a drain is waited out only by a design that never reports some
runs (the baseline), after the longest Job and its channel's one post a second are already allowed
for, so a longer one measures nothing more. A settle before the plateau or the release ends as soon
as every parent message is up, or once nothing has changed for a few seconds (the baseline, whose five
threads take no more submissions while they poll).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.durations import Durations
from bench.scenarios import Burst, Wave

TARGET_AT = 500
"""The number of runs in flight the latency and request targets are set for."""
CPU_AT = 100
CPU_RATE = 50.0
"""The CPU-per-run and arrivals' ack targets are set for 100 runs arriving at 50 submissions a second."""
ONE_CORE_RATE = 100.0
ONE_CORE = frozenset({0})
"""The one-core run: 100 runs arriving at 100 submissions a second, the bot (only) pinned to core 0."""


@dataclass(frozen=True)
class Plan:
    name: str
    waves: tuple[Wave, ...]
    burst: Burst
    real_runs: int
    """Runs against a real Nautobot (0: skipped)."""
    one_core: Wave | None = None
    """Run for ours alone with the bot pinned to :data:`ONE_CORE`: how fast it acknowledges on one core."""


# Most Jobs end in seconds; the lognormal's tail reaches the cap now and then.
FULL_DURATIONS = Durations(median=2.0, sigma=0.8, cap=30.0)
SHORT_DURATIONS = Durations(median=1.0, sigma=0.6, cap=5.0)

FULL = Plan(
    name="full",
    waves=tuple(
        Wave(
            runs=n,
            rate=CPU_RATE if n == CPU_AT else 25.0,
            probes=20,
            probe_rate=5.0,
            plateau=8.0,
            durations=FULL_DURATIONS,
            drain=20.0,
        )
        for n in (10, 100, 500, 1000)
    ),
    burst=Burst(runs=100, rate=25.0, settle=130.0, drain=20.0),
    real_runs=5,
    one_core=Wave(runs=CPU_AT, rate=ONE_CORE_RATE, probes=0, plateau=1.0, durations=SHORT_DURATIONS, drain=2.0),
)

# The plateau is 3 s, not shorter: the in-flight CPU figure is taken over 1 s spans (see resources.CPU_WINDOW),
# and fewer than three of them made its percentiles the noise of a single second.
QUICK = Plan(
    name="quick",
    waves=tuple(
        Wave(runs=n, rate=CPU_RATE, probes=5, probe_rate=10.0, plateau=3.0, durations=SHORT_DURATIONS, drain=2.0)
        for n in (10, CPU_AT)
    ),
    burst=Burst(runs=8, rate=50.0, settle=10.0, drain=2.0),
    real_runs=0,
    one_core=Wave(runs=CPU_AT, rate=ONE_CORE_RATE, probes=0, plateau=1.0, durations=SHORT_DURATIONS, drain=2.0),
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
    one_core=Wave(
        runs=5,
        rate=ONE_CORE_RATE,
        probes=0,
        runs_per_channel=1,
        plateau=0.5,
        durations=Durations(median=0.3, sigma=0.3, cap=1.0),
        drain=2.0,
    ),
)

PLANS = {plan.name: plan for plan in (FULL, QUICK, TINY)}
