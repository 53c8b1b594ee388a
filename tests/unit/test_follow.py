"""Following a JobResult: polling with backoff, the parent message's updates, the log in the thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from itertools import islice, pairwise
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import bot.runs.follow as follow_module
from bot.models import JobForm, JobRun, RunRequest, RunStatus
from bot.nautobot import Capabilities, NautobotError
from bot.nautobot.event_payload import APPROVAL_DENIED
from bot.nautobot.wakeups import Wakeups
from bot.runs.follow import LATE_WINDOW, Follower
from bot.runs.nautobot_approvers import TellingNobody
from bot.runs.pace import (
    APPROVAL_POLL_CAP,
    FIRST_POLL,
    LATE_POLL,
    LONG_RUN,
    LONG_RUN_POLL,
    POLL_CAP,
    SCHEDULER_POLL,
    poll_delays,
)
from bot.slack.log_messages import LONG_LOG_ENTRIES
from bot.slack.messages import STATUS_TEXT
from bot.slack.pacing import ChannelPacer, WorkspacePacer
from bot.slack.thread import SlackThreads, Thread
from testbed.fake_nautobot import (
    ACME_ORG,
    BASE,
    FAILED,
    FAILED_LOGS,
    FAILURE_MESSAGE,
    JOB,
    JOB_NAME,
    LOGS,
    LOGS_PATH,
    RESULT_PATH,
    RUN_AWAITING_APPROVAL,
    SCHEDULED_ID,
    SUCCEEDED,
    VARIABLES,
    FakeNautobot,
    job_result,
    long_log,
    ok,
)
from testbed.fake_slack import DM_CHANNEL, Events, FakeSlack, blocks_text
from tests.support.virtual_time import VirtualClock

USER = "U0456ABC"
CHANNEL = "C0123CHAN"
REQUEST = RunRequest(
    request_id="V0FORM0001",
    requester_id=USER,
    channel_id=CHANNEL,
    job_name=JOB_NAME,
    inputs={
        "user_email": "bob@example.com",
        "user_name": "Bob Smith",
        "meraki_org_id": ACME_ORG,
        "meraki_access_level": "read-only",
        "dryrun": False,
    },
)
FORM = JobForm.from_api(JOB, VARIABLES)
THREAD = Thread(CHANNEL, "1730542502.000100")
TIMEOUT = 900.0
REFUSED = httpx.ConnectError("[Errno 111] Connection refused")

pytestmark = pytest.mark.usefixtures("no_retry_delay")


class Clock:
    """``time.monotonic`` for ``bot.runs.follow``; the fake sleep moves it on by the delay it was asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds


