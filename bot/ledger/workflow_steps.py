"""Workflow Builder steps as ledger steps: each execution recorded once, its ending decided once, and its
completion sent to Slack by one replica at a time.

A step's row lives through ``confirming`` (the person it names has yet to confirm it), ``open`` (its request
runs), ``ending`` (how it ends is decided: outputs or an error, to be sent to Slack) and one final state:
``completed``, ``failed`` or ``expired`` (Slack would no longer take the completion). The execution's own token,
which only completes that execution, is kept until the step is final (so any replica can complete it after a
restart) and erased then.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.ledger.grants import GrantSteps
from bot.ledger.records import LedgerError
from bot.ledger.schema import KEY_MAX, WORKFLOW_STEPS, now

STEPS_PER_SWEEP = 100


class StepState(StrEnum):
    CONFIRMING = "confirming"
    """Recorded; nothing is asked until the person it names as its requester confirms it."""
    OPEN = "open"
    """Its request is under way (or being asked for)."""
    ENDING = "ending"
    """How it ends is decided; the completion is to be sent to Slack."""
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    """Slack no longer takes its completion (it ran out of time): nothing more can be said to the workflow."""

    @property
    def final(self) -> bool:
        return self in (StepState.COMPLETED, StepState.FAILED, StepState.EXPIRED)


@dataclass(frozen=True)
class WorkflowStep:
    """One execution of a custom step, as the ledger holds it."""

    execution_id: str
    callback_id: str
    requester_id: str
    state: StepState
    deadline: datetime
    """When the bot stops waiting for the request and fails the step (before Slack's own limit)."""
    created_at: datetime
    ending: dict[str, Any] | None = None
    """``{"outputs": {...}}`` or ``{"error": "..."}`` once decided."""
    request_id: str | None = None
    """The request it asked for; None until it asks (a step refused before that never has one)."""
    token: str | None = field(default=None, repr=False)
    """The execution's own bot token (never logged); None once the step is final."""
    owner: str | None = None
    lease_until: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> WorkflowStep:
        """``row``: anything with the ``workflow_steps`` columns as attributes."""
        found = {each.name: getattr(row, each.name) for each in fields(cls)}
        ending = found["ending"]
        return cls(**{**found, "state": StepState(found["state"]), "ending": dict(ending) if ending else None})


class WorkflowStepSteps(GrantSteps):
    """The Workflow Builder steps of the ledger (see the module's description)."""

    async def record_step(self, step: WorkflowStep) -> bool:
        """Record a step execution unless known (Slack redelivers events); True when this call recorded it. A new
        step waits for its requester to confirm it (:meth:`confirm_step`); an open one is held by this replica for
        one lease from its ``created_at``."""
        if len(step.execution_id) > KEY_MAX:
            raise LedgerError("a step's execution id is too long to record")
        stamp = step.created_at
        values = {
            "execution_id": step.execution_id,
            "callback_id": step.callback_id[:255],
            "requester_id": step.requester_id[:255],
            "request_id": None,
            "token": step.token,
            "state": step.state.value,
            "ending": None,
            "owner": self.owner,
            "lease_until": stamp + self.lease,
            "deadline": step.deadline,
            "created_at": stamp,
            "updated_at": stamp,
        }

        def insert_step(conn: Connection) -> bool:
            insert_for = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = (
                insert_for(WORKFLOW_STEPS)
                .values(values)
                .on_conflict_do_nothing(index_elements=[WORKFLOW_STEPS.c.execution_id])
            )
            return conn.execute(statement.returning(WORKFLOW_STEPS.c.execution_id)).first() is not None

        return bool(await self._run(insert_step, write=True))

    async def get_step(self, execution_id: str) -> WorkflowStep | None:
        def read(conn: Connection) -> WorkflowStep | None:
            row = conn.execute(
                select(WORKFLOW_STEPS).where(WORKFLOW_STEPS.c.execution_id == execution_id)
            ).one_or_none()
            return WorkflowStep.from_row(row) if row is not None else None

        return await self._run(read, write=False)

    async def confirm_step(self, execution_id: str, user_id: str) -> bool:
        """The step's requester confirmed it: open, and held by this replica for one lease while its request is
        asked for. False unless this call opened it (someone else's click, a second click, a step ended or past
        its deadline)."""
        stamp = now()
        statement = (
            update(WORKFLOW_STEPS)
            .where(*_unanswered(execution_id, user_id), WORKFLOW_STEPS.c.deadline > stamp)
            .values(state=StepState.OPEN.value, owner=self.owner, lease_until=stamp + self.lease, updated_at=stamp)
        )
        return bool(await self._run(lambda conn: conn.execute(statement).rowcount, write=True))

    async def decline_step(self, execution_id: str, user_id: str, ending: dict[str, Any]) -> bool:
        """The step's requester declined it before confirming: it ends with ``ending``. False unless this call
        ended it (someone else's click, a step confirmed or ended already)."""
        statement = (
            update(WORKFLOW_STEPS)
            .where(*_unanswered(execution_id, user_id))
            .values(state=StepState.ENDING.value, ending=ending, owner=None, lease_until=None, updated_at=now())
        )
        return bool(await self._run(lambda conn: conn.execute(statement).rowcount, write=True))

    async def ask_step(self, execution_id: str, request_id: str) -> None:
        """The step is about to ask for ``request_id`` (recorded before it is asked for, so whoever settles the
        step finds it)."""
        if len(request_id) > KEY_MAX:
            raise LedgerError("a step's request id is too long to record")
        statement = (
            update(WORKFLOW_STEPS)
            .where(WORKFLOW_STEPS.c.execution_id == execution_id, WORKFLOW_STEPS.c.state == StepState.OPEN.value)
            .values(request_id=request_id, updated_at=now())
        )
        await self._run(lambda conn: conn.execute(statement), write=True)

    async def unfinished_steps(self) -> list[WorkflowStep]:
        """Steps not final yet, oldest first (at most :data:`STEPS_PER_SWEEP`)."""
        query = (
            select(WORKFLOW_STEPS)
            .where(WORKFLOW_STEPS.c.state.in_([state.value for state in StepState if not state.final]))
            .order_by(WORKFLOW_STEPS.c.created_at)
            .limit(STEPS_PER_SWEEP)
        )
        return await self._run(lambda conn: [WorkflowStep.from_row(row) for row in conn.execute(query)], write=False)

    async def end_step(self, execution_id: str, ending: dict[str, Any]) -> bool:
        """Decide how an open (or unconfirmed) step ends; False when it was decided already (by another replica, or a
        redelivery)."""
        waiting = [StepState.CONFIRMING.value, StepState.OPEN.value]
        statement = (
            update(WORKFLOW_STEPS)
            .where(WORKFLOW_STEPS.c.execution_id == execution_id, WORKFLOW_STEPS.c.state.in_(waiting))
            .values(state=StepState.ENDING.value, ending=ending, owner=None, lease_until=None, updated_at=now())
        )
        return bool(await self._run(lambda conn: conn.execute(statement).rowcount, write=True))

    async def claim_step(self, execution_id: str) -> WorkflowStep | None:
        """Take an ending step to send its completion, unless another replica is sending it (its lease holds)."""
        stamp = now()
        free = or_(
            WORKFLOW_STEPS.c.owner.is_(None),
            WORKFLOW_STEPS.c.owner == self.owner,
            WORKFLOW_STEPS.c.lease_until < stamp,
        )
        statement = (
            update(WORKFLOW_STEPS)
            .where(
                WORKFLOW_STEPS.c.execution_id == execution_id,
                WORKFLOW_STEPS.c.state == StepState.ENDING.value,
                free,
            )
            .values(owner=self.owner, lease_until=stamp + self.lease, updated_at=stamp)
            .returning(*WORKFLOW_STEPS.c)
        )

        def claim(conn: Connection) -> WorkflowStep | None:
            row = conn.execute(statement).one_or_none()
            return WorkflowStep.from_row(row) if row is not None else None

        return await self._run(claim, write=True)

    async def finish_step(self, execution_id: str, state: StepState) -> None:
        """The completion was sent (or can never be): final, and the execution's token erased."""
        if not state.final:
            raise LedgerError(f"{state.value} is not a final state of a step")
        statement = (
            update(WORKFLOW_STEPS)
            .where(WORKFLOW_STEPS.c.execution_id == execution_id, WORKFLOW_STEPS.c.state == StepState.ENDING.value)
            .values(state=state.value, token=None, owner=None, lease_until=None, updated_at=now())
        )
        await self._run(lambda conn: conn.execute(statement), write=True)


def _unanswered(execution_id: str, user_id: str) -> tuple[Any, ...]:
    """The step waits for ``user_id``'s answer: it names them, and nobody has confirmed or declined it yet."""
    return (
        WORKFLOW_STEPS.c.execution_id == execution_id,
        WORKFLOW_STEPS.c.state == StepState.CONFIRMING.value,
        WORKFLOW_STEPS.c.requester_id == user_id,
    )
