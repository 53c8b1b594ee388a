"""Every measured figure, read from what the stand-ins recorded (their clocks, not the bot's word).

The records themselves are in :mod:`bench.records`; the bot's memory and CPU in :mod:`bench.resources`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable
from typing import Any

from bench.records import Records
from bench.resources import cpu_percent, cpu_seconds_per_run, cpu_seconds_per_run_started, rss_mb
from bench.stats import distribution
from bot.models import RunStatus
from bot.slack.messages import STATUS_ICONS
from bot.slack.pacing import POST_BURST, POST_INTERVAL
from testbed.slack_constants import DEFAULT_POST_MESSAGE_LIMIT, RateLimit
from testbed.slack_replies import Call

LONG_RUN = 30.0
"""A run at least this long (seconds, from the request to its end) counts as long for the polling-rate figure."""
POLL_BUDGET = 5.0
"""The target: at most one Nautobot request per run per this many seconds of run time."""
SHORT_RUN = 60.0
"""A run that ends within this many seconds of its request counts for the requests-to-follow figure."""
FINAL_ICONS = tuple(STATUS_ICONS[status] for status in RunStatus if status.is_final)


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


def submission_to_ack(records: Records, window: tuple[float, float] | None = None) -> dict:
    """Seconds from Slack delivering the view_submission to the app's acknowledgement."""
    values, missing = [], 0
    for envelope in records.interactions("interactive", window):
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


def log_bounds(records: Records, limit: RateLimit = DEFAULT_POST_MESSAGE_LIMIT) -> dict[str, float]:
    """For each run, the earliest its log could have reached its thread under Slack's per-channel limit.

    Every message the bot posted in a channel is put through that channel's token bucket (the stand-in's
    limit) in the order the messages fell due: a run's log when its Job ended, anything else (parent messages,
    other replies) when it was posted. What comes out for a run's first log is its bound: no bot can post it
    sooner, however fast it learns of the end, when other runs of the channel ended about the same time.
    """
    due: dict[str, list[tuple[float, int, str | None]]] = {}
    seen: set[str] = set()
    for order, call in enumerate(records.calls):
        if call.method != "chat.postMessage" or not call.ok:
            continue
        thread = call.args.get("thread_ts")
        result_id = records.parents.get(str(thread)) if thread else None
        run = records.by_id.get(result_id) if result_id else None
        first_log = run is not None and run.done_at is not None and call.at >= run.done_at and result_id not in seen
        if first_log and run is not None and run.done_at is not None and result_id is not None:
            seen.add(result_id)
            due.setdefault(str(call.args.get("channel")), []).append((run.done_at, order, result_id))
        else:
            due.setdefault(str(call.args.get("channel")), []).append((call.at, order, None))
    bounds: dict[str, float] = {}
    for messages in due.values():
        tokens, last = float(limit.burst), None
        for ready, _, result_id in sorted(messages):
            at = ready if last is None else max(ready, last)
            if last is not None:
                tokens = min(float(limit.burst), tokens + (at - last) * limit.per_second)
            if tokens < 1.0:  # wait for the next token
                at += (1.0 - tokens) / limit.per_second
                tokens = 1.0
            tokens -= 1.0
            last = at
            if result_id is not None:
                bounds[result_id] = at
    return bounds


BOT_PACING = RateLimit(per_second=1.0 / POST_INTERVAL, burst=POST_BURST, per="channel")
"""The bot's own posts per channel (``bot/slack/pacing.py``): Slack does not document its burst, so the bot
keeps a smaller one than the stand-in allows."""


def log_over_bound(records: Records, limit: RateLimit = DEFAULT_POST_MESSAGE_LIMIT) -> dict:
    """Seconds from the earliest ``limit`` allowed each run's log (:func:`log_bounds`) to the log."""
    posted, bounds = first_log_posts(records), log_bounds(records, limit)
    values = [posted[result_id] - bounds[result_id] for result_id in posted if result_id in bounds]
    return distribution(values, missing=len(records.runs) - len(values))


def log_bound_wait(records: Records) -> dict:
    """Seconds Slack's per-channel limit alone made each log wait after its Job's end: the floor of Job end → log."""
    bounds = log_bounds(records)
    values = [bounds[run.result_id] - run.done_at for run in records.runs if run.result_id in bounds and run.done_at]
    return distribution(values, missing=len(records.runs) - len(values))


