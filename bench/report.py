"""The figures side by side for every design, their ratios, and the tables printed from them."""

from __future__ import annotations

from typing import Any

from bench.scenarios import DESIGNS, NOT_WAITED
from bench.stats import ratio

DISTRIBUTIONS = {
    "command_to_views_open_s": ("command → views.open received", "s"),
    "submission_to_ack_s": ("view_submission → ack", "s"),
    "submission_to_ack_arrivals_s": ("view_submission → ack, the N arrivals", "s"),
    "completion_to_thread_log_s": ("Job end in Nautobot → log in thread", "s"),
    "channel_bound_wait_s": ("Job end → the earliest Slack's per-channel limit allows the log", "s"),
    "thread_log_over_channel_bound_s": ("log in thread, after that earliest moment", "s"),
    "thread_log_over_pacing_bound_s": ("log in thread, after the earliest the bot's own pacing allows", "s"),
    "nautobot_requests_per_run": ("Nautobot requests per run", ""),
    "follow_requests_per_short_run": ("Nautobot requests to follow a run, runs ending within a minute", ""),
    "nautobot_requests_per_5s_long_runs": ("Nautobot requests per 5 s, runs ≥ 30 s", ""),
    "slack_calls_per_run": ("Slack calls per run", ""),
    "rss_mb_in_flight": ("RSS with N in flight", "MB"),
    "cpu_percent_in_flight": ("CPU with N in flight", "% core"),
}
SCALARS = {
    "runs_requested": "runs people asked for",
    "runs_started_in_nautobot": "runs started in Nautobot",
    "runs_reported_in_thread": "runs reported in their thread",
    "runs_final_status_shown": "runs whose parent message shows a final status",
    "slack_429s": "Slack 429 answers",
    "chat_update_429s": "chat.update 429 answers",
    "nautobot_shared_requests": "Nautobot requests for no run (Job, form, status)",
    "cpu_seconds_per_run": "bot CPU seconds per run",
    "cpu_seconds_per_run_started": "bot CPU seconds per run started in Nautobot",
    "chat_update_peak_per_minute": "chat.update calls, busiest minute",
    "nautobot_events_published": "Nautobot events published",
}
STATS = ("p50", "p90", "p99", "max")
RATIOS = (("ours", "baseline"), ("ours-polling", "baseline"), ("ours", "ours-polling"))
"""Each design against the baseline, and events against polling."""
DESIGN_LABELS = {"ours": "ours (events)", "ours-polling": "ours-polling", "baseline": "baseline"}


def ratio_name(mine: str, theirs: str) -> str:
    return f"{mine}/{theirs}"


def compare(summaries: dict[str, dict]) -> dict[str, Any]:
    """For every figure: each design's value and the ratios of :data:`RATIOS`, per statistic."""
    table: dict[str, Any] = {}
    for key in DISTRIBUTIONS:
        row: dict[str, Any] = {design: summaries[design][key] for design in DESIGNS}
        row["ratio"] = {
            ratio_name(mine, theirs): {stat: ratio(row[mine][stat], row[theirs][stat]) for stat in (*STATS, "mean")}
            for mine, theirs in RATIOS
        }
        table[key] = row
    for key in SCALARS:
        row = {design: summaries[design]["scalars"][key] for design in DESIGNS}
        row["ratio"] = {ratio_name(mine, theirs): ratio(row[mine], row[theirs]) for mine, theirs in RATIOS}
        table[key] = row
    return table


# -- printing ------------------------------------------------------------------------------------


NOT_TAKEN = {"runs_final_status_shown": NOT_WAITED}
"""What an absent value of these figures means (any other: the event never happened)."""


def _number(value: float | int | None, unit: str = "", key: str = "") -> str:
    if value is None:
        return NOT_TAKEN.get(key, "never")
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


def _pair(ratios: dict) -> str:
    return f"{_ratio(ratios['p50'])} · {_ratio(ratios['p99'])}"


