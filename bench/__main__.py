"""``python -m bench [--quick]``: every scenario for the bot and the baseline, a table, and results.json."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT, figures, report, targets
from bench.plans import PLANS, Plan
from bench.scenarios import run_burst, run_wave

DESIGNS = ("ours", "baseline")
SEED = 20261102


def _say(text: str) -> None:
    print(text, flush=True)


def run(plan: Plan, out: Path, workdir: Path, *, real: bool = True, seed: int = SEED) -> dict[str, Any]:
    began = time.monotonic()
    load_at_start = list(os.getloadavg())
    waves: dict[str, dict] = {}
    for wave in plan.waves:
        summaries = {}
        for design in DESIGNS:
            _say(f"wave of {wave.runs} runs in flight: {design}…")
            records = run_wave(design, wave, workdir / f"wave{wave.runs}-{design}", seed + wave.runs)
            summaries[design] = figures.summarize(records)
        waves[str(wave.runs)] = report.compare(summaries["ours"], summaries["baseline"])
    bursts: dict[str, dict] = {}
    for design in DESIGNS:
        _say(f"{plan.burst.runs} runs ending at once in one channel: {design}…")
        found = run_burst(design, plan.burst, workdir / f"burst-{design}", seed)
        bursts[design] = figures.burst(found.records, found.released, found.channel)
    real_nautobot: dict[str, Any]
    if plan.real_runs and real:
        from bench.real_nautobot import run_real

        _say(f"{plan.real_runs} runs against a real Nautobot (waits for the machine-wide Nautobot lock)…")
        real_nautobot = run_real(plan.real_runs, workdir / "real")
    else:
        real_nautobot = {"skipped": "not part of this plan" if not plan.real_runs else "--skip-real"}
    results = {
        "plan": plan.name,
        "machine": report.machine(),
        "load_average_at_start": load_at_start,
        "seconds": round(time.monotonic() - began, 1),
        "waves": waves,
        "burst": bursts,
        "real_nautobot": real_nautobot,
    }
    results["targets"] = targets.check(waves, bursts)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    parts = [
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}; "
        f"plan {results['plan']}, {results['seconds']} s.",
        "",
        report.wave_table(results["waves"]),
        "",
        report.burst_table(results["burst"]),
        "",
        report.targets_table(results["targets"]),
    ]
    real = results["real_nautobot"]
    if "skipped" in real:
        parts += ["", f"Real Nautobot smoke run: skipped ({real['skipped']})."]
    else:
        parts += ["", report.real_table(real)]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller N and no real Nautobot: under two minutes")
    parser.add_argument("--plan", choices=sorted(PLANS), help=argparse.SUPPRESS)
    parser.add_argument("--skip-real", action="store_true", help="leave out the runs against a real Nautobot")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args(argv)
    plan = PLANS[args.plan or ("quick" if args.quick else "full")]
    with tempfile.TemporaryDirectory(prefix="meraki-chatops-bench-") as workdir:
        results = run(plan, args.out, Path(workdir), real=not args.skip_real)
    _say(render(results))
    _say(f"\nWritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
