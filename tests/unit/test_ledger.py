"""The request ledger on SQLite and on the machine's real PostgreSQL.

Every test that touches a database runs on both backends: SQLite in a temporary file, and a
throwaway PostgreSQL database (created for the session, emptied before each test, dropped at the end).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from bot.ledger import (
    DEFAULT_URL,
    AuditAction,
    AuditEntry,
    AuditOutcome,
    IllegalTransition,
    Ledger,
    LedgerError,
    LedgerUnavailable,
    LostLease,
    Record,
    RequestState,
    SchemaTooNew,
    UnknownRequest,
    async_url,
    migrations,
)
from bot.ledger.schema import AuditRow, RequestRow
from bot.models import RunRequest, RunStatus
from tests.support.audit_trail import audit_trail
from tests.support.ledger_backends import Backend, sqlite_backend
from tests.support.ledger_reads import unfinished

LATEST = len(migrations.MIGRATIONS)


async def _sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement outside the ledger, as an operator or another program would."""
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def _inspect(url: str, look: Callable[[Connection], Any]) -> Any:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(look)
    finally:
        await engine.dispose()


V1_ROW = (
    "INSERT INTO requests (request_id, requester_id, channel_id, job_name, inputs, dryrun, state, log_posted, "
    "attempts, created_at, updated_at) VALUES ('V0001', 'U0001', 'C0001', 'Create Meraki User', "
    "'{\"email\": \"ana@example.com\"}', true, 'received', false, 0, '2026-11-01 10:00:00', '2026-11-01 10:00:00')"
)


def _request(request_id: str = "V0001", **changes: Any) -> RunRequest:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "requester_id": "U0001",
        "channel_id": "C0001",
        "job_name": "Create Meraki User",
        "inputs": {"email": "ana@example.com", "access": "read-only", "orgs": ["1", "2"], "dryrun": True},
        "dryrun": True,
    }
    return RunRequest(**(fields | changes))


# -- the steps of the state machine, named, so tests can drive any request anywhere -------------

Step = Callable[[Ledger, str], Awaitable[Record]]

STEPS: dict[str, Step] = {
    "begin_submit": lambda ledger, rid: ledger.begin_submit(rid),
    "submitted": lambda ledger, rid: ledger.submitted(rid, result_id="R1", scheduled_job_id=None),
    "refused": lambda ledger, rid: ledger.refused(rid, "Nautobot said no"),
    "unsent": lambda ledger, rid: ledger.unsent(rid, "Nautobot unreachable"),
    "announced": lambda ledger, rid: ledger.announced(rid, channel="C0001", ts="1.000100", run_status="queued"),
    "set_run_status": lambda ledger, rid: ledger.set_run_status(rid, RunStatus.RUNNING),
    "logged": lambda ledger, rid: ledger.logged(rid),
    "done": lambda ledger, rid: ledger.done(rid),
}

PATH_TO: dict[RequestState, list[str]] = {
    RequestState.RECEIVED: [],
    RequestState.SUBMITTING: ["begin_submit"],
    RequestState.SUBMITTED: ["begin_submit", "submitted"],
    RequestState.ANNOUNCED: ["begin_submit", "submitted", "announced"],
    RequestState.LOGGED: ["begin_submit", "submitted", "announced", "logged"],
    RequestState.DONE: ["begin_submit", "submitted", "announced", "logged", "done"],
    RequestState.REFUSED: ["refused"],
    RequestState.UNSENT: ["unsent"],
}

ALLOWED: dict[RequestState, set[str]] = {
    RequestState.RECEIVED: {"begin_submit", "refused", "unsent"},
    RequestState.SUBMITTING: {"submitted", "refused", "unsent"},
    RequestState.SUBMITTED: {"announced", "set_run_status"},
    RequestState.ANNOUNCED: {"logged", "set_run_status"},
    RequestState.LOGGED: {"done"},
    RequestState.DONE: set(),
    RequestState.REFUSED: set(),
    RequestState.UNSENT: {"begin_submit"},
}


async def _bring(ledger: Ledger, request_id: str, state: RequestState) -> Record:
    record, _ = await ledger.record(_request(request_id))
    for name in PATH_TO[state]:
        record = await STEPS[name](ledger, request_id)
    assert record.state is state
    return record


