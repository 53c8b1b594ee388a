"""Durable records of every run request: idempotency, the request state machine, and resume.

Each request is written here before anything is sent to Nautobot, keyed by the Slack view id, so a
double click, a redelivered ``view_submission`` or a reconnect runs the Job once, and a bot that was
killed at any point finds every unfinished request again on start. Every state change is a single
conditional ``UPDATE``; of two replicas, or of an event and its replay, only one can advance a request
(:mod:`bot.ledger.replica`).

How it is stored is :mod:`bot.ledger.schema`; what it holds, :mod:`bot.ledger.records`; the statements it
runs, :mod:`bot.ledger.statements`. Each step is all or nothing, whatever reads follow its write (to explain a
refusal, or to find a request recorded before); how it reaches the database, off the event loop, is
:mod:`bot.ledger.steps`.
"""

from __future__ import annotations

import functools
import logging
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot.ledger.database import DEFAULT_URL, async_url, create_engine, safe_url
from bot.ledger.migrations import upgrade
from bot.ledger.records import (
    ASKED,
    STATUS_STATES,
    TRANSITIONS,
    AuditAction,
    AuditEntry,
    AuditOutcome,
    LedgerError,
    LedgerUnavailable,
    Record,
    RequestState,
)
from bot.ledger.replica import LEASE_SECONDS, failure_reason
from bot.ledger.schema import KEY_MAX, now, to_audit, to_record
from bot.ledger.statements import GET_REQUEST, INSERT_AUDIT, PROBE, execute, insert_absent
from bot.ledger.workflow_steps import WorkflowStepSteps
from bot.models import RunRequest, RunStatus

log = logging.getLogger("bot.ledger")


class _Probed(Exception):
    """The probe's write went through; raised to roll it back."""


