"""The one-core run: how fast the bot acknowledges submissions when it has a single core to itself.

The N arrivals come at :data:`~bench.plans.ONE_CORE_RATE` submissions a second, for ours alone, with the bot
process (every thread of it, as ``taskset -a``) pinned to :data:`~bench.plans.ONE_CORE`; the stand-ins and the
crowd go on using every core. Each arrival costs the bot its command, its submission and its run's messages, so
at that rate the core is as busy as the bot gets: the arrivals' ``view_submission`` → ack p99 is the target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import figures
from bench.machine import Machine
from bench.plans import ONE_CORE, Plan
from bench.scenarios import EVENTS_DESIGN, run_wave


def run_one_core(
    plan: Plan, workdir: Path, seed: int, events_url: str, host: Machine, watched: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The plan's one-core wave for ours and its figures; how busy the machine was meanwhile goes to ``watched``
    (the run's scenarios, for its comparability) and under ``machine``."""
    wave = plan.one_core
    if wave is None:
        return None
    print(f"{wave.runs} runs arriving at {wave.rate:g}/s, the bot on one core: {EVENTS_DESIGN}…", flush=True)
    found = run_wave(
        EVENTS_DESIGN,
        wave,
        workdir,
        seed + wave.runs,
        events_url,
        host,
        final_statuses_awaited=False,
        cores=ONE_CORE,
    )
    watched.append(found.machine)
    summary = figures.summarize(found.records)
    scalars = summary["scalars"]
    return {
        "design": EVENTS_DESIGN,
        "setup": found.setup,
        "submission_to_ack_arrivals_s": summary["submission_to_ack_arrivals_s"],
        "command_to_views_open_s": summary["command_to_views_open_s"],
        "cpu_seconds_per_run": scalars["cpu_seconds_per_run"],
        "runs_started_in_nautobot": scalars["runs_started_in_nautobot"],
        "runs_reported_in_thread": scalars["runs_reported_in_thread"],
        "machine": found.machine,
    }