# -- idempotency ---------------------------------------------------------------------------------


async def test_record_is_idempotent(ledger: Ledger, backend: Backend) -> None:
    first, created = await ledger.record(_request())
    again, created_again = await ledger.record(_request(inputs={"email": "other@example.com"}))

    assert (created, created_again) == (True, False)
    assert again == first
    assert again.inputs["email"] == "ana@example.com"
    assert await _sql(backend.url, "SELECT count(*) FROM requests") == [(1,)]


async def test_record_returns_the_request_as_it_stands_now(ledger: Ledger) -> None:
    await ledger.record(_request())
    await ledger.begin_submit("V0001")

    existing, created = await ledger.record(_request())

    assert not created
    assert existing.state is RequestState.SUBMITTING
    assert existing.attempts == 1


async def test_twenty_concurrent_records_of_one_key_create_one(backend: Backend) -> None:
    replicas = [await Ledger.open(backend.url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(replicas[i % 2].record(_request()) for i in range(20)))
    finally:
        for replica in replicas:
            await replica.close()

    assert sum(created for _, created in results) == 1
    assert len({record.created_at for record, _ in results}) == 1
    assert await _sql(backend.url, "SELECT count(*) FROM requests") == [(1,)]


async def test_a_new_record_is_received_with_its_request(ledger: Ledger) -> None:
    record, _ = await ledger.record(_request())

    assert record.state is RequestState.RECEIVED
    assert (record.attempts, record.log_posted, record.final) == (0, False, False)
    assert record.result_id is record.message_ts is record.run_status is record.finished_at is None
    assert record.to_request() == _request()
    assert await ledger.get("V0001") == record


async def test_an_over_long_key_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="at most 255"):
        await ledger.record(_request("V" * 256))
    assert await ledger.get("V" * 256) is None


# -- the state machine ---------------------------------------------------------------------------


async def test_happy_path(ledger: Ledger) -> None:
    await ledger.record(_request())

    submitting = await ledger.begin_submit("V0001")
    assert (submitting.state, submitting.attempts) == (RequestState.SUBMITTING, 1)

    submitted = await ledger.submitted("V0001", result_id="R1", scheduled_job_id=None)
    assert (submitted.state, submitted.result_id, submitted.scheduled_job_id) == (RequestState.SUBMITTED, "R1", None)

    announced = await ledger.announced("V0001", channel="C0001", ts="1.000100", run_status=RunStatus.QUEUED)
    assert announced.state is RequestState.ANNOUNCED
    assert (announced.message_channel, announced.message_ts, announced.run_status) == (
        "C0001",
        "1.000100",
        RunStatus.QUEUED,
    )

    running = await ledger.set_run_status("V0001", RunStatus.RUNNING)
    succeeded = await ledger.set_run_status("V0001", "succeeded")
    assert (running.run_status, succeeded.run_status) == (RunStatus.RUNNING, RunStatus.SUCCEEDED)
    assert succeeded.state is RequestState.ANNOUNCED

    logged = await ledger.logged("V0001")
    assert (logged.state, logged.log_posted, logged.finished_at) == (RequestState.LOGGED, True, None)

    done = await ledger.done("V0001")
    assert (done.state, done.final, done.attempts, done.result_id) == (RequestState.DONE, True, 1, "R1")
    assert done.finished_at is not None
    assert await ledger.get("V0001") == done


async def test_approval_path_and_timed_out_follow(ledger: Ledger) -> None:
    await _bring(ledger, "V0001", RequestState.SUBMITTING)

    submitted = await ledger.submitted("V0001", result_id=None, scheduled_job_id="S1")
    await ledger.set_run_status("V0001", RunStatus.AWAITING_APPROVAL)
    await ledger.announced("V0001", channel="C0001", ts="1.0", run_status=RunStatus.AWAITING_APPROVAL)
    timed_out = await ledger.set_run_status("V0001", RunStatus.TIMED_OUT)

    assert (submitted.scheduled_job_id, submitted.result_id) == ("S1", None)
    assert (timed_out.state, timed_out.run_status, timed_out.final) == (
        RequestState.ANNOUNCED,
        RunStatus.TIMED_OUT,
        False,
    )
    assert [record.request_id for record in await unfinished(ledger)] == ["V0001"]


