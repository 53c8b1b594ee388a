"""The bot killed (SIGKILL) in the middle of a request and started again: every request reaches its
final state, its Job ran once and its result was posted once."""

from __future__ import annotations

import asyncio
import time

import pytest

from testbed.seed import ACME
from testbed.slack_flow import (
    CHANNEL,
    OTHER_USER,
    entered,
    open_form,
    parent_message,
    start_connected,
    submit,
)
from tests.support.restarts import ADMIN_POSTS, assert_once, job_runs, kill, record_only, replies

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]


def test_killed_while_following(stack, slack, chatops, meraki):
    meraki.delay(8, times=1, match=f"POST {ADMIN_POSTS}")  # the Job is still running when the bot dies
    start_connected(chatops, slack)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "follow.kill@example.com"))
    slack.wait_for(lambda: slack.calls_to("chat.update"), timeout=30)  # announced, and following
    kill(chatops)

    start_connected(chatops, slack)
    assert_once(stack, slack, meraki, before, "follow.kill@example.com")


def test_killed_after_the_run_before_the_parent_message(stack, slack, chatops, meraki):
    start_connected(chatops, slack)
    view = open_form(slack)
    slack.fail_next("chat.postMessage", status=429, retry_after=30)  # the bot waits: the run is in Nautobot
    _, before = submit(slack, view, entered(view, "announce.kill@example.com"))
    slack.wait_for(lambda: any(c.status == 429 for c in slack.calls_to("chat.postMessage")), timeout=30)
    kill(chatops)
    assert len(slack.messages(CHANNEL)) == before  # nothing was announced yet

    start_connected(chatops, slack)
    assert_once(stack, slack, meraki, before, "announce.kill@example.com")


def test_killed_while_nautobot_was_taking_the_run(stack, slack, chatops, meraki, nautobot):
    start_connected(chatops, slack)
    view = open_form(slack)
    with nautobot.web_frozen():  # the run is sent, but Nautobot has not answered when the bot dies
        ack, before = submit(slack, view, entered(view, "sending.kill@example.com"))
        assert "Sending the request" in str(ack["view"]["blocks"])
        kill(chatops)
    nautobot.wait_for_web()

    start_connected(
        chatops, slack
    )  # it finds the run Nautobot took among the Job's results instead of sending it again
    assert_once(stack, slack, meraki, before, "sending.kill@example.com")


def test_killed_after_recording_before_sending(stack, slack, chatops, meraki, tmp_path):
    start_connected(chatops, slack)
    kill(chatops)
    before = len(slack.messages(CHANNEL))
    # The ledger as a bot leaves it when it dies between recording a submission and sending it.
    asyncio.run(record_only(tmp_path / "meraki-chatops.sqlite3", "recorded.kill@example.com"))

    start_connected(chatops, slack)
    assert_once(stack, slack, meraki, before, "recorded.kill@example.com")


def test_killed_after_the_log_was_posted_before_it_was_recorded(stack, slack, chatops, meraki):
    """The one window README names: Slack has the log, the ledger does not know yet; the log comes twice."""
    start_connected(chatops, slack)
    slack.hold_reply("chat.postMessage", 15, when=lambda args: "thread_ts" in args)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "logged.kill@example.com"))
    parent = slack.wait_for(lambda: next(iter(slack.messages(CHANNEL)[before:]), None), timeout=30)
    first_log = slack.wait_for(lambda: replies(slack, parent["ts"]), timeout=60)[0]
    kill(chatops)  # while Slack's answer to the log reply is held back

    start_connected(chatops, slack)
    parent = parent_message(slack, before)
    assert "succeeded" in parent["text"].lower()
    assert len(job_runs(stack, "logged.kill@example.com")) == 1
    assert len(meraki.requests_to("POST", ADMIN_POSTS)) == 1
    logs = [r for r in replies(slack, parent["ts"]) if "Created administrator" in str(r.get("blocks"))]
    assert [log["ts"] for log in logs][:1] == [first_log["ts"]]
    assert len(logs) == 2


