"""The machine, the figures side by side (ours / baseline), the targets, and the table printed from them."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import ratio

DISTRIBUTIONS = {
    "command_to_views_open_s": ("command → views.open received", "s"),
    "submission_to_ack_s": ("view_submission → ack", "s"),
    "completion_to_thread_log_s": ("Job end in Nautobot → log in thread", "s"),
    "nautobot_requests_per_run": ("Nautobot requests per run", ""),
    "nautobot_requests_per_5s_long_runs": ("Nautobot requests per 5 s, runs ≥ 30 s", ""),
    "slack_calls_per_run": ("Slack calls per run", ""),
    "rss_mb_in_flight": ("RSS with N in flight", "MB"),
    "cpu_percent_in_flight": ("CPU with N in flight", "% core"),
}
SCALARS = {
    "runs_requested": "runs people asked for",
    "runs_started_in_nautobot": "runs started in Nautobot",
    "runs_reported_in_thread": "runs reported in their thread",
    "slack_429s": "Slack 429 answers",
    "nautobot_shared_requests": "Nautobot requests for no run (Job, form, status)",
    "cpu_seconds_per_run": "bot CPU seconds per run",
    "chat_update_peak_per_minute": "chat.update calls, busiest minute",
}
STATS = ("p50", "p90", "p99", "max")


def machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        # Others may share the machine: the load says how much of it the bot had.
        "load_average_1_5_15": list(os.getloadavg()),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def compare(ours: dict, baseline: dict) -> dict[str, Any]:
    """For every figure: ours, baseline and ours/baseline, per statistic."""
    table: dict[str, Any] = {}
    for key in DISTRIBUTIONS:
        table[key] = {
            "ours": ours[key],
            "baseline": baseline[key],
            "ratio": {stat: ratio(ours[key][stat], baseline[key][stat]) for stat in (*STATS, "mean")},
        }
    for key in SCALARS:
        mine, theirs = ours["scalars"][key], baseline["scalars"][key]
        table[key] = {"ours": mine, "baseline": theirs, "ratio": ratio(mine, theirs)}
    return table


# -- printing ------------------------------------------------------------------------------------


def _number(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return "never"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2g}"


def _quad(summary: dict, unit: str) -> str:
    if not summary["count"]:
        return "none measured"
    return " · ".join(_number(summary[stat], unit) for stat in STATS) + (
        f" ({summary['missing']} of {summary['count']} never)" if summary["missing"] else ""
    )


def wave_table(waves: dict[str, dict]) -> str:
    header = "| figure | N in flight | ours p50 · p90 · p99 · max | baseline p50 · p90 · p99 · max |"
    lines = [header + " ours/baseline p50 · p99 |", "| --- | --- | --- | --- | --- |"]
    for key, (label, unit) in DISTRIBUTIONS.items():
        for n, table in waves.items():
            row = table[key]
            ratios = f"{_ratio(row['ratio']['p50'])} · {_ratio(row['ratio']['p99'])}"
            name = f"{label} ({unit})" if unit and unit != "s" else label
            lines.append(f"| {name} | {n} | {_quad(row['ours'], unit)} | {_quad(row['baseline'], unit)} | {ratios} |")
    for key, label in SCALARS.items():
        for n, table in waves.items():
            row = table[key]
            lines.append(
                f"| {label} | {n} | {_number(row['ours'])} | {_number(row['baseline'])} | {_ratio(row['ratio'])} |"
            )
    return "\n".join(lines)


def burst_table(bursts: dict[str, dict]) -> str:
    ours, baseline = bursts["ours"], bursts["baseline"]
    rows = [
        ("runs ending at once in one channel", "runs"),
        ("logs posted in their thread", "posted"),
        ("chat.postMessage calls due after the end", "messages_after_end"),
        ("Slack's bound for them at 1 message/s (s)", "bound_s"),
        ("end → last log in thread (s)", "elapsed_s"),
        ("elapsed / bound", "elapsed_over_bound"),
        ("Slack 429 answers", "slack_429s"),
    ]
    lines = ["| burst figure | ours | baseline | ours/baseline |", "| --- | --- | --- | --- |"]
    for label, key in rows:
        lines.append(
            f"| {label} | {_number(ours[key])} | {_number(baseline[key])} | {_ratio(ratio(ours[key], baseline[key]))} |"
        )
    return "\n".join(lines)


def targets_table(targets: list[dict]) -> str:
    lines = ["| target | at | ours | baseline | met |", "| --- | --- | --- | --- | --- |"]
    for target in targets:
        lines.append(
            f"| {target['target']} | {target['at']} | {target['ours']} | {target['baseline']} | "
            f"{'yes' if target['met'] else 'no'} |"
        )
    return "\n".join(lines)


def real_table(real: dict[str, Any]) -> str:
    lines = [
        f"Real Nautobot 3.2 smoke run: {real['runs']} runs (Nautobot started in {real['nautobot_startup_s']:.0f} s).",
        "",
        "| figure | p50 · p90 · p99 · max |",
        "| --- | --- |",
    ]
    for key in ("command_to_views_open_s", "submission_to_ack_s", "completion_to_thread_log_s"):
        lines.append(f"| {DISTRIBUTIONS[key][0]} | {_quad(real[key], 's')} |")
    lines.append(f"| runs reported in their thread | {real['runs_reported_in_thread']} of {real['runs']} |")
    lines.append(f"| Slack 429 answers | {real['slack_429s']} |")
    return "\n".join(lines)