class _AnswerLost:
    """The ledger's steps with the next ``lost`` writes' answers lost: each runs (and commits, if ``after``) and then
    raises as a connection killed during its COMMIT does."""

    def __init__(self, steps: Any, lost: int, *, after: bool) -> None:
        self._steps, self.lost, self._after = steps, lost, after

    async def run(self, step: Any, *, write: bool) -> Any:
        if write and self.lost:
            self.lost -= 1
            if self._after:
                await self._steps.run(step, write=write)
            raise OperationalError("COMMIT", {}, ConnectionError("connection was closed in the middle of operation"))
        return await self._steps.run(step, write=write)

    async def close(self) -> None:
        await self._steps.close()


@pytest.mark.parametrize("after", [True, False], ids=["committed", "not committed"])
async def test_a_change_whose_answer_was_lost_is_tried_once_more_and_not_refused(ledger: Ledger, after: bool) -> None:
    """A run's log was posted, then the connection died during the COMMIT of ``logged``: whether it landed or not,
    the step returns the logged request (a refusal would have the log posted again from ``announced``)."""
    await ledger.record(_request())
    for name in PATH_TO[RequestState.ANNOUNCED]:
        await STEPS[name](ledger, "V0001")
    ledger._steps = _AnswerLost(ledger._steps, 1, after=after)

    logged = await ledger.logged("V0001")

    assert (logged.state, logged.log_posted) == (RequestState.LOGGED, True)
    assert await ledger.get("V0001") == logged
    assert (await ledger.done("V0001")).state is RequestState.DONE


async def test_a_change_whose_answer_is_lost_twice_is_unavailable(ledger: Ledger) -> None:
    await ledger.record(_request())
    for name in PATH_TO[RequestState.ANNOUNCED]:
        await STEPS[name](ledger, "V0001")
    ledger._steps = _AnswerLost(ledger._steps, 2, after=False)

    with pytest.raises(LedgerUnavailable):
        await ledger.logged("V0001")
    assert (await ledger.get("V0001")).state is RequestState.ANNOUNCED


async def test_every_illegal_transition_raises_and_changes_nothing(ledger: Ledger) -> None:
    wrong: list[str] = []
    for state in PATH_TO:
        parked = await _bring(ledger, state.value, state)
        for name, step in STEPS.items():
            legal = name in ALLOWED[state]
            request_id = f"{state.value}-{name}" if legal else parked.request_id
            if legal:
                await _bring(ledger, request_id, state)
            try:
                after = await step(ledger, request_id)
            except IllegalTransition as exc:
                if legal:
                    wrong.append(f"{name} from {state.value} raised {exc}")
                elif exc.state is not state or await ledger.get(request_id) != parked:
                    wrong.append(f"{name} from {state.value} changed the request")
            else:
                if not legal:
                    wrong.append(f"{name} from {state.value} was allowed (→ {after.state.value})")
    assert wrong == []


async def test_illegal_transition_is_a_ledger_error_naming_the_state(ledger: Ledger) -> None:
    await ledger.record(_request())

    with pytest.raises(LedgerError, match="V0001 is received; cannot move it to done"):
        await ledger.done("V0001")


async def test_steps_on_an_unknown_request_raise(ledger: Ledger) -> None:
    for step in STEPS.values():
        with pytest.raises(UnknownRequest, match="no request nope"):
            await step(ledger, "nope")
    assert issubclass(UnknownRequest, LedgerError)
    assert await ledger.get("nope") is None


async def test_an_accepted_run_needs_a_result_or_a_scheduled_job(ledger: Ledger) -> None:
    await _bring(ledger, "V0001", RequestState.SUBMITTING)

    with pytest.raises(LedgerError, match="result id or a scheduled job id"):
        await ledger.submitted("V0001", result_id=None, scheduled_job_id=None)
    assert (await ledger.get("V0001")).state is RequestState.SUBMITTING


async def test_an_unknown_run_status_is_refused(ledger: Ledger) -> None:
    await _bring(ledger, "V0001", RequestState.SUBMITTED)

    with pytest.raises(LedgerError, match="not a run status"):
        await ledger.set_run_status("V0001", "exploded")
    assert (await ledger.get("V0001")).run_status is None


