"""Time-bound grants in the ledger: each timer fires once across replicas, an extension warns afresh, the safety
net is taken on once (and again only when its replica died), and a grant ends once. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.ledger import Ledger
from bot.ledger.grant import Grant, GrantState, GrantTimer
from bot.ledger.grants import RESCUE_RETRY, GrantTimes
from tests.support.ledger_backends import Backend

TIMES = GrantTimes(warn_ahead=timedelta(minutes=10), grace=timedelta(minutes=5))
SCHEDULED = "sched-1"


def _grant(*, granted: timedelta, expires: timedelta, **changes: object) -> Grant:
    """A grant made ``granted`` from now, expiring ``expires`` from now (negative: in the past)."""
    stamp = datetime.now(UTC)
    return Grant(
        scheduled_job_id=SCHEDULED,
        request_id="R1",
        requester_id="U0ALICE01",
        channel="C0CHAN",
        ts="1.000100",
        revoke_job="Revoke Meraki Access",
        email="jane@example.com",
        organization="Acme",
        granted_at=stamp + granted,
        expires_at=stamp + expires,
        revoke={"organization_id": "1", "admin_id": "9", "email": "jane@example.com"},
    ).model_copy(update=changes)


async def _timers(ledger: Ledger) -> list[GrantTimer]:
    return [fired.timer for fired in await ledger.fire_grants(TIMES)]


async def test_a_new_grant_fires_nothing_until_its_warning_is_due(ledger: Ledger) -> None:
    await ledger.record_grant(_grant(granted=timedelta(0), expires=timedelta(hours=2)), TIMES)

    assert await _timers(ledger) == []
    found = await ledger.get_grant(SCHEDULED)
    assert found is not None and found[1] is GrantState.ACTIVE and not found[0].warned


async def test_the_warning_fires_once_on_two_replicas_at_once(backend: Backend, ledger: Ledger) -> None:
    await ledger.record_grant(_grant(granted=-timedelta(hours=1), expires=timedelta(minutes=5)), TIMES)
    other = await Ledger.open(backend.url, owner="replica-b")
    try:
        batches = await asyncio.gather(ledger.fire_grants(TIMES), other.fire_grants(TIMES))
    finally:
        await other.close()

    assert [fired.timer for batch in batches for fired in batch] == [GrantTimer.WARN]
    assert await _timers(ledger) == []  # the next timer is the expiry
    found = await ledger.get_grant(SCHEDULED)
    assert found is not None and found[0].warned


def test_a_short_grant_is_warned_halfway() -> None:
    grant = _grant(granted=timedelta(0), expires=timedelta(minutes=1))
    assert grant.warn_at(TIMES.warn_ahead) == grant.granted_at + timedelta(seconds=30)


async def test_an_extension_moves_the_expiry_and_warns_afresh(ledger: Ledger) -> None:
    await ledger.record_grant(_grant(granted=-timedelta(hours=1), expires=timedelta(minutes=5)), TIMES)
    assert await _timers(ledger) == [GrantTimer.WARN]

    extension = _grant(granted=-timedelta(hours=1), expires=timedelta(hours=3))
    await ledger.record_grant(extension.model_copy(update={"request_id": "R2", "ts": "2.000200"}), TIMES)

    found = await ledger.get_grant(SCHEDULED)
    assert found is not None and not found[0].warned and found[0].expires_at == extension.expires_at
    assert (found[0].request_id, found[0].ts) == ("R1", "1.000100")  # the grant's own thread goes on
    assert await _timers(ledger) == []


async def test_after_the_expiry_it_is_looked_at_then_rescued_once_after_the_grace(ledger: Ledger) -> None:
    await ledger.record_grant(_grant(granted=-timedelta(hours=1), expires=-timedelta(seconds=1), warned=True), TIMES)
    assert await _timers(ledger) == [GrantTimer.LOOK]
    assert await _timers(ledger) == []  # looked at again a few seconds later, not at every sweep

    await ledger.record_grant(_grant(granted=-timedelta(hours=1), expires=-timedelta(minutes=6), warned=True), TIMES)
    assert await _timers(ledger) == [GrantTimer.RESCUE]
    found = await ledger.get_grant(SCHEDULED)
    assert found is not None and found[0].rescued_at is not None


async def test_a_rescue_whose_replica_died_is_taken_on_again(ledger: Ledger) -> None:
    died = datetime.now(UTC) - RESCUE_RETRY - timedelta(seconds=1)
    gone = _grant(granted=-timedelta(hours=1), expires=-timedelta(minutes=30), warned=True, rescued_at=died)
    await ledger.record_grant(gone, TIMES)

    assert await _timers(ledger) == [GrantTimer.RESCUE]


async def test_revoke_now_is_taken_on_once_and_its_run_is_looked_at_before_the_expiry(ledger: Ledger) -> None:
    await ledger.record_grant(_grant(granted=-timedelta(minutes=1), expires=timedelta(hours=2)), TIMES)

    first = await ledger.revoke_grant_now(SCHEDULED, "U0ALICE01")
    assert first is not None and first.revoked_by == "U0ALICE01"
    assert await ledger.revoke_grant_now(SCHEDULED, "U0BOB0001") is None

    await ledger.grant_revoke_started(SCHEDULED, "result-9")
    assert await _timers(ledger) == [GrantTimer.LOOK]


async def test_a_grant_ends_once(ledger: Ledger) -> None:
    await ledger.record_grant(_grant(granted=-timedelta(hours=1), expires=-timedelta(seconds=1)), TIMES)

    ended = await ledger.grant_ended(SCHEDULED, "restored")
    assert ended is not None and ended.outcome == "restored"
    assert await ledger.grant_ended(SCHEDULED, "restored") is None
    assert await _timers(ledger) == []
    found = await ledger.get_grant(SCHEDULED)
    assert found is not None and found[1] is GrantState.ENDED
