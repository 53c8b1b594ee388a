"""The bot killed (SIGKILL) in the middle of a request and started again: every request reaches its
final state, its Job ran once and its result was posted once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from support.bot_process import BotProcess
from support.nautobot_stack import NautobotStack
from support.seed import ACME
from support.slack_flow import (
    CHANNEL,
    OTHER_USER,
    bot_env,
    entered,
    open_form,
    parent_message,
    submit,
    thread_text,
    workspace,
)
from support.slack_standin import SlackStandIn

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]

ADMIN_POSTS = r"/organizations/\d+/admins"


@pytest.fixture
def slack(stack) -> Iterator[SlackStandIn]:
    with workspace() as standin:
        yield standin


@pytest.fixture
def chatops(slack: SlackStandIn, nautobot: NautobotStack, tmp_path) -> Iterator[BotProcess]:
    """A bot whose ledger survives its restarts (a SQLite file in its working directory)."""
    process = BotProcess(tmp_path, bot_env(slack, nautobot))
    yield process
    process.stop()


def start(process: BotProcess, slack: SlackStandIn) -> None:
    """Start the bot and wait until this process (not a killed one) holds a Socket Mode connection."""
    known = set(slack.connections)
    process.start()
    slack.wait_for(lambda: set(slack.connections) - known, timeout=60)


def kill(process: BotProcess) -> None:
    process.stop(signal.SIGKILL)


def replies(slack: SlackStandIn, ts: str) -> list[dict]:
    return slack.messages(CHANNEL, thread_ts=ts)


def assert_once(slack: SlackStandIn, meraki, before: int, email: str) -> None:
    """One admin, one parent message with a final status, the log once in its thread."""
    parent = parent_message(slack, before)
    assert "succeeded" in parent["text"].lower()
    parents = [m for m in slack.messages(CHANNEL)[before:] if "Create Meraki User" in m.get("text", "")]
    assert len(parents) == 1, parents
    assert [a["email"] for a in meraki.admins(ACME)] == [email]
    assert len(meraki.requests_to("POST", ADMIN_POSTS)) == 1
    log_replies = [r for r in replies(slack, parent["ts"]) if "Created administrator" in str(r.get("blocks"))]
    assert len(log_replies) == 1
    assert "Created administrator" in thread_text(slack, CHANNEL, parent["ts"])


def test_killed_while_following(stack, slack, chatops, meraki):
    meraki.delay(8, times=1, match=f"POST {ADMIN_POSTS}")  # the Job is still running when the bot dies
    start(chatops, slack)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "follow.kill@example.com"))
    slack.wait_for(lambda: slack.calls_to("chat.update"), timeout=30)  # announced, and following
    kill(chatops)

    start(chatops, slack)
    assert_once(slack, meraki, before, "follow.kill@example.com")


def test_killed_after_the_run_before_the_parent_message(stack, slack, chatops, meraki):
    start(chatops, slack)
    view = open_form(slack)
    slack.fail_next("chat.postMessage", status=429, retry_after=30)  # the bot waits: the run is in Nautobot
    _, before = submit(slack, view, entered(view, "announce.kill@example.com"))
    slack.wait_for(lambda: any(c.status == 429 for c in slack.calls_to("chat.postMessage")), timeout=30)
    kill(chatops)
    assert len(slack.messages(CHANNEL)) == before  # nothing was announced yet

    start(chatops, slack)
    assert_once(slack, meraki, before, "announce.kill@example.com")


def test_nautobot_down_while_following_is_waited_out(stack, slack, chatops, meraki, nautobot):
    meraki.delay(6, times=1, match=f"POST {ADMIN_POSTS}")
    start(chatops, slack)
    view = open_form(slack)
    _, before = submit(slack, view, entered(view, "outage@example.com"))
    slack.wait_for(lambda: slack.calls_to("chat.update"), timeout=30)
    with nautobot.web_down():
        time.sleep(8)  # the run ends in the worker while the web server (and its API) is down
    assert_once(slack, meraki, before, "outage@example.com")
    assert "failed" not in str(slack.messages(CHANNEL)[before:]).lower()


def test_no_celery_worker_at_submit_says_so_and_runs_nothing(stack, slack, chatops, meraki, nautobot):
    start(chatops, slack)
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
    start(chatops, slack)
    known = set(slack.connections)
    slack.disconnect(reason="refresh_requested")
    slack.wait_for(lambda: set(slack.connections) - known, timeout=60)
    view = open_form(slack)
    assert view["callback_id"] == "meraki_add_user"
    assert slack.unacked == []


def test_nautobot_down_at_submit_keeps_the_request_and_retry_runs_it(stack, slack, chatops, meraki, nautobot):
    start(chatops, slack)
    view = open_form(slack)
    with nautobot.web_down():
        _, before = submit(slack, view, entered(view, "retry@example.com"))
    shown = slack.current_view("U123")
    assert "Nothing was submitted" in str(shown["blocks"]) and "Retry" in str(shown["blocks"])

    slack.click_view_button(shown["id"], "retry_request")
    assert_once(slack, meraki, before, "retry@example.com")
    assert "Submitted" in str(slack.current_view("U123")["blocks"])


def test_the_requester_cancels_a_running_job(stack, slack, chatops, meraki):
    meraki.delay(20, times=1, match=r"GET /organizations/\d+$")  # the Job waits on its first Meraki call
    start(chatops, slack)
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
