"""The audit trail and the access policy end to end: the bot process, the Slack stand-in (user groups
included) and the real Nautobot, whose Job writes who asked into its log and result."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, FORM, bot_env, entered, parent_message, start_connected, thread_text
from testbed.slack_standin import SlackStandIn
from tests.support.audit_trail import audit_rows, audited

pytestmark = [pytest.mark.security, pytest.mark.e2e, pytest.mark.nautobot]

GROUP_MEMBER, ADMIN, OUTSIDER = "U0GROUP", "U123", "U0OUTSIDE"
NETOPS_GROUP, ADMINS_GROUP = "S0NETOPS", "S0ADMINS"
OTHER_CHANNEL = "C0OTHER"
POLICY = {
    "allow": [{"groups": [NETOPS_GROUP], "channels": [CHANNEL]}, {"users": [ADMIN], "channels": [CHANNEL]}],
    "restrict": {"/meraki-add-user": {"meraki_access_level": {"full": {"groups": [ADMINS_GROUP]}}}},
}


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    from testbed.manifest import bot_scopes

    with SlackStandIn(scopes=bot_scopes()) as standin:
        standin.add_user(ADMIN, name="alice", real_name="Alice Admin")
        standin.add_user(GROUP_MEMBER, name="gina", real_name="Gina Group")
        standin.add_user(OUTSIDER, name="oscar", real_name="Oscar Outside")
        everyone = {ADMIN, GROUP_MEMBER, OUTSIDER}
        standin.add_channel(CHANNEL, name="netops", members=everyone, bot_member=True)
        standin.add_channel(OTHER_CHANNEL, name="random", members=everyone, bot_member=True)
        standin.add_usergroup(NETOPS_GROUP, [GROUP_MEMBER])
        standin.add_usergroup(ADMINS_GROUP, [ADMIN])
        yield standin


@pytest.fixture(scope="module")
def policed(slack: SlackStandIn, nautobot: NautobotStack, tmp_path_factory) -> Iterator[BotProcess]:
    env = {**bot_env(slack, nautobot), "ACCESS_POLICY": json.dumps(POLICY)}
    process = start_connected(BotProcess(tmp_path_factory.mktemp("policed-bot"), env), slack)
    yield process
    process.stop()


def type_command(slack: SlackStandIn, user: str, channel: str = CHANNEL) -> dict:
    """The view the command leaves open: the form, or the refusal."""
    shown = (slack.current_view(user) or {}).get("id")
    slack.slash_command(user_id=user, channel_id=channel)

    def settled() -> dict | None:
        view = slack.current_view(user)
        loading = view and "Loading" in json.dumps(view.get("blocks"))
        return view if view and view["id"] != shown and not loading else None

    return slack.wait_for(settled, timeout=30)


def access_options(view: dict) -> list[str]:
    [block] = [b for b in view["blocks"] if b.get("block_id") == "meraki_access_level"]
    return [option["value"] for option in block["element"]["options"]]


def test_a_group_member_runs_it_and_the_job_logs_who_asked(stack, slack, policed, meraki):
    view = type_command(slack, GROUP_MEMBER)
    assert view["callback_id"] == FORM
    assert "full" not in access_options(view)  # kept to the admins group
    before = len(slack.messages(CHANNEL))
    slack.submit_view(view["id"], entered(view, "gina.added@example.com"), user_id=GROUP_MEMBER)

    parent = parent_message(slack, before)
    assert "succeeded" in parent["text"].lower()
    assert "Requested by Slack user U0GROUP (gina) via meraki-chatops" in thread_text(slack, CHANNEL, parent["ts"])
    assert [a["email"] for a in meraki.admins(ACME)] == ["gina.added@example.com"]
    [row] = audited(policed, user_id=GROUP_MEMBER, action="submit")
    assert (row["outcome"], row["channel_id"], row["source"]) == ("submitted", CHANNEL, "ACCESS_POLICY")
    assert json.loads(row["inputs"])["user_email"] == "gina.added@example.com" and row["request_id"]
    assert slack.calls_to("usergroups.users.list")  # membership came from Slack


def test_the_admins_group_is_offered_full_access(stack, slack, policed):
    assert "full" in access_options(type_command(slack, ADMIN))


def test_outsiders_and_other_channels_are_refused_and_recorded(stack, slack, policed, meraki):
    outsider = type_command(slack, OUTSIDER)
    assert outsider["title"]["text"] == "Not allowed"
    assert "ACCESS_POLICY" in json.dumps(outsider["blocks"])

    elsewhere = type_command(slack, ADMIN, channel=OTHER_CHANNEL)
    assert "not in this channel" in json.dumps(elsewhere["blocks"]) and CHANNEL in json.dumps(elsewhere["blocks"])

    audited(policed, user_id=ADMIN, channel_id=OTHER_CHANNEL, outcome="denied")
    denied = {(r["user_id"], r["channel_id"]) for r in audit_rows(policed) if r["outcome"] == "denied"}
    assert {(OUTSIDER, CHANNEL), (ADMIN, OTHER_CHANNEL)} <= denied
    assert all(r["at"] and r["reason"] for r in audit_rows(policed))
    assert meraki.admins(ACME) == []
