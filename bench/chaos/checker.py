"""Reads what a chaos run left (the people's submissions, Slack's and Nautobot's records, the ledger) and
reports the zeros the bot promises and the figures under chaos.

The zeros: no acknowledged request lost (never run, and its person never told it did not run), no Job run
twice, no run left unreported (a parent message and the log in its thread), and no parent message or log reply
posted twice outside the window the README states: the bot dying after Slack accepted the post but before the
ledger recorded it. A repeat counts as inside that window when a replica was SIGKILLed within
:data:`DEATH_WINDOW` seconds after the first post.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from bench.chaos.faults import Takeover
from bench.chaos.services import UNREPORTED_STATES
from bench.chaos.workload import Submission
from bench.figures import completion_to_log, final_statuses, log_over_bound
from bench.records import Records
from bench.stats import distribution
from testbed.slack_replies import Call

DEATH_WINDOW = 1.0
"""Seconds after a post within which a SIGKILL explains a repeat of it (the README's "a few milliseconds" between
Slack's answer and the ledger's record, with room for a loaded two-core machine)."""
LOG_MARK = "Created administrator"
"""Text only the Job's log reply carries (the stand-in's log ends with it)."""
ZEROS = (
    "requests_lost",
    "jobs_run_twice",
    "runs_never_reported",
    "parent_messages_twice_outside_window",
    "log_replies_twice_outside_window",
)
EXAMPLES = 10


@dataclass
class Ledger:
    """The ledger's requests at the end, by the email each asked for."""

    rows: list[dict[str, Any]]

    @classmethod
    def read(cls, found: list[tuple]) -> Ledger:
        names = ("request_id", "state", "result_id", "owner", "resumes", "error", "inputs")
        rows = [dict(zip(names, row, strict=True)) for row in found]
        for row in rows:
            inputs = row["inputs"] if isinstance(row["inputs"], dict) else json.loads(row["inputs"] or "{}")
            row["email"] = inputs.get("user_email")
            del row["inputs"]
        return cls(rows)

    def of(self, email: str) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["email"] == email]

    def states(self) -> dict[str, int]:
        return dict(sorted(Counter(row["state"] for row in self.rows).items()))


def _posts(records: Records) -> tuple[dict[str, list[Call]], dict[str, list[Call]], dict[str, list[Call]]]:
    """Each run's parent messages and log replies in its channel, as Slack accepted them, in order; and the direct
    messages naming it (a request that could not be taken up tells its requester it waits, naming the error)."""
    parents: dict[str, list[Call]] = defaultdict(list)
    logs: dict[str, list[Call]] = defaultdict(list)
    direct: dict[str, list[Call]] = defaultdict(list)
    for call in records.calls:
        if call.method != "chat.postMessage" or not call.ok:
            continue
        result_id = records.run_of(call)
        if result_id is None:
            continue
        if not str(call.args.get("channel", "")).startswith("C"):
            direct[result_id].append(call)
        elif not call.args.get("thread_ts"):
            parents[result_id].append(call)
        elif LOG_MARK in json.dumps(call.args, default=str):
            logs[result_id].append(call)
    return parents, logs, direct


def _repeats(posts: dict[str, list[Call]], kills: list[float]) -> tuple[list[dict], list[dict]]:
    """Runs with a post repeated: (inside the stated window, outside it)."""
    inside, outside = [], []
    for result_id, calls in posts.items():
        if len(calls) < 2:
            continue
        first = calls[0].at
        explained = any(first <= kill <= first + DEATH_WINDOW for kill in kills)
        found = {"result_id": result_id, "posts": len(calls), "apart_s": round(calls[-1].at - first, 3)}
        (inside if explained else outside).append(found)
    return inside, outside


def _zero(found: list[Any]) -> dict[str, Any]:
    return {"count": len(found), "examples": found[:EXAMPLES]}


