"""``python -m bench --compare A.json B.json``: do two benchmark runs agree on the headline figures?

For every headline figure, both values and B/A; a figure is flagged when B differs from A by more
than :data:`TOLERANCE`. Times that differ by less than :data:`TIME_FLOOR` are not flagged: a few
milliseconds are the scheduler's noise, not the bot's, and would make every small latency look
unstable. A percentile taken over so few samples that it is their largest (a p99 of fewer than 100:
the probes) is shown but not compared: the largest of twenty varies from run to run
whatever the bot does. Targets met in one run and not in the other are listed too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bench.report import DESIGN_LABELS, ratio_name
from bench.scenarios import DESIGNS
from bench.stats import PERCENTILES, nearest_rank

TOLERANCE = 0.2
TIME_FLOOR = 0.010


WAVE_HEADLINES = (
    # (label, unit, figure key, statistic; None for a scalar)
    ("command → views.open p99", "s", "command_to_views_open_s", "p99"),
    ("view_submission → ack p99", "s", "submission_to_ack_s", "p99"),
    ("view_submission → ack of the arrivals p99", "s", "submission_to_ack_arrivals_s", "p99"),
    ("Job end → log in thread p50", "s", "completion_to_thread_log_s", "p50"),
    ("Job end → log in thread p99", "s", "completion_to_thread_log_s", "p99"),
    ("Nautobot requests per run, mean", "", "nautobot_requests_per_run", "mean"),
    ("Nautobot requests to follow a run ending within a minute, mean", "", "follow_requests_per_short_run", "mean"),
    ("RSS with N in flight, max (MB)", "", "rss_mb_in_flight", "max"),
    ("CPU with N in flight, mean (% core)", "", "cpu_percent_in_flight", "mean"),
    ("bot CPU seconds per run", "", "cpu_seconds_per_run", None),
    ("runs reported in their thread", "", "runs_reported_in_thread", None),
    ("runs whose parent message shows a final status", "", "runs_final_status_shown", None),
    ("Slack 429 answers", "", "slack_429s", None),
    ("chat.update 429 answers", "", "chat_update_429s", None),
)


RATIO_HEADLINES = (
    # Against the baseline of the same run: what the machine's speed at the time does not move.
    ("bot CPU seconds per run ÷ the baseline's, same run", "", "cpu_seconds_per_run"),
)


BURST_HEADLINES = (
    ("burst: end → last log / bound", "", "elapsed_over_bound", None),
    ("burst: Job end → log in thread p50", "s", "completion_to_thread_log_s", "p50"),
    ("burst: Job end → log in thread p99", "s", "completion_to_thread_log_s", "p99"),
    ("burst: Slack 429 answers", "", "slack_429s", None),
)


ABSENT = object()
"""A figure the run does not have (another plan's N, an older results file): shown, never flagged."""


def _read(found: Any, *path: str | None) -> Any:
    """``found[path[0]][path[1]]…``, skipping None steps; :data:`ABSENT` when a step is missing."""
    for step in path:
        if step is None:
            continue
        if not isinstance(found, dict) or step not in found:
            return ABSENT
        found = found[step]
    return found


def _unmeasured(value: Any) -> bool:
    """Never happened, or not in the run."""
    return value is None or value is ABSENT


def differs(a: float | None, b: float | None, unit: str) -> bool:
    """More than :data:`TOLERANCE` apart (relative to ``a``), or one happened and the other did not."""
    if a is None or b is None:
        return (a is None) != (b is None)
    if unit == "s" and abs(b - a) < TIME_FLOOR:
        return False
    if a == 0:
        return b != 0
    return abs(b / a - 1) > TOLERANCE


def largest_of_few(count: Any, stat: str | None) -> bool:
    """Whether the nearest-rank percentile ``stat`` of ``count`` samples is simply the largest of them."""
    percent = dict(PERCENTILES).get(stat or "")
    if percent is None or not isinstance(count, int) or count == 0:
        return False
    return nearest_rank(count, percent) >= count


def rows(first: dict[str, Any], second: dict[str, Any]) -> Iterator[tuple[str, str, str, Any, Any, str, int | None]]:
    """(figure, N or "burst", design, A, B, unit, fewest samples when the figure is the largest of few, else None)
    for every headline figure either run has."""
    waves = sorted(set(first.get("waves", {})) | set(second.get("waves", {})), key=int)
    for label, unit, key, stat in WAVE_HEADLINES:
        for n in waves:
            for design in DESIGNS:
                yield label, n, design, *_both(first, second, ("waves", n, key, design), stat, unit)
    for label, unit, key in RATIO_HEADLINES:
        for n in waves:
            for design in DESIGNS:
                if design == "baseline":
                    continue  # its ratio to itself
                path = ("waves", n, key, "ratio", ratio_name(design, "baseline"))
                yield label, n, design, _read(first, *path), _read(second, *path), unit, None
    for label, unit, key, stat in BURST_HEADLINES:
        for design in DESIGNS:
            yield label, "burst", design, *_both(first, second, ("burst", design, key), stat, unit)


def _both(
    first: dict[str, Any], second: dict[str, Any], path: tuple[str, ...], stat: str | None, unit: str
) -> tuple[Any, Any, str, int | None]:
    """A figure's value in each run, its unit, and the fewest samples when it is only the largest of them."""
    few = [count for count in (_read(run, *path, "count") for run in (first, second)) if largest_of_few(count, stat)]
    return _read(first, *path, stat), _read(second, *path, stat), unit, min(few) if few else None


def _show(value: Any, unit: str) -> str:
    if value is ABSENT:
        return "not in this run"
    if value is None:
        return "never"
    if unit == "s":
        return f"{value * 1000:.0f} ms"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _ratio(a: Any, b: Any) -> str:
    if a in (None, ABSENT) or b in (None, ABSENT) or a == 0:
        return "—"
    return f"{b / a:.2f}"


def _targets_changed(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    met_a = {(t["target"], t["at"]): t["met"] for t in first.get("targets", [])}
    changed = []
    for target in second.get("targets", []):
        key = (target["target"], target["at"])
        if key in met_a and met_a[key] != target["met"]:
            changed.append(f"{target['target']} at {target['at']}: met {met_a[key]} in A, {target['met']} in B")
    return changed


def _comparability(name: str, results: dict[str, Any]) -> str:
    found = results.get("comparability")
    if found is None:
        return f"{name}: no comparability record (written before the benchmark kept one)"
    if found["comparable"]:
        return f"{name}: comparable (the machine was idle enough)"
    return f"{name}: NOT comparable: " + "; ".join(found["reasons"])


def _plans_differ(a: str | None, b: str | None) -> list[str]:
    if a == b:
        return []
    return [f"The plans differ ({a} and {b}): their bursts and their waves' rates and lengths are not the same."]


def render(first: dict[str, Any], second: dict[str, Any], name_a: str = "A", name_b: str = "B") -> tuple[str, int]:
    """The comparison as text, and how many figures were flagged."""
    lines = [
        f"A = {name_a} (plan {first.get('plan')}), B = {name_b} (plan {second.get('plan')})",
        _comparability("A", first),
        _comparability("B", second),
        *_plans_differ(first.get("plan"), second.get("plan")),
        "",
        f"| figure | N in flight | design | A | B | B/A | differs by > {TOLERANCE:.0%} |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    flagged = total = one_sided = few_samples = 0
    for label, n, design, a, b, unit, few in rows(first, second):
        if _unmeasured(a) and _unmeasured(b):
            continue
        if ABSENT in (a, b):
            one_sided += 1
            flag = False
        elif few is not None:
            few_samples += 1
            flag = False
        else:
            total += 1
            flag = differs(a, b, unit)
            flagged += flag
        verdict = "FLAG" if flag else (f"largest of {few}: not compared" if few is not None else "")
        lines.append(
            f"| {label} | {n} | {DESIGN_LABELS[design]} | {_show(a, unit)} | {_show(b, unit)} | {_ratio(a, b)} | "
            f"{verdict} |"
        )
    lines += ["", f"{flagged} of {total} headline figures differ by more than {TOLERANCE:.0%}."]
    if few_samples:
        lines.append(f"{few_samples} are percentiles of so few samples that they are the largest one: not compared.")
    if one_sided:
        lines.append(f"{one_sided} are in one run only (another plan's N, or an older results file): not compared.")
    changed = _targets_changed(first, second)
    if changed:
        lines += ["Targets met in one run and not the other:", *(f"  - {line}" for line in changed)]
    return "\n".join(lines), flagged
