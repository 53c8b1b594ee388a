"""What the machine was and how busy others kept it: the facts that make two benchmark runs comparable or not.

The stand-ins, the crowd and the bot share the machine with whatever else runs on it. Timings taken
while other processes use the CPU are not comparable with timings from an idle machine, so every
scenario records the CPU time the rest of the machine used while it ran: the system-wide busy time
minus the benchmark process's own (stand-ins and crowd) and the bot's (the bot is a child process,
counted once it has been waited for).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

OTHERS_LIMIT = 10.0
"""% of one core other processes may use, on average over a scenario or the whole run, for comparable figures."""
STEAL_LIMIT = 10.0
"""% of one core the hypervisor may take for other guests (steal) before the run is not comparable."""
LOAD_LIMIT = 0.5
"""Load average at the start, per core, above which the machine was already busy."""


def describe() -> dict[str, Any]:
    """The machine: processor, cores, frequency when the kernel tells it, Python, and the load at the start."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    frequency = None
    with contextlib.suppress(Exception):  # absent in many VMs and containers
        found = psutil.cpu_freq()
        if found is not None:
            frequency = {"current_mhz": found.current, "min_mhz": found.min, "max_mhz": found.max}
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cpu_frequency": frequency,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_1_5_15": list(os.getloadavg()),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@dataclass(frozen=True)
class Reading:
    at: float
    busy: float
    """CPU seconds the whole machine spent running something (all cores)."""
    steal: float
    own: float
    """CPU seconds of the benchmark process: stand-ins, crowd, sampler."""
    children: float
    """CPU seconds of the benchmark's children that have ended and been waited for: the bot."""


class Machine:
    """Reads the load and CPU counters; tests replace it to act out a busy machine."""

    def load_average(self) -> float:
        return os.getloadavg()[0]

    def cores(self) -> int:
        return os.cpu_count() or 1

    def read(self) -> Reading:
        system = psutil.cpu_times()
        # user and nice already include guest time on Linux; idle and iowait are not busy.
        busy = sum(getattr(system, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))
        own = psutil.Process().cpu_times()
        return Reading(
            at=time.monotonic(),
            busy=busy,
            steal=getattr(system, "steal", 0.0),
            own=own.user + own.system,
            children=own.children_user + own.children_system,
        )


class ScenarioWatch:
    """How busy the rest of the machine was while one scenario ran (start it before the bot, stop after)."""

    def __init__(self, machine: Machine, name: str) -> None:
        self.machine = machine
        self.name = name
        self.load_at_start = machine.load_average()
        self.start = machine.read()

    def stop(self) -> dict[str, Any]:
        end = self.machine.read()
        seconds = max(end.at - self.start.at, 1e-9)
        own = end.own - self.start.own
        bot = end.children - self.start.children
        others = max(0.0, (end.busy - self.start.busy) - own - bot)
        return {
            "scenario": self.name,
            "seconds": round(seconds, 1),
            "load_average_1m_at_start": round(self.load_at_start, 2),
            "others_cpu_percent": round(100 * others / seconds, 1),
            "steal_cpu_percent": round(100 * (end.steal - self.start.steal) / seconds, 1),
            "bench_cpu_percent": round(100 * own / seconds, 1),
            "bot_cpu_percent": round(100 * bot / seconds, 1),
        }


def wait_until_quiet(machine: Machine, timeout: float = 90.0, say: Callable[[str], None] = print) -> None:
    """Wait, at most ``timeout`` s, for the 1-minute load average to fall within the limit.

    A benchmark run just before (the second of two runs to compare, say) keeps the load average up
    for a minute after it ends, and would make the next run look like it started on a busy machine.
    """
    limit = LOAD_LIMIT * machine.cores()
    deadline = time.monotonic() + timeout
    load = machine.load_average()
    if load > limit:
        say(f"waiting up to {timeout:.0f} s for the load average ({load:.2f}) to fall below {limit:.2f}…")
    while load > limit and time.monotonic() < deadline:
        time.sleep(5)
        load = machine.load_average()


def assess(load_at_start: float, cores: int, scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    """``comparable`` is false, with the reasons, when the machine was busy before or during the run."""
    reasons = []
    if load_at_start > LOAD_LIMIT * cores:
        reasons.append(f"load average {load_at_start:.2f} at the start, over {LOAD_LIMIT} x {cores} cores")
    total = sum(scenario["seconds"] for scenario in scenarios)
    if total:
        for key, limit, what in (
            ("others_cpu_percent", OTHERS_LIMIT, "other processes"),
            ("steal_cpu_percent", STEAL_LIMIT, "the hypervisor (steal)"),
        ):
            mean = sum(scenario[key] * scenario["seconds"] for scenario in scenarios) / total
            if mean > limit:
                reasons.append(f"{what} used {mean:.0f} % of a core on average during the run (limit {limit:.0f} %)")
            busiest = [s for s in scenarios if s[key] > limit]
            if busiest:
                named = ", ".join(f"{s['scenario']} {s[key]:.0f} %" for s in busiest)
                reasons.append(f"{what} over {limit:.0f} % of a core during: {named}")
    return {"comparable": not reasons, "reasons": reasons}
