"""From `/meraki-add-user` in Slack to the Job's log in the thread: the bot process, the Slack stand-in,
the real Nautobot and its real worker, the Meraki stand-in."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import EMAIL_REGEX, NautobotStack
from testbed.seed import ACME, BRANCH, FIELD_ORDER
from testbed.slack_flow import (
    CHANNEL,
    OTHER_USER,
    USER,
    bot_env,
    entered,
    open_form,
    parent_message,
    start_connected,
    submit,
    thread_text,
)
from testbed.slack_standin import SlackStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.nautobot]


@pytest.fixture(scope="module")
def chatops(slack: SlackStandIn, nautobot: NautobotStack, tmp_path_factory) -> Iterator[BotProcess]:
    process = start_connected(BotProcess(tmp_path_factory.mktemp("bot"), bot_env(slack, nautobot)), slack)
    yield process
    process.stop()


@pytest.fixture
def flow(stack, slack, chatops):
    """Each test starts with no calls recorded and the bot running."""
    assert chatops.alive(), chatops.output()[-4000:]
    yield slack


def test_the_modal_mirrors_the_job_and_prefills_from_the_command(flow):
    view = open_form(flow, "bob@example.com read-only")
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == FIELD_ORDER
    by_id = {b["block_id"]: b for b in inputs}
    assert by_id["user_email"]["element"]["type"] == "email_text_input"
    assert by_id["user_email"]["element"]["initial_value"] == "bob@example.com"
    assert by_id["meraki_access_level"]["element"]["initial_option"]["value"] == "read-only"
    assert [o["value"] for o in by_id["meraki_org_id"]["element"]["options"]] == [ACME, "222222"]
    assert by_id["dryrun"]["element"]["type"] == "checkboxes"
    assert by_id["meraki_network"].get("optional") is True
    assert flow.unacked == []


def test_submission_runs_the_job_and_posts_the_log_in_the_thread(flow, meraki):
    view = open_form(flow)
    ack, before = submit(flow, view, entered(view, "jane.doe@example.com", network="Branch Office"))
    assert ack.get("response_action") in (None, "clear", "update")

    parent = parent_message(flow, before)
    assert "succeeded" in parent["text"].lower()
    [admin] = meraki.admins(ACME)
    assert admin["email"] == "jane.doe@example.com"
    assert admin["networks"] == [{"id": BRANCH, "access": "read-only"}]

    thread = thread_text(flow, CHANNEL, parent["ts"])
    assert "Created administrator" in thread and admin["id"] in thread
    assert "Organization Acme Corp (111111) is reachable" in thread
    blocks = str(parent["blocks"])
    assert f"<@{USER}>" in blocks and "/extras/job-results/" in blocks
    # The final status counts the log the thread holds (Nautobot 2.4's JobResult has no counts of its own).
    counts = re.search(r"Log: (?:\d+ debug · )?(\d+) info · (\d+) success", blocks)
    assert counts is not None, blocks
    assert int(counts[1]) >= 2 and int(counts[2]) >= 1


def test_a_dry_run_creates_nothing(flow, meraki):
    view = open_form(flow)
    _, before = submit(flow, view, entered(view, "dry.run@example.com", dryrun=True))
    parent = parent_message(flow, before)
    assert "succeeded" in parent["text"].lower() and "dry run" in parent["text"]
    assert meraki.admins(ACME) == []
    assert "Dry run: would create" in thread_text(flow, CHANNEL, parent["ts"])


def test_an_email_against_the_regex_comes_back_on_the_email_field(flow, meraki):
    view = open_form(flow)
    ack, _ = submit(flow, view, entered(view, "someone@elsewhere.test"))
    errors = ack["errors"]
    assert list(errors) == ["user_email"]
    assert "Must match regex" in errors["user_email"] or EMAIL_REGEX in errors["user_email"]
    assert flow.current_view(USER)["id"] == view["id"]  # the form stays open with what was typed
    assert meraki.requests_to("POST", ".*") == []


def test_a_failing_job_shows_its_failure_lines(flow, meraki):
    view = open_form(flow)
    _, before = submit(flow, view, entered(view, "jane.doe@example.com", network="Brnach Ofice"))
    parent = parent_message(flow, before)
    assert "failed" in parent["text"].lower()
    thread = thread_text(flow, CHANNEL, parent["ts"])
    assert "No network 'Brnach Ofice'" in thread and "Closest names: Branch Office" in thread


def test_user_text_never_pings_anyone(flow):
    view = open_form(flow)
    _, before = submit(flow, view, entered(view, "jane.doe@example.com", name="<!channel> <@U999> hi"))
    parent = parent_message(flow, before)
    everything = str(parent["blocks"]) + parent["text"] + thread_text(flow, CHANNEL, parent["ts"])
    assert "<!channel>" not in everything and "<@U999>" not in everything
    assert "&lt;!channel&gt;" in everything


def test_nautobot_down_at_submit_gives_a_clear_message(flow, nautobot, meraki):
    view = open_form(flow)
    with nautobot.web_down():
        ack, _ = submit(flow, view, entered(view, "jane.doe@example.com"))
    assert ack["response_action"] == "update"
    shown = flow.current_view(USER)
    text = str(shown["blocks"])
    assert "Nothing was submitted" in text and "Nautobot" in text
    assert meraki.admins(ACME) == []


def test_no_channel_membership_falls_back_to_a_direct_message(flow):
    view = open_form(flow, channel="C999")
    flow.submit_view(view["id"], entered(view, "dm.only@example.com"), user_id=USER)
    opened = flow.wait_for(lambda: flow.calls_to("conversations.open")[-1], timeout=60)
    channel = opened.response["channel"]["id"]
    parent = parent_message(flow, 0, channel=channel)
    assert "succeeded" in parent["text"].lower()
    assert any("/invite" in str(m.get("blocks")) for m in flow.messages(channel))


def test_health_readiness_and_metrics(flow, chatops, nautobot):
    base = f"http://127.0.0.1:{chatops.env['WEB_PORT']}"
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"slack": True, "nautobot": True, "ledger": True}
    metrics = httpx.get(f"{base}/metrics").text
    assert 'meraki_chatops_requests_total{outcome="submitted"}' in metrics
    assert "meraki_chatops_socket_mode_connected 1.0" in metrics

    with nautobot.web_down():
        broken = httpx.get(f"{base}/readyz", timeout=10)
        alive = httpx.get(f"{base}/healthz")
    assert broken.status_code == 503
    assert broken.json()["checks"] == {"slack": True, "nautobot": False, "ledger": True}
    assert alive.status_code == 200  # liveness does not depend on Nautobot


def test_one_correlation_id_follows_a_request_through_the_log(flow, chatops):
    view = open_form(flow)
    _, before = submit(flow, view, entered(view, "correlated@example.com"))
    parent_message(flow, before)
    output = chatops.output().splitlines()
    announced = [line for line in output if " announced request=" in line][-1]
    request_id = announced.split("request=")[1].split()[0]
    result_id = announced.split("result=")[1].split()[0]
    # Every line about the run, from the listener to the follow task's Nautobot polls, carries the id.
    about_it = [line for line in output if result_id in line or f"request={request_id}" in line]
    assert len(about_it) >= 4, about_it
    assert all(line.endswith(f"[cid={request_id}]") for line in about_it), about_it


def _home_text(slack: SlackStandIn) -> str:
    return str((slack.home(USER) or {}).get("blocks"))


def test_the_home_shows_the_persons_requests_and_follows_them(flow):
    seen = len(flow.publishes(USER))
    flow.open_home(USER)
    flow.wait_for(lambda: len(flow.publishes(USER)) > seen, timeout=30)
    assert "My requests" in _home_text(flow) and "/meraki-add-user" in _home_text(flow)  # what she may use

    view = open_form(flow)
    sent_at = len(flow.publishes(USER))
    _, before = submit(flow, view, entered(view, "home.follows@example.com"))
    parent_message(flow, before)
    flow.wait_for(lambda: "home.follows@example.com" in _home_text(flow) and "Succeeded" in _home_text(flow), 30)
    time.sleep(3)  # the last change's publish, if one is still due, goes out
    during = len(flow.publishes(USER)) - sent_at
    # Announced, running, ended (and any grant): a burst of changes; never one publish per passing status.
    assert 1 <= during <= 4, [p["published_at"] for p in flow.publishes(USER)[sent_at:]]

    settled = len(flow.publishes(USER))
    flow.open_home(USER)  # a visit redraws it from the ledger, once
    flow.wait_for(lambda: len(flow.publishes(USER)) > settled, timeout=30)
    time.sleep(3)
    assert len(flow.publishes(USER)) == settled + 1
    assert "home.follows@example.com" in _home_text(flow)
    assert flow.publishes(OTHER_USER) == []  # nothing of it concerns Bob
