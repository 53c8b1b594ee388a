"""A person using /meraki-add-user, as the Slack stand-in lets tests act it out."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from testbed.bot_process import BotProcess
from testbed.manifest import bot_scopes, functions, home_tab_enabled
from testbed.nautobot_stack import BOT_TOKEN, EVENTS_URL, NautobotStack, free_port
from testbed.seed import ACME
from testbed.slack_standin import SlackStandIn

USER, CHANNEL = "U123", "C123"
OTHER_USER = "U456"
DM_ONLY_CHANNEL = "C999"
FORM = "meraki_add_user"
POLICY = {"allow": [{"users": [USER, OTHER_USER], "channels": [CHANNEL, DM_ONLY_CHANNEL], "commands": ["*"]}]}
"""The test bot's access policy: the workspace's two people, in its two channels, every command (nobody by
default)."""


@contextlib.contextmanager
def workspace() -> Iterator[SlackStandIn]:
    """A Slack workspace granting the bot exactly what manifest.yml asks for: its scopes, its Home tab (or none)
    and its custom steps."""
    with SlackStandIn(scopes=bot_scopes(), home_tab_enabled=home_tab_enabled(), functions=functions()) as standin:
        standin.add_user(USER, name="alice", real_name="Alice Admin")
        standin.add_user(OTHER_USER, name="bob", real_name="Bob Bystander")
        standin.add_channel(CHANNEL, name="netops", members={USER, OTHER_USER}, bot_member=True)
        standin.add_channel(DM_ONLY_CHANNEL, name="elsewhere", members={USER}, bot_member=False, is_private=True)
        yield standin


def bot_env(slack: SlackStandIn, nautobot: NautobotStack) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "NAUTOBOT_URL": nautobot.url,
        "NAUTOBOT_TOKEN": BOT_TOKEN,
        "NAUTOBOT_EVENTS_URL": EVENTS_URL,  # the test Nautobot's RedisEventBroker publishes there
        "ACCESS_POLICY": json.dumps(POLICY),
        "LOG_LEVEL": "DEBUG",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(free_port()),  # PROBE_PORT unset: the probes are here too (same host, or Socket Mode)
        "PROBE_HOST": "127.0.0.1",
        "READINESS_CACHE_SECONDS": "0",  # the tests see readiness change at once (e.g. with Nautobot stopped)
        "REPLICA_ID": "bot-1",  # one deployment restarted in place: it takes its own requests back at once
        # One test person types a command faster than a person does; tests/security/test_rate_limit.py removes
        # this to see the default limit at work.
        "RATE_LIMIT_COMMANDS": "1000",
    }


def start_connected(process: BotProcess, slack: SlackStandIn, **overrides: str | None) -> BotProcess:
    """Start the bot (``overrides``: settings changed or, as None, removed) and wait until this process
    (not an earlier one) holds a Socket Mode connection."""
    earlier = set(slack.connections)
    process.start(**overrides)
    try:
        slack.wait_for(lambda: set(slack.connections) - earlier, timeout=60)
    except TimeoutError:
        pytest.fail(f"the bot did not connect to Slack:\n{process.output()[-4000:]}")
    return process


def open_form(slack: SlackStandIn, text: str = "", channel: str = CHANNEL) -> dict:
    slack.slash_command(command="/meraki-add-user", text=text, user_id=USER, channel_id=channel)
    return slack.wait_for(lambda: _form(slack), timeout=30)


def _form(slack: SlackStandIn) -> dict | None:
    view = slack.current_view(USER)
    return view if view and view.get("callback_id") == FORM else None


def entered(view: dict, email: str, *, name="Jane Doe", org=ACME, access="read-only", network=None, dryrun=False):
    """What a person types and picks, as Slack sends it: options exactly as the modal offered them."""
    values = {
        "user_email": {"value": {"value": email}},
        "user_name": {"value": {"value": name}},
        "meraki_org_id": {"value": {"selected_option": option(view, "meraki_org_id", org)}},
        "meraki_access_level": {"value": {"selected_option": option(view, "meraki_access_level", access)}},
    }
    if network:
        values["meraki_network"] = {"value": {"value": network}}
    if dryrun:
        values["dryrun"] = {"value": {"selected_options": [option(view, "dryrun", "true")]}}
    return values


def option(view: dict, block_id: str, value: str) -> dict:
    [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return next(o for o in block["element"]["options"] if o["value"] == value)


def submit(slack: SlackStandIn, view: dict, values: dict, channel: str = CHANNEL) -> tuple[dict, int]:
    """Press Submit; also return how many messages the channel had, to find the new parent."""
    before = len(slack.messages(channel))
    return slack.submit_view(view["id"], values, user_id=USER), before


def parent_message(slack: SlackStandIn, before: int, channel: str = CHANNEL) -> dict:
    """The parent message this submission posted, once it shows a final status."""

    def final():
        for message in slack.messages(channel)[before:]:
            text = message.get("text", "").lower()
            if any(word in text for word in ("succeeded", "failed", "cancelled")):
                return message
        return None

    return slack.wait_for(final, timeout=90)


def thread_text(slack: SlackStandIn, channel: str, ts: str) -> str:
    return "\n".join(
        str(block) for reply in slack.messages(channel, thread_ts=ts) for block in reply.get("blocks") or []
    )
