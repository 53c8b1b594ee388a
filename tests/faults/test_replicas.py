"""Several bot processes on one PostgreSQL ledger, against the real Nautobot: each request runs once and is
reported once, through duplicate deliveries, a replica killed while following, a rolling deploy, a channel
archived mid-follow and Nautobot down at start."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from testbed.nautobot_stack import NautobotStack
from testbed.slack_flow import (
    CHANNEL,
    USER,
    entered,
    open_form,
    start_connected,
    submit,
)
from testbed.slack_standin import SlackStandIn
from tests.faults.conftest import HEARTBEAT, LEASE
from tests.support.approvals import approval_required, decide
from tests.support.postgres import query
from tests.support.restarts import ADMIN_POSTS, assert_reported_once, kill

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]


def parents_of(slack: SlackStandIn, emails: tuple[str, ...]) -> list[dict]:
    return [m for m in slack.messages(CHANNEL) if any(email in str(m.get("blocks")) for email in emails)]


def owners(ledger_db: str) -> dict[str, str | None]:
    """Each request's owner, by the email it asks for."""
    rows = query(ledger_db, "SELECT inputs, owner FROM requests")
    return {inputs["user_email"]: owner for inputs, owner in rows}


def test_a_submission_delivered_to_two_replicas_runs_once(stack, slack, replica, meraki):
    for replica_id in ("replica-a", "replica-b"):
        start_connected(replica(replica_id), slack)
    slack.wait_connected(count=2)
    for email in ("both.one@example.com", "both.two@example.com"):
        view = open_form(slack)
        acks = slack.submit_view_twice(view["id"], entered(view, email), user_id=USER)
        assert len({envelope.connection for envelope in slack.envelopes[-2:]}) == 2  # one delivery each
        assert all(ack.get("response_action") != "errors" for ack in acks)
        assert_reported_once(stack, slack, meraki, email)
    assert len(meraki.requests_to("POST", ADMIN_POSTS)) == 2


def test_a_killed_replicas_follow_waits_for_its_lease_then_another_finishes_it(
    stack, slack, replica, meraki, ledger_db
):
    meraki.delay(12, times=1, match=f"POST {ADMIN_POSTS}")  # the Job is still running when its follower dies
    processes = {name: start_connected(replica(name), slack) for name in ("replica-a", "replica-b")}
    view = open_form(slack)
    submit(slack, view, entered(view, "lease.kill@example.com"))
    slack.wait_for(lambda: slack.calls_to("chat.update"), timeout=30)  # announced, and being followed
    owner = slack.wait_for(lambda: owners(ledger_db).get("lease.kill@example.com"), timeout=10)
    kill(processes[owner])
    [(lease_until,)] = query(ledger_db, "SELECT lease_until FROM requests")  # the dead replica's last renewal

    slack.wait_for(lambda: owners(ledger_db).get("lease.kill@example.com") != owner, timeout=LEASE * 5)
    [survivor] = [process for name, process in processes.items() if name != owner]
    taken_at = slack.wait_for(lambda: _logged_at(survivor.output(), "resuming request="), timeout=10)
    assert taken_at >= lease_until  # nobody touched it while the dead replica's lease held
    assert_reported_once(stack, slack, meraki, "lease.kill@example.com")


def test_a_rolling_deploy_runs_and_reports_each_request_once(stack, slack, replica, meraki, nautobot):
    meraki.delay(10, times=2, match=f"POST {ADMIN_POSTS}")  # both Jobs still run when the old replicas stop
    old = [start_connected(replica(name), slack) for name in ("replica-a", "replica-b")]
    form = f"/{stack.job_ids['Create Meraki User']}/variables/"  # not another command's Job's form
    for process in old:  # each has the Job's form, so commands open it at once while Nautobot is held
        slack.wait_for(lambda process=process: form in process.output(), timeout=30)
    emails = ("rolling.one@example.com", "rolling.two@example.com")
    with nautobot.web_frozen():  # Nautobot holds both runs' POSTs while the deploy begins
        for email in emails:
            view = open_form(slack)
            ack, _ = submit(slack, view, entered(view, email))
            assert "Sending the request" in str(ack["view"]["blocks"])
        new = start_connected(replica("replica-c"), slack)
        time.sleep(HEARTBEAT * 2)  # the new replica has looked, and found everything held
    nautobot.wait_for_web()
    slack.wait_for(lambda: len(parents_of(slack, emails)) == 2, timeout=60)  # both announced, and followed
    for process in old:
        assert process.stop(signal.SIGTERM) == 0
    for email in emails:
        assert_reported_once(stack, slack, meraki, email)
    assert "resuming request=" in new.output()  # the new replica finished what the old ones left