def _unanswered(
    submissions: list[Submission], runs_by_email: dict[str, list[str]], views: dict[str, dict[str, Any]], ledger: Ledger
) -> tuple[list[Submission], list[dict[str, Any]]]:
    """Acknowledged submissions that never ran: (told "Not run", lost: never told)."""
    told, lost = [], []
    for submission in submissions:
        if not submission.acknowledged or runs_by_email.get(submission.person.email):
            continue
        if submission.told_not_run(views):
            told.append(submission)
        else:
            email = submission.person.email
            lost.append({"email": email, "view_id": submission.view_id, "ledger": ledger.of(email)})
    return told, lost


def _unreported(records: Records, parents: dict[str, list[Call]], logs: dict[str, list[Call]], ledger: Ledger):
    """Runs without a parent message or without their log in its thread."""
    return [
        {
            "result_id": run.result_id,
            "email": run.data.get("user_email"),
            "parents": len(parents.get(run.result_id, [])),
            "logs": len(logs.get(run.result_id, [])),
            "ledger": ledger.of(str(run.data.get("user_email"))),
        }
        for run in records.runs
        if not parents.get(run.result_id) or not logs.get(run.result_id)
    ]


def _unfinished(submissions: list[Submission], views: dict[str, dict[str, Any]], ledger: Ledger) -> list[dict]:
    """Requests the ledger still works on at the end, before their log: what their person saw."""
    by_email = {s.person.email: s for s in submissions}
    found = []
    for row in ledger.rows:
        if row["state"] in UNREPORTED_STATES:
            submission = by_email.get(row["email"])
            acked = bool(submission and submission.acknowledged)
            told = bool(submission and submission.told_not_run(views))
            found.append({**row, "acknowledged": acked, "told_not_run": told})
    return found


def _takeovers(takeovers: list[Takeover]) -> dict[str, Any]:
    waits = [t.waited for t in takeovers if t.waited is not None]
    return {
        **distribution(waits, missing=len(takeovers) - len(waits)),
        "requests": len(takeovers),
        "by_state": dict(Counter(t.state for t in takeovers)),
    }


def check(
    submissions: list[Submission],
    records: Records,
    views: dict[str, dict[str, Any]],
    ledger: Ledger,
    kills: list[float],
    takeovers: list[Takeover],
) -> dict[str, Any]:
    runs_by_email: dict[str, list[str]] = defaultdict(list)
    for run in records.runs:
        runs_by_email[str(run.data.get("user_email"))].append(run.result_id)
    told, lost = _unanswered(submissions, runs_by_email, views, ledger)
    parents, logs, direct = _posts(records)
    parents_inside, parents_outside = _repeats(parents, kills)
    logs_inside, logs_outside = _repeats(logs, kills)
    zeros = {
        "requests_lost": _zero(lost),
        "jobs_run_twice": _zero([{"email": e, "runs": ids} for e, ids in runs_by_email.items() if len(ids) > 1]),
        "runs_never_reported": _zero(_unreported(records, parents, logs, ledger)),
        "parent_messages_twice_outside_window": _zero(parents_outside),
        "log_replies_twice_outside_window": _zero(logs_outside),
    }
    return {
        "people": len(submissions),
        "acknowledged": sum(1 for s in submissions if s.acknowledged),
        "acknowledged_and_told_not_run": len(told),
        "runs_in_nautobot": len(records.runs),
        "zeros": zeros,
        "zeros_broken": [name for name in ZEROS if zeros[name]["count"]],
        "repeats_inside_window": {"parent_messages": parents_inside, "log_replies": logs_inside},
        "job_end_to_log_s": completion_to_log(records),
        "log_over_channel_bound_s": log_over_bound(records),
        "takeover_wait_s": _takeovers(takeovers),
        "runs_named_in_direct_messages": len(direct),
        "final_statuses_shown": final_statuses(records.calls, records.parents),
        "ledger_states": ledger.states(),
        "unfinished_at_end": _unfinished(submissions, views, ledger),
        "slack_5xx_answered": sum(1 for call in records.calls if call.status >= 500),
        "events_published": records.events_published,
    }
