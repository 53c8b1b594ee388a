"""Time-bound grants as ledger steps: recorded when the Create Job's run ends, and their timers, each fired once.

A grant's row holds when its next timer is due. :meth:`GrantSteps.fire_grants` fires the due ones, each under
its row's lock (``SELECT … FOR UPDATE``; SQLite's write lock), so of several replicas sweeping at once exactly
one warns the requester, one looks for the revoke's run at a time, and one takes on the safety net.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.ledger.grant import Grant, GrantState, GrantTimer
from bot.ledger.nautobot_approvals import NautobotApprovalSteps
from bot.ledger.schema import GRANTS, now
from bot.ledger.statements import locked_change

GRANTS_PER_SWEEP = 100
LOOK_EVERY = timedelta(seconds=5)
"""How often the revoke's run is looked for once the grant expired (a look is one Nautobot request)."""
RESCUE_RETRY = timedelta(minutes=5)
"""A safety net taken on but with no run recorded after this long (its replica died) is taken on again."""


@dataclass(frozen=True)
class GrantTimes:
    """When the bot acts on a grant (settings)."""

    warn_ahead: timedelta
    """Tell the requester this long before the expiry."""
    grace: timedelta
    """A revoke not run this long after the expiry is the safety net's."""

    @classmethod
    def default(cls) -> GrantTimes:
        return cls(warn_ahead=timedelta(hours=1), grace=timedelta(minutes=5))


@dataclass(frozen=True)
class FiredGrant:
    grant: Grant
    timer: GrantTimer


GrantChange = Callable[[Grant, GrantState], dict[str, Any] | None]
"""Given the grant as locked (and its state), the columns to write (None: nothing)."""