class Elapsed:
    """A settable elapsed-time function for :func:`poll_delays`."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def queued_run() -> JobRun:
    """The run as ``POST .../run/`` answered it: PENDING, which the parent message already shows."""
    return JobRun.from_api(job_result("PENDING"), BASE)


def results(*statuses: str | dict[str, Any]) -> list[httpx.Response]:
    return [ok(job_result(status) if isinstance(status, str) else status) for status in statuses]


def updates(slack: FakeSlack) -> list[dict[str, Any]]:
    return slack.calls_to("chat_update")


def replies(slack: FakeSlack) -> list[dict[str, Any]]:
    return slack.calls_to("chat_postMessage")


def says(call: dict[str, Any], status: RunStatus) -> bool:
    return call["text"].endswith(STATUS_TEXT[status])


def assert_in_thread(call: dict[str, Any]) -> None:
    assert (call["channel"], call["thread_ts"]) == (THREAD.channel_id, THREAD.ts)


def assert_on_parent(call: dict[str, Any]) -> None:
    assert (call["channel"], call["ts"]) == (THREAD.channel_id, THREAD.ts)


def growing(delays: list[float]) -> bool:
    return all(earlier <= later for earlier, later in pairwise(delays))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(follow_module, "time", SimpleNamespace(monotonic=clock.monotonic))
    return clock


@pytest.fixture
def nautobot(events: Events) -> FakeNautobot:
    return FakeNautobot(events)


@pytest.fixture
def slack(events: Events) -> FakeSlack:
    return FakeSlack(events)


@pytest.fixture
async def make_follower(
    nautobot: FakeNautobot, slack: FakeSlack, clock: Clock
) -> AsyncIterator[Callable[[float], Follower]]:
    client = nautobot.client()

    def make(timeout: float = TIMEOUT) -> Follower:
        return Follower(client, SlackThreads(slack, ChannelPacer(0)), timeout=timeout, sleep=clock.sleep)  # type: ignore[arg-type]

    yield make
    await client.aclose()


@pytest.fixture
def follower(make_follower: Callable[[float], Follower]) -> Follower:
    return make_follower(TIMEOUT)


# -- polling to the end --------------------------------------------------------------------------


async def test_pending_started_success_updates_the_parent_per_change_and_logs_before_the_end(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack, events: Events, clock: Clock
) -> None:
    nautobot.on("GET", RESULT_PATH, *results("PENDING", "STARTED", "STARTED", SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    assert final.status is RunStatus.SUCCEEDED
    assert slack.methods() == ["chat_update", "chat_postMessage", "chat_update"]
    running, done = updates(slack)
    assert_on_parent(running)
    assert says(running, RunStatus.RUNNING)
    (log,) = replies(slack)
    assert_in_thread(log)
    log_text = blocks_text(log["blocks"])
    assert "Organization has 2FA off" in log_text
    assert "Created administrator bob@example.com" in log_text
    assert_on_parent(done)
    assert says(done, RunStatus.SUCCEEDED)
    done_text = blocks_text(done["blocks"])
    assert "Took 1s · Log: 2 info · 1 success · 1 warning" in done_text
    assert f"Requested by <@{USER}>" in done_text
    labels = events.labels()
    assert labels.index(f"nautobot GET {LOGS_PATH}") < labels.index("slack chat_postMessage")
    assert labels[-1] == "slack chat_update"
    assert nautobot.count("GET", RESULT_PATH) == 4
    assert clock.delays == [0.5, 0.75, 1.125, 1.6875]


async def test_a_failure_posts_the_failing_lines_and_the_exception_in_the_thread(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("GET", RESULT_PATH, *results("STARTED", FAILED))
    nautobot.on("GET", LOGS_PATH, ok(FAILED_LOGS))

    final = await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    assert final.status is RunStatus.FAILED
    assert slack.methods() == ["chat_update", "chat_postMessage", "chat_postMessage", "chat_update"]
    log, summary = replies(slack)
    assert_in_thread(log)
    assert_in_thread(summary)
    assert summary["text"] == f"❌ {JOB_NAME} failed: RuntimeError: {FAILURE_MESSAGE}"
    text = blocks_text(summary["blocks"])
    assert "Why it failed" in text
    assert f"RuntimeError: {FAILURE_MESSAGE}" in text
    assert "Meraki API answered 400: Email has already been taken" in text
    assert "Job failed, all database changes have been rolled back." in text
    assert "Running job" not in text
    assert says(updates(slack)[-1], RunStatus.FAILED)


async def test_a_long_log_is_attached_as_a_file_with_a_short_summary(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    entries = long_log(LONG_LOG_ENTRIES + 1)
    nautobot.on("GET", RESULT_PATH, ok(SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(entries))

    await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    assert slack.methods() == ["files_upload_v2", "chat_postMessage", "chat_update"]
    (upload,) = slack.calls_to("files_upload_v2")
    assert_in_thread(upload)
    assert upload["filename"] == "job-log.txt"
    assert upload["title"] == f"{JOB_NAME} log"
    content = upload["content"].splitlines()
    assert len(content) == LONG_LOG_ENTRIES + 1
    assert content[-1].endswith(f"Checked network N_{LONG_LOG_ENTRIES:04d}")
    (summary,) = replies(slack)
    assert_in_thread(summary)
    assert f"{LONG_LOG_ENTRIES + 1} lines" in summary["text"]
    assert "job-log.txt" in blocks_text(summary["blocks"])
    assert says(updates(slack)[-1], RunStatus.SUCCEEDED)


async def test_nautobot_unreachable_while_the_job_runs_is_waited_out(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.follow")
    nautobot.on(
        "GET", RESULT_PATH, *results("STARTED"), REFUSED, REFUSED, REFUSED, REFUSED, *results("STARTED", SUCCEEDED)
    )
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    assert final.status is RunStatus.SUCCEEDED
    assert [call["text"].split(": ", 1)[1] for call in updates(slack)] == [
        STATUS_TEXT[RunStatus.RUNNING],
        STATUS_TEXT[RunStatus.SUCCEEDED],
    ]
    (log,) = replies(slack)
    assert "failed" not in log["text"].casefold()
    assert nautobot.count("GET", RESULT_PATH) == 7
    assert len(clock.delays) == 5
    assert sum("nautobot unavailable while following" in r.getMessage() for r in caplog.records) == 2


async def test_a_run_already_finished_is_not_polled(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack, clock: Clock
) -> None:
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    await follower.follow(REQUEST, FORM, JobRun.from_api(SUCCEEDED, BASE), THREAD)

    assert nautobot.count("GET", RESULT_PATH) == 0
    assert clock.delays == []
    assert slack.methods() == ["chat_postMessage", "chat_update"]


# -- giving up -----------------------------------------------------------------------------------


async def test_the_overall_timeout_stops_following_without_posting_the_log(
    make_follower: Callable[[float], Follower], nautobot: FakeNautobot, slack: FakeSlack, clock: Clock
) -> None:
    nautobot.on("GET", RESULT_PATH, ok(job_result("STARTED")))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await make_follower(30.0).follow(REQUEST, FORM, queued_run(), THREAD)

    assert final.status is RunStatus.RUNNING
    running, timed_out = updates(slack)
    assert says(running, RunStatus.RUNNING)
    assert_on_parent(timed_out)
    assert says(timed_out, RunStatus.TIMED_OUT)
    assert "Still running in Nautobot" in timed_out["text"]
    assert "Took 30s" in blocks_text(timed_out["blocks"])
    assert replies(slack) == []
    assert slack.calls_to("files_upload_v2") == []
    assert nautobot.count("GET", LOGS_PATH) == 0
    before = [d for d in clock.delays if d != LATE_POLL]
    assert clock.delays[0] == FIRST_POLL
    assert growing(before)
    assert max(before) <= POLL_CAP
    assert sum(before[:-1]) <= 30.0 < sum(before)
    # After the timeout the run is still looked at now and then, for a day, at LATE_POLL.
    assert set(clock.delays[len(before) :]) == {LATE_POLL}
    assert sum(clock.delays) >= 30.0 + LATE_WINDOW


async def test_a_run_ending_after_the_timeout_still_gets_its_log_and_final_status(
    make_follower: Callable[[float], Follower], nautobot: FakeNautobot, slack: FakeSlack, clock: Clock
) -> None:
    answers = iter([job_result("STARTED")] * 25 + [job_result("SUCCESS")])  # past the 30 s timeout
    nautobot.on("GET", RESULT_PATH, lambda _request: ok(next(answers)))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await make_follower(30.0).follow(REQUEST, FORM, queued_run(), THREAD)

    assert final.status is RunStatus.SUCCEEDED
    statuses = [u["text"] for u in updates(slack)]
    assert "Still running in Nautobot" in statuses[-2]
    assert says(updates(slack)[-1], RunStatus.SUCCEEDED)
    assert replies(slack)  # the log reached the thread after all


# -- the backoff ---------------------------------------------------------------------------------


def test_poll_delays_grow_from_half_a_second_to_the_cap() -> None:
    delays = list(islice(poll_delays(Elapsed()), 30))

    assert delays[:4] == [0.5, 0.75, 1.125, 1.6875]
    assert delays[0] == FIRST_POLL
    assert growing(delays)
    assert max(delays) == POLL_CAP
    assert delays[-1] == POLL_CAP


def test_poll_delays_slow_down_once_a_run_is_long() -> None:
    elapsed = Elapsed()
    before: list[float] = []
    after: list[float] = []
    for delay in poll_delays(elapsed):
        (before if elapsed.seconds <= LONG_RUN else after).append(delay)
        elapsed.seconds += delay
        if elapsed.seconds > LONG_RUN + 10 * LONG_RUN_POLL:
            break

    assert before[0] == FIRST_POLL
    assert growing(before)
    assert max(before) <= POLL_CAP
    assert after
    assert set(after) == {LONG_RUN_POLL}


# -- what the follow does not handle yet ---------------------------------------------------------


async def test_the_final_status_is_shown_even_when_the_log_cannot_be_read_at_once(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("GET", RESULT_PATH, *results("STARTED", SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, REFUSED, REFUSED, ok(LOGS))

    with contextlib.suppress(NautobotError):
        await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    assert says(updates(slack)[-1], RunStatus.SUCCEEDED)


async def test_a_lost_permission_while_following_does_not_leave_the_parent_running(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("GET", RESULT_PATH, *results("STARTED"), ok({"detail": "Invalid token"}, 403))

    with contextlib.suppress(NautobotError):
        await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    assert not says(updates(slack)[-1], RunStatus.RUNNING)


@pytest.mark.parametrize("can_cancel", [True, False])
async def test_a_cancel_button_is_offered_only_where_nautobot_can_cancel(
    nautobot: FakeNautobot, slack: FakeSlack, clock: Clock, can_cancel: bool
) -> None:
    client = nautobot.client()
    threads = SlackThreads(slack, ChannelPacer(0), can_cancel=lambda: can_cancel)  # type: ignore[arg-type]
    follower = Follower(client, threads, timeout=TIMEOUT, sleep=clock.sleep)
    nautobot.on("GET", RESULT_PATH, *results("STARTED", SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    await follower.follow(REQUEST, FORM, queued_run(), THREAD)
    await client.aclose()

    running, done = updates(slack)
    assert says(running, RunStatus.RUNNING)
    assert ("cancel_run" in str(running["blocks"])) is can_cancel
    assert "cancel_run" not in str(done["blocks"])


# -- waiting for an approval ---------------------------------------------------------------------

SCHEDULED_PATH = f"/api/extras/scheduled-jobs/{SCHEDULED_ID}/"
RESULTS_PATH = "/api/extras/job-results/"


def scheduled(state: str) -> httpx.Response:
    return ok({**RUN_AWAITING_APPROVAL["scheduled_job"], "state": {"value": state, "label": state.title()}})


def found(*runs: dict[str, Any]) -> httpx.Response:
    return ok({"count": len(runs), "next": None, "previous": None, "results": list(runs)})


async def test_an_approved_run_is_followed_under_the_same_parent_message(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack, clock: Clock
) -> None:
    nautobot.on("GET", SCHEDULED_PATH, scheduled("pending"), REFUSED, scheduled("pending"), scheduled("active"))
    nautobot.on("GET", RESULTS_PATH, found(), found(job_result("STARTED")))  # the scheduler starts it a tick later
    nautobot.on("GET", RESULT_PATH, *results("STARTED", SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await follower.follow_approval(REQUEST, FORM, SCHEDULED_ID, THREAD)

    assert final is not None and final.status is RunStatus.SUCCEEDED
    assert nautobot.count("GET", RESULTS_PATH) == 2
    running, done = updates(slack)
    assert says(running, RunStatus.RUNNING) and says(done, RunStatus.SUCCEEDED)
    assert_on_parent(running)
    assert "Open the JobResult in Nautobot" in blocks_text(running["blocks"])
    (log,) = replies(slack)
    assert_in_thread(log)
    pending, approved_not_started = clock.delays[:2], clock.delays[2]
    assert growing(pending) and pending[0] < APPROVAL_POLL_CAP
    assert approved_not_started == SCHEDULER_POLL


class DecisionsSeen(TellingNobody):
    """Records when the follow said Nautobot decided: after how many looks at the scheduled job."""

    def __init__(self, nautobot: FakeNautobot) -> None:
        self.nautobot = nautobot
        self.decided_at: list[tuple[str, int]] = []

    async def decided(self, request: RunRequest, form: JobForm | None, thread: Thread, outcome: str) -> None:
        self.decided_at.append((outcome, self.nautobot.count("GET", RESULTS_PATH)))


async def test_the_approval_is_shown_once_before_the_scheduler_starts_the_run(
    nautobot: FakeNautobot, slack: FakeSlack, clock: Clock
) -> None:
    client = nautobot.client()
    seen = DecisionsSeen(nautobot)
    threads = SlackThreads(slack, ChannelPacer(0))  # type: ignore[arg-type]
    follower = Follower(client, threads, timeout=TIMEOUT, sleep=clock.sleep, approvers=seen)
    nautobot.on("GET", SCHEDULED_PATH, scheduled("pending"), *[scheduled("active")] * 3)
    nautobot.on("GET", RESULTS_PATH, found(), found(), found(job_result("STARTED")))  # the scheduler is slow
    nautobot.on("GET", RESULT_PATH, *results(SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await follower.follow_approval(REQUEST, FORM, SCHEDULED_ID, THREAD)
    await client.aclose()

    assert final is not None and final.status is RunStatus.SUCCEEDED
    assert seen.decided_at[0] == ("approved", 1)  # after the first look that found no run yet
    assert [outcome for outcome, _ in seen.decided_at] == ["approved", "approved"]  # and when it started (a no-op)


@pytest.mark.parametrize(
    ("state", "status"),
    [("denied", RunStatus.DENIED), ("canceled", RunStatus.CANCELLED), ("errored", RunStatus.FAILED)],
)
async def test_a_decision_against_the_run_ends_the_request_with_nothing_run(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack, state: str, status: RunStatus
) -> None:
    nautobot.on("GET", SCHEDULED_PATH, scheduled("pending"), scheduled(state))

    assert await follower.follow_approval(REQUEST, FORM, SCHEDULED_ID, THREAD) is None

    (closed,) = updates(slack)
    assert_on_parent(closed)
    assert says(closed, status)
    assert f"/extras/scheduled-jobs/{SCHEDULED_ID}/" in blocks_text(closed["blocks"])
    assert all(block.type != "actions" for block in closed["blocks"])  # nothing left to cancel
    assert nautobot.count("GET", RESULTS_PATH) == 0
    reasons = [reply["text"] for reply in replies(slack)]
    assert len(reasons) == (state == "errored")
    assert all("scheduler could not start the approved run" in reason for reason in reasons)


async def test_on_nautobot_3_a_scheduled_job_that_vanished_is_said_in_the_thread(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("GET", SCHEDULED_PATH, scheduled("pending"), ok({"detail": "Not found."}, 404))
    nautobot.on("GET", "/api/status/", ok({"nautobot-version": "3.2.7"}))  # 3.x keeps denied ones: not a denial

    assert await follower.follow_approval(REQUEST, FORM, SCHEDULED_ID, THREAD) is None

    (reply,) = replies(slack)
    assert_in_thread(reply)
    assert "could not follow this approval any more" in reply["text"]
    (closed,) = updates(slack)
    assert says(closed, RunStatus.CANCELLED)


def scheduled_on_2_4(*, approved: bool) -> httpx.Response:
    """Nautobot 2.4's scheduled job: no ``state``; an approval stamps ``approved_at``."""
    record = {key: value for key, value in RUN_AWAITING_APPROVAL["scheduled_job"].items() if key != "state"}
    stamp = "2026-11-29T17:00:00.000000Z" if approved else None
    return ok({**record, "approval_required": True, "approved_at": stamp, "approved_by_user": None})


