"""Against the real Nautobot and its RedisEventBroker: a hostile message leaves the worker's events waking the
follows; a flood of forged events costs a bounded number of reads; a Cancel is looked at at once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import redis

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import EVENTS_URL, NautobotStack
from testbed.slack_flow import CHANNEL, bot_env, entered, open_form, parent_message, start_connected, submit
from testbed.slack_flow import workspace as slack_workspace
from testbed.slack_standin import SlackStandIn
from tests.support.probes import events_detail, metric
from tests.support.restarts import ADMIN_POSTS, assert_once, assert_reported_once, job_runs

pytestmark = [pytest.mark.security, pytest.mark.nautobot]

COMPLETED = "nautobot.jobs.job.completed"


@pytest.fixture
def slack(stack) -> Iterator[SlackStandIn]:
    with slack_workspace() as standin:
        yield standin


@pytest.fixture
def chatops(slack: SlackStandIn, nautobot: NautobotStack, tmp_path) -> Iterator[BotProcess]:
    process = BotProcess(tmp_path, bot_env(slack, nautobot))
    yield process
    process.stop()


def test_after_a_hostile_message_the_workers_events_still_wake_the_follow(stack, slack, chatops, meraki):
    start_connected(chatops, slack)
    slack.wait_for(lambda: events_detail(chatops).startswith("subscribed"), timeout=30)
    heard = metric(chatops, "nautobot_events_total")
    with redis.Redis.from_url(EVENTS_URL) as publisher:
        publisher.publish(COMPLETED, "[" * 60_000)  # under the size cap, too deep to parse
        publisher.publish(COMPLETED, "[" * 100_000)  # the payload of the report: over the cap
    slack.wait_for(lambda: metric(chatops, "nautobot_events_total") >= heard + 2, timeout=10)

    view = open_form(slack)
    submit(slack, view, entered(view, "events.hostile@example.com"))
    assert_reported_once(stack, slack, meraki, "events.hostile@example.com")

    assert metric(chatops, 'nautobot_events_unusable_total{reason="too_deep"}') >= 1
    assert metric(chatops, "nautobot_events_restarts_total") == 0
    assert metric(chatops, "nautobot_events_missed_total") == 0  # the run's end came by its event
    assert metric(chatops, "nautobot_events_subscribed") == 1
    assert events_detail(chatops) == "subscribed"


def test_a_flood_of_forged_ends_for_a_followed_run_costs_a_bounded_number_of_reads(stack, slack, chatops, meraki):
    meraki.delay(10, times=1, match=f"POST {ADMIN_POSTS}")  # the Job is still running during the flood
    start_connected(chatops, slack)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "events.flood@example.com"))
    slack.wait_for(lambda: job_runs(stack, "events.flood@example.com"), timeout=30)
    [run] = job_runs(stack, "events.flood@example.com")
    forged = json.dumps({"job_result_id": run["id"], "job_name": "Create Meraki User", "einfo": None})

    looks = f"reading result={run['id']} "
    looks_before = chatops.output().count(looks)
    began = time.monotonic()
    with redis.Redis.from_url(EVENTS_URL) as publisher:
        for n in range(300):
            publisher.publish(COMPLETED, forged if n % 2 else "x" * 70_000)  # forged ends, and over-cap events
            time.sleep(0.01)
    flood_seconds = time.monotonic() - began
    time.sleep(0.5)  # the last window's look
    looked = chatops.output().count(looks) - looks_before

    # One look per window (1 s) at most, plus the quick looks after one end event (ENDING_POLLS: six). Without
    # coalescing, every forged end was one look (150 here).
    assert looked <= flood_seconds + 2 + 6, (looked, flood_seconds)
    assert_once(stack, slack, meraki, before, "events.flood@example.com")  # then the real end, once


def test_a_cancel_is_looked_at_at_once_not_at_the_safety_net(stack, slack, chatops, meraki):
    if not stack.release.cancels:
        pytest.skip(f"Nautobot {stack.release.name} has no API to cancel a run")
    meraki.delay(30, times=1, match=r"GET /organizations/\d+$")  # the Job waits on its first Meraki call
    start_connected(chatops, slack)
    slack.wait_for(lambda: events_detail(chatops).startswith("subscribed"), timeout=30)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "cancel.events@example.com"))
    parent = slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL)[before:] if "cancel_run" in str(m.get("blocks"))), None),
        timeout=30,
    )
    [run] = job_runs(stack, "cancel.events@example.com")
    slack.wait_for(lambda: f"reading result={run['id']} (nautobot.jobs.job.started)" in chatops.output(), timeout=30)

    slack.click_button(CHANNEL, parent["ts"], "cancel_run", user_id="U123")
    final = parent_message(slack, before)
    assert "cancelled" in final["text"].lower()
    assert slack.messages(CHANNEL, thread_ts=parent["ts"])  # the log is in the thread

    # The order the follow looked in: after the cancel, at once for it, and no look on the polling pace (the
    # safety net) before the final status was shown. The bot logs the status once Slack has answered the edit,
    # which can be after the stand-in recorded it.
    output = slack.wait_for(
        lambda: next((out for out in [chatops.output()] if "status=cancelled" in out), None), timeout=10
    )
    cancelled_at = output.index("cancel requested request=")
    looked = output.index(f"reading result={run['id']} (cancel-asked)", cancelled_at)
    shown = output.index("status=cancelled", looked)
    assert f"reading result={run['id']} (on the polling pace)" not in output[cancelled_at:shown]
