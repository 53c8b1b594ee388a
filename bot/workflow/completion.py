"""A step's completion, sent to Slack exactly once, by whichever replica sees its request end first.

The core tells of every change it makes (:meth:`StepCompletions.changed`, as it tells the App Home); a change to
a step's request that left it final decides the step's ending, and the ending is sent at once. The sweep
(:meth:`StepCompletions.sweep`, each heartbeat) is the net under that: steps whose request ended while no
replica was told (a restart, another replica, a change the core does not announce), steps that waited longer
than a step may, and endings decided but not sent (Slack was unreachable). Deciding is one conditional update
(the first decision wins), sending is held under a lease (one replica at a time), and Slack itself completes an
execution once: whatever the race, the workflow hears one ending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.home.changes import HomeChanges
from bot.ledger import Ledger, LedgerError, Record
from bot.ledger.grant import Grant
from bot.ledger.workflow_steps import StepState, WorkflowStep
from bot.models import JobRun, RunRequest
from bot.nautobot import NautobotClient, NautobotError
from bot.slack.errors import slack_error, transient
from bot.workflow import endings
from bot.workflow.specs import STEPS

log = logging.getLogger("bot.workflow")

STEP_KEY = "step-"
"""What the keys of requests that steps asked for start with (then the execution id)."""
ASKING = timedelta(minutes=5)
"""A step with no request this long after it arrived was lost on its way to the core (its replica stopped)."""
GONE = frozenset({"function_execution_not_found", "execution_not_in_running_state", "token_revoked"})
"""Slack's answers when the execution takes no completion any more: completed already, or out of time."""


def step_key(execution_id: str) -> str:
    """The idempotency key of the request a step asks for: its id is this, ``:``, a digest of its values."""
    return f"{STEP_KEY}{execution_id}"


def execution_of(request_id: str) -> str | None:
    """The execution id of a step's request (None: not a step's)."""
    if not request_id.startswith(STEP_KEY):
        return None
    return request_id[len(STEP_KEY) :].split(":", 1)[0] or None


class StepCompletions(HomeChanges):
    """Decides how each step ends and tells Slack (see the module's description)."""

    def __init__(self, ledger: Ledger, client: AsyncWebClient, nautobot: NautobotClient) -> None:
        self.ledger = ledger
        self.client = client
        self.nautobot = nautobot
        self.tasks: set[asyncio.Task[Any]] = set()
        self._sending: set[str] = set()
        """Executions whose completion this replica is sending (the ledger's lease keeps other replicas off)."""

    # -- told by the core ------------------------------------------------------------------------

    def changed(self, *about: RunRequest | Grant | None) -> None:
        for each in about:
            if isinstance(each, RunRequest):
                execution_id = execution_of(each.request_id)
                if execution_id is not None:
                    self._background(self.settle(execution_id))

    def _background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a step's completion is left to the next sweep: %s", task.exception())

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- deciding --------------------------------------------------------------------------------

    async def settle(self, execution_id: str) -> None:
        """Decide the step's ending if its request is final (or it waited too long), and send it."""
        step = await self.ledger.get_step(execution_id)
        if step is None or step.state.final:
            return
        if step.state in (StepState.CONFIRMING, StepState.OPEN):
            ending = await self._ending(step)
            if ending is None:
                return
            if await self.ledger.end_step(execution_id, ending):
                log.info("step=%s %s", execution_id, "completes" if "outputs" in ending else "fails")
        await self.deliver(execution_id)

    async def end(self, execution_id: str, ending: dict[str, Any]) -> None:
        """The step ends now (refused before any request was made), unless its ending was decided already."""
        await self.ledger.end_step(execution_id, ending)
        await self.deliver(execution_id)

    async def _ending(self, step: WorkflowStep) -> dict[str, Any] | None:
        stamp = datetime.now(UTC)
        if step.state is StepState.CONFIRMING:  # nothing asked yet: it ends only when its time is up
            return endings.unconfirmed(step.requester_id) if stamp >= step.deadline else None
        return await self._request_ending(step, stamp)

    async def _request_ending(self, step: WorkflowStep, stamp: datetime) -> dict[str, Any] | None:
        record = await self.ledger.get(step.request_id) if step.request_id else None
        if record is None:
            lost = step.lease_until is None or step.lease_until < stamp
            return endings.LOST if lost and stamp - step.created_at > ASKING else None
        spec = STEPS.get(step.callback_id)
        if spec is not None and record.final:
            return endings.of_request(spec, record, await self._run(record))
        if stamp >= step.deadline:
            return endings.timed_out(_waited(stamp - step.created_at))
        return None

    async def _run(self, record: Record) -> JobRun | None:
        if not record.result_id:
            return None
        try:
            return await self.nautobot.job_result(record.result_id)
        except NautobotError as exc:
            if exc.retryable:
                raise  # decided at the next sweep, once Nautobot answers
            log.warning("step of request=%s: its JobResult cannot be read: %s", record.request_id, exc)
            return None

    # -- telling Slack ---------------------------------------------------------------------------

    async def deliver(self, execution_id: str) -> None:
        """Send a decided ending with the execution's own token, unless it is being sent already."""
        if execution_id in self._sending:
            return
        self._sending.add(execution_id)
        try:
            step = await self.ledger.claim_step(execution_id)
            if step is None or step.ending is None:
                return
            final = await self._send(step, step.ending)
            if final is not None:
                await self.ledger.finish_step(execution_id, final)
        finally:
            self._sending.discard(execution_id)

    async def _send(self, step: WorkflowStep, ending: Mapping[str, Any]) -> StepState | None:
        """The completion as Slack took it: the step's final state; None when Slack could not be reached (the
        next sweep sends it again)."""
        try:
            if "outputs" in ending:
                await self.client.functions_completeSuccess(
                    function_execution_id=step.execution_id, outputs=dict(ending["outputs"]), token=step.token
                )
                state = StepState.COMPLETED
            else:
                await self.client.functions_completeError(
                    function_execution_id=step.execution_id, error=str(ending["error"]), token=step.token
                )
                state = StepState.FAILED
        except SlackApiError as exc:
            error = slack_error(exc)
            if transient(exc):  # a 5xx, a 429, or an answer that may change: the next sweep sends it again
                log.warning(
                    "step=%s: completion not taken yet (%s); the next sweep tries again", step.execution_id, error
                )
                return None
            if error in GONE:
                log.warning("step=%s: Slack no longer takes its completion (%s)", step.execution_id, error)
                return StepState.EXPIRED
            log.error("step=%s: Slack refused its completion (%s); it is not sent again", step.execution_id, error)
            return StepState.EXPIRED
        except Exception as exc:  # the network: the next sweep tries again
            log.warning("step=%s: completion not sent (%s); the next sweep tries again", step.execution_id, exc)
            return None
        log.info("step=%s %s in Slack", step.execution_id, state.value)
        return state

    # -- the net ---------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Settle every unfinished step (each heartbeat); returns how many were looked at."""
        try:
            unfinished = await self.ledger.unfinished_steps()
        except LedgerError as exc:
            log.warning("cannot look for unfinished workflow steps: %s", exc)
            return 0
        for step in unfinished:
            try:
                await self.settle(step.execution_id)
            except Exception as exc:  # the heartbeat that sweeps must go on whatever one step meets
                log.warning("step=%s is settled at a later sweep: %s", step.execution_id, exc)
        return len(unfinished)


def _waited(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} minutes" if minutes != 1 else "1 minute"