async def test_on_nautobot_2_4_the_approval_is_read_from_approved_at(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("GET", SCHEDULED_PATH, scheduled_on_2_4(approved=False), scheduled_on_2_4(approved=True))
    nautobot.on("GET", RESULTS_PATH, found(job_result("STARTED")))
    nautobot.on("GET", RESULT_PATH, *results(SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await follower.follow_approval(REQUEST, FORM, SCHEDULED_ID, THREAD)

    assert final is not None and final.status is RunStatus.SUCCEEDED
    assert nautobot.count("GET", RESULTS_PATH) == 1  # looked for the run only once approved
    (log,) = replies(slack)
    assert_in_thread(log)


async def test_on_nautobot_2_x_a_scheduled_job_gone_is_a_denial(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("GET", SCHEDULED_PATH, scheduled_on_2_4(approved=False), ok({"detail": "Not found."}, 404))
    nautobot.on("GET", "/api/status/", ok({"nautobot-version": "2.4.44"}))  # not known yet: asked then

    assert await follower.follow_approval(REQUEST, FORM, SCHEDULED_ID, THREAD) is None

    (reply,) = replies(slack)
    assert "on Nautobot 2.x that is what a denial does" in reply["text"]
    (closed,) = updates(slack)
    assert says(closed, RunStatus.DENIED)
    assert nautobot.count("GET", RESULTS_PATH) == 0
    assert follower.nautobot.capabilities == Capabilities((2, 4))


async def test_a_denial_heard_before_nautobot_saved_it_is_looked_at_again_at_once(
    nautobot: FakeNautobot, slack: FakeSlack, clock: Clock
) -> None:
    """Nautobot publishes the denial, then deletes the scheduled job: the look the event prompts may still
    find it; the next look comes within moments, not at the safety net's minute."""
    wakeups = Wakeups()
    events = SimpleNamespace(wakeups=wakeups, flowing=True)  # events flow: the safety net looks once a minute

    def pending_then_denied(request: httpx.Request) -> httpx.Response:
        asyncio.get_running_loop().call_soon(wakeups.wake, SCHEDULED_ID, APPROVAL_DENIED)
        return scheduled_on_2_4(approved=False)

    nautobot.on(
        "GET",
        SCHEDULED_PATH,
        pending_then_denied,
        scheduled_on_2_4(approved=False),  # the event came before the record was deleted
        ok({"detail": "Not found."}, 404),
    )
    client = nautobot.client()
    follower = Follower(client, SlackThreads(slack, ChannelPacer(0)), timeout=TIMEOUT, events=events)  # type: ignore[arg-type]

    outcome = await asyncio.wait_for(follower.follow_approval(REQUEST, FORM, SCHEDULED_ID, THREAD), 10)
    await client.aclose()

    assert outcome is None
    assert nautobot.count("GET", SCHEDULED_PATH) == 3
    (closed,) = updates(slack)
    assert says(closed, RunStatus.DENIED)
    assert replies(slack) == []  # the event said it was a denial: nothing to explain


async def test_an_approval_pending_past_the_timeout_is_looked_at_rarely_then_left_for_a_restart(
    make_follower: Callable[[float], Follower], nautobot: FakeNautobot, slack: FakeSlack, clock: Clock
) -> None:
    nautobot.on("GET", SCHEDULED_PATH, scheduled("pending"))

    assert await make_follower(60.0).follow_approval(REQUEST, FORM, SCHEDULED_ID, THREAD) is None

    assert slack.calls == []
    assert max(clock.delays) == LATE_POLL
    assert sum(clock.delays) >= 60.0 + LATE_WINDOW
    assert len(clock.delays) < 60 + LATE_WINDOW / LATE_POLL


# -- Slack refusing the channel mid-follow -------------------------------------------------------


async def test_a_channel_archived_mid_follow_moves_the_rest_to_a_dm_and_the_log_arrives_there(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    async def archive_then_answer(request: httpx.Request) -> httpx.Response:
        slack.archived.add(CHANNEL)  # archived while the Job runs
        return ok(job_result("STARTED"))

    nautobot.on("GET", RESULT_PATH, archive_then_answer, *results(SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    assert final.status is RunStatus.SUCCEEDED
    posts = replies(slack)
    note, parent_copy, log = posts
    assert note["channel"] == parent_copy["channel"] == log["channel"] == DM_CHANNEL
    assert "archived" in blocks_text(note["blocks"]) and "thread_ts" not in note
    assert log["thread_ts"] == slack.posted[1]["ts"]  # under the copy of the parent message in the DM
    assert "Organization has 2FA off" in blocks_text(log["blocks"])
    final_update = updates(slack)[-1]
    assert final_update["channel"] == DM_CHANNEL and says(final_update, RunStatus.SUCCEEDED)


# -- Slack's edit budget (Tier 3) ----------------------------------------------------------------


@pytest.fixture
async def spent_budget(
    nautobot: FakeNautobot, slack: FakeSlack, clock: Clock
) -> AsyncIterator[tuple[Follower, VirtualClock]]:
    """A follower whose workspace has no edit turn free: another run's edit took the only one, 1.2 s ago at most."""
    edits = VirtualClock()
    pacer = WorkspacePacer(per_minute=50, burst=1, clock=edits, sleep=edits.sleep)
    assert pacer.turn_now()
    client = nautobot.client()
    threads = SlackThreads(slack, ChannelPacer(0), update_pacer=pacer)  # type: ignore[arg-type]
    yield Follower(client, threads, timeout=TIMEOUT, sleep=clock.sleep), edits
    await client.aclose()


async def test_with_no_edit_turn_free_the_running_status_is_skipped_and_the_log_is_not_held_up(
    spent_budget: tuple[Follower, VirtualClock], nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    follower, edits = spent_budget
    nautobot.on("GET", RESULT_PATH, *results("STARTED", "STARTED", SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    final = await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    assert final.status is RunStatus.SUCCEEDED
    assert slack.methods() == ["chat_postMessage", "chat_update"]  # the log, then the final status only
    assert says(updates(slack)[0], RunStatus.SUCCEEDED)
    assert edits.slept == [pytest.approx(1.2)]  # only the final status waited for its turn


async def test_a_running_status_skipped_for_want_of_a_turn_is_shown_at_a_later_look(
    spent_budget: tuple[Follower, VirtualClock], nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    follower, edits = spent_budget

    async def budget_back(request: httpx.Request) -> httpx.Response:
        edits.now += 1.2  # a turn is free again by the next look
        return ok(job_result("STARTED"))

    nautobot.on("GET", RESULT_PATH, ok(job_result("STARTED")), budget_back, *results("STARTED", SUCCEEDED))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    running, done = updates(slack)
    assert says(running, RunStatus.RUNNING) and says(done, RunStatus.SUCCEEDED)


async def test_a_table_cut_for_slack_follows_whole_as_a_file_in_the_thread(
    follower: Follower, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    columns = [{"key": "email", "label": "Email"}]
    rows = [{"email": f"bob{n}@example.com"} for n in range(150)]
    table = {"title": "150 matches.", "columns": columns, "rows": rows}
    nautobot.on("GET", RESULT_PATH, ok({**SUCCEEDED, "result": {"table": table}}))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    await follower.follow(REQUEST, FORM, queued_run(), THREAD)

    (upload,) = slack.calls_to("files_upload_v2")
    assert_in_thread(upload)
    assert upload["filename"] == "table.csv" and upload["title"] == f"{JOB_NAME} table"
    lines = upload["content"].splitlines()
    assert lines[0] == "Email" and lines[-1] == "bob149@example.com" and len(lines) == 151
    shown = replies(slack)[0]
    assert "the file table.csv has all 150" in str(shown["blocks"])
