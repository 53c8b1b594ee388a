"""The benchmark harness end to end at a tiny scale: every figure is produced, whatever the timings."""

from __future__ import annotations

import json

from bench.__main__ import run
from bench.plans import TINY
from bench.report import DISTRIBUTIONS, SCALARS, STATS

# A tiny run has no run lasting 30 s, so no long-run polling rate.
MAY_BE_EMPTY = {"nautobot_requests_per_5s_long_runs"}


def test_the_harness_produces_every_figure(tmp_path):
    out = tmp_path / "results.json"
    run(TINY, out, tmp_path / "work", real=False)

    written = json.loads(out.read_text())
    assert written["plan"] == "tiny"
    assert {"cpu_model", "cores", "python"} <= set(written["machine"])
    [wave] = written["waves"].values()
    for key in DISTRIBUTIONS:
        for design in ("ours", "baseline"):
            summary = wave[key][design]
            assert set(STATS) <= set(summary), key
            assert summary["count"] > 0 or key in MAY_BE_EMPTY, (key, design)
        assert set(STATS) <= set(wave[key]["ratio"]), key
        if key not in MAY_BE_EMPTY:
            assert wave[key]["ours"]["p50"] is not None, key
    for key in SCALARS:
        assert {"ours", "baseline", "ratio"} <= set(wave[key]), key
    for design in ("ours", "baseline"):
        burst = written["burst"][design]
        assert burst["runs"] == TINY.burst.runs
        assert burst["completion_to_thread_log_s"]["count"] > 0
    assert all(target["met"] in (True, False) for target in written["targets"])
    assert {target["target"] for target in written["targets"]} >= {
        "RSS ≤ 200 MB",
        "Job end → log in thread, median ≤ 1.5 s",
    }
    assert written["real_nautobot"]["skipped"]
