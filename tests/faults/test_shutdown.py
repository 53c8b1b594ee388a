"""Stopping when told (SIGTERM, as ``docker stop`` or a Kubernetes rollout sends it) from any state: connecting
to Slack, resuming with Nautobot unreachable, sending a run, following several. Exit code 0 within the
harness's 15 s (past that it would have to SIGKILL); whatever was under way completes once after a restart."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from testbed.nautobot_stack import free_port
from testbed.slack_flow import CHANNEL, entered, open_form, start_connected, submit
from tests.support.restarts import ADMIN_POSTS, assert_once, assert_reported_once, record_only

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]


def test_slack_unreachable_at_start_logs_one_line_per_attempt_and_stops_on_sigterm(stack, chatops, slack):
    web_port = free_port()
    chatops.start(SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/", LOG_LEVEL="INFO", WEB_PORT=str(web_port))
    attempts = slack.wait_for(lambda: chatops.output().count("cannot connect to Slack (attempt") >= 2 or None, 90)
    health = httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=5)
    ready = httpx.get(f"http://127.0.0.1:{web_port}/readyz", timeout=5)

    assert chatops.stop(signal.SIGTERM) == 0
    output = chatops.output()
    assert attempts and health.status_code == 200
    assert ready.status_code == 503 and ready.json()["checks"]["slack"] is False
    assert "Traceback" not in output  # the cause in one line; the traceback only at DEBUG
    loud = [line for line in output.splitlines() if " WARNING " in line or " ERROR " in line]
    assert loud and all("cannot connect to Slack (attempt" in line for line in loud), loud
    assert "SIGTERM received" in output


def test_sigterm_while_resuming_with_nautobot_unreachable_then_it_completes_once(
    stack, slack, chatops, meraki, nautobot, tmp_path
):
    start_connected(chatops, slack)
    chatops.stop(signal.SIGTERM)
    before = len(slack.messages(CHANNEL))
    asyncio.run(record_only(tmp_path / "meraki-chatops.sqlite3", "resume.stop@example.com"))
    with nautobot.web_frozen():  # every call to Nautobot hangs while the bot takes the request up
        chatops.start()
        slack.wait_for(lambda: "resuming request=" in chatops.output(), timeout=30)
        assert chatops.stop(signal.SIGTERM) == 0
    nautobot.wait_for_web()

    start_connected(chatops, slack)
    assert_once(stack, slack, meraki, before, "resume.stop@example.com")


def test_sigterm_while_nautobot_takes_the_run_then_it_runs_once(stack, slack, chatops, meraki, nautobot):
    start_connected(chatops, slack)
    view = open_form(slack)
    with nautobot.web_frozen():  # the POST is sent; Nautobot has not answered when the bot is told to stop
        _, before = submit(slack, view, entered(view, "sending.stop@example.com"))
        assert chatops.stop(signal.SIGTERM) == 0
    nautobot.wait_for_web()

    start_connected(chatops, slack)
    assert_once(stack, slack, meraki, before, "sending.stop@example.com")


def test_sigterm_while_following_hands_every_run_to_the_next_start(stack, slack, chatops, meraki):
    emails = [f"follow.stop.{n}@example.com" for n in range(3)]
    meraki.delay(8, times=len(emails), match=f"POST {ADMIN_POSTS}")  # every Job still runs at the SIGTERM
    start_connected(chatops, slack)
    before = len(slack.messages(CHANNEL))
    for email in emails:
        view = open_form(slack)
        submit(slack, view, entered(view, email))
    slack.wait_for(lambda: len(slack.messages(CHANNEL)) >= before + len(emails), timeout=60)  # all announced

    assert chatops.stop(signal.SIGTERM) == 0
    assert "handed back" in chatops.output()

    start_connected(chatops, slack)
    for email in emails:
        assert_reported_once(stack, slack, meraki, email)
