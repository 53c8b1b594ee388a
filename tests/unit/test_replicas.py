"""Several replicas on one ledger: a request is worked on by one replica at a time, under a lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.access import Access, SlackGroups
from bot.app import wire
from bot.ledger import Ledger, RequestState
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.models import JobForm
from bot.nautobot import FormCache
from bot.runs.outcome import Ask, Sent, SubmitOutcome
from bot.runs.take_up import TELL_AFTER_RESUMES
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
from testbed.fake_slack import DM_CHANNEL, FakeSlack, blocks_text

LEASE = 0.3
FORM = JobForm.from_api(JOB, [*VARIABLES, REQUEST_ID])
VALUES: dict[str, Any] = {
    "user_email": "bob@example.com",
    "user_name": "Bob",
    "meraki_org_id": "123456",
    "meraki_access_level": "read-only",
}


class Job:
    """The run's status in Nautobot, as the test moves it on."""

    def __init__(self) -> None:
        self.status = "STARTED"

    def __call__(self, _request: httpx.Request) -> httpx.Response:
        return ok(job_result(self.status))


@pytest.fixture
def job() -> Job:
    return Job()


@pytest.fixture
def nautobot(job: Job) -> FakeNautobot:
    return (
        FakeNautobot()
        .on("POST", RUN_PATH, ok(RUN_QUEUED, 201))
        .on("GET", RESULT_PATH, job)
        .on("GET", LOGS_PATH, ok(LOGS))
    )


@pytest.fixture
async def replicas(nautobot: FakeNautobot, tmp_path: Path) -> AsyncIterator[tuple[Listeners, Listeners, FakeSlack]]:
    async def pause(_seconds: float) -> None:
        await asyncio.sleep(0.01)

    slack = FakeSlack()
    client = nautobot.client()
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}"
    made = []
    for owner in ("replica-a", "replica-b"):
        ledger = await Ledger.open(url, owner=owner, lease=LEASE)
        forms = FormCache(client, FORM.job_name)
        forms.form = FORM
        made.append(
            wire(
                slack=slack,  # type: ignore[arg-type]
                nautobot=client,
                ledger=ledger,
                commands=[SlashCommand("/meraki-add-user", forms, Access(None, groups=SlackGroups(slack)))],  # type: ignore[arg-type]
                follow_timeout=60.0,
                pacer=ChannelPacer(0),
                sleep=pause,
            )
        )
    yield made[0], made[1], slack
    for replica in made:
        for task in replica.runs.tasks:
            task.cancel()
        await asyncio.gather(*replica.runs.tasks, return_exceptions=True)
        await replica.ledger.close()
    await client.aclose()


class Heard:
    """An entry point's answer that keeps what it was told and recorded."""

    def __init__(self) -> None:
        self.told: list[SubmitOutcome] = []
        self.recorded: list[SubmitOutcome] = []

    async def tell(self, outcome: SubmitOutcome) -> None:
        self.told.append(outcome)

    async def record(self, outcome: SubmitOutcome) -> None:
        self.recorded.append(outcome)


async def submitted_and_followed(replica: Listeners) -> str:
    heard = Heard()
    outcome = await replica.runs.ask(Ask("V0VIEW", "U0ALICE", "C0NETOPS", FORM, VALUES), heard)
    assert outcome.sent is Sent.SUBMITTED and outcome.submission is not None and outcome.request is not None
    assert heard.told == heard.recorded == [outcome]  # told, then recorded once announced
    return outcome.request.request_id


async def finished(replica: Listeners) -> None:
    while replica.runs.tasks:
        await asyncio.gather(*list(replica.runs.tasks), return_exceptions=True)


def log_posts(slack: FakeSlack) -> list[dict[str, Any]]:
    return [call for call in slack.calls_to("chat_postMessage") if call.get("thread_ts")]


async def test_a_dead_replicas_request_waits_for_its_lease_then_is_finished_once_by_another(
    replicas: tuple[Listeners, Listeners, FakeSlack], nautobot: FakeNautobot, job: Job
) -> None:
    a, b, slack = replicas
    request_id = await submitted_and_followed(a)
    assert await b.runs.sweep() == 0  # replica-a holds it
    for task in a.runs.tasks:  # replica-a dies: no release, no renewal
        task.cancel()
    await asyncio.sleep(LEASE + 0.1)
    job.status = "SUCCESS"

    assert await b.runs.sweep() == 1
    await finished(b)

    record = await b.ledger.get(request_id)
    assert record is not None and record.state is RequestState.DONE
    assert nautobot.count("POST", RUN_PATH) == 1
    assert len([c for c in slack.calls_to("chat_postMessage") if not c.get("thread_ts")]) == 1  # one parent
    assert len(log_posts(slack)) == 1


async def test_a_replica_that_lost_its_lease_stops_following_and_posts_nothing(
    replicas: tuple[Listeners, Listeners, FakeSlack], job: Job
) -> None:
    a, b, slack = replicas
    request_id = await submitted_and_followed(a)
    await asyncio.sleep(LEASE + 0.1)  # replica-a was too slow to renew (a pause, a partition)
    assert await b.runs.sweep() == 1
    await a.runs.sweep()  # replica-a learns that replica-b holds it now
    await asyncio.sleep(0)
    assert not any(not task.done() for task in a.runs.tasks)
    job.status = "SUCCESS"
    await finished(b)

    record = await b.ledger.get(request_id)
    assert record is not None and record.state is RequestState.DONE and record.owner is None
    assert len(log_posts(slack)) == 1


async def test_a_replica_renews_what_it_works_on_so_nobody_takes_it(
    replicas: tuple[Listeners, Listeners, FakeSlack], job: Job
) -> None:
    a, b, _slack = replicas
    request_id = await submitted_and_followed(a)
    for _ in range(4):  # well past one lease, renewed every third of it
        await asyncio.sleep(LEASE / 3)
        await a.runs.sweep()
        assert await b.runs.sweep() == 0
    record = await a.ledger.get(request_id)
    assert record is not None and record.owner == "replica-a"


async def test_a_request_nobody_can_take_up_is_tried_less_and_less_often_and_its_requester_is_told_once(
    replicas: tuple[Listeners, Listeners, FakeSlack], nautobot: FakeNautobot
) -> None:
    a, b, slack = replicas
    request_id = await submitted_and_followed(a)
    for task in a.runs.tasks:  # replica-a dies
        task.cancel()
    nautobot.on("GET", RESULT_PATH, httpx.ConnectError("[Errno 111] Connection refused"))  # and Nautobot is down
    tries: list[float] = []
    loop = asyncio.get_running_loop()
    while len(tries) < TELL_AFTER_RESUMES + 1:
        if await b.runs.sweep() == 0 and (record := await b.ledger.get(request_id)) and record.resumes > len(tries):
            tries.append(loop.time())
        await asyncio.sleep(0.02)

    waits = [later - earlier for earlier, later in pairwise(tries)]
    assert all(later > earlier for earlier, later in pairwise(waits))  # each wait longer than the one before
    told = [call for call in slack.calls_to("chat_postMessage") if call["channel"] == DM_CHANNEL]
    assert len(told) == 1 and "waiting" in blocks_text(told[0]["blocks"])
    record = await b.ledger.get(request_id)
    assert record is not None and record.state is RequestState.ANNOUNCED  # not given up: tried again later
