"""How ledger steps reach SQLite: whole transactions, in one thread of the ledger's own, in order, off the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select, text

from bot.ledger import Ledger, RequestState
from bot.ledger.database import async_url, sqlite_engine
from bot.ledger.schema import AUDIT, now
from bot.ledger.steps import MAX_SHARED, SqliteThread, Step
from bot.logs import correlation, current_correlation
from bot.models import RunRequest


def _request(request_id: str = "V0001") -> RunRequest:
    return RunRequest(
        request_id=request_id,
        requester_id="U0001",
        channel_id="C0001",
        job_name="Create Meraki User",
        inputs={"email": "ana@example.com"},
        dryrun=True,
    )


def _audit_row(reason: str) -> dict[str, object]:
    return {
        "at": now(),
        "action": "submit",
        "outcome": "submitted",
        "user_id": "U0001",
        "user_name": "ana",
        "channel_id": "C0001",
        "team_id": "T0001",
        "reason": reason,
        "source": "ACCESS_POLICY",
    }


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite3"


@pytest.fixture
async def ledger(path: Path) -> AsyncIterator[Ledger]:
    """A ledger on a SQLite file, with its schema; its steps go through its SQLite thread."""
    async with await Ledger.open(f"sqlite:///{path}") as opened:
        yield opened


@pytest.fixture
async def steps(path: Path, ledger: Ledger) -> AsyncIterator[SqliteThread]:
    """A second SQLite thread on the same file, to drive with steps of the test's own."""
    thread = SqliteThread(sqlite_engine(async_url(f"sqlite:///{path}")))
    yield thread
    await thread.close()


def _count_audit(conn: Connection) -> int:
    return conn.scalar(select(func.count()).select_from(AUDIT)) or 0


