"""Runs arriving steadily at two replicas on one PostgreSQL ledger, through a seeded schedule of faults (a replica
killed and started again, Nautobot's web server down for a while), then a checker that reads what Nautobot, the
Meraki stand-in, Slack and the ledger hold: no Job ran twice, every run was reported once (one parent message
with its final status, its log once in its thread), and every submission Slack acknowledged either ran or told
its person that it did not.

The schedule comes from ``CHAOS_SEED`` (default below), so a failure can be replayed; the seed is in the test's
output.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field

import pytest

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, USER, entered, open_form, start_connected
from testbed.slack_standin import SlackStandIn
from tests.faults.conftest import LEASE
from tests.support.postgres import query
from tests.support.restarts import ADMIN_POSTS, job_runs

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]

SEED = int(os.environ.get("CHAOS_SEED", "2612"))
RUNS = 60
ARRIVAL_GAP = (0.5, 1.0)
"""Seconds between one submission and the next (a person's pace, drawn from the seed)."""
KILL_EVERY = (6.0, 10.0)
DOWN_FOR = (1.0, 3.0)
"""Seconds between two kills, and how long a killed replica stays down before it is started again."""
NAUTOBOT_DOWN = 8.0
"""How long Nautobot's web server is stopped, once, in the middle of the arrivals."""
WORKING_STATES = ("received", "submitting", "submitted", "announced", "logged")


@dataclass
class Chaos:
    """The fault schedule, run in a thread of its own until the arrivals end; what it did is kept for the report."""

    rng: random.Random
    replicas: dict[str, BotProcess]
    slack: SlackStandIn
    nautobot: NautobotStack
    done: threading.Event = field(default_factory=threading.Event)
    did: list[str] = field(default_factory=list)

    def run(self) -> None:
        started = time.monotonic()
        outage_at = self.rng.uniform(30.0, 50.0)
        while not self.done.wait(self.rng.uniform(*KILL_EVERY)):
            if outage_at is not None and time.monotonic() - started > outage_at:
                outage_at = None
                self.did.append(f"{time.monotonic() - started:.1f}s Nautobot's web server down {NAUTOBOT_DOWN:g}s")
                with self.nautobot.web_down():
                    time.sleep(NAUTOBOT_DOWN)
                continue
            name = self.rng.choice(sorted(self.replicas))
            self.did.append(f"{time.monotonic() - started:.1f}s SIGKILL {name}")
            self.replicas[name].stop(signal.SIGKILL)
            time.sleep(self.rng.uniform(*DOWN_FOR))
            start_connected(self.replicas[name], self.slack)


@dataclass
class Submitted:
    email: str
    view_id: str = ""
    ack: dict | None = None
    """None: Slack could not deliver it or had no answer in time (the person saw Slack's error)."""


def test_runs_under_kills_and_a_nautobot_outage_each_run_once_and_are_all_reported(
    stack, slack, replica, meraki, nautobot, ledger_db
):
    rng = random.Random(SEED)
    print(f"CHAOS_SEED={SEED}")
    replicas = {name: start_connected(replica(name), slack) for name in ("replica-a", "replica-b")}
    chaos = Chaos(rng, replicas, slack, nautobot)
    faults = threading.Thread(target=chaos.run, name="chaos", daemon=True)
    faults.start()
    submitted = [_submit(slack, f"chaos.{n:02d}@example.com") for n in _paced(rng)]
    chaos.done.set()
    faults.join(timeout=NAUTOBOT_DOWN + 240)
    print("faults:", "; ".join(chaos.did))
    assert any("SIGKILL" in what for what in chaos.did), "the schedule killed no replica: lengthen the arrivals"
    for process in replicas.values():
        if not process.alive():
            start_connected(process, slack)

    # Everything settles: no request of the ledger is still being worked on.
    slack.wait_for(lambda: not _working(ledger_db), timeout=LEASE * 10 + 240, interval=1.0)

    runs = {entry.email: job_runs(stack, entry.email) for entry in submitted}
    twice = {email: len(found) for email, found in runs.items() if len(found) > 1}
    assert twice == {}, f"Jobs run more than once: {twice}"
    admins = [admin["email"] for admin in meraki.admins(ACME)]
    assert len(admins) == len(set(admins)), "an administrator added twice"
    assert len(meraki.requests_to("POST", ADMIN_POSTS)) == sum(len(found) for found in runs.values())
    unreported = {
        email: _seen(slack, email) for email, found in runs.items() if found and not _reported_once(slack, email)
    }
    assert unreported == {}, f"runs not reported exactly once: {unreported}"
    silent = [
        entry.email
        for entry in submitted
        if entry.ack is not None and not runs[entry.email] and not _told_not_run(slack, entry)
    ]
    assert silent == [], f"acknowledged, never run, and the person was not told: {silent}"
    ran = sum(1 for found in runs.values() if found)
    print(f"{len(submitted)} submitted, {sum(e.ack is not None for e in submitted)} acknowledged, {ran} ran")
    assert ran >= RUNS // 2  # the faults did not keep most of the work from running


def _paced(rng: random.Random):
    for n in range(RUNS):
        yield n
        time.sleep(rng.uniform(*ARRIVAL_GAP))


def _submit(slack: SlackStandIn, email: str) -> Submitted:
    entry = Submitted(email)
    try:
        view = open_form(slack)
        entry.view_id = view["id"]
        entry.ack = slack.submit_view(view["id"], entered(view, email), user_id=USER)
    except TimeoutError:  # the replica Slack picked died before it answered: the person saw Slack's error
        entry.ack = None
        return entry
    if "Submitting" in str((entry.ack.get("view") or {}).get("title")):  # a person waits for the outcome
        slack.wait_for(lambda: "Submitting" not in str((slack.views.get(entry.view_id) or {}).get("title")), 90)
    return entry


def _working(ledger_db: str) -> list[tuple[str, str]]:
    states = ", ".join(f"'{state}'" for state in WORKING_STATES)
    return query(ledger_db, f"SELECT request_id, state FROM requests WHERE state IN ({states})")


def _parents(slack: SlackStandIn, email: str) -> list[dict]:
    return [m for m in slack.messages(CHANNEL) if email in str(m.get("blocks")) and "Create Meraki User" in m["text"]]


def _reported_once(slack: SlackStandIn, email: str) -> bool:
    parents = _parents(slack, email)
    if len(parents) != 1 or "succeeded" not in parents[0]["text"].lower():
        return False
    thread = slack.messages(CHANNEL, thread_ts=parents[0]["ts"])
    return len([reply for reply in thread if "Created administrator" in str(reply.get("blocks"))]) == 1


def _seen(slack: SlackStandIn, email: str) -> list[tuple[str, int]]:
    """Each parent message of ``email``: its text, and how many log replies its thread holds."""
    return [
        (
            parent["text"],
            sum(
                "Created administrator" in str(r.get("blocks")) for r in slack.messages(CHANNEL, thread_ts=parent["ts"])
            ),
        )
        for parent in _parents(slack, email)
    ]


def _told_not_run(slack: SlackStandIn, entry: Submitted) -> bool:
    """The modal said "Not run", in the submission's ack or in a later update of its view."""
    shown = [entry.ack.get("view") if entry.ack else None, slack.views.get(entry.view_id)]
    return any(view and "Not run" in str(view.get("title")) for view in shown)