async def test_concurrent_begin_submit_lets_exactly_one_through(backend: Backend) -> None:
    replicas = [await Ledger.open(backend.url) for _ in range(2)]
    try:
        await replicas[0].record(_request())
        outcomes = await asyncio.gather(
            *(replicas[i % 2].begin_submit("V0001") for i in range(6)), return_exceptions=True
        )
        final = await replicas[0].get("V0001")
    finally:
        for replica in replicas:
            await replica.close()

    winners = [outcome for outcome in outcomes if isinstance(outcome, Record)]
    losers = [outcome for outcome in outcomes if isinstance(outcome, LedgerError)]
    assert (len(winners), len(losers)) == (1, 5)
    assert all(isinstance(loser, IllegalTransition) and loser.state is RequestState.SUBMITTING for loser in losers)
    assert (final.state, final.attempts) == (RequestState.SUBMITTING, 1)


async def test_unsent_request_can_be_retried(ledger: Ledger) -> None:
    await _bring(ledger, "V0001", RequestState.SUBMITTING)

    unsent = await ledger.unsent("V0001", "Nautobot did not answer in 10 s")
    retry = await ledger.begin_submit("V0001")
    accepted = await ledger.submitted("V0001", result_id="R1", scheduled_job_id=None)

    assert (unsent.state, unsent.error, unsent.final) == (
        RequestState.UNSENT,
        "Nautobot did not answer in 10 s",
        False,
    )
    assert (retry.state, retry.attempts, retry.error) == (RequestState.SUBMITTING, 2, unsent.error)
    assert (accepted.state, accepted.error) == (RequestState.SUBMITTED, None)


async def test_unsent_straight_from_received(ledger: Ledger) -> None:
    await ledger.record(_request())

    unsent = await ledger.unsent("V0001", "connection refused")

    assert (unsent.state, unsent.attempts) == (RequestState.UNSENT, 0)
    assert (await ledger.begin_submit("V0001")).attempts == 1


async def test_refused_is_final(ledger: Ledger) -> None:
    await _bring(ledger, "V0001", RequestState.SUBMITTING)

    refused = await ledger.refused("V0001", "email: does not match the pattern")

    assert (refused.state, refused.final, refused.error) == (
        RequestState.REFUSED,
        True,
        "email: does not match the pattern",
    )
    assert refused.finished_at is not None
    assert await unfinished(ledger) == []


async def test_unfinished_lists_every_open_request_oldest_first(ledger: Ledger) -> None:
    states = [
        RequestState.ANNOUNCED,
        RequestState.DONE,
        RequestState.RECEIVED,
        RequestState.REFUSED,
        RequestState.UNSENT,
        RequestState.SUBMITTING,
        RequestState.LOGGED,
        RequestState.SUBMITTED,
    ]
    for number, state in enumerate(states):
        await _bring(ledger, f"V{number:04d}-{state.value}", state)
    await ledger.set_run_status("V0000-announced", RunStatus.RUNNING)  # newer update, still the oldest request

    open_requests = await unfinished(ledger)

    assert [record.request_id for record in open_requests] == [
        "V0000-announced",
        "V0002-received",
        "V0004-unsent",
        "V0005-submitting",
        "V0006-logged",
        "V0007-submitted",
    ]
    assert not any(record.final for record in open_requests)


# -- timestamps ----------------------------------------------------------------------------------


async def test_timestamps_are_utc_aware(ledger: Ledger) -> None:
    before = datetime.now(UTC)
    record, _ = await ledger.record(_request())
    done = await _bring(ledger, "V0002", RequestState.DONE)
    after = datetime.now(UTC)
    stored = await ledger.get("V0002")

    for moment in (record.created_at, record.updated_at, done.created_at, done.updated_at, done.finished_at):
        assert moment is not None
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
        assert before <= moment <= after
    assert done.created_at < done.updated_at == done.finished_at
    assert stored == done


# -- schema --------------------------------------------------------------------------------------


async def test_schema_version_table_and_requests_table(ledger: Ledger, backend: Backend) -> None:
    def look(conn: Connection) -> tuple[set[str], set[str], list[dict[str, Any]]]:
        inspector = inspect(conn)
        columns = {column["name"] for column in inspector.get_columns("requests")}
        return set(inspector.get_table_names()), columns, inspector.get_indexes("requests")

    tables, columns, indexes = await _inspect(backend.url, look)

    versions = await _sql(backend.url, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(number,) for number in range(1, LATEST + 1)]
    assert {"schema_version", "requests", "audit"} <= tables
    assert columns == set(RequestRow.__table__.columns.keys())
    assert any(index["column_names"] == ["state"] for index in indexes)


