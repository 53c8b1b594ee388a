"""A click on a Home button goes through the handler of the same button in a message, with its checks: Slack names
no channel or message for it (its container is the Home view), so the answer goes to the person directly, a Retry
opens a modal of its own, and an approver's click counts as one on the message that asked them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.access import Access, AccessPolicy, SlackGroups
from bot.app import wire
from bot.home.changes import HomeChanges
from bot.ledger import Approval, Ledger, Notice, Record, RequestState
from bot.ledger.grant import Grant
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.models import RunRequest
from bot.nautobot import FormCache
from bot.slack import approval_messages, messages, modal
from testbed.fake_nautobot import JOB_NAME, FakeNautobot
from testbed.fake_slack import DM_CHANNEL, OPENED_VIEW_ID, FakeAck, FakeSlack

ALICE, BOB = "U0ALICE01", "U0BOB0001"
CHANNEL = "C0NETOPS1"
TEAM = "T0TEAM0001"
HOME_VIEW = "V0HOME0001"


@pytest.fixture
def slack() -> FakeSlack:
    return FakeSlack()


@pytest.fixture
async def listeners(slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Listeners]:
    nautobot = FakeNautobot().with_quick_run()
    client = nautobot.client()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    policy = AccessPolicy.model_validate({"allow": [{"users": [ALICE, BOB], "channels": [CHANNEL]}]})
    access = Access(policy, groups=SlackGroups(slack), installed_team=TEAM)  # type: ignore[arg-type]
    wired = wire(
        slack=slack,  # type: ignore[arg-type]
        nautobot=client,
        ledger=ledger,
        commands=[SlashCommand("/meraki-add-user", FormCache(client, JOB_NAME), access)],
        follow_timeout=60.0,
    )
    yield wired
    assert wired.home is not None
    await wired.home.stop()
    await wired.runs.stop()
    await client.aclose()
    await ledger.close()


def home_click(action_id: str, value: str, user: str) -> dict[str, Any]:
    """``block_actions`` from a button on ``user``'s Home, as Slack sends it."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "team": {"id": TEAM},
        "container": {"type": "view", "view_id": HOME_VIEW},
        "view": {"id": HOME_VIEW, "type": "home", "blocks": []},
        "trigger_id": "1.2.3",
        "actions": [{"action_id": action_id, "value": value, "type": "button"}],
    }


async def record(listeners: Listeners, request_id: str, requester: str = ALICE) -> RunRequest:
    request = RunRequest(request_id=request_id, requester_id=requester, channel_id=CHANNEL, job_name=JOB_NAME)
    await listeners.ledger.record(request)
    return request


async def waiting_for_bob(listeners: Listeners, request_id: str, asked_in: Notice | None = None) -> None:
    """Alice's ``request_id`` waits for Bob's approval (``asked_in``: the message that asked him, if any)."""
    await record(listeners, request_id)
    since = datetime.now(UTC)
    approval = Approval(users=(BOB,), since=since, expire_at=since + timedelta(hours=1))
    await listeners.ledger.ask_approval(request_id, approval)
    if asked_in is not None:
        await listeners.ledger.approval_notice(request_id, asked_in)
    await listeners.ledger.awaiting_approval(request_id)


def told_directly(slack: FakeSlack, user: str) -> str:
    """What the bot told ``user`` in their direct message with it (never an ephemeral without a channel)."""
    assert all(call.get("channel") for call in slack.calls_to("chat_postEphemeral"))
    assert {"users": user} in slack.calls_to("conversations_open")
    return " ".join(call["text"] for call in slack.calls_to("chat_postMessage") if call["channel"] == DM_CHANNEL)


async def test_cancel_on_the_home_is_answered_directly(listeners: Listeners, slack: FakeSlack) -> None:
    await listeners.cancel(FakeAck(), home_click(messages.CANCEL_ACTION_ID, "R-gone", ALICE), slack)  # type: ignore[arg-type]

    assert "no longer knows this run" in told_directly(slack, ALICE)


async def test_withdraw_on_the_home_withdraws_and_is_answered_directly(listeners: Listeners, slack: FakeSlack) -> None:
    await waiting_for_bob(listeners, "R1")

    await listeners.withdraw(FakeAck(), home_click(approval_messages.WITHDRAW_ACTION_ID, "R1", ALICE))

    assert "Withdrawn" in told_directly(slack, ALICE)
    found = await listeners.ledger.get("R1")
    assert found is not None and found.state in (RequestState.NOT_APPROVED, RequestState.DONE)


async def test_a_withdrawn_request_is_told_to_its_watchers_once_final(listeners: Listeners) -> None:
    """The Home and a workflow step waiting on the request hear of its end at once, not at the next sweep."""
    told: list[RequestState] = []

    class Watcher(HomeChanges):
        def changed(self, *about: RunRequest | Grant | None) -> None:
            told.extend(each.state for each in about if isinstance(each, Record))

    listeners.runs.approvals.home = Watcher()
    await waiting_for_bob(listeners, "R1")

    await listeners.withdraw(FakeAck(), home_click(approval_messages.WITHDRAW_ACTION_ID, "R1", ALICE))

    assert told[-1] == RequestState.DONE


async def test_approve_on_the_home_counts_as_on_the_message_that_asked(listeners: Listeners, slack: FakeSlack) -> None:
    await waiting_for_bob(listeners, "R1", asked_in=Notice(channel="D0BOBDM01", ts="1.000200", person=BOB))

    await listeners.approve(FakeAck(), home_click(approval_messages.APPROVE_ACTION_ID, "R1", BOB))

    found = await listeners.ledger.get("R1")
    assert found is not None and found.approval is not None
    assert [vote.person for vote in found.approval.votes] == [BOB]
    [answer] = slack.calls_to("chat_postEphemeral")
    assert answer["channel"] == "D0BOBDM01" and answer["user"] == BOB  # where Bob was asked


async def test_an_approval_on_the_home_is_still_checked(listeners: Listeners, slack: FakeSlack) -> None:
    await waiting_for_bob(listeners, "R1", asked_in=Notice(channel="D0BOBDM01", ts="1.000200", person=BOB))

    await listeners.approve(FakeAck(), home_click(approval_messages.APPROVE_ACTION_ID, "R1", ALICE))  # her own

    found = await listeners.ledger.get("R1")
    assert found is not None and found.approval is not None and found.approval.votes == ()
    assert "Nothing was decided" in told_directly(slack, ALICE)  # nobody asked her: refused, as in a message


async def test_retry_on_the_home_opens_a_modal_to_answer_in(listeners: Listeners, slack: FakeSlack) -> None:
    await listeners.retry(FakeAck(), home_click(modal.RETRY_ACTION_ID, "R-gone", ALICE), slack)  # type: ignore[arg-type]

    [opened] = slack.calls_to("views_open")
    assert opened["trigger_id"] == "1.2.3"
    [updated] = slack.calls_to("views_update")
    assert updated["view_id"] == OPENED_VIEW_ID  # the modal opened for it, never the Home itself
    assert "no longer waiting for a retry" in str(updated["view"].to_dict())
