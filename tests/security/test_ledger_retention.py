"""What the ledger keeps: finished requests and audit entries past their days are swept, in batches, by any
number of replicas at once; an unfinished request never is. Echoed text in an audit entry is capped; ``doctor``
tells the ledger's size. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import update

from bot.doctor.ledger_check import _ledger_verdict
from bot.doctor.report import Status
from bot.ledger import AuditAction, AuditEntry, AuditOutcome, Ledger, RequestState
from bot.ledger import retention as retention_module
from bot.ledger.grant import Grant
from bot.ledger.grants import GrantTimes
from bot.ledger.retention import Retention, ledger_size, sweep
from bot.ledger.schema import GRANTS, REQUESTS, now
from bot.models import RunRequest
from tests.support.audit_trail import audit_trail
from tests.support.fixtures import service_missing
from tests.support.ledger_reads import unfinished
from tests.support.postgres import psql

pytestmark = pytest.mark.security

KEEP = Retention(requests_days=90, audit_days=365)


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    try:
        psql("SELECT 1")
    except psycopg2.OperationalError as exc:
        service_missing(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {' '.join(str(exc).split())}")
    name = f"meraki_chatops_retention_test_{secrets.token_hex(6)}"
    psql(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}"
    database: str = request.getfixturevalue("postgres_database")
    psql("DROP SCHEMA public CASCADE", "CREATE SCHEMA public", database=database)
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"


@pytest.fixture
async def ledger(url: str) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(url)
    yield opened
    await opened.close()


async def request(ledger: Ledger, request_id: str, *, finished_days_ago: float | None, created_days_ago: float = 0):
    """A request recorded ``created_days_ago``; refused (finished) ``finished_days_ago``, or left unfinished."""
    await ledger.record(
        RunRequest(request_id=request_id, requester_id="U1", channel_id="C1", job_name="Find Meraki User", inputs={})
    )
    if finished_days_ago is not None:
        await ledger.refused(request_id, "Nautobot refused it")
    stamp = now()
    values = {"created_at": stamp - timedelta(days=created_days_ago), "updated_at": stamp}
    if finished_days_ago is not None:
        values["finished_at"] = stamp - timedelta(days=finished_days_ago)
    statement = update(REQUESTS).where(REQUESTS.c.request_id == request_id).values(**values)
    await ledger._run(lambda conn: conn.execute(statement) and None, write=True)


async def audit(ledger: Ledger, days_ago: float, text: str = "") -> None:
    entry = AuditEntry(
        action=AuditAction.COMMAND,
        outcome=AuditOutcome.DENIED,
        user_id="U1",
        inputs={"command_text": text} if text else None,
        at=now() - timedelta(days=days_ago),
    )
    await ledger.audit(entry)


async def request_ids(ledger: Ledger) -> set[str]:
    return {record.request_id for record in await unfinished(ledger)} | {
        key
        for key in ("old-done", "recent-done", "old-unsent", "old-working", "edge-done")
        if await ledger.get(key) is not None
    }


async def test_old_finished_requests_and_audit_entries_go_and_unfinished_requests_never(ledger: Ledger):
    await request(ledger, "old-done", finished_days_ago=91, created_days_ago=92)
    await request(ledger, "recent-done", finished_days_ago=89, created_days_ago=400)  # finished recently: kept
    await request(ledger, "old-working", finished_days_ago=None, created_days_ago=1000)
    await request(ledger, "old-unsent", finished_days_ago=None, created_days_ago=1000)
    await ledger.unsent("old-unsent", "Nautobot could not be reached")  # kept for a Retry, however old
    for days in (366, 400, 364, 1):
        await audit(ledger, days)

    swept = await sweep(ledger, KEEP)

    assert (swept.requests, swept.audit) == (1, 2)
    assert await request_ids(ledger) == {"recent-done", "old-working", "old-unsent"}
    assert (await ledger.get("old-unsent")).state is RequestState.UNSENT
    assert len(await audit_trail(ledger)) == 2
    assert await sweep(ledger, KEEP) == retention_module.Swept()  # nothing more: a second sweep is a no-op


async def test_zero_days_keeps_everything(ledger: Ledger):
    await request(ledger, "old-done", finished_days_ago=5000, created_days_ago=5000)
    await audit(ledger, 5000)

    assert await sweep(ledger, Retention(requests_days=0, audit_days=0)) == retention_module.Swept()
    assert await ledger.get("old-done") is not None and len(await audit_trail(ledger)) == 1


async def test_a_backlog_goes_in_bounded_batches(ledger: Ledger, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(retention_module, "BATCH", 7)
    monkeypatch.setattr(retention_module, "BATCH_PAUSE", 0)
    batches: list[int] = []
    real = retention_module._delete_batch

    def counted(*args):
        batches.append(real(*args))
        return batches[-1]

    monkeypatch.setattr(retention_module, "_delete_batch", counted)
    for n in range(30):
        await audit(ledger, 400 + n)
    await audit(ledger, 1)

    swept = await sweep(ledger, KEEP)

    assert swept.audit == 30 and len(await audit_trail(ledger)) == 1
    assert max(batches) <= 7 and sum(batches) == 30


async def test_several_replicas_sweep_at_once(url: str, ledger: Ledger):
    for n in range(40):
        await audit(ledger, 400 + n)
        await request(ledger, f"done-{n}", finished_days_ago=100, created_days_ago=100)
    await request(ledger, "old-working", finished_days_ago=None, created_days_ago=1000)
    others = [await Ledger.open(url, owner=f"replica-{n}") for n in range(3)]
    try:
        results = await asyncio.gather(*(sweep(replica, KEEP) for replica in (ledger, *others)))
    finally:
        for other in others:
            await other.close()

    assert sum(result.audit for result in results) == 40
    assert sum(result.requests for result in results) == 40
    assert await audit_trail(ledger) == [] and [r.request_id for r in await unfinished(ledger)] == ["old-working"]


async def test_echoed_text_in_an_audit_entry_is_capped(ledger: Ledger):
    await audit(ledger, 0, text="<!channel> " * 400)

    [entry] = await audit_trail(ledger)

    kept = entry.inputs["command_text"]
    assert len(kept) <= 500 and kept.startswith("<!channel> ") and kept.endswith("… [cut: 4400 characters]")


async def test_doctor_tells_the_ledger_size(url: str, ledger: Ledger):
    await request(ledger, "done", finished_days_ago=1)
    await audit(ledger, 1)
    await audit(ledger, 2)

    size = await ledger_size(ledger)
    verdict = await _ledger_verdict(functools.partial(Ledger.open), url, "the ledger")

    assert size.rows == {"requests": 1, "audit": 2} and size.bytes is not None and size.bytes > 0
    assert verdict.status is Status.OK
    assert "it holds 1 request, 2 audit entries, " in verdict.detail and verdict.detail.endswith("iB")


async def test_ended_grants_go_with_old_requests_and_active_ones_never(ledger: Ledger):
    stamp = now()
    for key, ended, days_ago in (("old-ended", True, 91), ("new-ended", True, 1), ("old-active", False, 400)):
        grant = Grant(
            scheduled_job_id=key,
            request_id=key,
            requester_id="U1",
            channel="C1",
            ts="1.1",
            revoke_job="Revoke Meraki Access",
            email="jane@example.com",
            organization="Acme",
            granted_at=stamp - timedelta(days=days_ago + 1),
            expires_at=stamp - timedelta(days=days_ago),
            revoke={},
        )
        await ledger.record_grant(grant, GrantTimes.default())
        if ended:
            await ledger.grant_ended(key, "removed")
        statement = update(GRANTS).where(GRANTS.c.scheduled_job_id == key).values(updated_at=grant.expires_at)
        await ledger._run(lambda conn, statement=statement: conn.execute(statement) and None, write=True)

    assert (await sweep(ledger, KEEP)).grants == 1
    assert await ledger.get_grant("old-ended") is None
    assert await ledger.get_grant("new-ended") is not None and await ledger.get_grant("old-active") is not None
