"""Telling Nautobot's approvers of a run it holds: the lookups against Nautobot's recorded answers (3.2 and 2.4),
the messages (escaped, a link to decide, no buttons), and the telling, once, with its reminder and the decision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.ledger import Ledger
from bot.models import JobForm, RunRequest
from bot.nautobot import Capabilities
from bot.nautobot.approvers import ApproverLookup, Approvers
from bot.runs.nautobot_approvers import NautobotApprovers
from bot.settings import Settings, SettingsError, load_settings
from bot.slack.nautobot_approval_messages import Decision, approvers_message, decided_reply, nobody_told_reply
from bot.slack.pacing import ChannelPacer
from bot.slack.thread import SlackThreads, Thread
from testbed.fake_nautobot import BASE, JOB, SCHEDULED_ID, VARIABLES, FakeNautobot, ok
from testbed.fake_slack import DM_CHANNEL, FakeSlack, blocks_text

WORKFLOWS = "/api/extras/approval-workflows/"
STAGES = "/api/extras/approval-workflow-stages/"
USERS = "/api/users/users/"
CHANGES = "/api/extras/object-changes/"
SCHEDULED = f"/api/extras/scheduled-jobs/{SCHEDULED_ID}/"
WORKFLOW_ID, GROUP = "f3185400-2418-478e-8cc2-b76ef15c6de3", "meraki approvers"
ADMIN, CAROL, OUTSIDER = "5bc15940-ef90-47fd-80cf-54c0203afa3d", "6ac15940-ef90-47fd-80cf-54c0203afa3d", "7bc1"
REQUESTER, CHANNEL, APPROVERS_CHANNEL = "U0REQUEST", "C0NETOPS", "C0APPROVE"
FORM = JobForm.from_api(JOB, VARIABLES)


def page(results: list[dict[str, Any]]) -> httpx.Response:
    return ok({"count": len(results), "next": None, "previous": None, "results": results})


def stage(state: str, sequence: int = 1, responses: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """A stage as ``GET approval-workflow-stages/?depth=1`` answered on Nautobot 3.2.7 (shortened)."""
    return {
        "id": f"stage-{sequence}",
        "state": state,
        "responses": list(responses),
        "approval_workflow_stage_definition": {"approver_group": GROUP, "sequence": sequence, "name": "Network lead"},
    }


def user(user_id: str, username: str) -> dict[str, Any]:
    return {"id": user_id, "object_type": "users.user", "username": username, "is_active": True}


def link_change(action: str, link_id: str, owner: str, slack_id: str, at: str, platform: str = "slack") -> dict:
    """A change-log entry of an account link, as ``GET object-changes/`` answered on Nautobot 3.2.7 (shortened)."""
    return {
        "action": {"value": action, "label": action.title()},
        "changed_object_type": "nautobot_chatops.chatopsaccountlink",
        "changed_object_id": link_id,
        "time": at,
        "object_data": {"user_id": slack_id, "platform": platform, "nautobot_user": owner},
    }


def on_3_2(nautobot: FakeNautobot, *stages: dict[str, Any]) -> FakeNautobot:
    """Nautobot 3.2 with the scheduled job's workflow, its ``stages``, the group (admin and carol) and the links:
    admin → U0ADMIN (changed later to U0ADMIN2), carol → U0CAROL (deleted), an outsider → U0OUTSIDE."""

    def users(request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("groups") == GROUP
        return page([user(ADMIN, "admin"), user(CAROL, "carol")])

    def changes(request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("changed_object_type") == "nautobot_chatops.chatopsaccountlink"
        return page(
            [
                link_change("update", "L1", ADMIN, "U0ADMIN2", "2026-12-07T06:10:00Z"),
                link_change("create", "L1", ADMIN, "U0ADMIN", "2026-12-07T06:09:00Z"),
                link_change("create", "L2", CAROL, "U0CAROL", "2026-12-07T06:09:00Z"),
                link_change("delete", "L2", CAROL, "U0CAROL", "2026-12-07T06:11:00Z"),
                link_change("create", "L3", OUTSIDER, "U0OUTSIDE", "2026-12-07T06:09:00Z"),
                link_change("create", "L4", ADMIN, "admin@teams", "2026-12-07T06:09:00Z", platform="ms_teams"),
            ]
        )

    def workflows(request: httpx.Request) -> httpx.Response:
        assert request.url.params.get("object_under_review_object_id") == SCHEDULED_ID
        return page([{"id": WORKFLOW_ID, "current_state": "Pending"}])

    return (
        nautobot.on("GET", "/api/status/", ok({"nautobot-version": "3.2.7"}))
        .on("GET", WORKFLOWS, workflows)
        .on("GET", STAGES, page(list(stages)))
        .on("GET", USERS, users)
        .on("GET", CHANGES, changes)
    )


@pytest.fixture
def nautobot() -> FakeNautobot:
    return FakeNautobot()


@pytest.fixture
async def lookup(nautobot: FakeNautobot) -> AsyncIterator[ApproverLookup]:
    client = nautobot.client()
    yield ApproverLookup(client)
    await client.aclose()


# -- the lookups ---------------------------------------------------------------------------------------------


async def test_on_3_x_the_pending_stages_group_users_linked_to_slack_are_found_in_four_requests(
    nautobot: FakeNautobot, lookup: ApproverLookup
) -> None:
    on_3_2(nautobot, stage("Approved", 1), stage("Pending", 2), stage("Pending", 3))

    found = await lookup.approvers(SCHEDULED_ID)

    # admin's link as it is now; carol's was deleted; the outsider is not in the group; Teams is not Slack
    assert found == Approvers(slack_users=("U0ADMIN2",), usernames=("admin", "carol"), group=GROUP)
    assert [request.url.path for request in nautobot.requests] == ["/api/status/", WORKFLOWS, STAGES, USERS, CHANGES]


async def test_a_group_given_by_id_is_listed_by_its_id(nautobot: FakeNautobot, lookup: ApproverLookup) -> None:
    pending = stage("Pending")
    pending["approval_workflow_stage_definition"]["approver_group"] = {"id": 4, "object_type": "users.group"}
    on_3_2(nautobot, pending)
    nautobot.on(
        "GET", USERS, lambda request: page([user(ADMIN, "admin")] if request.url.params["groups_id"] == "4" else [])
    )

    assert (await lookup.approvers(SCHEDULED_ID)).slack_users == ("U0ADMIN2",)


async def test_no_workflow_or_no_pending_stage_finds_nobody(nautobot: FakeNautobot, lookup: ApproverLookup) -> None:
    on_3_2(nautobot, stage("Approved"))
    assert await lookup.approvers(SCHEDULED_ID) == Approvers()
    nautobot.on("GET", WORKFLOWS, page([]))
    assert await lookup.approvers(SCHEDULED_ID) == Approvers()


async def test_on_3_x_who_decided_is_read_from_the_stages_responses(
    nautobot: FakeNautobot, lookup: ApproverLookup
) -> None:
    response = {"state": "Approved", "user": {"id": ADMIN, "username": "admin"}, "comments": "ok"}
    on_3_2(nautobot, stage("Approved", 1, (response, {"state": "Pending", "user": {"username": "carol"}})))

    assert await lookup.deciders(SCHEDULED_ID) == ("admin",)
    assert nautobot.requests[-1].url.params["depth"] == "2"  # the responses' users with their names


async def test_on_2_4_nobody_is_found_and_who_approved_is_the_scheduled_jobs_approved_by_user(
    nautobot: FakeNautobot, lookup: ApproverLookup
) -> None:
    nautobot.on("GET", "/api/status/", ok({"nautobot-version": "2.4.44"}))
    nautobot.on("GET", SCHEDULED, ok({"id": SCHEDULED_ID, "approved_by_user": {"id": ADMIN, "username": "admin"}}))

    assert await lookup.approvers(SCHEDULED_ID) == Approvers()
    assert await lookup.deciders(SCHEDULED_ID) == ("admin",)
    assert nautobot.count("GET", WORKFLOWS) == 0


async def test_a_lookup_nautobot_refuses_raises(nautobot: FakeNautobot, lookup: ApproverLookup) -> None:
    on_3_2(nautobot, stage("Pending"))
    nautobot.on("GET", USERS, ok({"detail": "You do not have permission to perform this action."}, 403))
    with pytest.raises(Exception, match="permission"):
        await lookup.approvers(SCHEDULED_ID)


# -- the messages --------------------------------------------------------------------------------------------

HOSTILE = RunRequest(
    request_id="V1",
    requester_id=REQUESTER,
    channel_id=CHANNEL,
    job_name="Create <!channel> & co",
    inputs={"user_email": "a@example.com", "user_name": "<@U0EVIL> *bold*"},
)
URL = f"{BASE}/extras/scheduled-jobs/{SCHEDULED_ID}/"


def test_an_approvers_message_escapes_what_it_echoes_links_to_nautobot_and_has_no_button() -> None:
    text, blocks = approvers_message(HOSTILE, FORM, URL)
    rendered = [block.to_dict() for block in blocks]
    shown = blocks_text(blocks)

    assert all(block["type"] != "actions" for block in rendered)
    assert "button" not in str(rendered)
    assert f"<{URL}|Decide in Nautobot>" in shown
    assert f"<@{REQUESTER}> asks to run *Create &lt;!channel&gt; &amp; co*" in shown
    assert "&lt;@U0EVIL&gt;" in shown and "<@U0EVIL>" not in shown and "<!channel>" not in shown
    assert "Create <!channel> & co" in text  # plain text, escaped where it is posted


def test_a_decided_message_leads_with_the_outcome_and_who_as_nautobot_names_them() -> None:
    decision = Decision("denied", ("<b>admin</b>",))
    _, blocks = approvers_message(HOSTILE, FORM, URL, decision=decision, told=())
    shown = blocks_text(blocks)

    assert shown.startswith("❌ Denied in Nautobot by *&lt;b&gt;admin&lt;/b&gt;*. Nothing was run.")
    assert "Decide in Nautobot" not in shown and f"<{URL}|Open in Nautobot>" in shown
    assert "No approver could be told directly." in shown
    text, reply = decided_reply(REQUESTER, decision)
    assert "*" not in text and f"<@{REQUESTER}> ❌ Denied" in blocks_text(reply)


def test_the_requester_is_told_when_nobody_could_be() -> None:
    _, blocks = nobody_told_reply(REQUESTER, URL)
    assert "could not tell anyone" in blocks_text(blocks) and URL in blocks_text(blocks)


# -- the telling ---------------------------------------------------------------------------------------------

REQUEST = RunRequest(
    request_id="V0FORM0001",
    requester_id=REQUESTER,
    channel_id=CHANNEL,
    job_name="Create Meraki User",
    inputs={"user_email": "bob@example.com", "user_name": "Bob"},
)
THREAD = Thread(CHANNEL, "1730542502.000100")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    await opened.record(REQUEST)
    await opened.begin_submit(REQUEST.request_id)
    await opened.submitted(REQUEST.request_id, result_id=None, scheduled_job_id=SCHEDULED_ID)
    yield opened
    await opened.close()


def telling(lookup: ApproverLookup, slack: FakeSlack, ledger: Ledger, clock: Clock, **kwargs: Any) -> NautobotApprovers:
    threads = SlackThreads(slack, ChannelPacer(0))  # type: ignore[arg-type]
    return NautobotApprovers(lookup, threads, ledger, clock=clock, **kwargs)


def dms(slack: FakeSlack) -> list[str]:
    return [call["users"] for call in slack.calls_to("conversations_open")]


def posts_to(slack: FakeSlack, channel: str, thread: bool = False) -> list[dict[str, Any]]:
    return [
        c for c in slack.calls_to("chat_postMessage") if c["channel"] == channel and bool(c.get("thread_ts")) == thread
    ]


async def test_the_approvers_and_the_channel_are_told_once_reminded_once_and_shown_who_decided(
    nautobot: FakeNautobot, lookup: ApproverLookup, ledger: Ledger
) -> None:
    on_3_2(nautobot, stage("Pending"))
    slack, clock = FakeSlack(), Clock()
    approvers = telling(lookup, slack, ledger, clock, channel=APPROVERS_CHANNEL, remind_after=600)

    for _ in range(3):
        await approvers.waiting(REQUEST, FORM, SCHEDULED_ID, THREAD)
    # a replica that restarted, or another one, tells nobody again
    await telling(lookup, slack, ledger, clock, channel=APPROVERS_CHANNEL).waiting(REQUEST, FORM, SCHEDULED_ID, THREAD)

    assert dms(slack) == ["U0ADMIN2"]
    (channel_post,) = posts_to(slack, APPROVERS_CHANNEL)
    assert "<@U0ADMIN2>" in blocks_text(channel_post["blocks"]) and "Decide in Nautobot" in str(channel_post["blocks"])
    (told,) = posts_to(slack, CHANNEL, thread=True)
    assert "were told: <@U0ADMIN2> and <#C0APPROVE>" in blocks_text(told["blocks"])

    clock.now += timedelta(seconds=601)
    await approvers.waiting(REQUEST, FORM, SCHEDULED_ID, THREAD)
    await approvers.waiting(REQUEST, FORM, SCHEDULED_ID, THREAD)
    assert dms(slack) == ["U0ADMIN2", "U0ADMIN2"]
    assert [("Reminder" in blocks_text(p["blocks"])) for p in posts_to(slack, APPROVERS_CHANNEL)] == [False, True]

    response = {"state": "Approved", "user": {"username": "admin"}}
    nautobot.on("GET", STAGES, page([stage("Approved", 1, (response,))]))
    await approvers.decided(REQUEST, FORM, THREAD, "approved")
    await approvers.decided(REQUEST, FORM, THREAD, "approved")  # shown once

    updates = slack.calls_to("chat_update")
    assert len(updates) == 4  # two DMs, two channel messages
    assert all(blocks_text(update["blocks"]).startswith("✅ Approved in Nautobot by *admin*.") for update in updates)
    assert {update["channel"] for update in updates} == {DM_CHANNEL, APPROVERS_CHANNEL}
    decided = posts_to(slack, CHANNEL, thread=True)[-1]
    assert f"<@{REQUESTER}> ✅ Approved in Nautobot by *admin*." in blocks_text(decided["blocks"])


async def test_the_requester_is_not_told_as_an_approver(
    nautobot: FakeNautobot, lookup: ApproverLookup, ledger: Ledger
) -> None:
    on_3_2(nautobot, stage("Pending"))
    slack = FakeSlack()
    request = REQUEST.model_copy(update={"requester_id": "U0ADMIN2"})

    await telling(lookup, slack, ledger, Clock()).waiting(request, FORM, SCHEDULED_ID, THREAD)

    assert dms(slack) == []
    assert "could not tell anyone" in blocks_text(posts_to(slack, CHANNEL, thread=True)[0]["blocks"])


async def test_a_failed_lookup_falls_back_to_the_channel_and_never_raises(
    nautobot: FakeNautobot, lookup: ApproverLookup, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    on_3_2(nautobot, stage("Pending"))
    nautobot.on("GET", WORKFLOWS, ok({"detail": "You do not have permission to perform this action."}, 403))
    slack = FakeSlack()
    approvers = telling(lookup, slack, ledger, Clock(), channel=APPROVERS_CHANNEL)

    for _ in range(3):
        await approvers.waiting(REQUEST, FORM, SCHEDULED_ID, THREAD)

    assert dms(slack) == []
    (posted,) = posts_to(slack, APPROVERS_CHANNEL)
    assert "No approver could be told directly." in blocks_text(posted["blocks"])
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "cannot find the approvers" in r.message]
    assert len(warnings) == 1


async def test_nobody_found_and_no_channel_is_a_warning_and_said_to_the_requester(
    nautobot: FakeNautobot, lookup: ApproverLookup, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    nautobot.on("GET", "/api/status/", ok({"nautobot-version": "2.4.44"}))
    slack = FakeSlack()

    await telling(lookup, slack, ledger, Clock()).waiting(REQUEST, FORM, SCHEDULED_ID, THREAD)

    assert [call["channel"] for call in slack.calls_to("chat_postMessage")] == [CHANNEL]
    assert any(r.levelname == "WARNING" and "nobody was told" in r.message for r in caplog.records)
    await telling(lookup, slack, ledger, Clock()).decided(REQUEST, FORM, THREAD, "denied")
    assert slack.calls_to("chat_update") == []


async def test_a_slack_outage_never_ends_the_follow(
    nautobot: FakeNautobot, lookup: ApproverLookup, ledger: Ledger
) -> None:
    on_3_2(nautobot, stage("Pending"))
    slack = FakeSlack(not_in=[APPROVERS_CHANNEL])
    approvers = telling(lookup, slack, ledger, Clock(), channel=APPROVERS_CHANNEL)

    await approvers.waiting(REQUEST, FORM, SCHEDULED_ID, THREAD)

    record = await ledger.get(REQUEST.request_id)
    assert record is not None and record.nautobot_approval is not None
    assert [notice.person for notice in record.nautobot_approval.notices] == ["U0ADMIN2"]


def test_capabilities_name_the_approval_kind() -> None:
    assert Capabilities((3, 2)).approvals == "approval workflows"


# -- the settings --------------------------------------------------------------------------------------------

SETTINGS = {
    "slack_bot_token": "xox" + "b-1-2-approvers",
    "slack_app_token": "xa" + "pp-1-A0-3-approvers",
    "nautobot_url": "https://nautobot.example.com",
    "nautobot_token": "0123456789abcdef" * 2 + "01234567",
}


def test_the_approvers_channel_is_a_channel_id_or_left_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    assert load_settings(Settings, **SETTINGS).nautobot_approvers_channel is None
    assert load_settings(Settings, **SETTINGS).nautobot_approval_remind_seconds == 3600
    assert load_settings(Settings, **SETTINGS, nautobot_approvers_channel=" ").nautobot_approvers_channel is None
    assert load_settings(Settings, **SETTINGS, nautobot_approvers_channel="C0APPROVE").nautobot_approvers_channel
    with pytest.raises(SettingsError, match="NAUTOBOT_APPROVERS_CHANNEL: '#approvers' is not a Slack channel id"):
        load_settings(Settings, **SETTINGS, nautobot_approvers_channel="#approvers")
    with pytest.raises(SettingsError, match="NAUTOBOT_APPROVAL_REMIND_SECONDS"):
        load_settings(Settings, **SETTINGS, nautobot_approval_remind_seconds=-1)


async def test_a_stage_definition_nested_as_a_reference_is_read(nautobot: FakeNautobot, lookup: ApproverLookup) -> None:
    pending = stage("Pending")
    pending["approval_workflow_stage_definition"] = {"id": "def-1", "object_type": "x", "url": "u"}
    on_3_2(nautobot, pending)
    nautobot.on("GET", "/api/extras/approval-workflow-stage-definitions/def-1/", ok({"approver_group": GROUP}))

    assert (await lookup.approvers(SCHEDULED_ID)).slack_users == ("U0ADMIN2",)