class GrantSteps(NautobotApprovalSteps):
    """The time-bound grants of the ledger (see the module's description)."""

    async def record_grant(self, grant: Grant, times: GrantTimes) -> Grant:
        """A grant was made; or extended (the same revoke, by a later request): it keeps its first request and
        thread, takes the new expiry, and is warned afresh before it. Recording the same run again changes nothing."""
        stamp = now()
        values = {"state": GrantState.ACTIVE.value, "grant": _dump(grant), "updated_at": stamp}

        def step(conn: Connection) -> bool:
            insert_for = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = insert_for(GRANTS).values(
                scheduled_job_id=grant.scheduled_job_id, due=grant.warn_at(times.warn_ahead), **values
            )
            inserted = statement.on_conflict_do_nothing(index_elements=[GRANTS.c.scheduled_job_id])
            return conn.execute(inserted.returning(GRANTS.c.scheduled_job_id)).first() is not None

        if await self._run(step, write=True):
            return grant

        def extended(known: Grant, state: GrantState) -> dict[str, Any] | None:
            if state is GrantState.ENDED or known.expires_at == grant.expires_at:
                return None  # revoked already, or this very grant recorded again (after a takeover)
            later = known.model_copy(update={"expires_at": grant.expires_at, "revoke": grant.revoke, "warned": False})
            # The due time is the warning's (past already when recorded late: the next sweep warns or looks).
            return {"grant": _dump(later), "due": later.warn_at(times.warn_ahead)}

        return await self._locked_grant(grant.scheduled_job_id, extended)

    async def get_grant(self, scheduled_job_id: str) -> tuple[Grant, GrantState] | None:
        def step(conn: Connection) -> tuple[Grant, GrantState] | None:
            row = conn.execute(select(GRANTS).where(GRANTS.c.scheduled_job_id == scheduled_job_id)).one_or_none()
            return (Grant.model_validate(row.grant), GrantState(row.state)) if row is not None else None

        return await self._run(step, write=False)

    async def fire_grants(self, times: GrantTimes) -> list[FiredGrant]:
        """Fire every grant timer that is due, each once across replicas."""
        stamp = now()
        due = (
            select(GRANTS.c.scheduled_job_id)
            .where(GRANTS.c.state == GrantState.ACTIVE.value, GRANTS.c.due <= stamp)
            .order_by(GRANTS.c.due)
            .limit(GRANTS_PER_SWEEP)
        )
        fired: list[FiredGrant] = []
        for scheduled_job_id in await self._run(lambda conn: list(conn.scalars(due)), write=False):
            one = await self._fire_one(scheduled_job_id, stamp, times)
            if one is not None:
                fired.append(one)
        return fired

    async def _fire_one(self, scheduled_job_id: str, stamp: datetime, times: GrantTimes) -> FiredGrant | None:
        timer: list[GrantTimer] = []

        def change(grant: Grant, state: GrantState) -> dict[str, Any] | None:
            timer.clear()  # a step may run again (SQLite's shared transaction): only its last run counts
            return _fire(grant, state, stamp, times, timer)

        grant = await self._locked_grant(scheduled_job_id, change)
        return FiredGrant(grant, timer[0]) if timer else None

    async def revoke_grant_now(self, scheduled_job_id: str, person: str) -> Grant | None:
        """``person`` asked to revoke it now: the grant if this call took the revoke on, None if it had ended or
        a revoke was taken on already."""
        taken: list[bool] = []

        def change(grant: Grant, state: GrantState) -> dict[str, Any] | None:
            taken.clear()
            if state is not GrantState.ACTIVE or grant.rescued_at is not None:
                return None
            taken.append(True)
            return {"grant": _dump(grant.model_copy(update={"rescued_at": now(), "revoked_by": person}))}

        grant = await self._locked_grant(scheduled_job_id, change)
        return grant if taken else None

    async def revoke_not_started(self, scheduled_job_id: str) -> Grant:
        """A revoke taken on could not be started: it may be taken on again (the grant goes on as it was)."""
        return await self._locked_grant(
            scheduled_job_id,
            lambda grant, _state: (
                None
                if grant.revoke_result_id is not None
                else {"grant": _dump(grant.model_copy(update={"rescued_at": None, "revoked_by": None}))}
            ),
        )

    async def grant_revoke_started(self, scheduled_job_id: str, result_id: str) -> Grant:
        """The bot started the Revoke Job's run ``result_id``: the looks follow it (not the schedule it replaced)."""
        return await self._locked_grant(
            scheduled_job_id,
            lambda grant, _state: {
                "grant": _dump(grant.model_copy(update={"revoke_result_id": result_id})),
                "due": now(),
            },
        )

    async def grant_ended(self, scheduled_job_id: str, outcome: str) -> Grant | None:
        """The revoke ended with ``outcome``: the grant if this call ended it (its replica posts the result)."""
        ended: list[bool] = []

        def change(grant: Grant, state: GrantState) -> dict[str, Any] | None:
            ended.clear()
            if state is GrantState.ENDED:
                return None
            ended.append(True)
            return {
                "state": GrantState.ENDED.value,
                "due": None,
                "grant": _dump(grant.model_copy(update={"outcome": outcome})),
            }

        grant = await self._locked_grant(scheduled_job_id, change)
        return grant if ended else None

    async def _locked_grant(self, scheduled_job_id: str, change: GrantChange) -> Grant:
        missing = f"no grant with the revoke {scheduled_job_id} in the ledger"
        step = functools.partial(
            locked_change,
            GRANTS.c.scheduled_job_id,
            scheduled_job_id,
            lambda row: change(Grant.model_validate(row.grant), GrantState(row.state)),
            missing,
        )
        return Grant.model_validate((await self._run(step, write=True)).grant)


def _fire(
    grant: Grant, state: GrantState, stamp: datetime, times: GrantTimes, timer: list[GrantTimer]
) -> dict[str, Any] | None:
    """The timer due on ``grant`` at ``stamp`` (appended to ``timer``), and the columns that fire it."""
    if state is not GrantState.ACTIVE:
        return None
    if grant.revoke_result_id is None and stamp < grant.expires_at:
        if grant.warned or stamp < grant.warn_at(times.warn_ahead):
            return None  # another replica fired it first
        timer.append(GrantTimer.WARN)
        return {"grant": _dump(grant.model_copy(update={"warned": True})), "due": grant.expires_at}
    if _rescue_due(grant, stamp, times.grace):
        timer.append(GrantTimer.RESCUE)
        return {"grant": _dump(grant.model_copy(update={"rescued_at": stamp})), "due": stamp + LOOK_EVERY}
    timer.append(GrantTimer.LOOK)
    return {"due": stamp + LOOK_EVERY}


def _rescue_due(grant: Grant, stamp: datetime, grace: timedelta) -> bool:
    """Past the grace with no run of the bot's own: never taken on, or taken on by a replica that died since."""
    if grant.revoke_result_id is not None or stamp < grant.expires_at + grace:
        return False
    return grant.rescued_at is None or stamp - grant.rescued_at > RESCUE_RETRY


def _dump(grant: Grant) -> dict[str, Any]:
    return grant.model_dump(mode="json")
