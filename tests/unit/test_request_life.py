"""The core's one call for every entry point: a request is recorded once, sent once, told, announced, recorded in
the audit, and followed, in that order, whatever delivers it how often."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.access import Access, SlackGroups
from bot.app import wire
from bot.ledger import Ledger, RequestState
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.models import JobForm
from bot.nautobot import FormCache
from bot.runs.outcome import Ask, Sent, SubmitOutcome
from bot.slack.pacing import ChannelPacer
from testbed.fake_nautobot import (
    JOB,
    LOGS,
    LOGS_PATH,
    REQUEST_ID,
    RESULT_PATH,
    RUN_PATH,
    RUN_QUEUED,
    VARIABLES,
    FakeNautobot,
    job_result,
    ok,
)
from testbed.fake_slack import FakeSlack

FORM = JobForm.from_api(JOB, [*VARIABLES, REQUEST_ID])
VALUES: dict[str, Any] = {"user_email": "bob@example.com", "meraki_org_id": "123456", "meraki_access_level": "none"}
ASK = Ask("V0VIEW", "U0ALICE", "C0NETOPS", FORM, VALUES)


class Heard:
    """An entry point's answer: what it was told and recorded, and how many parent messages Slack had by then."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self.told: list[tuple[Sent, int]] = []
        self.recorded: list[tuple[Sent, int]] = []

    def _parents(self) -> int:
        return len(self.slack.calls_to("chat_postMessage"))

    async def tell(self, outcome: SubmitOutcome) -> None:
        self.told.append((outcome.sent, self._parents()))

    async def record(self, outcome: SubmitOutcome) -> None:
        self.recorded.append((outcome.sent, self._parents()))


@pytest.fixture
def nautobot() -> FakeNautobot:
    return (
        FakeNautobot()
        .on("POST", RUN_PATH, ok(RUN_QUEUED, 201))
        .on("GET", RESULT_PATH, ok(job_result("SUCCESS")))
        .on("GET", LOGS_PATH, ok(LOGS))
    )


@pytest.fixture
async def bot(nautobot: FakeNautobot, tmp_path: Path) -> AsyncIterator[tuple[Listeners, FakeSlack]]:
    async def pause(_seconds: float) -> None:
        await asyncio.sleep(0.01)

    slack = FakeSlack()
    client = nautobot.client()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    forms = FormCache(client, FORM.job_name)
    forms.form = FORM
    listeners = wire(
        slack=slack,  # type: ignore[arg-type]
        nautobot=client,
        ledger=ledger,
        commands=[SlashCommand("/meraki-add-user", forms, Access(None, groups=SlackGroups(slack)))],  # type: ignore[arg-type]
        follow_timeout=60.0,
        pacer=ChannelPacer(0),
        sleep=pause,
    )
    yield listeners, slack
    await listeners.runs.stop()
    await ledger.close()
    await client.aclose()


async def test_a_request_is_told_before_it_is_announced_and_recorded_after(bot, nautobot: FakeNautobot):
    listeners, slack = bot
    heard = Heard(slack)
    outcome = await listeners.runs.ask(ASK, heard)
    assert outcome.sent is Sent.SUBMITTED and outcome.accepted and outcome.request is not None
    assert heard.told == [(Sent.SUBMITTED, 0)]  # the person hears first (Slack's 3 s), no parent message yet
    assert heard.recorded == [(Sent.SUBMITTED, 1)]  # the audit once the parent message is up
    record = await listeners.ledger.get(outcome.request.request_id)
    assert record is not None and record.state is not RequestState.RECEIVED
    assert nautobot.count("POST", RUN_PATH) == 1


async def test_the_same_request_delivered_again_runs_once_and_each_delivery_hears_its_outcome(bot, nautobot):
    listeners, slack = bot
    first, second = Heard(slack), Heard(slack)
    outcomes = await asyncio.gather(listeners.runs.ask(ASK, first), listeners.runs.ask(ASK, second))
    assert sorted(outcome.sent for outcome in outcomes) == [Sent.DUPLICATE, Sent.SUBMITTED]
    assert nautobot.count("POST", RUN_PATH) == 1
    assert len(slack.calls_to("chat_postMessage")) == 1  # announced once
    assert len(first.told) == len(second.told) == 1  # the duplicate delivery is answered too (e.g. "Already sent")


async def test_a_request_the_ledger_cannot_record_is_told_and_never_sent(bot, nautobot: FakeNautobot):
    listeners, slack = bot
    await listeners.ledger.close()
    heard = Heard(slack)
    outcome = await listeners.runs.ask(ASK, heard)
    assert outcome.sent is Sent.NOT_RECORDED and outcome.request is None and not outcome.accepted
    assert [sent for sent, _ in heard.told] == [Sent.NOT_RECORDED]
    assert nautobot.count("POST", RUN_PATH) == 0
    assert slack.calls_to("chat_postMessage") == []