def test_a_channel_archived_mid_follow_sends_the_rest_to_the_requester(stack, slack, chatops, meraki):
    meraki.delay(8, times=1, match=f"POST {ADMIN_POSTS}")
    start_connected(chatops, slack)
    view = open_form(slack)
    submit(slack, view, entered(view, "archived@example.com"))
    slack.wait_for(lambda: slack.calls_to("chat.update"), timeout=30)
    slack.archive_channel(CHANNEL)

    dm = slack.wait_for(lambda: slack.dm_with(USER), timeout=60)
    assert_reported_once(stack, slack, meraki, "archived@example.com", channel=dm)
    assert "archived" in str(slack.messages(dm)[0]["blocks"])
    ledger = sqlite3.connect(chatops.workdir / "meraki-chatops.sqlite3")
    try:
        [(state, channel)] = ledger.execute("SELECT state, message_channel FROM requests").fetchall()
    finally:
        ledger.close()
    assert (state, channel) == ("done", dm)  # ended, and the ledger knows where its messages went


def test_requests_left_while_nautobot_is_down_at_start_are_resumed_once_it_is_back(
    stack, slack, replica, meraki, nautobot
):
    first = start_connected(replica("replica-a"), slack)
    view = open_form(slack)
    meraki.delay(6, times=1, match=f"POST {ADMIN_POSTS}")
    submit(slack, view, entered(view, "down.at.start@example.com"))
    slack.wait_for(lambda: slack.calls_to("chat.update"), timeout=30)
    kill(first)
    with nautobot.web_down():
        again = start_connected(replica("replica-a-again"), slack)
        time.sleep(LEASE + 2 * HEARTBEAT)  # it takes the request up, cannot reach Nautobot, and tries again later
    assert_reported_once(stack, slack, meraki, "down.at.start@example.com")
    assert again.alive()


@pytest.fixture
def approvals(stack: NautobotStack) -> Iterator[NautobotStack]:
    with approval_required(stack):
        yield stack


def test_killed_while_nautobot_took_a_run_that_needs_approval_adopts_it(approvals, slack, chatops, meraki, nautobot):
    start_connected(chatops, slack)
    view = open_form(slack)
    with nautobot.web_frozen():  # the run is sent; Nautobot has not answered when the bot dies
        submit(slack, view, entered(view, "approval.kill@example.com"))
        kill(chatops)
    nautobot.wait_for_web()

    start_connected(chatops, slack)  # it finds the scheduled job by the request id, and sends nothing again
    waiting = slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL) if "Waiting for approval" in m.get("text", "")), None),
        timeout=60,
    )
    scheduled = _query_scheduled(approvals, "approval.kill@example.com")
    assert len(scheduled) == 1 and scheduled[0] in str(waiting["blocks"])
    decide(approvals, scheduled[0], "approve")
    assert_reported_once(approvals, slack, meraki, "approval.kill@example.com")


def _logged_at(output: str, text: str) -> datetime | None:
    """When the bot first logged a line holding ``text`` (its text log starts each line with the UTC time)."""
    line = next((line for line in output.splitlines() if text in line), None)
    if line is None:
        return None
    return datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _query_scheduled(nautobot: NautobotStack, email: str) -> list[str]:
    params = {"job_model": nautobot.job_id, "limit": 1000}
    found = nautobot.admin.get("/api/extras/scheduled-jobs/", params=params).raise_for_status().json()["results"]
    return [job["id"] for job in found if (job.get("kwargs") or {}).get("user_email") == email]


def test_each_replica_draws_the_homes_its_changes_concern_and_any_draws_a_visit(stack, slack, replica, meraki):
    for replica_id in ("replica-a", "replica-b"):
        start_connected(replica(replica_id), slack)
    slack.wait_connected(count=2)
    emails = ("home.one@example.com", "home.two@example.com")
    for email in emails:
        view = open_form(slack)
        submit(slack, view, entered(view, email))
        shown = lambda email=email: email in str((slack.home(USER) or {}).get("blocks"))  # noqa: E731
        slack.wait_for(shown, timeout=90)  # whichever replica ran it redrew her Home
    for _ in range(4):  # Slack hands each visit to either replica: every one draws it whole from the ledger
        seen = len(slack.publishes(USER))
        slack.open_home(USER)
        slack.wait_for(lambda seen=seen: len(slack.publishes(USER)) > seen, timeout=30)
        home = str(slack.home(USER)["blocks"])
        assert all(email in home for email in emails) and "Succeeded" in home
