"""Time-bound grants after they were made, against the real Nautobot and bot processes: two replicas warn the
requester once in the grant's thread; a bot down at the expiry posts the revoke Nautobot's scheduler ran, once,
when it is back; Extend opens the form again and moves the one revoke; Revoke now ends a grant early, for its
requester alone; with the scheduler down, the bot's safety net says so and runs the revoke itself, once."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, OTHER_USER, USER, entered, open_form, parent_message, start_connected, submit
from testbed.slack_standin import SlackStandIn
from tests.faults.conftest import HEARTBEAT
from tests.support.restarts import replies
from tests.support.revokes import REVOKE, delete_scheduled_revokes, scheduled_revokes

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]

WARNED = "ends <!date^"
LATE = 45
BEAT_STARTING = "beat: Starting..."
BEAT_FIRST_LOOK = 11
"""Seconds after beat starts by which it has looked at the schedules twice (its loop wakes at least every 5 s)."""
"""Seconds a revoke may take past its time: beat's next tick, a worker, the bot's next sweep and look."""


@pytest.fixture(scope="module", autouse=True)
def minute_durations(nautobot: NautobotStack):
    """Durations of seconds in the Create Job's form (the web server) and its runs (the worker)."""
    with nautobot.job_env(NAUTOBOT_JOB_MERAKI_DURATIONS="40s,1m,1h"):
        yield


@pytest.fixture(autouse=True)
def no_revokes_left(stack: NautobotStack) -> Iterator[None]:
    yield
    delete_scheduled_revokes(stack)


@contextlib.contextmanager
def scheduler_looking(stack: NautobotStack) -> Iterator[None]:
    """Run the block with Celery beat once it has looked at the schedules twice: its first look only notes when
    they last changed, so a schedule made between its start and that look waits for the next change (the safety
    net's case, not the one under test here)."""
    log = stack.workdir / "beat.log"
    started = log.read_text(errors="replace").count(BEAT_STARTING) if log.exists() else 0
    with stack.scheduler():
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count(BEAT_STARTING) <= started:
            assert time.monotonic() < deadline, "Celery beat did not start"
            time.sleep(0.2)
        time.sleep(BEAT_FIRST_LOOK)
        yield


def grant(slack: SlackStandIn, email: str, duration: str = "40s", view: dict | None = None) -> str:
    """Ask for full access for ``duration`` (in ``view``, else a new form); the ts of the parent message once the
    run succeeded."""
    view = view or open_form(slack)
    values = entered(view, email, access="full")
    [block] = [b for b in view["blocks"] if b.get("block_id") == "duration"]
    chosen = next(o for o in block["element"]["options"] if o["value"] == duration)
    values["duration"] = {"value": {"selected_option": chosen}}
    _, before = submit(slack, view, values)
    parent = parent_message(slack, before)
    assert "succeeded" in parent["text"].lower(), parent
    return parent["ts"]


def extend(slack: SlackStandIn, warning: dict, email: str) -> str:
    """Extend from the warning: the form opens filled in but for the duration; an hour more."""
    earlier = slack.view_stack(USER)
    slack.click_button(CHANNEL, warning["ts"], "grant_extend", user_id=USER)
    view = slack.wait_for(lambda: slack.view_stack(USER) != earlier and slack.current_view(USER), timeout=15)
    assert email in str(view), view
    [duration] = [b for b in view["blocks"] if b.get("block_id") == "duration"]
    assert "initial_option" not in duration["element"]  # the duration is asked afresh
    return grant(slack, email, "1h", view)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def thread(slack: SlackStandIn, ts: str) -> list[str]:
    return [str(reply.get("blocks")) for reply in replies(slack, ts)]


def said(slack: SlackStandIn, ts: str, words: str, timeout: float) -> str:
    return slack.wait_for(lambda: next((t for t in thread(slack, ts) if words in t), None), timeout=timeout)


def test_two_replicas_warn_once_and_one_back_after_the_expiry_posts_the_scheduled_revoke_once(
    stack, slack, replica, meraki
):
    with scheduler_looking(stack):
        replicas = [start_connected(replica(name), slack) for name in ("replica-a", "replica-b")]
        slack.wait_connected(count=2)
        ts = grant(slack, "jane.scheduled@example.com")
        assert [a["email"] for a in meraki.admins(ACME)] == ["jane.scheduled@example.com"]
        said(slack, ts, WARNED, timeout=30)  # halfway through a 40-second grant
        time.sleep(HEARTBEAT * 3)  # both replicas have swept past the warning's time
        for process in replicas:  # both down at the expiry: Nautobot's scheduler revokes all the same
            process.stop()
        slack.wait_for(lambda: meraki.admins(ACME) == [], timeout=40 + LATE)
    start_connected(replicas[1], slack)

    said(slack, ts, "Expired", timeout=30)
    time.sleep(HEARTBEAT * 3)
    replies_now = thread(slack, ts)
    assert sum(WARNED in t for t in replies_now) == 1
    assert sum("Expired" in t for t in replies_now) == 1
    assert any("the administrator the grant created was removed" in t for t in replies_now)
    assert "bot runs it now" not in "\n".join(replies_now)  # Nautobot's scheduler revoked it, not the safety net


def test_revoke_now_for_its_requester_and_the_safety_net_when_the_scheduler_is_down(stack, slack, chatops, meraki):
    start_connected(chatops, slack, GRANT_REVOKE_GRACE_SECONDS="10", HEARTBEAT_SECONDS="2")
    early = grant(slack, "john.early@example.com", "1m")  # time to extend it before it expires
    late = grant(slack, "mary.late@example.com")

    said(slack, early, WARNED, timeout=45)
    [warning] = [r for r in replies(slack, early) if WARNED in str(r.get("blocks"))]
    slack.click_button(CHANNEL, warning["ts"], "grant_extend", user_id=OTHER_USER)  # not theirs
    extend(slack, warning, "john.early@example.com")
    [moved] = [s for s in scheduled_revokes(stack) if "john.early" in s["name"]]
    assert moment(moved["start_time"]) > datetime.now(UTC) + timedelta(minutes=50)  # one revoke, an hour on

    slack.click_button(CHANNEL, warning["ts"], "grant_revoke_now", user_id=OTHER_USER)  # not theirs
    slack.click_button(CHANNEL, warning["ts"], "grant_revoke_now", user_id=USER)
    said(slack, early, "Revoked early", timeout=45)  # in the grant's own thread, extended or not
    refusals = str(slack.ephemerals)
    assert "Only the person who asked for this access can extend it" in refusals
    assert "Only the person who asked for this access can revoke it early" in refusals

    said(slack, late, "The bot runs it now", timeout=40 + 10 + LATE)  # no scheduler: the bot's safety net
    said(slack, late, "Expired", timeout=60)
    assert "has not run" in chatops.output()
    assert meraki.admins(ACME) == []
    assert sum("Revoked early" in t for t in thread(slack, early)) == 1
    assert sum("Expired" in t for t in thread(slack, late)) == 1
    params = {"job_model": stack.job_ids[REVOKE], "limit": 0}
    runs = stack.admin.get("/api/extras/job-results/", params=params).raise_for_status().json()["results"]
    revoked = sorted(((run.get("task_kwargs") or {}).get("grant") or {}).get("email") or "" for run in runs)
    # One revoke each (john's extended grant too), both run by the bot; the schedules they replaced are gone.
    assert [email for email in revoked if email in ("john.early@example.com", "mary.late@example.com")] == [
        "john.early@example.com",
        "mary.late@example.com",
    ]
    assert scheduled_revokes(stack) == []
