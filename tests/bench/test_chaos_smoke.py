"""The chaos run end to end at a tiny scale (two replicas, a dozen people, a few of each fault, seconds long), and
its parts that decide pass or fail: the seeded schedule, the checker's zeros and the comparison of two runs."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg2
import pytest

from bench.__main__ import main
from bench.chaos import report, schedule
from bench.chaos.checker import Ledger, check
from bench.chaos.faults import Takeover
from bench.chaos.plan import FULL, TINY
from bench.chaos.run import run
from bench.chaos.services import POSTGRES
from bench.chaos.workload import Submission
from bench.durations import Durations
from bench.nautobot_standin import TOKEN, NautobotStandIn, Run
from bench.records import Records
from bench.users import Person
from testbed.slack_replies import Call
from tests.support.fixtures import service_missing

REPLICAS = ["replica-1", "replica-2"]


@pytest.fixture(scope="module")
def chaos_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    if shutil.which("redis-server") is None:
        service_missing("redis-server is not installed; the chaos run starts a Redis of its own")
    try:
        psycopg2.connect(dbname="postgres", connect_timeout=3, **POSTGRES).close()
    except psycopg2.OperationalError as exc:
        service_missing(f"PostgreSQL, which holds the replicas' ledger, does not answer: {exc}")
    out = tmp_path_factory.mktemp("chaos") / "chaos-results.json"
    return run(TINY, 7, out, say=lambda text: None), out


def test_the_tiny_chaos_run_carries_out_every_fault_and_keeps_every_zero(chaos_run):
    results, out = chaos_run
    assert json.loads(out.read_text()) == json.loads(json.dumps(results, default=str))
    kinds = Counter(done["kind"] for done in results["faults_done"])
    assert set(kinds) == {fault["kind"] for fault in results["schedule"]}
    assert {"sigkill", "pg_kill", "slack_5xx", "socket_drop", "nautobot_503", "nautobot_down", "redis_restart"} <= set(
        kinds
    )
    assert [done for done in results["faults_done"] if done["note"].startswith("failed")] == []
    figures = results["figures"]
    assert figures["zeros_broken"] == [], report.render(results)
    assert figures["runs_in_nautobot"] > 0 and figures["job_end_to_log_s"]["count"] == figures["runs_in_nautobot"]
    assert figures["slack_5xx_answered"] > 0
    text = out.with_suffix(".md").read_text()
    assert "Every zero held." in text and "| Jobs run twice | 0 |" in text


def test_two_results_compare_on_their_zeros_and_latencies(chaos_run, tmp_path, capsys):
    results, out = chaos_run
    slower = json.loads(out.read_text())
    slower["figures"]["job_end_to_log_s"]["p50"] = (results["figures"]["job_end_to_log_s"]["p50"] or 1.0) * 1.5
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(slower))

    assert main(["--compare", str(out), str(out)]) in (0, 1)  # the takeover wait may be missing in a tiny run
    capsys.readouterr()
    assert main(["--compare", str(out), str(moved)]) == 1
    assert "job_end_to_log_s p50" in capsys.readouterr().out.split("Disagree:")[1]


def test_the_schedule_is_the_seeds_and_holds_every_fault_of_the_plan():
    first, again, other = (schedule.build(FULL, seed, REPLICAS) for seed in (1, 1, 2))
    assert first == again and first != other
    kinds = Counter(fault.kind for fault in first)
    assert kinds["rolling_restart"] == kinds["redis_restart"] == kinds["nautobot_down"] == 1
    assert 24 <= kinds["sigkill"] <= 40  # one every 15-25 s over 10 minutes
    assert all(fault.at >= schedule.START for fault in first)
    outages = [fault for fault in first if fault.kind in ("redis_restart", "nautobot_down")]
    assert all(fault.at + fault.seconds <= FULL.seconds for fault in outages)  # over while people still arrive
    assert [fault.at for fault in first] == sorted(fault.at for fault in first)


def _run(result_id: str, email: str, done_at: float) -> Run:
    return Run(result_id, {"user_email": email}, 0.0, None, 1.0, done_at)


def _post(at: float, text: str, thread: str = "", ts: str = "", channel: str = "C1") -> Call:
    args = {"channel": channel, "text": text} | ({"thread_ts": thread} if thread else {})
    return Call("chat.postMessage", args, None, True, None, at, response={"ok": True, "ts": ts or f"t{at}"})


def test_the_checker_counts_a_repeat_outside_the_window_a_job_run_twice_and_a_lost_request():
    a, b, c = (f"0000000{n}-0000-4000-8000-000000000000" for n in range(3))
    runs = [_run(a, "a@example.com", 10.0), _run(b, "b@example.com", 10.0), _run(c, "b@example.com", 11.0)]
    calls = [
        _post(1.0, f"run {a}", ts="pa"),
        _post(5.0, f"run {a}", ts="pa2"),  # a repeat, with a SIGKILL 0.5 s after the first post: inside the window
        _post(11.0, "Created administrator", thread="pa"),
        _post(2.0, f"run {b}", ts="pb"),
        _post(30.0, f"run {b}", ts="pb2"),  # a repeat with no SIGKILL near: outside
        _post(12.0, "Created administrator", thread="pb"),
        _post(3.0, f"run {c}", ts="pc"),
        _post(13.0, "Created administrator", thread="pc"),
        _post(40.0, f"Your request is waiting: Nautobot answered 503 reading {c}", channel="D1"),  # no parent
    ]
    records = Records(calls, [], runs, Counter(), [], people=3)
    # a@ and b@ ran; ul@ was acknowledged, never ran, and its modal never said so.
    submissions = [Submission(Person(user, "C1"), 0.0, f"V{user}", {}) for user in ("A", "B", "UL")]
    ledger = Ledger.read([("r-lost", "received", None, "replica-1", 0, None, {"user_email": "ul@example.com"})])

    found = check(submissions, records, {}, ledger, kills=[1.5], takeovers=[Takeover("r", "replica-1", "x", 2)])

    zeros = {name: value["count"] for name, value in found["zeros"].items()}
    assert zeros == {
        "requests_lost": 1,
        "jobs_run_twice": 1,
        "runs_never_reported": 0,
        "parent_messages_twice_outside_window": 1,
        "log_replies_twice_outside_window": 0,
    }
    assert found["zeros"]["requests_lost"]["examples"][0]["ledger"][0]["state"] == "received"
    assert [r["result_id"] for r in found["repeats_inside_window"]["parent_messages"]] == [a]
    assert found["takeover_wait_s"]["max"] == 2
    assert found["runs_named_in_direct_messages"] == 1
    [unfinished] = found["unfinished_at_end"]
    assert unfinished["request_id"] == "r-lost" and unfinished["acknowledged"] and not unfinished["told_not_run"]


def test_the_nautobot_stand_in_answers_503_for_a_while_and_goes_down_and_comes_back():
    headers = {"Authorization": f"Token {TOKEN}"}
    with NautobotStandIn(Durations()) as nautobot:
        status = f"{nautobot.url}/api/status/"
        nautobot.unavailable(0.3)
        assert httpx.get(status, headers=headers).status_code == 503
        outage = threading.Thread(target=nautobot.down, args=(1.0,))
        outage.start()
        time.sleep(0.3)
        nautobot_gone = False
        try:
            httpx.get(status, headers=headers, timeout=0.2)
        except httpx.TransportError:
            nautobot_gone = True
        outage.join()
        assert nautobot_gone
        assert httpx.get(status, headers=headers).status_code == 200