async def test_reopening_keeps_the_data(backend: Backend) -> None:
    async with await Ledger.open(backend.url) as first:
        recorded = await _bring(first, "V0001", RequestState.ANNOUNCED)

    async with await Ledger.open(backend.url) as second:
        assert await second.get("V0001") == recorded
        assert await unfinished(second) == [recorded]
        assert (await second.record(_request()))[1] is False
    assert await _sql(backend.url, "SELECT count(*) FROM schema_version") == [(LATEST,)]


async def test_a_newer_schema_is_refused(backend: Backend) -> None:
    await (await Ledger.open(backend.url)).close()
    await _sql(backend.url, "INSERT INTO schema_version (version, applied_at) VALUES (99, CURRENT_TIMESTAMP)")

    with pytest.raises(SchemaTooNew, match=f"schema version 99, but this bot knows only up to {LATEST}"):
        await Ledger.open(backend.url)


async def test_an_old_schema_is_upgraded_once(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with await Ledger.open(backend.url) as old:
        await old.record(_request())

    def add_notes(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY)"))

    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, add_notes))
    caplog.set_level(logging.INFO, logger="bot.ledger")
    for _ in range(2):
        await (await Ledger.open(backend.url)).close()

    upgrades = [r.getMessage() for r in caplog.records if r.name == "bot.ledger" and r.levelno == logging.INFO]
    assert len(upgrades) == 1
    assert f"from version {LATEST} to {LATEST + 1}" in upgrades[0]
    versions = await _sql(backend.url, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(number,) for number in range(1, LATEST + 2)]
    assert await _sql(backend.url, "SELECT count(*) FROM notes") == [(0,)]
    assert await _sql(backend.url, "SELECT request_id FROM requests") == [("V0001",)]


async def test_a_failing_upgrade_step_leaves_the_old_schema(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    await (await Ledger.open(backend.url)).close()

    def half_done(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
        raise RuntimeError("step failed")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, half_done))
    with pytest.raises(RuntimeError, match="step failed"):
        await Ledger.open(backend.url)

    tables = await _inspect(backend.url, lambda conn: inspect(conn).get_table_names())
    assert "half_done" not in tables
    assert await _sql(backend.url, "SELECT max(version) FROM schema_version") == [(LATEST,)]


async def test_replicas_opening_a_fresh_database_at_once_upgrade_it_once(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.ledger")

    replicas = await asyncio.gather(*(Ledger.open(backend.url) for _ in range(4)))
    for replica in replicas:
        assert await replica.writable()
        await replica.close()

    assert await _sql(backend.url, "SELECT max(version) FROM schema_version") == [(LATEST,)]
    assert sum("upgraded" in record.getMessage() for record in caplog.records) == 1


async def test_a_version_1_ledger_gains_the_audit_table_and_keeps_its_requests(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        async with await Ledger.open(backend.url):
            pass
        await _sql(backend.url, V1_ROW)  # as a bot of version 1 wrote it
        tables = await _inspect(backend.url, lambda conn: inspect(conn).get_table_names())
        assert "audit" not in tables

    async with await Ledger.open(backend.url) as upgraded:
        assert (await upgraded.get("V0001")).state is RequestState.RECEIVED
        await upgraded.audit(AuditEntry(AuditAction.COMMAND, AuditOutcome.DENIED, "U0ALICE", reason="no rule"))
        [entry] = await audit_trail(upgraded)
    assert entry.reason == "no rule"
    assert await _sql(backend.url, "SELECT version FROM schema_version ORDER BY version") == [
        (n,) for n in range(1, LATEST + 1)
    ]
    columns = await _inspect(backend.url, lambda conn: {c["name"] for c in inspect(conn).get_columns("audit")})
    assert columns == set(AuditRow.__table__.columns.keys())
    columns = await _inspect(backend.url, lambda conn: {c["name"] for c in inspect(conn).get_columns("requests")})
    assert columns == set(RequestRow.__table__.columns.keys())


async def test_the_audit_trail_keeps_who_when_what_and_the_outcome(ledger: Ledger) -> None:
    before = datetime.now(UTC)
    denied = await ledger.audit(
        AuditEntry(
            AuditAction.COMMAND,
            AuditOutcome.DENIED,
            "U0BOB",
            user_name="bob",
            channel_id="C0NETOPS",
            team_id="T0ACME",
            reason="no rule names U0BOB",
            source="ACCESS_POLICY",
        )
    )
    submitted = await ledger.audit(
        AuditEntry(
            AuditAction.SUBMIT,
            AuditOutcome.SUBMITTED,
            "U0ALICE",
            request_id="V0001:abc",
            job_name="Create Meraki User",
            inputs={"user_email": "jane@example.com", "dryrun": False},
            nautobot_user="alice",
        )
    )

    trail = await audit_trail(ledger)
    assert trail == [denied, submitted]
    assert all(entry.at is not None and before <= entry.at <= datetime.now(UTC) for entry in trail)
    assert trail[0].reason == "no rule names U0BOB" and trail[0].team_id == "T0ACME"
    assert trail[1].inputs == {"user_email": "jane@example.com", "dryrun": False}
    assert await audit_trail(ledger, user_id="U0ALICE") == [submitted]
    assert await audit_trail(ledger, request_id="V0001:abc") == [submitted]


# -- opening, probing, closing -------------------------------------------------------------------


async def test_plain_urls_get_the_async_driver(backend: Backend) -> None:
    plain = backend.url.replace("+aiosqlite", "").replace("+asyncpg", "")

    async with await Ledger.open(plain) as opened:
        assert opened.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))
        assert (await opened.record(_request()))[1]


