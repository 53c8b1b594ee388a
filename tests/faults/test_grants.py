"""Time-bound grants after they were made, against the real Nautobot: the requester is warned in the grant's
thread, the revoke Nautobot's scheduler runs is reported there once; with the scheduler down the bot's safety
net says so and runs the revoke itself, once; Revoke now ends a grant early for its requester alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, OTHER_USER, USER, entered, open_form, parent_message, start_connected, submit
from testbed.slack_standin import SlackStandIn
from tests.support.restarts import replies
from tests.support.revokes import REVOKE, delete_scheduled_revokes, scheduled_revokes

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]

WARNED = "ends <!date^"
LATE = 45
"""Seconds a revoke may take past its time: beat's next tick, a worker, the bot's next sweep and look."""


@pytest.fixture(scope="module", autouse=True)
def minute_durations(nautobot: NautobotStack):
    """Durations of a minute in the Create Job's form (the web server) and its runs (the worker)."""
    with nautobot.job_env(NAUTOBOT_JOB_MERAKI_DURATIONS="1m,1h"):
        yield


@pytest.fixture(autouse=True)
def no_revokes_left(stack: NautobotStack) -> Iterator[None]:
    yield
    delete_scheduled_revokes(stack)


def grant(slack: SlackStandIn, email: str) -> str:
    """Ask for full access for a minute; the ts of the grant's parent message once the run succeeded."""
    view = open_form(slack)
    values = entered(view, email, access="full")
    [block] = [b for b in view["blocks"] if b.get("block_id") == "duration"]
    minute = next(o for o in block["element"]["options"] if o["value"] == "1m")
    values["duration"] = {"value": {"selected_option": minute}}
    _, before = submit(slack, view, values)
    parent = parent_message(slack, before)
    assert "succeeded" in parent["text"].lower(), parent
    return parent["ts"]


def thread(slack: SlackStandIn, ts: str) -> list[str]:
    return [str(reply.get("blocks")) for reply in replies(slack, ts)]


def said(slack: SlackStandIn, ts: str, words: str, timeout: float) -> str:
    return slack.wait_for(lambda: next((t for t in thread(slack, ts) if words in t), None), timeout=timeout)


def test_warned_then_revoked_by_nautobots_scheduler_and_told_once_in_the_thread(stack, slack, chatops, meraki):
    start_connected(chatops, slack)
    with stack.scheduler():
        ts = grant(slack, "jane.scheduled@example.com")
        assert [a["email"] for a in meraki.admins(ACME)] == ["jane.scheduled@example.com"]

        said(slack, ts, WARNED, timeout=45)  # halfway through a 1-minute grant
        said(slack, ts, "Expired", timeout=60 + LATE)

    replies_now = thread(slack, ts)
    assert sum(WARNED in t for t in replies_now) == 1
    assert sum("Expired" in t for t in replies_now) == 1
    assert any("the administrator the grant created was removed" in t for t in replies_now)
    assert meraki.admins(ACME) == []
    assert "bot runs it now" not in "\n".join(replies_now)  # Nautobot's scheduler revoked it, not the safety net


def test_revoke_now_for_its_requester_and_the_safety_net_when_the_scheduler_is_down(stack, slack, chatops, meraki):
    start_connected(chatops, slack, GRANT_REVOKE_GRACE_SECONDS="10")
    early = grant(slack, "john.early@example.com")
    late = grant(slack, "mary.late@example.com")

    said(slack, early, WARNED, timeout=45)
    [warning] = [r for r in replies(slack, early) if WARNED in str(r.get("blocks"))]
    slack.click_button(CHANNEL, warning["ts"], "grant_revoke_now", user_id=OTHER_USER)  # not theirs
    slack.click_button(CHANNEL, warning["ts"], "grant_revoke_now", user_id=USER)
    said(slack, early, "Revoked early", timeout=45)
    assert "Only the person who asked" in str(slack.ephemerals)

    said(slack, late, "The bot runs it now", timeout=60 + 10 + LATE)  # no scheduler: the bot's safety net
    said(slack, late, "Expired", timeout=60)
    assert "has not run" in chatops.output()
    assert meraki.admins(ACME) == []
    assert sum("Revoked early" in t for t in thread(slack, early)) == 1
    assert sum("Expired" in t for t in thread(slack, late)) == 1
    params = {"job_model": stack.job_ids[REVOKE], "limit": 0}
    runs = stack.admin.get("/api/extras/job-results/", params=params).raise_for_status().json()["results"]
    assert len(runs) == 2  # one revoke each, both run by the bot; the schedules they replaced were deleted
    assert scheduled_revokes(stack) == []
