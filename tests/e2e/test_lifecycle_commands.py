"""Finding and removing an administrator from Slack: the real bot, a real Nautobot running the real Jobs, the
Slack and Meraki stand-ins. Removal asks to confirm, runs as a dry run first, and its "Remove for real" button
does it; a person allowed to find may not remove."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.slack.messages import FOR_REAL_ACTION_ID
from testbed.bot_process import BotProcess
from testbed.meraki_standin import MerakiStandIn
from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME, GLOBEX
from testbed.slack_flow import CHANNEL, OTHER_USER, USER, bot_env, option, start_connected
from testbed.slack_standin import SlackStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.nautobot]

FIND, REMOVE = "/meraki-find-user", "/meraki-remove-user"
JANE = "jane.doe@example.com"
POLICY = {
    "allow": [
        {"users": [USER], "channels": [CHANNEL], "commands": ["*"]},
        {"users": [OTHER_USER], "channels": [CHANNEL], "commands": [FIND]},
    ]
}
"""Alice may do everything; Bob may find administrators, not remove them."""


@pytest.fixture(scope="module")
def chatops(slack: SlackStandIn, nautobot: NautobotStack, tmp_path_factory) -> Iterator[BotProcess]:
    env = {**bot_env(slack, nautobot), "ACCESS_POLICY": json.dumps(POLICY)}
    process = start_connected(BotProcess(tmp_path_factory.mktemp("bot"), env), slack)
    yield process
    process.stop()


@pytest.fixture
def flow(stack: NautobotStack, slack: SlackStandIn, chatops: BotProcess, meraki: MerakiStandIn):
    assert chatops.alive(), chatops.output()[-4000:]
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only", account_status="ok", two_factor=True)
    meraki.add_admin(GLOBEX, JANE, "Jane Doe", "full", account_status="ok")
    for org in (ACME, GLOBEX):  # so that removing Jane never leaves an organization without a full admin
        meraki.add_admin(org, f"ops.{org}@example.com", "Ops Team", "full", account_status="ok")
    yield slack


def ended(slack: SlackStandIn, before: int, bot: BotProcess) -> dict:
    """The first parent message after ``before`` that shows a final status (else what the bot logged)."""

    def final():
        for message in slack.messages(CHANNEL)[before:]:
            if any(word in message.get("text", "").lower() for word in ("succeeded", "failed")):
                return message
        return None

    try:
        return slack.wait_for(final, timeout=120)
    except TimeoutError:
        said = [line for line in bot.output().splitlines() if "bot." in line or "ERROR" in line][-60:]
        pytest.fail(f"no final status; the channel: {slack.messages(CHANNEL)[before:]}\n" + "\n".join(said))


def replies(slack: SlackStandIn, message: dict) -> str:
    return "\n".join(
        str(block) for reply in slack.messages(CHANNEL, thread_ts=message["ts"]) for block in reply.get("blocks") or []
    )


def emails(meraki: MerakiStandIn, org: str) -> list[str]:
    return sorted(admin["email"] for admin in meraki.admins(org))


def test_find_from_the_command_text_runs_without_a_form_and_shows_a_table(flow: SlackStandIn, chatops: BotProcess):
    before = len(flow.messages(CHANNEL))

    flow.slash_command(command=FIND, text=JANE, user_id=OTHER_USER, channel_id=CHANNEL)
    message = ended(flow, before, chatops)

    assert "succeeded" in message["text"].lower()
    opened = flow.current_view(OTHER_USER)  # no form; at most a note that it runs (the form was not read yet)
    assert opened is None or opened.get("submit") is None
    table = flow.wait_for(lambda: "Acme Corp" in replies(flow, message) and replies(flow, message), timeout=30)
    assert "2 matches" in table and "Globex" in table and JANE in table


def test_remove_asks_to_confirm_runs_a_dry_run_then_removes_for_real(
    flow: SlackStandIn, meraki: MerakiStandIn, chatops: BotProcess
):
    flow.slash_command(command=REMOVE, text=JANE, user_id=USER, channel_id=CHANNEL)
    form = flow.wait_for(lambda: (v := flow.current_view(USER)) and v.get("submit") and v, timeout=30)
    assert form["submit"]["text"] == "Run"
    values = {
        "user_email": {"value": {"value": JANE}},
        "meraki_org_id": {"value": {"selected_option": option(form, "meraki_org_id", "all")}},
        "dryrun": {"value": {"selected_options": [option(form, "dryrun", "true")]}},
    }
    before = len(flow.messages(CHANNEL))

    flow.submit_view(form["id"], values, user_id=USER)
    summary = flow.current_view(USER)

    assert summary is not None and summary["submit"]["text"] == "Confirm"  # nothing ran yet
    assert "dry run" in json.dumps(summary["blocks"]) and JANE in json.dumps(summary["blocks"])
    assert len(flow.messages(CHANNEL)) == before

    flow.submit_view(summary["id"], {}, user_id=USER)
    dry = ended(flow, before, chatops)

    assert "dry run" in dry["text"].lower() and "succeeded" in dry["text"].lower()
    assert JANE in emails(meraki, ACME) and JANE in emails(meraki, GLOBEX)  # a dry run removes nothing

    flow.click_button(CHANNEL, dry["ts"], FOR_REAL_ACTION_ID, user_id=OTHER_USER)  # not Bob's dry run
    flow.click_button(CHANNEL, dry["ts"], FOR_REAL_ACTION_ID, user_id=USER)
    real = ended(flow, before + 1, chatops)

    assert "dry run" not in real["text"].lower() and "succeeded" in real["text"].lower()
    assert JANE not in emails(meraki, ACME) and JANE not in emails(meraki, GLOBEX)


def test_a_person_allowed_to_find_may_not_remove(flow: SlackStandIn, meraki: MerakiStandIn):
    flow.slash_command(command=REMOVE, text=JANE, user_id=OTHER_USER, channel_id=CHANNEL)
    refused = flow.wait_for(lambda: flow.current_view(OTHER_USER), timeout=30)

    assert "Not allowed" in json.dumps(refused) and REMOVE in json.dumps(refused)
    assert refused.get("submit") is None
    assert JANE in emails(meraki, ACME)