async def test_writable(backend: Backend) -> None:
    opened = await Ledger.open(backend.url)
    assert await opened.writable()
    assert await opened.get("V0001") is None
    await opened.close()

    assert not await opened.writable()
    with pytest.raises(LedgerError, match="closed"):
        await opened.get("V0001")


async def test_a_read_only_database_is_not_writable(backend: Backend) -> None:
    async with await Ledger.open(backend.url) as opened:
        await opened.record(_request())

    async with await Ledger.open(backend.read_only()) as read_only:
        assert not await read_only.writable()
        assert (await read_only.get("V0001")) is not None
        with pytest.raises(LedgerUnavailable):
            await read_only.begin_submit("V0001")


# -- backend-independent ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///meraki-chatops.sqlite3", "sqlite+aiosqlite:///meraki-chatops.sqlite3"),
        ("sqlite+aiosqlite:////var/lib/bot/ledger.db", "sqlite+aiosqlite:////var/lib/bot/ledger.db"),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://bot@db/chatops", "postgresql+asyncpg://bot@db/chatops"),
        ("postgres://bot@db:5433/chatops", "postgresql+asyncpg://bot@db:5433/chatops"),
        ("postgresql+psycopg2://bot@db/chatops", "postgresql+asyncpg://bot@db/chatops"),
        ("postgresql+asyncpg://bot@db/chatops", "postgresql+asyncpg://bot@db/chatops"),
    ],
)
def test_async_url(given: str, expected: str) -> None:
    assert async_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("given", ["mysql://bot@db/chatops", "not a url"])
def test_unsupported_urls_are_refused(given: str) -> None:
    with pytest.raises(LedgerError, match=r"SQLite and PostgreSQL|not a database URL"):
        async_url(given)


def test_default_url_is_a_sqlite_file_in_the_working_directory() -> None:
    assert DEFAULT_URL == "sqlite+aiosqlite:///meraki-chatops.sqlite3"


async def test_an_unreachable_database_is_a_ledger_error_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(LedgerUnavailable, match="cannot open the request ledger"):
        await Ledger.open(f"sqlite:///{tmp_path}/missing/dir/ledger.sqlite3")
    with pytest.raises(LedgerUnavailable, match="cannot open the request ledger at postgresql") as caught:
        await Ledger.open("postgresql://bot:hunter2@127.0.0.1:1/chatops")
    assert "hunter2" not in str(caught.value)


async def test_sqlite_uses_wal(tmp_path: Path) -> None:
    async with await Ledger.open(sqlite_backend(tmp_path).url) as opened:
        await opened.record(_request())
        conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            conn.close()


