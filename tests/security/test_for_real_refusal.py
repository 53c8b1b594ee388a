"""Only the requester may run a dry run for real, and anyone else learns nothing about the run from trying:
the same refusal whatever the dry run's state, and nothing asked of Nautobot on their behalf."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.ledger import AuditAction, AuditOutcome
from bot.slack.messages import FOR_REAL_ACTION_ID
from testbed.fake_nautobot import FAILED, RESULT_PATH, SUCCEEDED, ok
from testbed.manifest import bot_scopes
from testbed.slack_standin import SlackStandIn
from tests.security.listener_harness import CHANNEL, USER, Ack, as_slack_sends_it, harness
from tests.support.audit_trail import audit_trail

pytestmark = [pytest.mark.security, pytest.mark.asyncio]

STRANGER = "U0SEC0002"


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(scopes=bot_scopes(), post_message_limit=None, chat_update_limit=None) as slack:
        slack.add_user(USER, name="sec", real_name="Security Tester")
        slack.add_user(STRANGER, name="stranger", real_name="Somebody Else")
        slack.add_channel(CHANNEL, name="netops-sec", members={USER, STRANGER}, bot_member=True)
        yield slack


def click(request_id: str, user: str) -> dict[str, Any]:
    return as_slack_sends_it(
        {
            "type": "block_actions",
            "user": {"id": user, "username": "x", "team_id": "T0STANDIN"},
            "team": {"id": "T0STANDIN", "domain": "standin"},
            "container": {"type": "message", "channel_id": CHANNEL, "message_ts": "1.2"},
            "actions": [{"action_id": FOR_REAL_ACTION_ID, "value": request_id}],
        }
    )


async def test_a_stranger_hears_the_same_refusal_whatever_the_dry_run_did(standin: SlackStandIn, tmp_path) -> None:
    async with harness(standin, tmp_path) as found:
        view = await found.open_form()
        dry = await found.submit(view, {"dryrun": {"selected_options": [view_option(view)]}})
        assert dry.ran is not None and dry.ran["dryrun"] is True, dry.problems
        trail = await audit_trail(found.listeners.ledger)
        request_id = next(e.request_id for e in reversed(trail) if e.outcome is AuditOutcome.SUBMITTED and e.request_id)

        runs = len(found.nautobot.run_bodies())
        told = []
        for status in (SUCCEEDED, FAILED):  # what Nautobot would say about the dry run, were it asked
            found.nautobot.on("GET", RESULT_PATH, ok(status))
            asked_before = len(found.nautobot.requests)
            before = len(standin.ephemerals)
            await found.listeners.for_real(Ack(), click(request_id, STRANGER), found.client)
            await found.settle()
            assert found.nautobot.requests[asked_before:] == []  # nothing asked of Nautobot for a stranger
            [refusal] = [e for e in standin.ephemerals[before:] if e["recipient"] == STRANGER]
            shown = [block.get("text") for block in refusal.get("blocks") or []]  # block ids are random
            told.append(refusal["text"] + json.dumps(shown, ensure_ascii=False))

        assert told[0] == told[1]
        assert f"<@{USER}>" in told[0] and "who asked for this dry run" in told[0]  # the blocks name the requester
        assert not any(word in told[0].lower() for word in ("succeed", "fail", "status"))
        assert len(found.nautobot.run_bodies()) == runs  # nothing run for the stranger
        # The run itself was a finished dry run its requester may run for real: the refusal was for the stranger.
        found.nautobot.on("GET", RESULT_PATH, ok(SUCCEEDED))
        await found.listeners.for_real(Ack(), click(request_id, USER), found.client)
        await found.settle()
        assert found.nautobot.run_bodies()[-1]["data"]["dryrun"] is False, standin.ephemerals[-1]["text"]
        denied = [e for e in await audit_trail(found.listeners.ledger) if e.action is AuditAction.FOR_REAL]
        assert [e.outcome for e in denied][:2] == [AuditOutcome.DENIED, AuditOutcome.DENIED]


def view_option(view: dict[str, Any]) -> dict[str, Any]:
    block = next(b for b in view["blocks"] if b.get("block_id") == "dryrun")
    return block["element"]["options"][0]