class Ledger(WorkflowStepSteps):
    """The request ledger; open with :meth:`open`, share one instance per process.

    Each instance is one replica (``owner``); see :class:`~bot.ledger.replica.Replica` for how it holds the
    requests it works on (:meth:`take_over`, :meth:`renew`, :meth:`hold`, :meth:`release`), and
    :class:`~bot.ledger.approvals.ApprovalSteps` for a request's wait for approval, and
    :class:`~bot.ledger.nautobot_approvals.NautobotApprovalSteps` for telling Nautobot's approvers of a run it holds,
    :class:`~bot.ledger.grants.GrantSteps` for time-bound grants, and
    :class:`~bot.ledger.workflow_steps.WorkflowStepSteps` for Workflow Builder steps.
    """

    @classmethod
    async def open(cls, url: str = DEFAULT_URL, *, owner: str | None = None, lease: float = LEASE_SECONDS) -> Ledger:
        """Connect, and create or upgrade the schema; refuses a schema newer than this code."""
        ledger = cls(create_engine(async_url(url)), owner=owner, lease=lease)
        try:
            await upgrade(ledger._steps, ledger._engine.url)
        except (SQLAlchemyError, OSError) as exc:
            await ledger.close()
            raise LedgerUnavailable(f"cannot open the request ledger at {ledger.url}: {failure_reason(exc)}") from exc
        except BaseException:
            await ledger.close()
            raise
        return ledger

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self._steps.close()
            finally:
                await self._engine.dispose()

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The database URL without its password, for logs and ``doctor``."""
        return safe_url(self._engine.url)

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, request_id: str) -> Record | None:
        def step(conn: Connection) -> Record | None:
            row = conn.execute(GET_REQUEST, {"key": request_id}).one_or_none()
            return to_record(row) if row is not None else None

        return await self._run(step, write=False)

    async def writable(self) -> bool:
        """Whether a write would succeed now (for ``/readyz``): a real write, rolled back."""
        if self._closed:
            return False

        def probe(conn: Connection) -> None:
            conn.execute(PROBE)
            raise _Probed

        try:
            await self._run(probe, write=True)
        except _Probed:
            return True
        except LedgerError as exc:
            log.warning("ledger not writable url=%s: %s", self.url, exc)
        return False

    # -- recording -------------------------------------------------------------------------------

    async def record(self, request: RunRequest) -> tuple[Record, bool]:
        """Record ``request`` unless its key is known; ``(record, created)``, race-safe across replicas."""
        if len(request.request_id) > KEY_MAX:
            raise LedgerError(f"a request id is at most {KEY_MAX} characters, got {len(request.request_id)}")
        stamp = now()
        values = {
            **request.model_dump(mode="json", include=ASKED),
            "state": RequestState.RECEIVED.value,
            "log_posted": False,
            "attempts": 0,
            "created_at": stamp,
            "updated_at": stamp,
            "owner": self.owner,
            "lease_until": stamp + self.lease,
            "resumes": 0,
        }
        statement = insert_absent(self._engine.dialect.name)

        def step(conn: Connection) -> tuple[Record, bool]:
            row = conn.execute(statement, values).one_or_none()
            if row is not None:
                return to_record(row), True
            row = conn.execute(GET_REQUEST, {"key": request.request_id}).one_or_none()
            if row is None:
                raise LedgerError(f"request {request.request_id} vanished while it was being recorded")
            return to_record(row), False

        record, created = await self._run(step, write=True)
        self._remember(record)
        return record, created

    # -- the audit trail -------------------------------------------------------------------------

    async def audit(self, entry: AuditEntry) -> AuditEntry:
        """Append one entry to the audit trail (never updated; swept when past its retention); returns it, timed."""
        values = {
            "at": entry.at or now(),
            "action": AuditAction(entry.action).value,
            "outcome": AuditOutcome(entry.outcome).value,
            "user_id": entry.user_id[:255],
            "user_name": entry.user_name[:255],
            "channel_id": entry.channel_id[:255],
            "team_id": entry.team_id[:255],
            "request_id": entry.request_id[:KEY_MAX] if entry.request_id else None,
            "job_name": entry.job_name[:255] if entry.job_name else None,
            "inputs": entry.inputs,
            "reason": entry.reason,
            "source": entry.source[:64],
            "nautobot_user": entry.nautobot_user[:255] if entry.nautobot_user else None,
        }
        await self._run(functools.partial(execute, INSERT_AUDIT, values), write=True)
        return to_audit(SimpleNamespace(**values))

    # -- the state machine -----------------------------------------------------------------------

    async def begin_submit(self, request_id: str) -> Record:
        """About to send the run to Nautobot; after a crash in this state, ask Nautobot before re-sending."""
        return await self._move(request_id, RequestState.SUBMITTING, incremented=("attempts",))

    async def submitted(self, request_id: str, *, result_id: str | None, scheduled_job_id: str | None) -> Record:
        """Nautobot accepted the run: a JobResult to follow, or a scheduled job awaiting approval."""
        if not result_id and not scheduled_job_id:
            raise LedgerError(f"request {request_id}: an accepted run has a result id or a scheduled job id")
        return await self._move(
            request_id, RequestState.SUBMITTED, result_id=result_id, scheduled_job_id=scheduled_job_id, error=None
        )

    async def refused(self, request_id: str, error: str) -> Record:
        """Nautobot refused the run; nothing ran. Final."""
        return await self._move(request_id, RequestState.REFUSED, error=error)

    async def unsent(self, request_id: str, error: str) -> Record:
        """Nautobot could not be reached; kept so a retry can send it again."""
        return await self._move(request_id, RequestState.UNSENT, error=error)

    async def announced(self, request_id: str, *, channel: str, ts: str, run_status: RunStatus | str) -> Record:
        """The parent message is in Slack; later updates and the log thread go under it."""
        return await self._move(
            request_id,
            RequestState.ANNOUNCED,
            message_channel=channel,
            message_ts=ts,
            run_status=_run_status(run_status),
        )

    async def approved(self, request_id: str, result_id: str) -> Record:
        """The approved run has its JobResult; following it goes on under the same parent message."""
        return await self._update(
            request_id, frozenset({RequestState.ANNOUNCED}), "attach the approved run", result_id=result_id
        )

    async def closed_unrun(self, request_id: str, run_status: RunStatus | str) -> Record:
        """Nautobot will never run it (the approval was denied or withdrawn): no log to post. Final."""
        return await self._move(
            request_id, RequestState.DONE, source={RequestState.ANNOUNCED}, run_status=_run_status(run_status)
        )

    async def set_run_status(self, request_id: str, run_status: RunStatus | str) -> Record:
        """Remember the status last shown, so a restarted bot neither repeats nor skips an update."""
        return await self._update(request_id, STATUS_STATES, "record a run status", run_status=_run_status(run_status))

    async def moved(self, request_id: str, *, channel: str, ts: str) -> Record:
        """The request's messages went on elsewhere (a DM with the requester); later ones go there."""
        allowed = frozenset({RequestState.SUBMITTED, RequestState.ANNOUNCED, RequestState.LOGGED})
        return await self._update(
            request_id, allowed, "record where its messages went", message_channel=channel, message_ts=ts
        )

    async def logged(self, request_id: str) -> Record:
        """The Job's log is in the thread; a restart must not post it again."""
        return await self._move(request_id, RequestState.LOGGED, log_posted=True)

    async def done(self, request_id: str) -> Record:
        """The final status is on the parent message. Final."""
        return await self._move(request_id, RequestState.DONE)

    # -- internals -------------------------------------------------------------------------------

    async def _move(
        self,
        request_id: str,
        target: RequestState,
        *,
        source: set[RequestState] | None = None,
        incremented: tuple[str, ...] = (),
        **values: Any,
    ) -> Record:
        """``source``: where a step off the usual path (see ``TRANSITIONS``) may start from."""
        stamp = now()
        values |= {"state": target.value, "updated_at": stamp} | ({"finished_at": stamp} if target.final else {})
        allowed = frozenset(source) if source is not None else TRANSITIONS[target]
        return await self._update(request_id, allowed, f"move it to {target.value}", incremented=incremented, **values)


def _run_status(value: RunStatus | str) -> str:
    try:
        return RunStatus(value).value
    except ValueError:
        raise LedgerError(f"{value!r} is not a run status") from None