def test_nautobot_down_while_following_is_waited_out(stack, slack, chatops, meraki, nautobot):
    meraki.delay(6, times=1, match=f"POST {ADMIN_POSTS}")
    start_connected(chatops, slack)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "outage@example.com"))
    slack.wait_for(lambda: slack.calls_to("chat.update"), timeout=30)
    with nautobot.web_down():
        time.sleep(8)  # the run ends in the worker while the web server (and its API) is down
    assert_once(stack, slack, meraki, before, "outage@example.com")
    assert "failed" not in str(slack.messages(CHANNEL)[before:]).lower()


def test_no_celery_worker_at_submit_says_so_and_runs_nothing(stack, slack, chatops, meraki, nautobot):
    start_connected(chatops, slack)
    view = open_form(slack)
    nautobot.worker.stop()
    try:
        ack, _ = submit(slack, view, entered(view, "no.worker@example.com"))
    finally:
        nautobot.start_worker()
    assert ack["response_action"] == "update"
    text = str(slack.current_view("U123")["blocks"])
    assert "worker" in text.lower() and "Nothing was submitted" in text
    assert meraki.admins(ACME) == []


def test_a_socket_mode_disconnect_reconnects_and_loses_no_command(stack, slack, chatops):
    start_connected(chatops, slack)
    known = set(slack.connections)
    slack.disconnect(reason="refresh_requested")
    slack.wait_for(lambda: set(slack.connections) - known, timeout=60)
    view = open_form(slack)
    assert view["callback_id"] == "meraki_add_user"
    assert slack.unacked == []


def test_nautobot_down_at_submit_keeps_the_request_and_retry_runs_it(stack, slack, chatops, meraki, nautobot):
    start_connected(chatops, slack)
    view = open_form(slack)
    with nautobot.web_down():
        _, before = submit(slack, view, entered(view, "retry@example.com"))
    shown = slack.current_view("U123")
    assert "Nothing was submitted" in str(shown["blocks"]) and "Retry" in str(shown["blocks"])

    slack.click_view_button(shown["id"], "retry_request")
    assert_once(stack, slack, meraki, before, "retry@example.com")
    assert "Submitted" in str(slack.current_view("U123")["blocks"])


def test_the_requester_cancels_a_running_job(stack, slack, chatops, meraki):
    if not stack.release.cancels:
        pytest.skip(f"Nautobot {stack.release.name} has no API to cancel a run (the next test covers it there)")
    meraki.delay(20, times=1, match=r"GET /organizations/\d+$")  # the Job waits on its first Meraki call
    start_connected(chatops, slack)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "cancel.me@example.com"))
    parent = slack.wait_for(
        lambda: next((m for m in slack.messages(CHANNEL)[before:] if "cancel_run" in str(m.get("blocks"))), None),
        timeout=30,
    )

    slack.click_button(CHANNEL, parent["ts"], "cancel_run", user_id=OTHER_USER)
    refused = slack.wait_for(lambda: [e for e in slack.ephemerals if e["recipient"] == OTHER_USER], timeout=30)
    assert "Only <@U123>" in str(refused[-1])

    slack.click_button(CHANNEL, parent["ts"], "cancel_run", user_id="U123")
    final = parent_message(slack, before)
    assert "cancelled" in final["text"].lower()
    assert "cancel_run" not in str(final["blocks"])  # no button once the run is over
    assert meraki.admins(ACME) == []


def test_where_nautobot_cannot_cancel_no_cancel_button_is_offered(stack, slack, chatops, meraki):
    if stack.release.cancels:
        pytest.skip(f"Nautobot {stack.release.name} cancels runs (the test before covers it there)")
    meraki.delay(5, times=1, match=r"GET /organizations/\d+$")  # the Job waits on its first Meraki call
    start_connected(chatops, slack)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "no.cancel@example.com"))

    def running():
        return next((m for m in slack.messages(CHANNEL)[before:] if "Running in Nautobot" in m.get("text", "")), None)

    assert "cancel_run" not in str(slack.wait_for(running, timeout=30)["blocks"])
    final = parent_message(slack, before)
    assert "succeeded" in final["text"].lower()
    assert [admin["email"] for admin in meraki.admins(ACME)] == ["no.cancel@example.com"]