async def test_a_step_that_fails_leaves_nothing_of_what_it_wrote(steps: SqliteThread) -> None:
    def half_done(conn: Connection) -> None:
        conn.execute(insert(AUDIT), _audit_row("first"))
        conn.execute(insert(AUDIT), _audit_row("second"))
        raise RuntimeError("the step failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        await steps.run(half_done, write=True)

    assert await steps.run(_count_audit, write=False) == 0
    await steps.run(lambda conn: conn.execute(insert(AUDIT), _audit_row("after")), write=True)
    assert await steps.run(_count_audit, write=False) == 1  # the connection is usable again


async def test_steps_run_one_at_a_time_in_the_order_given(steps: SqliteThread) -> None:
    order: list[int] = []
    threads: set[int] = set()

    def step(number: int) -> None:
        threads.add(threading.get_ident())
        order.append(number)

    await asyncio.gather(*(steps.run(lambda _conn, n=n: step(n), write=n % 2 == 0) for n in range(40)))

    assert order == list(range(40))
    assert len(threads) == 1 and threading.get_ident() not in threads  # one thread, not the event loop's


async def test_a_write_step_holds_the_write_lock_from_its_first_statement(path: Path, steps: SqliteThread) -> None:
    """Its reads and its write see one state: no other writer can get in between them."""

    def other_writer_gets_in(_conn: Connection) -> bool:
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return False
        finally:
            other.close()
        return True

    def read_then_ask(conn: Connection) -> bool:
        conn.execute(text("SELECT count(*) FROM requests")).scalar()
        return other_writer_gets_in(conn)

    assert await steps.run(read_then_ask, write=True) is False
    assert await steps.run(read_then_ask, write=False) is True  # a read step leaves writers alone


async def test_the_event_loop_goes_on_while_a_step_waits_for_another_process(path: Path, ledger: Ledger) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        recording = asyncio.create_task(ledger.record(_request()))
        await asyncio.sleep(0.3)  # on a blocked loop this would return only once the record had failed
        assert not recording.done()
        other.execute("COMMIT")
        record, created = await recording
    finally:
        other.close()
    assert created and record.state is RequestState.RECEIVED


async def test_a_step_cancelled_before_its_turn_never_runs(steps: SqliteThread) -> None:
    started = threading.Event()
    release = threading.Event()
    ran: list[str] = []

    def blocker(_conn: Connection) -> None:
        started.set()
        release.wait(5)

    first = asyncio.create_task(steps.run(blocker, write=False))
    await asyncio.to_thread(started.wait, 5)
    second = asyncio.create_task(steps.run(lambda _conn: ran.append("second"), write=True))
    await asyncio.sleep(0)
    second.cancel()
    release.set()
    time.sleep(0.2)  # the loop held: the thread reaches the second step before the loop runs any callback
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    await steps.run(lambda _conn: ran.append("third"), write=True)
    assert ran == ["third"]


async def _queued_behind_a_blocker(steps: SqliteThread, *queued: Step[Any]) -> list[Any]:
    """Run ``queued`` steps that all wait while the thread is busy with another one; what each returned or raised."""
    started, release = threading.Event(), threading.Event()
    first = asyncio.create_task(steps.run(lambda _conn: (started.set(), release.wait(5)), write=False))
    await asyncio.to_thread(started.wait, 5)
    waiting = [asyncio.create_task(steps.run(step, write=True)) for step in queued]
    await asyncio.sleep(0.05)
    release.set()
    await first
    return await asyncio.gather(*waiting, return_exceptions=True)


async def test_steps_that_queued_up_together_share_one_transaction(steps: SqliteThread) -> None:
    def write(reason: str) -> Step[object]:
        def step(conn: Connection) -> object:
            conn.execute(insert(AUDIT), _audit_row(reason))
            return conn.get_transaction()

        return step

    transactions = await _queued_behind_a_blocker(steps, *(write(f"r{n}") for n in range(5)))

    assert all(transaction is transactions[0] for transaction in transactions)
    assert await steps.run(_count_audit, write=False) == 5


async def test_more_steps_than_one_transaction_takes_all_run_when_nothing_else_comes(steps: SqliteThread) -> None:
    """Steps queued while a round was already called do not call one of their own: the rounds call the rest."""

    def write(conn: Connection) -> str:
        conn.execute(insert(AUDIT), _audit_row("many"))
        return "written"

    outcomes = await asyncio.wait_for(_queued_behind_a_blocker(steps, *(write for _ in range(2 * MAX_SHARED + 1))), 10)

    assert outcomes == ["written"] * (2 * MAX_SHARED + 1)
    assert await steps.run(_count_audit, write=False) == 2 * MAX_SHARED + 1


async def test_a_step_that_fails_among_others_leaves_nothing_and_the_others_stand(steps: SqliteThread) -> None:
    def write(conn: Connection) -> str:
        conn.execute(insert(AUDIT), _audit_row("kept"))
        return "written"

    def half_done(conn: Connection) -> None:
        conn.execute(insert(AUDIT), _audit_row("undone"))
        raise RuntimeError("the step failed half-way")

    outcomes = await _queued_behind_a_blocker(steps, write, half_done, write)

    assert outcomes[0] == outcomes[2] == "written"
    assert isinstance(outcomes[1], RuntimeError)
    reasons = await steps.run(lambda conn: sorted(conn.scalars(select(AUDIT.c.reason))), write=False)
    assert reasons == ["kept", "kept"]


async def test_when_sqlite_gives_up_the_transaction_every_step_in_it_fails(steps: SqliteThread) -> None:
    """As after an I/O error: what the earlier steps wrote is gone with it, so their callers must not hear "done"."""

    def write(conn: Connection) -> str:
        conn.execute(insert(AUDIT), _audit_row("lost"))
        return "written"

    def transaction_lost(conn: Connection) -> None:
        conn.exec_driver_sql("ROLLBACK")
        raise sqlite3.OperationalError("disk I/O error")

    outcomes = await _queued_behind_a_blocker(steps, write, transaction_lost, write)

    assert all(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    assert await steps.run(_count_audit, write=False) == 0
    assert await steps.run(write, write=True) == "written"  # the next round goes on


async def test_closing_the_ledger_ends_its_thread(ledger: Ledger) -> None:
    await ledger.record(_request())
    thread = await ledger._steps.run(lambda _conn: threading.current_thread(), write=False)
    assert thread is not threading.current_thread()

    await ledger.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


async def test_a_step_runs_in_its_callers_context_so_its_log_lines_carry_the_request(steps: SqliteThread) -> None:
    """The correlation id is a context variable: what a step logs (SQL echo included) names its request."""

    def seen(conn: Connection) -> str | None:
        conn.execute(text("SELECT 1"))
        return current_correlation()

    with correlation("V0001:cid"):
        assert await steps.run(seen, write=False) == "V0001:cid"
    assert await steps.run(seen, write=False) is None
