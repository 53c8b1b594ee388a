"""HTTP mode: only requests Slack signed within the last 5 minutes reach the listeners (and so the policy).

The bot's real app (``bot.app.build``) answers signed requests in this process; the Slack stand-in
serves the Web API it calls. ``tests/e2e/test_http_mode.py`` checks the same through the bot process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.app import Bot, build
from bot.ledger import Ledger
from bot.metrics import Metrics
from bot.settings import Settings, load_settings
from testbed.slack_standin import TEAM_ID, SlackStandIn
from tests.support.audit_trail import audit_trail

pytestmark = pytest.mark.security

SECRET = "signing-secret-for-tests"
USER, CHANNEL = "U0ALICE", "C0NETOPS"


@pytest.fixture
def slack() -> AsyncIterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_user(USER, name="alice")
        standin.add_channel(CHANNEL, members={USER})
        yield standin


@pytest.fixture
async def bot(slack: SlackStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Bot]:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        Settings,
        slack_mode="http",
        slack_bot_token=slack.bot_token,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        nautobot_url="http://127.0.0.1:9",
        nautobot_token="t" * 40,
    )
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    bolt_logger = logging.getLogger("slack_bolt.AsyncApp")
    level = bolt_logger.level
    built = build(settings, ledger, Metrics())
    bolt_logger.setLevel(level)  # Bolt sets its logger's level on start; other tests read that logger
    yield built
    await built.drain_audits()
    await built.aclose()
    await ledger.close()


def signed(body: str, *, secret: str = SECRET, age: int = 0) -> AsyncBoltRequest:
    timestamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-request-timestamp": [timestamp],
        "x-slack-signature": [signature],
    }
    return AsyncBoltRequest(body=body, headers=headers)


def command(slack: SlackStandIn) -> str:
    return urlencode(
        {
            "command": "/meraki-add-user",
            "text": "",
            "user_id": USER,
            "user_name": "alice",
            "channel_id": CHANNEL,
            "team_id": TEAM_ID,
            "trigger_id": slack.new_trigger(USER),
            "response_url": "http://127.0.0.1:9/unused",
        }
    )


@pytest.mark.parametrize(
    ("secret", "age"),
    [("another-secret", 0), (SECRET, 5 * 60 + 30), (SECRET, -(5 * 60 + 30))],
    ids=["bad signature", "older than 5 minutes", "from the future"],
)
async def test_unsigned_or_stale_requests_are_refused_before_any_listener(bot: Bot, slack, secret, age):
    answer = await bot.app.async_dispatch(signed(command(slack), secret=secret, age=age))
    assert answer.status == 401
    assert slack.calls_to("views.open") == []
    assert await audit_trail(bot.listeners.ledger) == []  # nothing reached the listeners


async def test_a_signed_request_reaches_the_policy_which_refuses_by_default(bot: Bot, slack):
    answer = await bot.app.async_dispatch(signed(command(slack)))
    assert answer.status == 200

    for _ in range(200):  # the listener goes on after the ack, on this event loop
        entries = await audit_trail(bot.listeners.ledger)
        if entries:
            break
        await asyncio.sleep(0.05)
    view = slack.current_view(USER)
    assert "Not allowed" in str(view["title"]) and "ACCESS_POLICY" in str(view["blocks"])
    [entry] = await audit_trail(bot.listeners.ledger)
    assert (entry.action, entry.outcome, entry.user_id) == ("command", "denied", USER)
