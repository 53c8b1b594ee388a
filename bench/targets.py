"""The targets the bot is held to, checked against the figures of one benchmark run.

Each target names the design it judges: ``ours`` (with Nautobot's events) unless it is about the
polling the bot falls back to. Every design's value is shown beside it.
"""

from __future__ import annotations

from typing import Any

from bench.plans import CPU_AT, CPU_RATE, TARGET_AT
from bench.scenarios import DESIGNS, NOT_WAITED

BURST_SLACK = 1.2
RSS_AT = 1000
EVENTS_MEDIAN = 0.3
"""Seconds from a Job's end to its log in the thread, median, with events."""
POLLING_MEDIAN = 1.5
"""The same with polling only, the bot's fallback when the event source is down."""
SLACK_POSTS_PER_SECOND = 1.0
"""Slack's chat.postMessage limit in one channel."""
FOLLOW_REQUESTS = 2.0
"""Nautobot requests to follow a run that ends within a minute, mean, with events: its result and its log."""
CPU_PER_RUN = 0.03
ACK_P99 = 0.1
REAL_EVENTS_MEDIAN = 0.25
"""Seconds from a Job's end to its log in the thread, median, with a real Nautobot's events."""


def _at(waves: dict[str, dict], wanted: int | None) -> tuple[str, dict] | None:
    """The wave at ``wanted`` runs, else the largest one run (``--quick`` has no 500); None: the largest."""
    if not waves:
        return None
    key = str(wanted) if wanted is not None and str(wanted) in waves else max(waves, key=int)
    return key, waves[key]


def _where(n: str, wanted: int | None) -> str:
    return f"{n} in flight" + ("" if wanted is None or int(n) == wanted else f" (target set for {wanted})")


def _ms(value: float | None) -> str:
    return "never" if value is None else f"{value * 1000:.0f} ms"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "never" if value is None else f"{value:.{digits}f}"


def _bound(side: dict) -> str:
    share = side["elapsed_over_bound"]
    within = "not all posted" if share is None else f"{share:.2f}x the bound"
    return f"{side['slack_429s']} x 429, {within}"


