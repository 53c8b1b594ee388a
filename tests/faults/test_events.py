"""Nautobot's events from the real worker: they wake the follow; lost, forged or foreign ones change no outcome.

The test Nautobot registers a RedisEventBroker (testbed/nautobot_config.py); the bot subscribes through
a proxy the tests can cut, so the subscription can be lost while a Job ends.
"""

from __future__ import annotations

import json
import time

import pytest
import redis

from testbed.nautobot_stack import EVENTS_URL, REDIS_HOST, REDIS_PORT
from testbed.slack_flow import CHANNEL, entered, open_form, start_connected, submit
from tests.support.probes import events_detail, metric
from tests.support.restarts import ADMIN_POSTS, assert_once, assert_reported_once, job_runs
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]

COMPLETED = "nautobot.jobs.job.completed"


@pytest.fixture
def redis_proxy():
    with TcpProxy((REDIS_HOST, REDIS_PORT)) as proxy:
        yield proxy


def result_id_of(nautobot, email: str) -> str:
    [run] = job_runs(nautobot, email)
    return run["id"]


def test_the_workers_events_wake_the_follows_and_every_end_comes_with_its_event(stack, slack, chatops, meraki):
    start_connected(chatops, slack)
    # Subscribed before the runs (pub/sub is server-wide: another Nautobot or a benchmark publishing on this
    # Redis may already have been heard, so "subscribed" and "no event yet" both count).
    slack.wait_for(lambda: events_detail(chatops).startswith("subscribed"), timeout=30)
    for email in ("events.one@example.com", "events.two@example.com"):
        view = open_form(slack)
        submit(slack, view, entered(view, email))
        assert_reported_once(stack, slack, meraki, email)

    assert metric(chatops, "nautobot_events_total") >= 4  # each run's start and end, from the real worker
    assert metric(chatops, "nautobot_events_missed_total") == 0
    assert metric(chatops, "nautobot_events_subscribed") == 1
    assert events_detail(chatops) == "subscribed"
    # Once events were heard, an ended run and its log came in one request, which the bot's user may make.
    assert "method=POST path=/api/graphql/ status=200" in chatops.output()
    assert "GraphQL" not in chatops.output()  # no refusal, no fallback


def test_an_end_lost_while_the_subscription_was_cut_is_still_reported_once(stack, slack, chatops, meraki, redis_proxy):
    meraki.delay(6, times=1, match=f"POST {ADMIN_POSTS}")  # the Job runs on while the subscription is cut
    start_connected(chatops, slack, NAUTOBOT_EVENTS_URL=redis_proxy.url())
    slack.wait_for(lambda: "not subscribed" not in events_detail(chatops), timeout=30)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "events.cut@example.com"))
    slack.wait_for(lambda: slack.calls_to("chat.update") or slack.messages(CHANNEL)[before:], timeout=30)

    with redis_proxy.outage():
        slack.wait_for(lambda: "not subscribed" in events_detail(chatops), timeout=30)
        stack.wait_for_result(result_id_of(stack, "events.cut@example.com"))  # ended: its event is lost
    assert_once(stack, slack, meraki, before, "events.cut@example.com")
    slack.wait_for(lambda: "not subscribed" not in events_detail(chatops), timeout=60)  # subscribed again


def test_with_redis_unreachable_runs_are_followed_by_polling_and_the_bot_stays_ready(stack, slack, chatops, meraki):
    start_connected(chatops, slack, NAUTOBOT_EVENTS_URL="redis://127.0.0.1:1/0")
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "events.down@example.com"))

    assert_once(stack, slack, meraki, before, "events.down@example.com")
    assert events_detail(chatops).startswith("not subscribed (")
    assert metric(chatops, "nautobot_events_subscribed") == 0
    assert "Nautobot's events unavailable" in chatops.output()


def test_events_for_runs_the_bot_does_not_follow_change_nothing(stack, slack, chatops, meraki, run_job):
    start_connected(chatops, slack)
    before = len(slack.messages(CHANNEL))

    run = run_job(user_email="not.from.slack@example.com")  # run in Nautobot directly: its events reach the bot

    assert run.status == "SUCCESS"
    slack.wait_for(lambda: metric(chatops, "nautobot_events_total") >= 2, timeout=30)
    assert slack.messages(CHANNEL)[before:] == []
    assert " ERROR " not in chatops.output()


def test_a_forged_end_for_a_followed_run_shows_nothing_nautobot_does_not_confirm(stack, slack, chatops, meraki):
    meraki.delay(8, times=1, match=f"POST {ADMIN_POSTS}")  # the Job is still running when the forgery arrives
    start_connected(chatops, slack)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "events.forged@example.com"))
    slack.wait_for(lambda: job_runs(stack, "events.forged@example.com"), timeout=30)
    result_id = result_id_of(stack, "events.forged@example.com")
    forged = {"job_result_id": result_id, "job_name": "Create Meraki User", "user_name": "chatops-bot", "einfo": None}

    heard = metric(chatops, "nautobot_events_total")
    with redis.Redis.from_url(EVENTS_URL) as publisher:
        assert publisher.publish(COMPLETED, json.dumps(forged)) >= 1
    slack.wait_for(lambda: metric(chatops, "nautobot_events_total") > heard, timeout=10)
    time.sleep(1)  # the bot's look at the JobResult, and its quick looks after an end

    [parent] = [m for m in slack.messages(CHANNEL)[before:] if "Create Meraki User" in m.get("text", "")]
    assert "succeeded" not in parent["text"].lower()  # still running, as Nautobot says
    assert slack.messages(CHANNEL, thread_ts=parent["ts"]) == []  # no log before the real end
    assert_once(stack, slack, meraki, before, "events.forged@example.com")  # then the real end, once
