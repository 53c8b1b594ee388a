"""Time-bound grants, followed from the run that made them to their revoke.

A Job's run that grants access for a while says so in its result: a ``revoke`` entry naming the scheduled job
that revokes it (Nautobot's scheduler runs it at the expiry, whether the bot is up or not), the revoke Job, and
that Job's ``grant`` input. The bot records the grant in the ledger (:mod:`bot.ledger.grants`) and, from its
timers: tells the requester ahead of the end, in the grant's thread, with *Revoke now*; from the expiry on,
looks for the revoke's run and posts its result and log into that thread once; and, when the revoke has not run
some minutes after its time (the scheduler or the workers down), says so loudly (an ERROR, a metric, the
requester told directly) and runs the revoke Job itself, once across replicas. The revoke Job deletes the
scheduled run it replaces, so a grant is never revoked twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.home.changes import NOBODY, HomeChanges
from bot.ledger import Ledger, LedgerError
from bot.ledger.grant import Grant, GrantTimer
from bot.ledger.grants import FiredGrant, GrantTimes
from bot.metrics import Metrics
from bot.models import REQUEST_ID, REQUESTED_BY, JobRun, RunRequest, RunStatus
from bot.nautobot import NautobotClient, NautobotError
from bot.slack import grant_messages
from bot.slack.grant_messages import Message
from bot.slack.thread import SlackThreads, Thread

log = logging.getLogger("bot.grants")


HELD = "held for approval"
"""How a grant ends when the revoke the bot ran is held for approval: the bot follows it no further."""


@dataclass(frozen=True)
class NotStarted:
    """Why the bot could not run a revoke, and whether trying again may help."""

    reason: str
    again: bool = True


class RevokeEntry(BaseModel):
    """The ``revoke`` entry of a granting run's result (see the module's description)."""

    model_config = ConfigDict(extra="ignore")

    scheduled_job_id: str
    start_time: datetime
    job: str
    grant: dict[str, Any]


def grant_of(request: RunRequest, thread: Thread, run: JobRun) -> Grant | None:
    """The time-bound grant a run made, if it made one (a successful run whose result names its revoke)."""
    revoke = (run.result or {}).get("revoke") if run.status is RunStatus.SUCCEEDED else None
    if not isinstance(revoke, dict):
        return None
    try:
        entry = RevokeEntry.model_validate(revoke)
    except ValidationError as exc:
        log.warning("request=%s: the run's revoke entry is not one the bot can follow: %s", request.request_id, exc)
        return None
    return Grant(
        scheduled_job_id=entry.scheduled_job_id,
        request_id=request.request_id,
        requester_id=request.requester_id,
        channel=thread.channel_id,
        ts=thread.ts,
        revoke_job=entry.job,
        email=str(entry.grant.get("email") or ""),
        organization=str(entry.grant.get("organization_name") or entry.grant.get("organization_id") or ""),
        granted_at=run.date_done or datetime.now(UTC),
        expires_at=entry.start_time,
        revoke=entry.grant,
    )


class Grants:
    """Follows time-bound grants to their end (see the module's description)."""

    def __init__(
        self, ledger: Ledger, nautobot: NautobotClient, threads: SlackThreads, times: GrantTimes, metrics: Metrics
    ) -> None:
        self.ledger = ledger
        self.nautobot = nautobot
        self.threads = threads
        self.times = times
        self.metrics = metrics
        self.tasks: set[asyncio.Task[Any]] = set()
        self.home: HomeChanges = NOBODY

    async def granted(self, request: RunRequest, thread: Thread, run: JobRun | None) -> None:
        """A followed run ended: if it made a time-bound grant, the bot follows the grant from now on."""
        grant = grant_of(request, thread, run) if run is not None else None
        if grant is None:
            return
        try:
            record = await self.ledger.get(request.request_id)
            if record is not None and record.approval is not None:
                grant = grant.model_copy(update={"approvers": tuple(v.person for v in record.approval.approvals)})
            await self.ledger.record_grant(grant, self.times)
        except LedgerError as exc:  # the revoke still runs in Nautobot; only the bot's messages about it are lost
            log.error(
                "grant of request=%s not recorded (its revoke still runs in Nautobot): %s", request.request_id, exc
            )
            return
        log.info(
            "grant of request=%s recorded: revoke=%s at %s",
            request.request_id,
            grant.scheduled_job_id,
            grant.expires_at,
        )

    async def fire(self) -> None:
        """Fire the grants' due timers (from the sweep); the work goes on in the background."""
        for fired in await self.ledger.fire_grants(self.times):
            self._background(self._fired(fired))

    async def revoke_now(self, scheduled_job_id: str, person: str) -> str | None:
        """``person`` clicked *Revoke now*: None when the revoke was started, else why not (for them alone)."""
        found = await self.ledger.get_grant(scheduled_job_id)
        if found is None:
            return "The bot knows no such grant."
        if found[0].requester_id != person:
            return "Only the person who asked for this access can revoke it early."
        grant = await self.ledger.revoke_grant_now(scheduled_job_id, person)
        if grant is None:
            return "This grant has ended already, or its revoke is on its way."
        failed = await self._run_revoke(grant, f"Slack user {person} via meraki-chatops (revoke now)")
        if failed is not None:
            await self.ledger.revoke_not_started(scheduled_job_id)
            again = " Nothing was changed: try again in a moment." if failed.again else ""
            return f"The revoke could not be started: {failed.reason}.{again}"
        await self._say(grant, grant_messages.revoking_message(grant, person))
        self.home.changed(grant)
        return None

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _fired(self, fired: FiredGrant) -> None:
        grant = fired.grant
        try:
            if fired.timer is GrantTimer.WARN:
                await self._say(grant, grant_messages.warning_message(grant))
            elif fired.timer is GrantTimer.LOOK:
                await self._look(grant)
            else:
                await self._rescue(grant)
        except (NautobotError, LedgerError) as exc:  # the next look tries again
            log.warning("grant revoke=%s: %s failed: %s", grant.scheduled_job_id, fired.timer.value, exc)
        except Exception:
            log.exception("grant revoke=%s: %s failed", grant.scheduled_job_id, fired.timer.value)

    async def _look(self, grant: Grant) -> None:
        """Has the revoke ended? Its result and log go into the grant's thread, once."""
        if grant.rescued_at is not None and grant.revoke_result_id is None:
            return  # the bot's own run of the revoke is being started
        if grant.revoke_result_id is not None:
            run: JobRun | None = await self.nautobot.job_result(grant.revoke_result_id)
        else:
            run = await self.nautobot.scheduled_run(grant.scheduled_job_id)
        if run is None or not run.status.is_final:
            return
        outcome = str((run.result or {}).get("outcome") or run.status.value)
        ended = await self.ledger.grant_ended(grant.scheduled_job_id, outcome)
        if ended is None:
            return  # another replica posts it
        log.info("grant revoke=%s ended: %s result=%s", grant.scheduled_job_id, outcome, run.result_id)
        self.metrics.grant_ended(outcome if run.status is RunStatus.SUCCEEDED else "failed")
        self.home.changed(ended)
        thread = await self._say(ended, grant_messages.ended_message(ended, run))
        if outcome == "changed" or run.status is not RunStatus.SUCCEEDED:  # the access may not be what was agreed
            await self._tell_directly(ended, grant_messages.ended_message(ended, run))
        entries = await self._log_of(run)
        await self.threads.post_log(thread, _request_of(ended), run, entries)

    async def _rescue(self, grant: Grant) -> None:
        log.error(
            "the revoke of grant revoke=%s (%s in %s) was due at %s and has not run: Nautobot's scheduler or workers "
            "look down; the bot runs it now",
            grant.scheduled_job_id,
            grant.email,
            grant.organization,
            grant.expires_at.isoformat(),
        )
        self.metrics.grant_revoke_late()
        await self._say(grant, grant_messages.late_message(grant))
        await self._tell_directly(grant, grant_messages.late_message(grant))
        failed = await self._run_revoke(grant, "meraki-chatops (the scheduled revoke did not run in time)")
        if failed is not None:  # taken on again after a few minutes (bot.ledger.grants.RESCUE_RETRY), unless held
            await self._say(grant, grant_messages.failed_to_start_message(grant, failed.reason, again=failed.again))

    async def _run_revoke(self, grant: Grant, requested_by: str) -> NotStarted | None:
        """Run the revoke Job with the grant's own input (the next looks follow that run); None, or why not."""
        try:
            job = await self.nautobot.find_job(grant.revoke_job)
            inputs: dict[str, Any] = {"grant": grant.revoke, REQUESTED_BY: requested_by, REQUEST_ID: grant.request_id}
            submission = await self.nautobot.run_job(job.id, inputs)
        except NautobotError as exc:
            log.error("could not run the revoke of grant revoke=%s: %s", grant.scheduled_job_id, exc)
            return NotStarted(str(exc))
        if submission.run is None:  # the approval trap (doctor's access expiry check): asking again adds nothing
            log.error("the revoke of grant revoke=%s waits for approval in Nautobot", grant.scheduled_job_id)
            await self.ledger.grant_ended(grant.scheduled_job_id, HELD)
            return NotStarted(
                f"Nautobot holds it for approval; it runs once approved at {submission.scheduled_url}", False
            )
        await self.ledger.grant_revoke_started(grant.scheduled_job_id, submission.run.result_id)
        return None

    async def _tell_directly(self, grant: Grant, message: Message) -> None:
        """A direct message to the requester and to each approver (never raises: a failure is logged)."""
        for person in dict.fromkeys((grant.requester_id, *grant.approvers)):
            try:
                await self.threads.post(person, message)
            except Exception as exc:
                log.warning("could not tell %s of grant revoke=%s: %s", person, grant.scheduled_job_id, exc)

    async def _log_of(self, run: JobRun) -> list[Any] | None:
        try:
            return await self.nautobot.job_logs(run.result_id)
        except NautobotError:
            return None

    async def _say(self, grant: Grant, message: Message) -> Thread:
        """A reply in the grant's thread (the requester's DM when the thread is gone; never raises)."""
        thread = Thread(grant.channel, grant.ts or "")
        if not grant.ts:
            return await self.threads.post(grant.channel, message)
        return await self.threads.reply(thread, _request_of(grant), message)


def _request_of(grant: Grant) -> RunRequest:
    """Enough of the granting request for its thread's replies (a thread Slack refuses moves to a DM)."""
    return RunRequest(
        request_id=grant.request_id,
        requester_id=grant.requester_id,
        channel_id=grant.channel,
        job_name=grant.revoke_job,
    )
