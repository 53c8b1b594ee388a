"""The chaos run end to end: its own Redis and ledger database, the stand-ins, the replicas, the people and the
fault schedule; then the checker, the results file and the report."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from bench import ROOT, machine
from bench.chaos import checker, report, schedule
from bench.chaos.faults import Injector
from bench.chaos.plan import ChaosPlan
from bench.chaos.services import LedgerDatabase, RedisServer, Replicas
from bench.chaos.workload import Arrivals, Submission, taking_turns
from bench.nautobot_standin import NautobotStandIn
from bench.processes import bot_code
from bench.records import Records
from bench.scenarios import EVENTS_DESIGN, bot_env
from bench.users import FormWatcher, Person, workspace
from testbed.slack_standin import SlackStandIn

SEED = 3101
CONNECT_PATIENCE = 60.0
"""Seconds a started replica has to hold its Socket Mode connection."""
QUIET = 3.0
"""Seconds the drain must see nothing left to do before it ends."""
LEDGER_COLUMNS = "request_id, state, result_id, owner, resumes, error, inputs"


def _connected(slack: SlackStandIn, start: Callable[[], object]) -> None:
    earlier = set(slack.connections)
    start()
    slack.wait_for(lambda: set(slack.connections) - earlier, timeout=CONNECT_PATIENCE, interval=0.1)


def _env(plan: ChaosPlan, slack: SlackStandIn, nautobot: NautobotStandIn, redis: RedisServer, ledger_url: str):
    return bot_env(EVENTS_DESIGN, slack, nautobot, redis.url) | {
        "STORE_URL": ledger_url,
        "LEASE_SECONDS": str(plan.lease_seconds),
        "HEARTBEAT_SECONDS": str(plan.heartbeat_seconds),
        "WEB_HOST": "127.0.0.1",
    }


def _drain(nautobot: NautobotStandIn, ledger: LedgerDatabase, patience: float) -> float:
    """Wait until no run is in flight in Nautobot and no request waits for its log, for :data:`QUIET` s; how long
    that took (``patience`` at most)."""
    began = time.monotonic()
    quiet_since: float | None = None
    while time.monotonic() - began < patience:
        idle = nautobot.in_flight() == 0 and ledger.unreported() == 0
        if not idle:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET:
            break
        time.sleep(0.5)
    return time.monotonic() - began


def _act(
    plan: ChaosPlan, crowd: list[Person], injector: Injector, say: Callable[[str], None]
) -> tuple[list[Submission], dict[str, float]]:
    """The people arrive while the schedule runs; then the faults end, and what is under way finishes."""
    slack, redis = injector.slack, injector.redis
    with FormWatcher(slack) as watcher:
        arrivals = Arrivals(slack, watcher)
        began = time.monotonic()
        injector.start(began)
        futures = arrivals.arrive(crowd, plan.rate)
        arrived = time.monotonic()
        say(f"{len(crowd)} people arrived in {arrived - began:.0f} s; letting the faults under way end…")
        injector.finish()
        arrivals.close()
    submissions = [future.result() for future in futures]
    if redis.popen is None:  # a restart of Redis that failed half-way
        redis.start()
    restarted = injector.replicas.ensure_running()
    say(f"draining (replicas started again: {restarted or 'none'})…")
    drained = _drain(injector.nautobot, injector.ledger, plan.drain)
    return submissions, {"arrivals_s": arrived - began, "drain_s": drained}


def _ready(slack: SlackStandIn, nautobot: NautobotStandIn, count: int) -> None:
    slack.wait_connected(timeout=CONNECT_PATIENCE, count=count)
    slack.wait_for(lambda: any("variables" in key for key in nautobot.shared_requests), timeout=30)


def source() -> dict[str, Any]:
    """The checkout the replicas run: its commit (None outside git) and a digest of bot/'s sources, so two results
    files show whether they ran the same bot."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "bot").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return {"commit": found.stdout.strip() or None, "bot_sha256": digest.hexdigest()}


def run(plan: ChaosPlan, seed: int, out: Path, *, say: Callable[[str], None] = print, note: str = "") -> dict[str, Any]:
    """One chaos run; writes ``out`` (JSON) and the report beside it (``.md``). A zero broken keeps the replicas'
    logs (the path is in the results)."""
    workdir = Path(tempfile.mkdtemp(prefix="meraki-chatops-chaos-"))
    names = [f"replica-{n}" for n in range(1, plan.replicas + 1)]
    faults = schedule.build(plan, seed, names)
    load_at_start = machine.Machine().load_average()
    bot = bot_code()
    crowd = taking_turns(plan.runs, plan.runs_per_channel)
    redis = RedisServer(workdir).start()
    ledger = LedgerDatabase().create()
    try:
        with (
            NautobotStandIn(plan.durations, seed=seed, events_url=redis.url) as nautobot,
            workspace(crowd) as slack,
        ):
            env = _env(plan, slack, nautobot, redis, ledger.store_url)
            replicas = Replicas(workdir, env, plan.replicas, partial(_connected, slack))
            try:
                replicas.start_all()
                _ready(slack, nautobot, plan.replicas)
                say(f"{plan.replicas} replicas up; {plan.runs} people over {plan.seconds:.0f} s, {len(faults)} faults")
                injector = Injector(faults, replicas, slack, nautobot, redis, ledger, plan.lease_seconds)
                submissions, spans = _act(plan, crowd, injector, say)
                records = Records(
                    calls=slack.calls,
                    envelopes=slack.envelopes,
                    runs=nautobot.snapshot(),
                    shared_requests=nautobot.shared_requests.copy(),
                    samples=[],
                    people=len(submissions),
                    events_published=nautobot.events.published if nautobot.events else None,
                )
                rows = ledger.query(f"SELECT {LEDGER_COLUMNS} FROM requests")
                figures = checker.check(
                    submissions, records, slack.views, checker.Ledger.read(rows), injector.kills, injector.takeovers
                )
            finally:
                replicas.stop_all()
    finally:
        redis.stop()
        ledger.drop()
    results = {
        "chaos": True,
        "seed": seed,
        "plan": {**asdict(plan), "runs": plan.runs},
        "machine": machine.describe(),
        "load_average_at_start": load_at_start,
        "bot": {**bot, **source()},
        "note": note,
        "spans_s": {name: round(value, 1) for name, value in spans.items()},
        "schedule": [fault.to_json() for fault in faults],
        "faults_done": injector.record(),
        "figures": figures,
    }
    if figures["zeros_broken"]:
        results["kept_logs"] = str(workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(report.render(results) + "\n")
    return results
