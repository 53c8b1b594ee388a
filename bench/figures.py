"""Every measured figure, read from what the stand-ins recorded (their clocks, not the bot's word).

Both stand-ins stamp events with ``time.monotonic()`` in the benchmark process, so one clock times
the command's delivery, Slack's receipt of ``views.open``, the Job's end in Nautobot and the post
in the thread.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.nautobot_standin import Run
from bench.processes import Sample
from bench.stats import distribution
from tests.support.slack_standin import Call, Envelope

LONG_RUN = 30.0
"""A run at least this long (seconds, from the request to its end) counts as long for the polling-rate figure."""
POLL_BUDGET = 5.0
"""The target: at most one Nautobot request per run per this many seconds of run time."""
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Records:
    """What one scenario left in the stand-ins and the sampler."""

    calls: list[Call]
    envelopes: list[Envelope]
    runs: list[Run]
    shared_requests: Counter
    samples: list[Sample]
    people: int
    plateau: tuple[float, float] | None = None
    probes: tuple[float, float] | None = None  # when set, interaction latencies count only envelopes sent here
    parents: dict[str, str] = field(default_factory=dict)  # parent message ts → result id

    def __post_init__(self) -> None:
        self.by_id = {run.result_id: run for run in self.runs}
        for call in self.calls:
            if call.method == "chat.postMessage" and call.ok and not call.args.get("thread_ts"):
                result_id = self._result_named(call)
                if result_id:
                    self.parents[call.response["ts"]] = result_id

    def _result_named(self, call: Call) -> str | None:
        text = json.dumps(call.args, default=str)
        return next((found for found in _UUID.findall(text) if found in self.by_id), None)

    def interactions(self, kind: str) -> list[Envelope]:
        chosen = [e for e in self.envelopes if e.type == kind]
        if self.probes is not None:
            chosen = [e for e in chosen if self.probes[0] <= e.sent_at <= self.probes[1]]
        return chosen

    def run_of(self, call: Call) -> str | None:
        """The run a chat call belongs to: by its thread or message ts, else by the link it carries."""
        ts = call.args.get("thread_ts") or call.args.get("ts")
        if ts and str(ts) in self.parents:
            return self.parents[str(ts)]
        return self._result_named(call)


def command_to_modal(records: Records) -> dict:
    """Seconds from Slack delivering the command to Slack receiving ``views.open`` for its trigger."""
    opened = {call.args.get("trigger_id"): call.at for call in records.calls if call.method == "views.open" and call.ok}
    values, missing = [], 0
    for envelope in records.interactions("slash_commands"):
        at = opened.get(envelope.payload.get("trigger_id"))
        if at is None:
            missing += 1
        else:
            values.append(at - envelope.sent_at)
    return distribution(values, missing=missing)


def submission_to_ack(records: Records) -> dict:
    """Seconds from Slack delivering the view_submission to the app's acknowledgement."""
    values, missing = [], 0
    for envelope in records.interactions("interactive"):
        if envelope.payload.get("type") == "view_submission":
            if envelope.acked_at is None:
                missing += 1
            else:
                values.append(envelope.acked_at - envelope.sent_at)
    return distribution(values, missing=missing)


def first_log_posts(records: Records) -> dict[str, float]:
    """When each run's first reply after the Job's end went into its thread.

    A reply before the end is no log: the baseline's "did not reach a ready state" after 60 polls.
    """
    posted: dict[str, float] = {}
    for call in records.calls:
        if call.method == "chat.postMessage" and call.ok and call.args.get("thread_ts"):
            result_id = records.parents.get(str(call.args["thread_ts"]))
            run = records.by_id.get(result_id) if result_id else None
            if run is None or result_id in posted or run.done_at is None or call.at < run.done_at:
                continue
            posted[result_id] = call.at
    return posted


def completion_to_log(records: Records) -> dict:
    """Seconds from the Job's end in Nautobot to its log in the Slack thread; runs never reported are missing."""
    posted = first_log_posts(records)
    values, missing = [], 0
    for run in records.runs:
        if run.done_at is None:
            missing += 1
        elif run.result_id in posted:
            values.append(posted[run.result_id] - run.done_at)
        else:
            missing += 1
    return distribution(values, missing=missing)


def nautobot_requests_per_run(records: Records) -> dict:
    return distribution([run.total_requests for run in records.runs])


def shared_nautobot_requests(records: Records) -> int:
    """Requests that belong to no run: the Job lookup, its variables, status checks."""
    return sum(records.shared_requests.values())


def long_run_poll_rate(records: Records) -> dict:
    """Nautobot requests per run per 5 s of run time, for runs that lasted at least :data:`LONG_RUN` seconds."""
    rates = []
    for run in records.runs:
        if run.done_at is not None and run.done_at - run.created >= LONG_RUN:
            rates.append(run.total_requests / ((run.done_at - run.created) / POLL_BUDGET))
    return distribution(rates)


