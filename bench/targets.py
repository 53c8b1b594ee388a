"""The targets the bot is held to, checked against the figures of one benchmark run."""

from __future__ import annotations

from typing import Any

from bench.plans import TARGET_AT

BURST_SLACK = 1.2
RSS_AT = 1000


def _at(waves: dict[str, dict], wanted: int) -> tuple[str, dict] | None:
    """The wave at ``wanted`` runs, else the largest one run (``--quick`` has no 500)."""
    if not waves:
        return None
    key = str(wanted) if str(wanted) in waves else max(waves, key=int)
    return key, waves[key]


def _ms(value: float | None) -> str:
    return "never" if value is None else f"{value * 1000:.0f} ms"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "never" if value is None else f"{value:.{digits}f}"


def _bound(side: dict) -> str:
    share = side["elapsed_over_bound"]
    within = "not all posted" if share is None else f"{share:.2f}x the bound"
    return f"{side['slack_429s']} x 429, {within}"


def check(waves: dict[str, dict], burst: dict[str, dict] | None) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    found = _at(waves, TARGET_AT)
    if found:
        n, wave = found
        at = f"{n} in flight" + ("" if int(n) == TARGET_AT else f" (target set for {TARGET_AT})")
        for key, label in (
            ("command_to_views_open_s", "command → views.open p99 ≤ 100 ms"),
            ("submission_to_ack_s", "view_submission → ack p99 ≤ 100 ms"),
        ):
            ours, base = wave[key]["ours"]["p99"], wave[key]["baseline"]["p99"]
            targets.append(
                {
                    "target": label,
                    "at": at,
                    "ours": _ms(ours),
                    "baseline": _ms(base),
                    "met": ours is not None and ours <= 0.1,
                }
            )
        ours = wave["completion_to_thread_log_s"]["ours"]["p50"]
        base = wave["completion_to_thread_log_s"]["baseline"]["p50"]
        targets.append(
            {
                "target": "Job end → log in thread, median ≤ 1.5 s",
                "at": at,
                "ours": _fmt(ours) + " s",
                "baseline": _fmt(base) + " s",
                "met": ours is not None and ours <= 1.5,
            }
        )
        rates = wave["nautobot_requests_per_5s_long_runs"]
        ours, base = rates["ours"]["mean"], rates["baseline"]["mean"]
        targets.append(
            {
                "target": "Nautobot requests per run per 5 s, runs ≥ 30 s, mean ≤ 1",
                "at": at,
                "ours": _fmt(ours) if rates["ours"]["count"] else "no run lasted 30 s",
                "baseline": _fmt(base) if rates["baseline"]["count"] else "no run lasted 30 s",
                "met": ours is not None and ours <= 1.0,
            }
        )
    if burst:
        ours, base = burst["ours"], burst["baseline"]
        targets.append(
            {
                "target": f"runs ending at once in one channel: no 429, all logs within {BURST_SLACK}x the bound",
                "at": f"{ours['runs']} runs, one channel",
                "ours": _bound(ours),
                "baseline": _bound(base),
                "met": ours["slack_429s"] == 0
                and ours["elapsed_over_bound"] is not None
                and ours["elapsed_over_bound"] <= BURST_SLACK,
            }
        )
    found = _at(waves, RSS_AT)
    if found:
        n, wave = found
        ours, base = wave["rss_mb_in_flight"]["ours"]["max"], wave["rss_mb_in_flight"]["baseline"]["max"]
        targets.append(
            {
                "target": "RSS ≤ 200 MB",
                "at": f"{n} in flight" + ("" if int(n) == RSS_AT else f" (target set for {RSS_AT})"),
                "ours": f"{_fmt(ours, 0)} MB",
                "baseline": f"{_fmt(base, 0)} MB",
                "met": ours is not None and ours <= 200,
            }
        )
    return targets
