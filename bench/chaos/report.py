"""The chaos run's report (Markdown), and two runs side by side: the same zeros, latencies within a fifth."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.chaos.checker import ZEROS

LATENCIES = (("job_end_to_log_s", "p50"), ("job_end_to_log_s", "p99"), ("takeover_wait_s", "max"))
TOLERANCE = 0.2
"""Two runs with one seed agree when each latency is within this fraction of the other's."""
ZERO_NAMES = {
    "requests_lost": "requests lost (acknowledged, never run, person not told)",
    "jobs_run_twice": "Jobs run twice",
    "runs_never_reported": "runs never reported (no parent message or no log in its thread)",
    "parent_messages_twice_outside_window": "parent messages posted twice outside the README's window",
    "log_replies_twice_outside_window": "log replies posted twice outside the README's window",
}


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f} ms"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _header(results: dict[str, Any]) -> list[str]:
    plan, spans, described = results["plan"], results["spans_s"], results["machine"]
    return [
        f"# Chaos run, seed {results['seed']}",
        "",
        f"{plan['replicas']} replicas on one PostgreSQL ledger, Nautobot's events on; {results['figures']['people']} "
        f"people over {spans['arrivals_s']:.0f} s ({plan['rate']}/s), drain {spans['drain_s']:.0f} s; LEASE_SECONDS "
        f"{plan['lease_seconds']:g}, HEARTBEAT_SECONDS {plan['heartbeat_seconds']:g}. Machine: {described['cpu_model']}"
        f", {described['cores']} cores, load average {results['load_average_at_start']:.2f} at the start. Bot: commit "
        f"{results['bot']['commit']}, bot/ sources {results['bot']['bot_sha256'][:12]}.",
        *([f"Note: {results['note']}"] if results.get("note") else []),
    ]


def _figures(figures: dict[str, Any]) -> list[str]:
    latency, takeover = figures["job_end_to_log_s"], figures["takeover_wait_s"]
    over = figures.get("log_over_channel_bound_s", {})
    inside = figures["repeats_inside_window"]
    return [
        "| figure | value |",
        "| --- | --- |",
        f"| submissions acknowledged | {figures['acknowledged']} of {figures['people']} |",
        f'| acknowledged, not run, person told "Not run" | {figures["acknowledged_and_told_not_run"]} |',
        f"| runs in Nautobot | {figures['runs_in_nautobot']} |",
        f"| Job end → log in thread, p50 / p99 / max | {_ms(latency['p50'])} / {_ms(latency['p99'])} / "
        f"{_ms(latency['max'])} ({latency['missing']} missing) |",
        f"| of which above Slack's one post a second per channel, p50 / p99 | {_ms(over.get('p50'))} / "
        f"{_ms(over.get('p99'))} |",
        f"| killed replicas' requests taken over, longest wait | {takeover['requests']} requests, "
        f"{_s(takeover['max'])} (p50 {_s(takeover['p50'])}; {takeover['missing']} never) |",
        f"| parent messages / log replies posted twice inside the window (a SIGKILL ≤ 1 s after the post) | "
        f"{len(inside['parent_messages'])} / {len(inside['log_replies'])} |",
        f'| runs whose requester got a direct message ("is waiting": not taken up 5 times) | '
        f"{figures.get('runs_named_in_direct_messages', '—')} |",
        f"| parent messages showing their final status at the end | {figures['final_statuses_shown']} |",
        f"| Slack 5xx answers given | {figures['slack_5xx_answered']} |",
        f"| Nautobot events published | {figures['events_published']} |",
        f"| ledger states at the end | {', '.join(f'{k} {v}' for k, v in figures['ledger_states'].items())} |",
    ]


def _faults(done: list[dict[str, Any]]) -> list[str]:
    kinds = Counter(fault["kind"] for fault in done)
    lines = ["Faults carried out: " + ", ".join(f"{kind} {n} times" for kind, n in sorted(kinds.items())) + "."]
    failed = [fault for fault in done if fault["note"].startswith("failed")]
    if failed:
        lines += ["", "Faults that could not be carried out:"]
        lines += [f"- {f['began']} s {f['what']}: {f['note']}" for f in failed]
    lines += ["", "| at | fault | took | note |", "| --- | --- | --- | --- |"]
    return lines + [f"| {f['began']:.1f} s | {f['what']} | {f['took']:.1f} s | {f['note']} |" for f in done]


def render(results: dict[str, Any]) -> str:
    figures = results["figures"]
    zeros = ["| zero | found |", "| --- | --- |"]
    zeros += [f"| {ZERO_NAMES[name]} | {figures['zeros'][name]['count']} |" for name in ZEROS]
    broken = figures["zeros_broken"]
    verdict = f"ZEROS BROKEN: {', '.join(broken)}" if broken else "Every zero held."
    parts = [_header(results), zeros, _figures(figures), _faults(results["faults_done"]), [verdict]]
    return "\n\n".join("\n".join(part) for part in parts)


def _zero_rows(first: dict[str, Any], second: dict[str, Any]) -> tuple[list[str], list[str]]:
    rows, disagree = [], []
    for name in ZEROS:
        a, b = (run["figures"]["zeros"][name]["count"] for run in (first, second))
        rows.append(f"| {ZERO_NAMES[name]} | {a} | {b} | {'yes' if a == b == 0 else 'NO'} |")
        if not a == b == 0:
            disagree.append(name)
    return rows, disagree


def _latency_rows(first: dict[str, Any], second: dict[str, Any]) -> tuple[list[str], list[str]]:
    rows, disagree = [], []
    for figure, stat in LATENCIES:
        a, b = (run["figures"][figure][stat] for run in (first, second))
        close = a is not None and b is not None and abs(a - b) <= TOLERANCE * max(a, b)
        rows.append(f"| {figure} {stat} | {_ms(a)} | {_ms(b)} | {'yes' if close else 'NO'} |")
        if not close:
            disagree.append(f"{figure} {stat}")
    return rows, disagree


def compare(first: dict[str, Any], second: dict[str, Any]) -> tuple[str, list[str]]:
    """The two runs' zeros and latencies side by side, and what disagrees (the zeros must both be zero)."""
    zeros, zeros_apart = _zero_rows(first, second)
    latencies, latencies_apart = _latency_rows(first, second)
    same_schedule = first["seed"] == second["seed"] and first["schedule"] == second["schedule"]
    disagree = ([] if same_schedule else ["seed or schedule"]) + zeros_apart + latencies_apart
    lines = ["| figure | first | second | agree |", "| --- | --- | --- | --- |", *zeros, *latencies]
    return "\n".join(lines), disagree
