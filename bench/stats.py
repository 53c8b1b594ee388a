"""Distributions as the report shows them: p50, p90, p99 and max, with what never happened counted apart."""

from __future__ import annotations

import math
from collections.abc import Iterable

PERCENTILES = (("p50", 50), ("p90", 90), ("p99", 99))


def distribution(values: Iterable[float], *, missing: int = 0) -> dict[str, float | int | None]:
    """Nearest-rank percentiles over ``values`` plus ``missing`` outcomes that never came (counted as infinite).

    A percentile that falls among the missing ones is ``None``: it did not happen within the run.
    """
    ordered = sorted(values)
    count = len(ordered) + missing
    summary: dict[str, float | int | None] = {"count": count, "missing": missing}
    for name, percent in PERCENTILES:
        summary[name] = _rank(ordered, count, percent)
    summary["max"] = (ordered[-1] if ordered else None) if not missing else None
    summary["mean"] = sum(ordered) / len(ordered) if ordered and not missing else None
    return summary


def _rank(ordered: list[float], count: int, percent: float) -> float | None:
    if count == 0:
        return None
    index = nearest_rank(count, percent) - 1
    return ordered[index] if index < len(ordered) else None


def nearest_rank(count: int, percent: float) -> int:
    """The 1-based rank of the ``percent`` percentile among ``count`` sorted values."""
    return max(1, math.ceil(percent / 100 * count))


def ratio(ours: float | None, baseline: float | None) -> float | None:
    """ours / baseline; None when either side is missing or the baseline is zero."""
    if ours is None or baseline is None or baseline == 0:
        return None
    return ours / baseline