def distribution_table(waves: dict[str, dict]) -> str:
    """One row per figure, design and N, grouped by figure and then by design."""
    lines = [
        "| figure | design | N in flight | p50 · p90 · p99 · max | ÷ baseline p50 · p99 | ÷ ours-polling p50 · p99 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, (label, unit) in DISTRIBUTIONS.items():
        name = f"{label} ({unit})" if unit and unit != "s" else label
        for design in DESIGNS:
            for n, table in waves.items():
                row = table[key]
                to_base = _pair(row["ratio"][ratio_name(design, "baseline")]) if design != "baseline" else ""
                to_polling = _pair(row["ratio"][ratio_name(design, "ours-polling")]) if design == "ours" else ""
                values = _quad(row[design], unit)
                lines.append(f"| {name} | {DESIGN_LABELS[design]} | {n} | {values} | {to_base} | {to_polling} |")
    return "\n".join(lines)


def scalar_table(waves: dict[str, dict]) -> str:
    """One row per figure and N, a column per design and per ratio."""
    names = " | ".join(DESIGN_LABELS[design] for design in DESIGNS)
    ratios = " | ".join(ratio_name(mine, theirs) for mine, theirs in RATIOS)
    lines = [
        f"| figure | N in flight | {names} | {ratios} |",
        "| --- | --- |" + " --- |" * (len(DESIGNS) + len(RATIOS)),
    ]
    for key, label in SCALARS.items():
        for n, table in waves.items():
            row = table[key]
            values = " | ".join(_number(row[design], key=key) for design in DESIGNS)
            shares = " | ".join(_ratio(row["ratio"][ratio_name(mine, theirs)]) for mine, theirs in RATIOS)
            lines.append(f"| {label} | {n} | {values} | {shares} |")
    return "\n".join(lines)


BURST_ROWS = (
    ("runs ending at once in one channel", "runs"),
    ("logs posted in their thread", "posted"),
    ("chat.postMessage calls due after the end", "messages_after_end"),
    ("Slack's bound for them at 1 message/s (s)", "bound_s"),
    ("end → last log in thread (s)", "elapsed_s"),
    ("elapsed / bound", "elapsed_over_bound"),
    ("Slack 429 answers", "slack_429s"),
    ("chat.update 429 answers", "chat_update_429s"),
    ("runs whose parent message shows a final status", "runs_final_status_shown"),
)


def burst_table(bursts: dict[str, dict]) -> str:
    names = " | ".join(DESIGN_LABELS[design] for design in DESIGNS)
    lines = [
        f"| burst figure | {names} | ours/baseline | ours/ours-polling |",
        "| --- |" + " --- |" * (len(DESIGNS) + 2),
    ]
    for label, key in BURST_ROWS:
        values = " | ".join(_number(bursts[design].get(key), key=key) for design in DESIGNS)
        to_base = _ratio(ratio(bursts["ours"].get(key), bursts["baseline"].get(key)))
        to_polling = _ratio(ratio(bursts["ours"].get(key), bursts["ours-polling"].get(key)))
        lines.append(f"| {label} | {values} | {to_base} | {to_polling} |")
    return "\n".join(lines)


def targets_table(targets: list[dict]) -> str:
    names = " | ".join(DESIGN_LABELS[design] for design in DESIGNS)
    lines = [f"| target | judged on | at | {names} | met |", "| --- | --- | --- |" + " --- |" * (len(DESIGNS) + 1)]
    for target in targets:
        # The real Nautobot's targets have no baseline: it runs only the bot's two designs.
        values = " | ".join(target["values"].get(design, "—") for design in DESIGNS)
        met = {True: "yes", False: "no", None: "not checked"}[target["met"]]
        note = f" ({target['note']})" if target.get("note") else ""
        lines.append(
            f"| {target['target']} | {DESIGN_LABELS[target['design']]} | {target['at']} | {values} | {met}{note} |"
        )
    return "\n".join(lines)


def machine_table(scenarios: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | s | load (1 min) at start | others, % core | steal, % core | bench, % core | bot, % core |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in scenarios:
        lines.append(
            f"| {s['scenario']} | {s['seconds']} | {s['load_average_1m_at_start']} | {s['others_cpu_percent']} | "
            f"{s['steal_cpu_percent']} | {s['bench_cpu_percent']} | {s['bot_cpu_percent']} |"
        )
    return "\n".join(lines)


def comparability_note(comparability: dict[str, Any]) -> str:
    if comparability["comparable"]:
        return "Comparable: the machine was idle enough (see the table of other processes' CPU below)."
    reasons = "\n".join(f"  - {reason}" for reason in comparability["reasons"])
    return (
        "WARNING: the machine was busy; these figures are NOT comparable with another run's:\n"
        f"{reasons}\n  Ratios between designs of this run are still meaningful; absolute times are not."
    )


def events_note(bot: dict[str, Any]) -> str:
    if bot["events_setting"]:
        return "Events: the bot has NAUTOBOT_EVENTS_URL (bot.settings.Settings.nautobot_events_url); ours uses it."
    return (
        "Events: bot.settings.Settings has no nautobot_events_url yet, so the bot ignores NAUTOBOT_EVENTS_URL "
        "and ours and ours-polling run the same code."
    )


def real_table(real: dict[str, Any]) -> str:
    designs = real["designs"]
    lines = [
        f"Real Nautobot 3.2 smoke run: {real['runs']} runs per design (Nautobot started in "
        f"{real['nautobot_startup_s']:.0f} s); its RedisEventBroker publishes to the bot's NAUTOBOT_EVENTS_URL "
        "in `ours`, and `ours-polling` leaves that unset.",
        "",
        "| figure | " + " | ".join(f"{design} p50 · p90 · p99 · max" for design in designs) + " |",
        "| --- | " + " | ".join("---" for _ in designs) + " |",
    ]
    for key in ("command_to_views_open_s", "submission_to_ack_s", "completion_to_thread_log_s"):
        cells = " | ".join(_quad(found[key], "s") for found in designs.values())
        lines.append(f"| {DISTRIBUTIONS[key][0]} | {cells} |")
    reported = " | ".join(f"{found['runs_reported_in_thread']} of {real['runs']}" for found in designs.values())
    lines.append(f"| runs reported in their thread | {reported} |")
    lines.append(f"| Slack 429 answers | {' | '.join(str(found['slack_429s']) for found in designs.values())} |")
    return "\n".join(lines)