def submission_to_ack_arrivals(records: Records) -> dict:
    """The acks of the N arrivals, who submit at the wave's arrival rate (all submissions when not a wave)."""
    return submission_to_ack(records, records.arrivals)


def nautobot_requests_per_run(records: Records) -> dict:
    return distribution([run.total_requests for run in records.runs])


def follow_requests_per_short_run(records: Records) -> dict:
    """Nautobot requests to follow a run (its result, its log; not the request that ran it), for runs that
    ended within :data:`SHORT_RUN` s of being asked for."""
    return distribution(
        [
            run.total_requests - run.requests["run"]
            for run in records.runs
            if run.done_at is not None and run.done_at - run.created <= SHORT_RUN
        ]
    )


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


def rate_limited(records: Records, method: str | None = None) -> int:
    """Calls Slack answered with 429, of ``method`` or of any method."""
    return sum(1 for call in records.calls if call.status == 429 and method in (None, call.method))


def final_status_shown(records: Records) -> int | None:
    """Runs whose parent message, as last written (the post, then each chat.update), shows a final status;
    None when the scenario did not wait for the last edits (see scenarios.run_wave)."""
    if not records.final_statuses_awaited:
        return None
    return final_statuses(records.calls, records.parents)


def final_statuses(calls: Iterable[Call], parents: Container[str] | None = None) -> int:
    """Parent messages whose last version (the post, then each chat.update) shows a final status; ``parents``:
    only these (every parent post when None)."""
    last: dict[str, Call] = {}
    for call in calls:
        if not call.ok:
            continue
        if call.method == "chat.postMessage" and not call.args.get("thread_ts"):
            ts = str(call.response.get("ts"))
        elif call.method == "chat.update":
            ts = str(call.args.get("ts"))
        else:
            continue
        if parents is None or ts in parents:
            last[ts] = call
    return sum(1 for call in last.values() if str(call.args.get("text", "")).lstrip().startswith(FINAL_ICONS))


def peak_per_minute(records: Records, method: str) -> int:
    """The most calls of ``method`` in any 60 s window (Slack's tiers are per minute)."""
    times = sorted(call.at for call in records.calls if call.method == method)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > 60:
            start += 1
        best = max(best, end - start + 1)
    return best


def summarize(records: Records) -> dict[str, Any]:
    """Every figure of one scenario for one design."""
    return {
        "command_to_views_open_s": command_to_modal(records),
        "submission_to_ack_s": submission_to_ack(records),
        "submission_to_ack_arrivals_s": submission_to_ack_arrivals(records),
        "completion_to_thread_log_s": completion_to_log(records),
        "thread_log_over_channel_bound_s": log_over_bound(records),
        "thread_log_over_pacing_bound_s": log_over_bound(records, BOT_PACING),
        "channel_bound_wait_s": log_bound_wait(records),
        "nautobot_requests_per_run": nautobot_requests_per_run(records),
        "follow_requests_per_short_run": follow_requests_per_short_run(records),
        "nautobot_requests_per_5s_long_runs": long_run_poll_rate(records),
        "slack_calls_per_run": slack_calls_per_run(records),
        "rss_mb_in_flight": rss_mb(records),
        "cpu_percent_in_flight": cpu_percent(records),
        "scalars": {
            "runs_requested": records.people,
            "runs_started_in_nautobot": len(records.runs),
            "runs_reported_in_thread": len(first_log_posts(records)),
            "runs_final_status_shown": final_status_shown(records),
            "slack_429s": rate_limited(records),
            "chat_update_429s": rate_limited(records, "chat.update"),
            "nautobot_shared_requests": shared_nautobot_requests(records),
            "cpu_seconds_per_run": cpu_seconds_per_run(records),
            "cpu_seconds_per_run_started": cpu_seconds_per_run_started(records),
            "chat_update_peak_per_minute": peak_per_minute(records, "chat.update"),
            "nautobot_events_published": records.events_published,
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
        "chat_update_429s": rate_limited(records, "chat.update"),
        "runs_final_status_shown": final_status_shown(records),
        "completion_to_thread_log_s": completion_to_log(records),
        "cpu_seconds_per_run": cpu_seconds_per_run(records),
    }
