"""`meraki-chatops serve --http`: Slack's signed requests on /slack/events, against the real Nautobot."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, FORM, USER, bot_env, entered, parent_message, thread_text
from testbed.slack_standin import APP_ID, TEAM_ID, SlackStandIn, build_state_values

pytestmark = [pytest.mark.e2e, pytest.mark.nautobot]

SECRET = "http-mode-signing-secret"


@pytest.fixture(scope="module")
def http_bot(slack: SlackStandIn, nautobot: NautobotStack, tmp_path_factory) -> Iterator[str]:
    env = {**bot_env(slack, nautobot), "SLACK_SIGNING_SECRET": SECRET}
    del env["SLACK_APP_TOKEN"]  # HTTP mode needs no app-level token
    process = BotProcess(tmp_path_factory.mktemp("http-bot"), env, args=("serve", "--http")).start()
    base = f"http://127.0.0.1:{env['WEB_PORT']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    else:
        pytest.fail(f"the bot's web server did not come up:\n{process.output()[-4000:]}")
    yield base
    process.stop()


def post(base: str, body: str, *, secret: str = SECRET, age: int = 0) -> httpx.Response:
    timestamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }
    return httpx.post(f"{base}/slack/events", content=body, headers=headers, timeout=30)


def open_form(slack: SlackStandIn, base: str, text: str = "") -> dict:
    """Type the command; the new modal (not one still open from before) once the bot opened it."""
    shown = (slack.current_view(USER) or {}).get("id")
    assert post(base, command(slack, text)).status_code == 200

    def opened() -> dict | None:
        view = slack.current_view(USER)
        return view if view and view.get("callback_id") == FORM and view["id"] != shown else None

    return slack.wait_for(opened, timeout=30)


def command(slack: SlackStandIn, text: str = "") -> str:
    return urlencode(
        {
            "command": "/meraki-add-user",
            "text": text,
            "user_id": USER,
            "user_name": "alice",
            "channel_id": CHANNEL,
            "channel_name": "netops",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "trigger_id": slack.new_trigger(USER),
            "response_url": "http://127.0.0.1:9/unused",
        }
    )


def submission(slack: SlackStandIn, view: dict, values: dict) -> str:
    view = {**view, "state": {"values": build_state_values(view, values)}}
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID},
        "user": {"id": USER, "name": "alice", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "trigger_id": slack.new_trigger(USER),
        "view": view,
    }
    return urlencode({"payload": json.dumps(payload)})


def test_a_signed_command_and_submission_run_the_job(slack, http_bot, stack, meraki):
    view = open_form(slack, http_bot, "http.mode@example.com")
    before = len(slack.messages(CHANNEL))

    answer = post(http_bot, submission(slack, view, entered(view, "http.mode@example.com")))
    assert answer.status_code == 200 and answer.text in ("", "{}"), answer.text

    parent = parent_message(slack, before)
    assert "succeeded" in parent["text"].lower()
    assert [a["email"] for a in meraki.admins(ACME)] == ["http.mode@example.com"]
    assert "Created administrator" in thread_text(slack, CHANNEL, parent["ts"])


def test_field_errors_come_back_in_the_http_answer(slack, http_bot, stack, meraki):
    view = open_form(slack, http_bot)
    answer = post(http_bot, submission(slack, view, entered(view, "someone@elsewhere.test")))
    assert answer.status_code == 200
    assert answer.json()["response_action"] == "errors"
    assert list(answer.json()["errors"]) == ["user_email"]
    assert meraki.admins(ACME) == []


@pytest.mark.parametrize(("secret", "age"), [("wrong-secret", 0), (SECRET, 6 * 60)], ids=["bad signature", "too old"])
def test_unsigned_or_stale_requests_are_refused(slack, http_bot, stack, secret, age):
    calls = len(slack.calls_to("views.open"))
    assert post(http_bot, command(slack), secret=secret, age=age).status_code == 401
    assert len(slack.calls_to("views.open")) == calls
