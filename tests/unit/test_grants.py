"""Following a time-bound grant from the run that made it to its revoke: recorded from the run's ``revoke`` entry,
warned ahead once with Revoke now, the revoke's result and log posted into the grant's thread once, the safety
net (alarm, direct message, the bot's own run of the revoke, once), and Revoke now only for the requester."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bot.ledger import Ledger
from bot.ledger.grant import Grant, GrantState
from bot.ledger.grants import GrantTimes
from bot.ledger.schema import GRANTS
from bot.metrics import Metrics
from bot.models import JobRun, RunRequest
from bot.runs.grants import HELD, Grants, grant_of
from bot.slack.grant_messages import EXTEND_ACTION_ID, REVOKE_NOW_ACTION_ID
from bot.slack.pacing import ChannelPacer
from bot.slack.thread import SlackThreads, Thread
from testbed.fake_nautobot import (
    BASE,
    JOB,
    LOGS,
    LOGS_PATH,
    RESULT_PATH,
    RUN_AWAITING_APPROVAL,
    FakeNautobot,
    job_result,
    ok,
)
from testbed.fake_slack import FakeSlack, blocks_text

REQUESTER, CHANNEL, PARENT = "U0ALICE01", "C0NETOPS", "1700000000.000100"
SCHEDULED = "5d1c7a9e-0000-4000-8000-000000000001"
REVOKE_JOB_ID = "7e1c7a9e-0000-4000-8000-000000000002"
REVOKE = "Revoke Meraki Access"
GRANT_INPUT = {"organization_id": "111111", "organization_name": "Acme", "admin_id": "9", "email": "jane@example.com"}
REQUEST = RunRequest(request_id="R1", requester_id=REQUESTER, channel_id=CHANNEL, job_name="Create Meraki User")
THREAD = Thread(CHANNEL, PARENT)
TIMES = GrantTimes(warn_ahead=timedelta(minutes=10), grace=timedelta(minutes=5))
JOBS = "/api/extras/jobs/"
RUN_REVOKE = f"/api/extras/jobs/{REVOKE_JOB_ID}/run/"


def granting_run(expires: datetime, **revoke: Any) -> JobRun:
    entry = {"scheduled_job_id": SCHEDULED, "start_time": expires.isoformat(), "job": REVOKE, "grant": GRANT_INPUT}
    result = {"outcome": "raised", "expires_at": expires.isoformat(), "revoke": {**entry, **revoke}}
    return JobRun.from_api(job_result("SUCCESS", result=result), BASE)


def revoke_run(outcome: str, status: str = "SUCCESS") -> dict[str, Any]:
    summary = f"jane@example.com in Acme (admin id 9) is {outcome}."
    return job_result(status, result={"outcome": outcome, "summary": summary})


@pytest.fixture
def ledger(sqlite_ledger: Ledger) -> Ledger:
    return sqlite_ledger


@pytest.fixture
async def parts(ledger: Ledger) -> AsyncIterator[tuple[Grants, FakeNautobot, FakeSlack]]:
    nautobot, slack = FakeNautobot(), FakeSlack()
    client = nautobot.client()
    threads = SlackThreads(slack, ChannelPacer(0))  # type: ignore[arg-type]
    yield Grants(ledger, client, threads, TIMES, Metrics()), nautobot, slack
    await client.aclose()


async def record(grants: Grants, granted: timedelta, expires: timedelta, **changes: Any) -> Grant:
    stamp = datetime.now(UTC)
    grant = grant_of(REQUEST, THREAD, granting_run(stamp + expires))
    assert grant is not None
    grant = grant.model_copy(update={"granted_at": stamp + granted, **changes})
    return await grants.ledger.record_grant(grant, TIMES)


async def due_now(ledger: Ledger) -> None:
    statement = update(GRANTS).where(GRANTS.c.scheduled_job_id == SCHEDULED).values(due=datetime.now(UTC))
    await ledger._run(lambda conn: conn.execute(statement) and None, write=True)


async def fire(grants: Grants) -> None:
    await grants.fire()
    await asyncio.gather(*grants.tasks)


def replies(slack: FakeSlack) -> list[dict[str, Any]]:
    return [call for call in slack.calls_to("chat_postMessage") if call.get("thread_ts") == PARENT]


def test_a_successful_run_with_a_revoke_entry_is_a_grant_and_nothing_else_is() -> None:
    expires = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    grant = grant_of(REQUEST, THREAD, granting_run(expires))
    assert grant is not None
    assert (grant.scheduled_job_id, grant.revoke_job, grant.expires_at) == (SCHEDULED, REVOKE, expires)
    assert (grant.email, grant.organization, grant.channel, grant.ts) == ("jane@example.com", "Acme", CHANNEL, PARENT)
    assert grant.revoke == GRANT_INPUT

    dry_run = JobRun.from_api(job_result("SUCCESS", result={"outcome": "dry-run", "revoke": None}), BASE)
    failed = JobRun.from_api({**job_result("FAILURE"), "result": granting_run(expires).result}, BASE)
    malformed = granting_run(expires, scheduled_job_id=None)
    assert [grant_of(REQUEST, THREAD, run) for run in (dry_run, failed, malformed)] == [None, None, None]


async def test_the_requester_is_warned_once_in_the_thread_with_revoke_now(parts) -> None:
    grants, _, slack = parts
    await record(grants, granted=-timedelta(hours=1), expires=timedelta(minutes=5))

    await fire(grants)
    await fire(grants)

    (warning,) = replies(slack)
    text = blocks_text(warning["blocks"])
    assert f"<@{REQUESTER}>" in text and "jane@example.com in Acme ends <!date^" in text
    buttons = [e.to_dict() for b in warning["blocks"] if b.type == "actions" for e in b.elements]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (EXTEND_ACTION_ID, SCHEDULED),
        (REVOKE_NOW_ACTION_ID, SCHEDULED),
    ]


async def test_after_the_expiry_the_scheduled_revokes_result_and_log_go_into_the_thread_once(parts) -> None:
    grants, nautobot, slack = parts
    await record(grants, granted=-timedelta(hours=1), expires=-timedelta(seconds=1), warned=True)
    found = {"count": 1, "next": None, "previous": None, "results": [revoke_run("restored")]}
    nautobot.on("GET", "/api/extras/job-results/", ok({**found, "count": 0, "results": []}), ok(found))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    await fire(grants)  # not run yet
    assert replies(slack) == []
    await due_now(grants.ledger)  # the next look, without waiting for it
    await fire(grants)
    await fire(grants)

    ended, *log = replies(slack)
    assert blocks_text(ended["blocks"]).startswith("⌛ *Expired*: the access from before the grant is back.")
    assert "is restored." in blocks_text(ended["blocks"])
    assert log and "Created administrator bob@example.com" in str([blocks_text(m["blocks"]) for m in log])
    assert nautobot.count("POST", RUN_REVOKE) == 0


async def test_a_late_revoke_is_reported_and_run_once_by_the_bot(parts, caplog: pytest.LogCaptureFixture) -> None:
    grants, nautobot, slack = parts
    await record(grants, granted=-timedelta(hours=1), expires=-timedelta(minutes=6), warned=True)
    revoke_job = {**JOB, "id": REVOKE_JOB_ID, "name": REVOKE}
    nautobot.on("GET", JOBS, ok({"count": 1, "next": None, "previous": None, "results": [revoke_job]}))
    nautobot.on("POST", RUN_REVOKE, ok({"scheduled_job": None, "job_result": job_result("PENDING")}, 201))
    nautobot.on("GET", "/api/extras/job-results/", ok({"count": 0, "next": None, "previous": None, "results": []}))
    nautobot.on("GET", RESULT_PATH, ok(revoke_run("removed")))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    with caplog.at_level(logging.ERROR, logger="bot.grants"):
        await fire(grants)
        await fire(grants)  # another sweep: the bot's own run is followed, never started twice
    await due_now(grants.ledger)
    await fire(grants)

    assert nautobot.count("POST", RUN_REVOKE) == 1
    (body,) = [r for r in nautobot.requests if r.method == "POST"]
    sent = json.loads(body.content)["data"]
    assert sent["grant"] == GRANT_INPUT and sent["request_id"] == "R1" and "did not run in time" in sent["requested_by"]
    assert any("has not run" in record.message for record in caplog.records if record.levelno == logging.ERROR)
    late, ended, *_ = replies(slack)
    assert "was due <!date^" in blocks_text(late["blocks"]) and "The bot runs it now" in blocks_text(late["blocks"])
    assert "the administrator the grant created was removed" in blocks_text(ended["blocks"])
    assert [c["users"] for c in slack.calls_to("conversations_open")] == [REQUESTER]  # told directly too
    assert grants.metrics.grant_revokes_late._value.get() == 1


async def test_revoke_now_is_the_requesters_alone_and_runs_once(parts) -> None:
    grants, nautobot, slack = parts
    await record(grants, granted=-timedelta(minutes=1), expires=timedelta(hours=2))
    revoke_job = {**JOB, "id": REVOKE_JOB_ID, "name": REVOKE}
    nautobot.on("GET", JOBS, ok({"count": 1, "next": None, "previous": None, "results": [revoke_job]}))
    nautobot.on("POST", RUN_REVOKE, ok({"scheduled_job": None, "job_result": job_result("PENDING")}, 201))

    assert "Only the person who asked" in (await grants.revoke_now(SCHEDULED, "U0MALLORY") or "")
    assert await grants.revoke_now(SCHEDULED, REQUESTER) is None
    assert "on its way" in (await grants.revoke_now(SCHEDULED, REQUESTER) or "")
    assert await grants.revoke_now("another-schedule", REQUESTER) == "The bot knows no such grant."

    assert nautobot.count("POST", RUN_REVOKE) == 1
    (said,) = replies(slack)
    assert f"<@{REQUESTER}> asked to revoke" in blocks_text(said["blocks"])


async def test_revoke_now_that_nautobot_refuses_can_be_clicked_again(parts) -> None:
    grants, nautobot, _ = parts
    await record(grants, granted=-timedelta(minutes=1), expires=timedelta(hours=2))
    nautobot.on("GET", JOBS, ok({"count": 0, "next": None, "previous": None, "results": []}))

    refused = await grants.revoke_now(SCHEDULED, REQUESTER)

    assert refused is not None and "could not be started" in refused
    found = await grants.ledger.get_grant(SCHEDULED)
    assert found is not None and found[0].rescued_at is None  # free to try again


async def test_access_changed_by_hand_is_told_to_the_requester_and_the_approvers_directly(parts) -> None:
    grants, nautobot, slack = parts
    await record(
        grants, granted=-timedelta(hours=1), expires=-timedelta(seconds=1), warned=True, approvers=("U0CAROL1",)
    )
    found = {"count": 1, "next": None, "previous": None, "results": [revoke_run("changed")]}
    nautobot.on("GET", "/api/extras/job-results/", ok(found))
    nautobot.on("GET", LOGS_PATH, ok(LOGS))

    await fire(grants)

    (ended, *_) = replies(slack)
    text = blocks_text(ended["blocks"])
    assert text.startswith(f"⚠️ <@{REQUESTER}> *Expired*, jane@example.com in Acme: the access was changed by hand")
    assert [c["users"] for c in slack.calls_to("conversations_open")] == [REQUESTER, "U0CAROL1"]
    assert grants.metrics.grants_ended.labels(outcome="changed")._value.get() == 1


async def test_a_late_revoke_nautobot_holds_for_approval_is_said_once_and_not_asked_again(parts) -> None:
    grants, nautobot, slack = parts
    await record(grants, granted=-timedelta(hours=1), expires=-timedelta(minutes=6), warned=True)
    revoke_job = {**JOB, "id": REVOKE_JOB_ID, "name": REVOKE}
    nautobot.on("GET", JOBS, ok({"count": 1, "next": None, "previous": None, "results": [revoke_job]}))
    nautobot.on("POST", RUN_REVOKE, ok(RUN_AWAITING_APPROVAL, 201))

    await fire(grants)
    await due_now(grants.ledger)
    await fire(grants)

    assert nautobot.count("POST", RUN_REVOKE) == 1
    _late, held = replies(slack)
    assert "Nautobot holds it for approval; it runs once approved at" in blocks_text(held["blocks"])
    assert "tries again" not in blocks_text(held["blocks"])
    found = await grants.ledger.get_grant(SCHEDULED)
    assert found is not None and found[1] is GrantState.ENDED and found[0].outcome == HELD