def slack_calls_per_run(records: Records) -> dict:
    """Web API calls the bot made for each run (modal, parent, updates, thread replies, retries included)."""
    per_user: Counter = Counter()
    user_of_trigger = {
        e.payload.get("trigger_id"): e.payload.get("user_id") for e in records.envelopes if e.type == "slash_commands"
    }
    user_of_view: dict[str, str] = {}
    user_of_result = {run.result_id: run.data.get("user_email", "") for run in records.runs}
    for call in records.calls:
        user = None
        if call.method == "views.open":
            user = user_of_trigger.get(call.args.get("trigger_id"))
            if user and call.ok:
                user_of_view[call.response["view"]["id"]] = user
        elif call.method == "views.update":
            user = user_of_view.get(call.args.get("view_id"))
        elif call.method.startswith("chat."):
            result_id = records.run_of(call)
            user = user_of_result.get(result_id) if result_id else None
        if user:
            per_user[user.split("@")[0].upper()] += 1
    counts = list(per_user.values()) + [0] * max(0, records.people - len(per_user))
    return distribution(counts)


def rate_limited(records: Records) -> int:
    return sum(1 for call in records.calls if call.status == 429)


def peak_per_minute(records: Records, method: str) -> int:
    """The most calls of ``method`` in any 60 s window (Slack's tiers are per minute)."""
    times = sorted(call.at for call in records.calls if call.method == method)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > 60:
            start += 1
        best = max(best, end - start + 1)
    return best


def _plateau_samples(records: Records) -> list[Sample]:
    if records.plateau is None:
        return records.samples
    begin, end = records.plateau
    return [sample for sample in records.samples if begin <= sample.at <= end]


def rss_mb(records: Records) -> dict:
    """Resident memory of the bot while the runs are in flight, in MB."""
    return distribution([sample.rss / 1e6 for sample in _plateau_samples(records)])


def _spanning_samples(records: Records) -> list[Sample]:
    """The samples in the plateau and the one on each side of it: consecutive pairs then cover the whole
    plateau, even one shorter than the sampling interval."""
    if records.plateau is None:
        return records.samples
    begin, end = records.plateau
    before = [sample for sample in records.samples if sample.at < begin][-1:]
    after = [sample for sample in records.samples if sample.at > end][:1]
    return [*before, *_plateau_samples(records), *after]


def cpu_percent(records: Records) -> dict:
    """CPU use of the bot while the runs are in flight, in % of one core, between consecutive samples."""
    samples = _spanning_samples(records)
    values = [
        100 * (later.cpu_seconds - earlier.cpu_seconds) / (later.at - earlier.at)
        for earlier, later in itertools.pairwise(samples)
        if later.at > earlier.at
    ]
    return distribution(values)


def cpu_seconds_per_run(records: Records) -> float | None:
    if len(records.samples) < 2 or not records.people:
        return None
    return (records.samples[-1].cpu_seconds - records.samples[0].cpu_seconds) / records.people


def summarize(records: Records) -> dict[str, Any]:
    """Every figure of one scenario for one design."""
    return {
        "command_to_views_open_s": command_to_modal(records),
        "submission_to_ack_s": submission_to_ack(records),
        "completion_to_thread_log_s": completion_to_log(records),
        "nautobot_requests_per_run": nautobot_requests_per_run(records),
        "nautobot_requests_per_5s_long_runs": long_run_poll_rate(records),
        "slack_calls_per_run": slack_calls_per_run(records),
        "rss_mb_in_flight": rss_mb(records),
        "cpu_percent_in_flight": cpu_percent(records),
        "scalars": {
            "runs_requested": records.people,
            "runs_started_in_nautobot": len(records.runs),
            "runs_reported_in_thread": len(first_log_posts(records)),
            "slack_429s": rate_limited(records),
            "nautobot_shared_requests": shared_nautobot_requests(records),
            "cpu_seconds_per_run": cpu_seconds_per_run(records),
            "chat_update_peak_per_minute": peak_per_minute(records, "chat.update"),
        },
    }


def burst(records: Records, released: float, channel: str) -> dict[str, Any]:
    """n runs ended at ``released`` in one channel: how long their logs took against Slack's bound.

    Slack allows one chat.postMessage a second in a channel. The m messages the bot had to post there
    after the runs ended (thread logs; the parents were up before) need at least (m - 1) s from the
    first to the last: that is the bound. Final-status edits are chat.update, which that limit does not
    cover, so they are not counted in m.
    """
    posts = [
        call
        for call in records.calls
        if call.method == "chat.postMessage" and call.ok and call.args.get("channel") == channel and call.at >= released
    ]
    reported = first_log_posts(records)
    bound = float(max(0, len(posts) - 1))
    all_posted = len(reported) >= records.people
    elapsed = max(call.at for call in posts) - released if posts and all_posted else None
    return {
        "runs": records.people,
        "posted": len(reported),
        "messages_after_end": len(posts),
        "bound_s": bound,
        "elapsed_s": elapsed,
        "elapsed_over_bound": elapsed / bound if elapsed is not None and bound else None,
        "slack_429s": rate_limited(records),
        "completion_to_thread_log_s": completion_to_log(records),
    }
