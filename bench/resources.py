"""The bot's own memory and CPU while the runs are in flight, from the sampler's readings."""

from __future__ import annotations

import contextlib
import itertools
import os

import psutil

from bench.processes import Sample
from bench.records import Records
from bench.stats import distribution

CPU_WINDOW = 1.0
"""Seconds of bot CPU time each in-flight CPU value spans. The kernel counts CPU time in 10 ms ticks: over
the sampler's 0.25 s a value moves in steps of 4 % of a core, over 1 s in steps of 1 %."""


def _plateau_samples(records: Records) -> list[Sample]:
    if records.plateau is None:
        return records.samples
    begin, end = records.plateau
    return [sample for sample in records.samples if begin <= sample.at <= end]


def rss_mb(records: Records) -> dict:
    """Resident memory of the bot while the runs are in flight, in MB."""
    return distribution([sample.rss / 1e6 for sample in _plateau_samples(records)])


def _spanning_samples(records: Records) -> list[Sample]:
    """The samples in the plateau and the one on each side of it: consecutive pairs then cover the whole
    plateau, even one shorter than the sampling interval."""
    if records.plateau is None:
        return records.samples
    begin, end = records.plateau
    before = [sample for sample in records.samples if sample.at < begin][-1:]
    after = [sample for sample in records.samples if sample.at > end][:1]
    return [*before, *_plateau_samples(records), *after]


def _cpu_windows(samples: list[Sample]) -> list[Sample]:
    """The samples that cut the series into spans of at least :data:`CPU_WINDOW` s (the last one included)."""
    if not samples:
        return []
    cuts = [samples[0]]
    for sample in samples[1:]:
        if sample.at - cuts[-1].at >= CPU_WINDOW:
            cuts.append(sample)
    if cuts[-1] is not samples[-1]:
        cuts.append(samples[-1])  # a shorter tail span still counts, so the plateau is covered end to end
    return cuts


def cpu_percent(records: Records) -> dict:
    """CPU use of the bot while the runs are in flight, in % of one core, over spans of about a second.

    The mean is the plateau's CPU seconds over its length: the figure to compare between runs.
    """
    cuts = _cpu_windows(_spanning_samples(records))
    values = [
        100 * (later.cpu_seconds - earlier.cpu_seconds) / (later.at - earlier.at)
        for earlier, later in itertools.pairwise(cuts)
        if later.at > earlier.at
    ]
    summary = distribution(values)
    if len(cuts) >= 2 and cuts[-1].at > cuts[0].at:
        summary["mean"] = 100 * (cuts[-1].cpu_seconds - cuts[0].cpu_seconds) / (cuts[-1].at - cuts[0].at)
    return summary


def cpu_seconds_per_run(records: Records) -> float | None:
    """The bot's CPU from the moment it was ready (start-up excluded) until every log was in, per run asked for."""
    if records.bot_cpu_seconds is None or not records.people:
        return None
    return records.bot_cpu_seconds / records.people


def cpu_seconds_per_run_started(records: Records) -> float | None:
    """The same CPU over the runs that reached Nautobot: a design that takes few submissions while it polls (the
    baseline's five threads) spends its CPU on fewer runs than were asked for."""
    if records.bot_cpu_seconds is None or not records.runs:
        return None
    return records.bot_cpu_seconds / len(records.runs)


def pin(pid: int, cores: frozenset[int]) -> None:
    """Every thread of process ``pid`` on ``cores`` only (as ``taskset -a -p``); threads it starts later inherit it.

    Only the bot under test is pinned: the stand-ins and the crowd go on using every core."""
    for thread in psutil.Process(pid).threads():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(thread.id, cores)
