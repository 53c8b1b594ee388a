"""``python -m bench [--quick]``: every scenario for each design, tables, results.json and a latency chart.

``python -m bench --compare A.json B.json``: the headline figures of two runs side by side.

``python -m bench --chaos [--seed N] [--chaos-minutes M]``: three replicas on one PostgreSQL ledger through a
seeded fault schedule, and a checker (``bench/chaos``); chaos-results.json, and exit 1 when a zero is broken.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT, chart, compare, figures, machine, nautobot_events, report, targets
from bench.one_core import run_one_core
from bench.plans import PLANS, Plan
from bench.processes import bot_code
from bench.scenarios import DESIGNS, EVENTS_DESIGN, run_burst, run_wave

SEED = 20261102
CHART_NAME = "latency.svg"


def _say(text: str) -> None:
    print(text, flush=True)


def _final_statuses_judged(largest_wave: bool, design: str) -> bool:
    """Whether a scenario waits for every parent's final status: only where that target is judged, ours at the
    largest N. The edits go at Slack's Tier 3 pace (N * 1.2 s: 20 minutes at 1,000), with the same pacing whatever
    tells the bot a run ended; everywhere else the scenario ends with the logs and the figure is not taken."""
    return largest_wave and design == EVENTS_DESIGN


def run(
    plan: Plan,
    out: Path,
    workdir: Path,
    *,
    real: bool = True,
    seed: int = SEED,
    events_url: str = nautobot_events.DEFAULT_URL,
    host: machine.Machine | None = None,
) -> dict[str, Any]:
    """Every scenario of ``plan`` for every design, with the same seeds; writes results.json and the chart."""
    host = host or machine.Machine()
    unreachable = nautobot_events.reachable(events_url)
    if unreachable:
        raise RuntimeError(f"Nautobot's events go through Redis, which does not answer: {unreachable}")
    began = time.monotonic()
    load_at_start = host.load_average()
    bot = bot_code()
    _say(report.events_note(bot))
    scenarios: list[dict[str, Any]] = []
    waves: dict[str, dict] = {}
    largest = max(wave.runs for wave in plan.waves)
    for wave in plan.waves:
        summaries: dict[str, dict] = {}
        setup: dict[str, Any] = {"settle_s": {}}
        for design in DESIGNS:
            _say(f"wave of {wave.runs} runs in flight: {design}…")
            found = run_wave(
                design,
                wave,
                workdir / f"wave{wave.runs}-{design}",
                seed + wave.runs,
                events_url,
                host,
                final_statuses_awaited=_final_statuses_judged(wave.runs == largest, design),
            )
            summaries[design] = figures.summarize(found.records)
            scenarios.append(found.machine)
            # The same for every design but how long its parents took to be up, which decides how long runs are held.
            setup = {**found.setup, "settle_s": {**setup["settle_s"], design: found.setup["settle_s"]}}
        waves[str(wave.runs)] = {"setup": setup, **report.compare(summaries)}
    bursts: dict[str, dict] = {}
    for design in DESIGNS:
        _say(f"{plan.burst.runs} runs ending at once in one channel: {design}…")
        found_burst = run_burst(
            design,
            plan.burst,
            workdir / f"burst-{design}",
            seed,
            events_url,
            host,
            final_statuses_awaited=False,  # no target is judged on the burst's final statuses
        )
        bursts[design] = figures.burst(found_burst.records, found_burst.released, found_burst.channel)
        scenarios.append(found_burst.machine)
    one_core = run_one_core(plan, workdir / "one-core", seed, events_url, host, scenarios)
    real_nautobot: dict[str, Any]
    if plan.real_runs and real:
        from bench.real_nautobot import run_real

        _say(f"{plan.real_runs} runs against a real Nautobot (waits for the machine-wide Nautobot lock)…")
        real_nautobot = run_real(plan.real_runs, workdir / "real")
    else:
        real_nautobot = {"skipped": "not part of this plan" if not plan.real_runs else "--skip-real"}
    results: dict[str, Any] = {
        "plan": plan.name,
        "machine": machine.describe(),
        "load_average_at_start": load_at_start,
        "comparability": machine.assess(load_at_start, host.cores(), scenarios),
        "machine_during_scenarios": scenarios,
        "bot": bot,
        "events_url": events_url,
        "seconds": round(time.monotonic() - began, 1),
        "waves": waves,
        "burst": bursts,
        "one_core": one_core,
        "real_nautobot": real_nautobot,
    }
    results["targets"] = targets.check(waves, bursts) + targets.one_core(one_core) + targets.real(real_nautobot)
    out.parent.mkdir(parents=True, exist_ok=True)
    results["chart"] = str(chart.write(results, out.parent / CHART_NAME))
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


def render(results: dict[str, Any]) -> str:
    described = results["machine"]
    frequency = described.get("cpu_frequency")
    mhz = f", {frequency['current_mhz']:.0f} MHz" if frequency else ""
    note = report.comparability_note(results["comparability"])
    parts = [
        note,
        "",
        f"Machine: {described['cpu_model']}, {described['cores']} cores{mhz}, Python {described['python']}; "
        f"load average {results['load_average_at_start']:.2f} at the start; plan {results['plan']}, "
        f"{results['seconds']} s.",
        report.events_note(results["bot"]),
        "",
        report.distribution_table(results["waves"]),
        "",
        report.scalar_table(results["waves"]),
        "",
        report.burst_table(results["burst"]),
        "",
        report.targets_table(results["targets"]),
        "",
        "CPU used while each scenario ran, in % of one core (others: the machine's busy time less the bench's"
        " and the bot's):",
        "",
        report.machine_table(results["machine_during_scenarios"]),
    ]
    real = results["real_nautobot"]
    if "skipped" in real:
        parts += ["", f"Real Nautobot smoke run: skipped ({real['skipped']})."]
    else:
        parts += ["", report.real_table(real)]
    parts += ["", f"Chart: {results['chart']}"]
    if not results["comparability"]["comparable"]:
        parts += ["", note]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller N and no real Nautobot: about 5 minutes")
    parser.add_argument("--plan", choices=sorted(PLANS), help=argparse.SUPPRESS)
    parser.add_argument("--skip-real", action="store_true", help="leave out the runs against a real Nautobot")
    parser.add_argument("--out", type=Path, help="results file (default bench/results.json, bench/chaos-results.json)")
    parser.add_argument("--chaos", action="store_true", help="the chaos run: replicas through a fault schedule")
    parser.add_argument("--seed", type=int, default=None, help="the chaos run's fault schedule (default fixed)")
    parser.add_argument("--chaos-minutes", type=float, help="how long people arrive in the chaos run (default 10)")
    parser.add_argument("--note", default="", help=argparse.SUPPRESS)  # said in the chaos results and report
    parser.add_argument(
        "--events-url", default=nautobot_events.DEFAULT_URL, help="Redis the Nautobot stand-in publishes events to"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A.json", "B.json"),
        help="print the headline figures of two results files and their ratios; exit 1 if any differ by > 20%%",
    )
    args = parser.parse_args(argv)
    if args.compare:
        return _compare(args.compare)
    if args.chaos:
        return _chaos(args)
    return _bench(args)


def _compare(paths: list[Path]) -> int:
    first, second = (json.loads(path.read_text()) for path in paths)
    if first.get("chaos") or second.get("chaos"):
        return _compare_chaos(first, second)
    text, flagged = compare.render(first, second, *(str(path) for path in paths))
    _say(text)
    return 1 if flagged else 0


def _bench(args: argparse.Namespace) -> int:
    plan = PLANS[args.plan or ("quick" if args.quick else "full")]
    machine.wait_until_quiet(machine.Machine(), say=_say)
    out = args.out or ROOT / "bench" / "results.json"
    with tempfile.TemporaryDirectory(prefix="meraki-chatops-bench-") as workdir:
        results = run(plan, out, Path(workdir), real=not args.skip_real, events_url=args.events_url)
    _say(render(results))
    _say(f"\nWritten to {out}")
    return 0


def _chaos(args: argparse.Namespace) -> int:
    from bench.chaos import report
    from bench.chaos.plan import FULL, TINY
    from bench.chaos.run import SEED
    from bench.chaos.run import run as run_chaos

    # A stop (SIGTERM) ends the run through its clean-up: the replicas, its Redis and its database go with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = TINY if args.plan == "tiny" else FULL
    if args.chaos_minutes:
        plan = plan.with_minutes(args.chaos_minutes)
    out = args.out or ROOT / "bench" / "chaos-results.json"
    results = run_chaos(plan, SEED if args.seed is None else args.seed, out, say=_say, note=args.note)
    _say(report.render(results))
    _say(f"\nWritten to {out} and {out.with_suffix('.md')}")
    return 1 if results["figures"]["zeros_broken"] else 0


def _compare_chaos(first: dict[str, Any], second: dict[str, Any]) -> int:
    from bench.chaos import report

    text, disagree = report.compare(first, second)
    _say(text)
    if disagree:
        _say(f"\nDisagree: {', '.join(disagree)}")
    return 1 if disagree else 0


if __name__ == "__main__":
    raise SystemExit(main())