def _within(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def _target(label: str, design: str, at: str, values: dict[str, str], met: bool | None, note: str = "") -> dict:
    return {"target": label, "design": design, "at": at, "values": values, "met": met, "note": note}


def channel_bound(setup: dict[str, Any]) -> float:
    """The longest a log can wait for its channel: behind the other runs of the busiest channel, one post a
    second each, plus the time to notice the end."""
    return (setup["busiest_channel"] - 1) / SLACK_POSTS_PER_SECOND + EVENTS_MEDIAN


def _latency_targets(wave: dict, at: str) -> list[dict]:
    targets = []
    for key, label in (
        ("command_to_views_open_s", "command → views.open p99 ≤ 100 ms"),
        ("submission_to_ack_s", "view_submission → ack p99 ≤ 100 ms"),
    ):
        values = {design: _ms(wave[key][design]["p99"]) for design in DESIGNS}
        ours = wave[key]["ours"]["p99"]
        targets.append(_target(label, "ours", at, values, ours is not None and ours <= ACK_P99))
    logs = wave["completion_to_thread_log_s"]
    medians = {design: _ms(logs[design]["p50"]) for design in DESIGNS}
    ours = logs["ours"]["p50"]
    floor = wave["channel_bound_wait_s"]["ours"]["p50"]
    targets.append(
        _target(
            f"Job end → log in thread with events, median ≤ {EVENTS_MEDIAN * 1000:.0f} ms",
            "ours",
            at,
            medians,
            ours is not None and ours <= EVENTS_MEDIAN,
            f"Slack's per-channel limit alone holds the median log {_ms(floor)} after its Job's end",
        )
    )
    over = wave["thread_log_over_channel_bound_s"]
    ours = over["ours"]["p50"]
    targets.append(
        _target(
            f"Job end → log in thread with events, median ≤ {EVENTS_MEDIAN * 1000:.0f} ms after the earliest "
            "Slack's per-channel limit allows",
            "ours",
            at,
            {design: _ms(over[design]["p50"]) for design in DESIGNS},
            ours is not None and ours <= EVENTS_MEDIAN,
        )
    )
    bound = channel_bound(wave["setup"])
    ours = logs["ours"]["p99"]
    targets.append(
        _target(
            f"Job end → log in thread with events, p99 ≤ the per-channel bound ({bound:.1f} s)",
            "ours",
            at,
            {design: _ms(logs[design]["p99"]) for design in DESIGNS},
            ours is not None and ours <= bound,
            f"{wave['setup']['busiest_channel']} runs in the busiest channel",
        )
    )
    polling = logs["ours-polling"]["p50"]
    targets.append(
        _target(
            f"Job end → log in thread with polling, median ≤ {POLLING_MEDIAN} s",
            "ours-polling",
            at,
            medians,
            polling is not None and polling <= POLLING_MEDIAN,
        )
    )
    return targets


def _request_targets(wave: dict, at: str) -> list[dict]:
    follow = wave["follow_requests_per_short_run"]
    ours = follow["ours"]["mean"]
    values = {d: _fmt(follow[d]["mean"]) if follow[d]["count"] else "no run ended within a minute" for d in DESIGNS}
    targets = [
        _target(
            f"Nautobot requests to follow a run, runs ending within a minute, mean ≤ {FOLLOW_REQUESTS:g}",
            "ours",
            at,
            values,
            _within(ours, FOLLOW_REQUESTS) if follow["ours"]["count"] else None,
        )
    ]
    rates = wave["nautobot_requests_per_5s_long_runs"]
    ours = rates["ours"]["mean"]
    values = {d: _fmt(rates[d]["mean"]) if rates[d]["count"] else "no run lasted 30 s" for d in DESIGNS}
    targets.append(
        _target(
            "Nautobot requests per run per 5 s, runs ≥ 30 s, mean ≤ 1",
            "ours",
            at,
            values,
            _within(ours, 1.0) if rates["ours"]["count"] else None,
        )
    )
    return targets


def _largest_wave_targets(n: str, wave: dict) -> list[dict]:
    at = f"{n} in flight (the largest N)"
    updates = wave["chat_update_429s"]
    limit = wave["setup"].get("chat_update_limit")
    enforced = limit is not None or any(updates[design] for design in DESIGNS)
    values = {design: str(updates[design]) for design in DESIGNS}
    targets = [
        _target(
            "chat.update 429 answers = 0, Slack's Tier 3 enforced",
            "ours",
            at,
            values,
            updates["ours"] == 0 if enforced else None,
            "" if enforced else "the Slack stand-in does not enforce Tier 3 on chat.update",
        )
    ]
    shown, started = wave["runs_final_status_shown"], wave["runs_started_in_nautobot"]
    values = {
        design: NOT_WAITED if shown[design] is None else f"{shown[design]} of {started[design]}" for design in DESIGNS
    }
    targets.append(
        _target(
            "every run's parent message shows its final status",
            "ours",
            at,
            values,
            started["ours"] > 0 and shown["ours"] == started["ours"] if shown["ours"] is not None else None,
        )
    )
    return targets


def _cpu_targets(n: str, wave: dict) -> list[dict]:
    rate = wave["setup"]["arrivals_per_second"]
    at = _where(n, CPU_AT) + f", {rate:g} submissions/s"
    note = "" if rate == CPU_RATE else f"target set for {CPU_RATE:g} submissions/s"
    cpu = wave["cpu_seconds_per_run"]
    values = {design: _fmt(cpu[design], 3) for design in DESIGNS}
    targets = [
        _target(
            f"bot CPU seconds per run ≤ {CPU_PER_RUN}",
            "ours",
            at,
            values,
            cpu["ours"] is not None and cpu["ours"] <= CPU_PER_RUN,
            note,
        )
    ]
    acks = wave["submission_to_ack_arrivals_s"]
    values = {design: _ms(acks[design]["p99"]) for design in DESIGNS}
    ours = acks["ours"]["p99"]
    targets.append(
        _target(
            "view_submission → ack of the arrivals, p99 ≤ 100 ms",
            "ours",
            at,
            values,
            ours is not None and ours <= ACK_P99,
            note,
        )
    )
    return targets


def _burst_target(burst: dict[str, dict]) -> dict:
    ours = burst["ours"]
    return _target(
        f"runs ending at once in one channel: no 429, all logs within {BURST_SLACK}x the bound",
        "ours",
        f"{ours['runs']} runs, one channel",
        {design: _bound(burst[design]) for design in DESIGNS},
        ours["slack_429s"] == 0
        and ours["elapsed_over_bound"] is not None
        and ours["elapsed_over_bound"] <= BURST_SLACK,
    )


def _rss_target(n: str, wave: dict) -> dict:
    rss = wave["rss_mb_in_flight"]
    ours = rss["ours"]["max"]
    return _target(
        "RSS ≤ 200 MB",
        "ours",
        _where(n, RSS_AT),
        {design: f"{_fmt(rss[design]['max'], 0)} MB" for design in DESIGNS},
        ours is not None and ours <= 200,
    )


def check(waves: dict[str, dict], burst: dict[str, dict] | None) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    found = _at(waves, TARGET_AT)
    if found:
        n, wave = found
        at = _where(n, TARGET_AT)
        targets += _latency_targets(wave, at)
        targets += _request_targets(wave, at)
    found = _at(waves, CPU_AT)
    if found:
        targets += _cpu_targets(*found)
    found = _at(waves, None)
    if found:
        targets += _largest_wave_targets(*found)
    if burst:
        targets.append(_burst_target(burst))
    found = _at(waves, RSS_AT)
    if found:
        targets.append(_rss_target(*found))
    return targets


def real(real_nautobot: dict[str, Any]) -> list[dict]:
    """The target against a real Nautobot: its events bring the log within a quarter second of the end."""
    designs = real_nautobot.get("designs")
    if not designs:
        return []
    medians = {design: found["completion_to_thread_log_s"]["p50"] for design, found in designs.items()}
    values = {design: _ms(median) for design, median in medians.items()}
    label = f"real Nautobot: Job end → log in thread, median ≤ {REAL_EVENTS_MEDIAN * 1000:.0f} ms"
    at = f"{real_nautobot['runs']} runs, one a second"
    return [_target(label, "ours", at, values, _within(medians.get("ours"), REAL_EVENTS_MEDIAN))]


def one_core(found: dict[str, Any] | None) -> list[dict]:
    """The arrivals' ack on one core (:mod:`bench.one_core`), judged on ours alone."""
    if found is None:
        return []
    setup = found["setup"]
    p99 = found["submission_to_ack_arrivals_s"]["p99"]
    cores = ", ".join(str(core) for core in setup["bot_cores"] or [])
    return [
        _target(
            f"view_submission → ack of the arrivals on one core, p99 ≤ {ACK_P99 * 1000:.0f} ms",
            "ours",
            f"{setup['runs']} arriving at {setup['arrivals_per_second']:g} submissions/s, the bot on core {cores}",
            {"ours": _ms(p99)},
            _within(p99, ACK_P99),
        )
    ]
