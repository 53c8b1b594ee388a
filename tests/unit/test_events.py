"""Nautobot's events: waking follows, the subscription on the machine's Redis, and the follow's pace."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as redis

import bot.nautobot.events as events_module
import bot.nautobot.wakeups as wakeups_module
import bot.runs.follow as follow_module
import bot.runs.pace as run_pace
from bot.metrics import Metrics
from bot.models import JobRun, RunStatus
from bot.nautobot.events import CANCEL_RELAYED, NAUTOBOT_TOPICS, RESUBSCRIBED, TOPICS, EventSource, subject
from bot.nautobot.wakeups import JOB_COMPLETED, JOB_STARTED, RECENT_SECONDS, Wakeups
from bot.runs.follow import Follower
from bot.runs.pace import EVENT_SAFETY_POLL, FIRST_POLL, approval_delays, poll_delays
from bot.slack.messages import STATUS_TEXT
from bot.slack.pacing import ChannelPacer
from bot.slack.thread import SlackThreads
from testbed.fake_nautobot import (
    BASE,
    LOGS,
    LOGS_PATH,
    RESULT_ID,
    RESULT_PATH,
    SUCCEEDED,
    FakeNautobot,
    job_result,
    ok,
)
from testbed.fake_slack import Events, FakeSlack
from tests.unit.test_follow import FORM, REQUEST, THREAD

OTHER_ID = str(uuid.uuid4())
SCHEDULED = str(uuid.uuid4())

pytestmark = pytest.mark.usefixtures("no_retry_delay")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def job_event(result_id: str = RESULT_ID, **extra: Any) -> str:
    return json.dumps({"job_result_id": result_id, "job_name": "Create Meraki User", "user_name": "bot", **extra})


# -- waking follows ------------------------------------------------------------------------------


async def test_an_event_cuts_the_wait_of_its_follow_short_and_names_its_topic() -> None:
    wakeups = Wakeups()
    with wakeups.following(RESULT_ID):
        waiting = asyncio.create_task(wakeups.wait(RESULT_ID, 30))
        await asyncio.sleep(0)
        assert wakeups.wake(RESULT_ID, JOB_COMPLETED)
        assert await asyncio.wait_for(waiting, 1) == JOB_COMPLETED


async def test_a_wait_without_an_event_runs_its_time_out() -> None:
    wakeups = Wakeups()
    with wakeups.following(RESULT_ID):
        wakeups.wake(OTHER_ID, JOB_COMPLETED)
        assert await wakeups.wait(RESULT_ID, 0.01) is None


async def test_an_event_that_arrives_while_the_follow_is_busy_is_kept_for_its_next_wait() -> None:
    wakeups = Wakeups()
    with wakeups.following(RESULT_ID):
        wakeups.wake(RESULT_ID, JOB_STARTED)
        wakeups.wake(RESULT_ID, JOB_COMPLETED)
        wakeups.wake(RESULT_ID, JOB_STARTED)  # late and out of order: the end still counts

        assert await wakeups.wait(RESULT_ID, 30) == JOB_COMPLETED
        assert await wakeups.wait(RESULT_ID, 0.01) is None  # one wake, one look


async def test_an_end_before_the_follow_began_wakes_it_once_it_begins() -> None:
    clock = Clock()
    wakeups = Wakeups(clock=clock)

    assert not wakeups.wake(RESULT_ID, JOB_COMPLETED)  # nothing follows it yet: a short Job, ended already
    with wakeups.following(RESULT_ID):
        assert await wakeups.wait(RESULT_ID, 30) == JOB_COMPLETED


async def test_an_early_event_is_forgotten_after_a_while() -> None:
    clock = Clock()
    wakeups = Wakeups(clock=clock)
    wakeups.wake(RESULT_ID, JOB_COMPLETED)
    clock.now += RECENT_SECONDS + 1

    with wakeups.following(RESULT_ID):
        assert await wakeups.wait(RESULT_ID, 0.01) is None


def test_events_for_nothing_followed_are_kept_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wakeups_module, "RECENT_EVENTS", 3)
    wakeups = Wakeups()
    for _ in range(100):
        wakeups.wake(str(uuid.uuid4()), JOB_COMPLETED)
    assert len(wakeups._recent) == 3


async def test_wake_all_wakes_every_follow_and_the_follows_end_with_their_context() -> None:
    wakeups = Wakeups()
    with wakeups.following(RESULT_ID), wakeups.following(OTHER_ID):
        assert wakeups.wake_all(RESUBSCRIBED) == 2
        assert await wakeups.wait(RESULT_ID, 1) == RESUBSCRIBED
        assert await wakeups.wait(OTHER_ID, 1) == RESUBSCRIBED
    assert wakeups.wake_all(RESUBSCRIBED) == 0


@pytest.mark.parametrize(
    ("topic", "data", "expected"),
    [
        (JOB_COMPLETED, job_event(), RESULT_ID),
        (JOB_STARTED, job_event().encode(), RESULT_ID),
        ("nautobot.jobs.approval.approved", json.dumps({"data": {"id": SCHEDULED, "name": "x"}}), SCHEDULED),
        ("nautobot.jobs.approval.denied", json.dumps({"data": {"id": SCHEDULED}}), SCHEDULED),
        (JOB_COMPLETED, job_event(RESULT_ID.upper()), RESULT_ID),
        (JOB_COMPLETED, job_event("../../admin"), None),
        (JOB_COMPLETED, json.dumps({"data": {"id": SCHEDULED}}), None),
        ("nautobot.jobs.approval.approved", job_event(), None),
        (JOB_COMPLETED, "not json {", None),
        (JOB_COMPLETED, json.dumps([RESULT_ID]), None),
        (JOB_COMPLETED, json.dumps({"job_result_id": None}), None),
        (JOB_COMPLETED, None, None),
    ],
)
def test_an_event_is_about_the_id_nautobot_puts_in_it_and_nothing_else(topic: str, data: Any, expected: str) -> None:
    assert subject(topic, data) == expected


# -- the subscription ----------------------------------------------------------------------------


async def publish(url: str, topic: str, data: str) -> int:
    async with redis.from_url(url) as client:
        return int(await client.publish(topic, data))


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(source: EventSource) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def gauge(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(f"meraki_chatops_{name}")
    assert value is not None, name
    return value


async def test_a_published_job_event_wakes_the_follow_of_its_result(redis_url: str) -> None:
    metrics = Metrics()
    source = EventSource(redis_url, metrics=metrics)
    async with running(source):
        await until(lambda: source.subscribed)
        assert gauge(metrics, "nautobot_events_subscribed") == 1
        assert not source.flowing  # nothing heard from Nautobot yet: it may publish elsewhere
        assert "no event from Nautobot yet" in source.readiness()
        with source.wakeups.following(RESULT_ID):
            assert await publish(redis_url, JOB_COMPLETED, job_event()) >= 1
            assert await source.wakeups.wait(RESULT_ID, 5) == JOB_COMPLETED
        assert source.flowing
        assert source.readiness() == "subscribed"
    assert gauge(metrics, "nautobot_events_total") == 1


async def test_an_event_too_large_to_read_on_the_event_loop_wakes_every_follow(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "MAX_EVENT_BYTES", 1000)
    source = EventSource(redis_url)
    async with running(source):
        await until(lambda: source.subscribed)
        with source.wakeups.following(RESULT_ID), source.wakeups.following(OTHER_ID):
            await publish(redis_url, JOB_COMPLETED, job_event(OTHER_ID, job_output="x" * 5000))
            assert await source.wakeups.wait(RESULT_ID, 5) == JOB_COMPLETED
            assert await source.wakeups.wait(OTHER_ID, 5) == JOB_COMPLETED


async def test_a_cut_subscription_comes_back_and_every_follow_looks_for_what_it_missed(redis_url: str) -> None:
    metrics = Metrics()
    source = EventSource(redis_url, metrics=metrics, reconnect_first=0.05)
    async with running(source), redis.from_url(redis_url) as admin:
        await until(lambda: source.subscribed)
        with source.wakeups.following(RESULT_ID):
            ours = [c["id"] for c in await admin.client_list() if c["name"] == events_module.CLIENT_NAME]
            assert ours
            for client_id in ours:
                await admin.client_kill_filter(_id=client_id)
            await until(lambda: not source.subscribed)
            assert "not subscribed" in source.readiness()
            await until(lambda: source.subscribed)
            assert await source.wakeups.wait(RESULT_ID, 5) == RESUBSCRIBED
    assert gauge(metrics, "nautobot_events_subscribed") == 0  # stopped


async def test_a_redis_that_does_not_answer_leaves_polling_at_its_usual_pace(caplog: pytest.LogCaptureFixture) -> None:
    source = EventSource("redis://:pw-not-for-logs@127.0.0.1:1/0", reconnect_first=0.05)
    async with running(source):
        await until(lambda: "ConnectionError" in source.problem or "Error" in source.problem)
        await asyncio.sleep(0.2)  # a few attempts, each one line
        assert not source.subscribed
        assert not source.flowing
        assert source.readiness().startswith("not subscribed (")
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.nautobot.events"]
    assert len(lines) >= 2
    assert all("subscribing again in" in line for line in lines)
    assert "pw-not-for-logs" not in caplog.text


async def test_a_run_seen_ending_without_its_event_brings_back_the_usual_pace_for_a_while() -> None:
    clock = Clock()
    metrics = Metrics()
    source = EventSource("redis://127.0.0.1:1/0", metrics=metrics, clock=clock)
    source.subscribed = source.heard = True
    assert source.flowing

    source.missed(RESULT_ID)

    assert not source.flowing
    assert "without its event" in source.readiness()
    assert gauge(metrics, "nautobot_events_missed_total") == 1
    clock.now += events_module.DISTRUST_SECONDS + 1
    assert source.flowing


# -- the follow's pace ---------------------------------------------------------------------------


def test_while_events_flow_polling_is_only_the_safety_net() -> None:
    flowing = [True]
    delays = poll_delays(lambda: 0.0, lambda: flowing[0])
    assert [next(delays) for _ in range(3)] == [EVENT_SAFETY_POLL] * 3
    flowing[0] = False
    assert next(delays) == FIRST_POLL
    approvals = approval_delays(lambda: 0.0, 3600, lambda: True)
    assert next(approvals) == EVENT_SAFETY_POLL


@pytest.fixture
def nautobot(events: Events) -> FakeNautobot:
    return FakeNautobot(events)


@pytest.fixture
def slack(events: Events) -> FakeSlack:
    return FakeSlack(events)


@pytest.fixture
async def follower_with_events(nautobot: FakeNautobot, slack: FakeSlack) -> AsyncIterator[Follower]:
    client = nautobot.client()
    source = EventSource("redis://127.0.0.1:1/0")
    source.subscribed = source.heard = True  # as if subscribed: the tests wake follows themselves
    yield Follower(client, SlackThreads(slack, ChannelPacer(0)), timeout=900, events=source)  # type: ignore[arg-type]
    await client.aclose()


def events_of(follower: Follower) -> EventSource:
    assert follower.events is not None
    return follower.events


def running_run() -> JobRun:
    return JobRun.from_api(job_result("STARTED"), BASE)


async def test_an_end_event_has_the_run_read_and_reported_at_once(
    follower_with_events: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("GET", RESULT_PATH, ok(SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))
    following = asyncio.create_task(follower_with_events.follow(REQUEST, FORM, running_run(), THREAD))
    await asyncio.sleep(0.05)
    assert nautobot.count("GET", RESULT_PATH) == 0  # events flow: no poll before the event

    events_of(follower_with_events).wakeups.wake(RESULT_ID, JOB_COMPLETED)
    final = await asyncio.wait_for(following, 2)

    assert final.status is RunStatus.SUCCEEDED
    assert nautobot.count("GET", RESULT_PATH) == 1
    assert nautobot.count("GET", LOGS_PATH) == 1
    assert slack.methods() == ["chat_postMessage", "chat_update"]
    assert events_of(follower_with_events).flowing  # the end came with its event


async def test_an_ended_run_and_its_log_come_in_one_request_when_nautobot_answers_graphql(
    follower_with_events: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    ended = {
        **SUCCEEDED,
        "status": "SUCCESS",
        "job_log_entries": [{**entry, "log_level": entry["log_level"].upper()} for entry in LOGS],
    }
    nautobot.on("POST", "/api/graphql/", ok({"data": {"job_results": [ended]}}))
    events_of(follower_with_events).wakeups.wake(RESULT_ID, JOB_COMPLETED)

    final = await asyncio.wait_for(follower_with_events.follow(REQUEST, FORM, running_run(), THREAD), 2)

    assert final.status is RunStatus.SUCCEEDED
    assert [f"{r.method} {r.url.path}" for r in nautobot.requests] == ["POST /api/graphql/"]
    (reply,) = slack.calls_to("chat_postMessage")
    assert "Organization has 2FA off" in str(reply["blocks"])


async def test_an_end_event_ahead_of_nautobot_recording_the_end_is_confirmed_by_quick_looks(
    follower_with_events: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("GET", RESULT_PATH, ok(job_result("STARTED")), ok(job_result("STARTED")), ok(SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))
    events_of(follower_with_events).wakeups.wake(RESULT_ID, JOB_COMPLETED)  # the end, published just before

    final = await asyncio.wait_for(follower_with_events.follow(REQUEST, FORM, running_run(), THREAD), 2)

    assert final.status is RunStatus.SUCCEEDED
    assert nautobot.count("GET", RESULT_PATH) == 3


async def test_a_forged_end_event_changes_nothing_nautobot_does_not_confirm(
    follower_with_events: Follower, nautobot: FakeNautobot, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_pace, "ENDING_POLLS", (0.01, 0.01))
    nautobot.on("GET", RESULT_PATH, ok(job_result("STARTED")))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))
    following = asyncio.create_task(follower_with_events.follow(REQUEST, FORM, running_run(), THREAD))
    await asyncio.sleep(0.01)

    events_of(follower_with_events).wakeups.wake(RESULT_ID, JOB_COMPLETED)
    await asyncio.sleep(0.2)

    assert not following.done()
    assert nautobot.count("GET", RESULT_PATH) == 3  # the event's look and the quick ones; all say running
    assert nautobot.count("GET", LOGS_PATH) == 0
    assert slack.methods() == []  # nothing shown: the run is still running, as the parent says
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await following


async def test_a_start_event_waits_a_moment_for_the_end_so_a_short_job_is_read_once(
    follower_with_events: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("GET", RESULT_PATH, ok(SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))
    pending = JobRun.from_api(job_result("PENDING"), BASE)
    following = asyncio.create_task(follower_with_events.follow(REQUEST, FORM, pending, THREAD))
    wakeups = events_of(follower_with_events).wakeups
    await asyncio.sleep(0.01)

    wakeups.wake(RESULT_ID, JOB_STARTED)
    await asyncio.sleep(0.05)
    wakeups.wake(RESULT_ID, JOB_COMPLETED)
    final = await asyncio.wait_for(following, 2)

    assert final.status is RunStatus.SUCCEEDED
    assert nautobot.count("GET", RESULT_PATH) == 1
    assert slack.methods() == ["chat_postMessage", "chat_update"]  # never shown as running: it was over


@pytest.mark.parametrize("edit_turn_free", [True, False])
async def test_a_start_event_is_read_for_its_running_status_only_when_slack_would_take_the_edit(
    follower_with_events: Follower,
    nautobot: FakeNautobot,
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    edit_turn_free: bool,
) -> None:
    monkeypatch.setattr(follow_module, "STARTED_SETTLE", 0.01)
    nautobot.on("GET", RESULT_PATH, ok(job_result("STARTED")))
    pacer = follower_with_events.threads.update_pacer
    while not edit_turn_free and pacer.turn_now():  # the workspace's edits are used up for now
        pass
    pending = JobRun.from_api(job_result("PENDING"), BASE)
    following = asyncio.create_task(follower_with_events.follow(REQUEST, FORM, pending, THREAD))
    await asyncio.sleep(0.01)

    events_of(follower_with_events).wakeups.wake(RESULT_ID, JOB_STARTED)
    await asyncio.sleep(0.2)

    assert nautobot.count("GET", RESULT_PATH) == (1 if edit_turn_free else 0)
    assert slack.methods() == (["chat_update"] if edit_turn_free else [])  # "running", when it can be shown
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await following


async def test_a_run_that_ends_without_its_event_is_still_reported_and_slows_nothing_after(
    follower_with_events: Follower, nautobot: FakeNautobot, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_pace, "EVENT_SAFETY_POLL", 0.05)
    nautobot.on("GET", RESULT_PATH, ok(SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await asyncio.wait_for(follower_with_events.follow(REQUEST, FORM, running_run(), THREAD), 2)

    assert final.status is RunStatus.SUCCEEDED
    assert slack.methods() == ["chat_postMessage", "chat_update"]
    source = events_of(follower_with_events)
    assert not source.flowing  # the next follows poll at the usual pace
    assert gauge(source.metrics, "nautobot_events_missed_total") == 1


async def test_an_approval_event_wakes_the_approval_follow(
    follower_with_events: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    scheduled_path = f"/api/extras/scheduled-jobs/{SCHEDULED}/"
    nautobot.on(
        "GET", scheduled_path, ok({"id": SCHEDULED, "state": "pending"}), ok({"id": SCHEDULED, "state": "denied"})
    )
    following = asyncio.create_task(follower_with_events.follow_approval(REQUEST, FORM, SCHEDULED, THREAD))
    await asyncio.sleep(0.05)
    assert nautobot.count("GET", scheduled_path) == 1

    events_of(follower_with_events).wakeups.wake(SCHEDULED, "nautobot.jobs.approval.denied")

    assert await asyncio.wait_for(following, 2) is None
    assert nautobot.count("GET", scheduled_path) == 2
    (shown,) = slack.calls_to("chat_update")
    assert shown["text"].endswith(STATUS_TEXT[RunStatus.DENIED])


def test_the_topics_are_nautobots_and_the_bots_own_cancel_relay() -> None:
    assert set(TOPICS) == {*NAUTOBOT_TOPICS, CANCEL_RELAYED}
    assert set(NAUTOBOT_TOPICS) == {
        "nautobot.jobs.job.started",
        "nautobot.jobs.job.completed",
        "nautobot.jobs.approval.approved",
        "nautobot.jobs.approval.denied",
        "nautobot.jobs.approval.canceled",
    }
