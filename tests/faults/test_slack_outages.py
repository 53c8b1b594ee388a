"""Slack answering with 5xx bursts and 429s on any method: retried or waited out, nothing posted twice."""

from __future__ import annotations

import pytest

from testbed.slack_flow import entered, open_form, start_connected, submit
from tests.support.restarts import assert_once

pytestmark = [pytest.mark.faults, pytest.mark.nautobot]


def failures(slack, method: str, status: int) -> int:
    return sum(1 for call in slack.calls_to(method) if call.status == status)


def test_a_burst_of_slack_server_errors_is_retried_and_nothing_is_posted_twice(stack, slack, chatops, meraki):
    start_connected(chatops, slack)
    slack.fail_next("views.open", status=503, times=1)
    view = open_form(slack)
    slack.fail_next("chat.postMessage", status=503, times=2)  # the parent message
    slack.fail_next("chat.update", status=500, times=2)
    _, before = submit(slack, view, entered(view, "slack.5xx@example.com"))

    assert_once(stack, slack, meraki, before, "slack.5xx@example.com")
    assert failures(slack, "views.open", 503) == 1
    assert failures(slack, "chat.postMessage", 503) == 2
    assert failures(slack, "chat.update", 500) == 2


def test_slack_429s_on_every_method_are_waited_out(stack, slack, chatops, meraki):
    start_connected(chatops, slack)
    view = open_form(slack)
    for method in ("chat.postMessage", "chat.update"):
        slack.fail_next(method, status=429, retry_after=2, times=1)
    _, before = submit(slack, view, entered(view, "slack.429@example.com"))

    assert_once(stack, slack, meraki, before, "slack.429@example.com")
    for method in ("chat.postMessage", "chat.update"):
        assert failures(slack, method, 429) == 1
        waited = [call.at for call in slack.calls_to(method)]
        assert waited[1] - waited[0] >= 2  # the retry came after Retry-After, not before