async def test_sqlite_waits_for_another_process_to_finish_writing(tmp_path: Path) -> None:
    async with await Ledger.open(sqlite_backend(tmp_path).url) as opened:
        other = sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
            record, created = await opened.record(_request())
        finally:
            other.close()
    assert created and record.state is RequestState.RECEIVED


def test_final_states() -> None:
    assert {state for state in RequestState if state.final} == {RequestState.DONE, RequestState.REFUSED}


# -- owners and leases: several replicas on one ledger ---------------------------------------------


async def test_a_request_another_replica_holds_is_neither_taken_over_nor_moved(backend: Backend) -> None:
    async with (
        await Ledger.open(backend.url, owner="replica-a") as a,
        await Ledger.open(backend.url, owner="replica-b") as b,
    ):
        await a.record(_request())
        await a.begin_submit("V0001")
        assert await b.take_over() == []
        with pytest.raises(LostLease):
            await b.submitted("V0001", result_id="R1", scheduled_job_id=None)
        assert (await a.submitted("V0001", result_id="R1", scheduled_job_id=None)).owner == "replica-a"


async def test_an_expired_lease_is_taken_over_once_and_its_old_owner_stops(backend: Backend) -> None:
    async with (
        await Ledger.open(backend.url, owner="replica-a", lease=0.2) as a,
        await Ledger.open(backend.url, owner="replica-b", lease=30) as b,
        await Ledger.open(backend.url, owner="replica-c", lease=30) as c,
    ):
        await a.record(_request())
        await a.begin_submit("V0001")
        await asyncio.sleep(0.3)  # replica-a stopped renewing: it died
        [taken] = await b.take_over()
        assert (taken.request_id, taken.owner, taken.resumes) == ("V0001", "replica-b", 1)
        assert await c.take_over() == []  # one replica takes it over, not two
        assert await a.renew(["V0001"]) == set()
        with pytest.raises(LostLease):
            await a.submitted("V0001", result_id="R1", scheduled_job_id=None)
        assert await b.renew(["V0001"]) == {"V0001"}


async def test_a_released_request_is_taken_over_at_once_and_a_restart_reclaims_its_own(backend: Backend) -> None:
    async with (
        await Ledger.open(backend.url, owner="replica-a") as a,
        await Ledger.open(backend.url, owner="replica-b") as b,
    ):
        await a.record(_request("V0001"))
        await a.record(_request("V0002"))
        assert await a.release() == 2  # a graceful shutdown
        assert [r.request_id for r in await b.take_over()] == ["V0001", "V0002"]
    async with await Ledger.open(backend.url, owner="replica-b") as restarted:
        assert await restarted.take_over() == []  # its own leases are still valid...
        assert [r.request_id for r in await restarted.take_over(mine_too=True)] == ["V0001", "V0002"]


async def test_holding_a_request_writes_only_once_its_lease_is_half_gone(backend: Backend) -> None:
    """Nobody can take a request over before its lease runs out: a hold within the first half writes nothing."""
    async with (
        await Ledger.open(backend.url, owner="replica-a", lease=0.4) as a,
        await Ledger.open(backend.url, owner="replica-b", lease=30) as b,
    ):
        await a.record(_request())
        written = await a.begin_submit("V0001")

        await a.hold("V0001")
        assert (await b.get("V0001")) == written  # nothing written

        await asyncio.sleep(0.25)  # past half the lease: renewed
        await a.hold("V0001")
        renewed = await b.get("V0001")
        assert renewed is not None and renewed.lease_until is not None and written.lease_until is not None
        assert renewed.lease_until > written.lease_until

        await asyncio.sleep(0.45)  # replica-a stopped renewing: replica-b takes it over
        assert [r.request_id for r in await b.take_over()] == ["V0001"]
        with pytest.raises(LostLease):
            await a.hold("V0001")


async def test_requests_that_wait_for_a_person_or_are_finished_belong_to_nobody(ledger: Ledger) -> None:
    await ledger.record(_request("V0001"))
    await ledger.record(_request("V0002"))
    assert (await ledger.unsent("V0001", "Nautobot unreachable")).owner is None
    assert (await ledger.refused("V0002", "Nautobot said no")).lease_until is None
    assert (await ledger.begin_submit("V0001")).owner == ledger.owner  # a Retry picks it up again
