"""Telling the people who may decide a run Nautobot holds for approval, and showing them the decision.

A follow waiting for Nautobot's decision (:meth:`bot.runs.follow.Follower.follow_approval`) calls
:meth:`NautobotApprovers.waiting` at each look and :meth:`NautobotApprovers.decided` once Nautobot decided. The
first look tells the approvers :mod:`bot.nautobot.approvers` finds (a direct message each; never the requester,
who asked) and the approvers' channel (``NAUTOBOT_APPROVERS_CHANNEL``) — the channel alone when nobody can be
found, as on Nautobot 2.4 — and says in the requester's thread who was told, or that nobody could be. After
``NAUTOBOT_APPROVAL_REMIND_SECONDS`` without a decision the same people and channel are reminded once. Once
decided, every one of those messages shows the outcome, and the requester's thread names who decided when
Nautobot says so. The ledger (:mod:`bot.ledger.nautobot_approvals`) makes each of these happen once, across
restarts and replicas.

Nothing here may end a follow: a lookup Nautobot refuses, a message Slack refuses, or a ledger outage is logged
(a warning, once per request and step) and the follow goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.ledger import Ledger
from bot.ledger.nautobot_approval import ApproverNotice, NautobotApproval
from bot.ledger.schema import now
from bot.models import JobForm, RunRequest
from bot.nautobot.approvers import ApproverLookup, Approvers
from bot.slack.nautobot_approval_messages import (
    Decision,
    Message,
    approvers_message,
    decided_reply,
    nobody_told_reply,
    told_reply,
)
from bot.slack.thread import SlackThreads, Thread

log = logging.getLogger("bot.nautobot_approvers")

NAMED_OUTCOMES = frozenset({"approved", "denied"})
"""Outcomes a person decided: Nautobot may say who."""


class TellingNobody:
    """A follower that tells nobody (built without Nautobot's approvers)."""

    async def waiting(self, request: RunRequest, form: JobForm | None, scheduled_id: str, thread: Thread) -> None:
        """The run still waits for Nautobot's decision (called at each look)."""

    async def decided(self, request: RunRequest, form: JobForm | None, thread: Thread, outcome: str) -> None:
        """Nautobot decided: ``approved``, ``denied``, ``cancelled`` or ``failed`` (see :class:`Decision`)."""


class NautobotApprovers(TellingNobody):
    """Tells Nautobot's approvers of the runs it holds (see the module's description)."""

    def __init__(
        self,
        lookup: ApproverLookup,
        threads: SlackThreads,
        ledger: Ledger,
        *,
        channel: str | None = None,
        remind_after: float = 3600.0,
        clock: Callable[[], datetime] = now,
    ) -> None:
        """``remind_after``: seconds without a decision before the one reminder; 0: never."""
        self.lookup = lookup
        self.threads = threads
        self.ledger = ledger
        self.channel = channel
        self.remind_after = remind_after
        self.clock = clock
        self._reminder_due: dict[str, datetime | None] = {}
        """Requests this replica looked at: when their reminder is due (None: none is)."""

    async def waiting(self, request: RunRequest, form: JobForm | None, scheduled_id: str, thread: Thread) -> None:
        try:
            if request.request_id not in self._reminder_due:
                await self._tell(request, form, scheduled_id, thread)
            due = self._reminder_due.get(request.request_id)
            if due is not None and self.clock() >= due:
                self._reminder_due[request.request_id] = None
                await self._remind(request, form, scheduled_id)
        except Exception as exc:  # never ends the follow: the run is decided in Nautobot all the same
            self._reminder_due.setdefault(request.request_id, None)
            log.warning("could not tell Nautobot's approvers of request=%s: %s", request.request_id, exc)

    async def decided(self, request: RunRequest, form: JobForm | None, thread: Thread, outcome: str) -> None:
        self._reminder_due.pop(request.request_id, None)
        try:
            record = await self.ledger.nautobot_decided(request.request_id, outcome)
            if record is None or record.nautobot_approval is None or not record.scheduled_job_id:
                return  # nobody was told (or their messages show it already)
            decision = Decision(outcome, await self._deciders(request, record.scheduled_job_id, outcome))
            url = self.lookup.nautobot.scheduled_url(record.scheduled_job_id)
            told = record.nautobot_approval
            for notice in told.notices:
                who = told.people if notice.person is None else None
                message = approvers_message(request, form, url, reminder=notice.reminder, told=who, decision=decision)
                await self.threads.rewrite(Thread(notice.channel, notice.ts), message)
            if decision.deciders:
                await self.threads.reply(thread, request, decided_reply(request.requester_id, decision))
        except Exception as exc:
            log.warning("could not show Nautobot's decision on request=%s: %s", request.request_id, exc)

    async def _tell(self, request: RunRequest, form: JobForm | None, scheduled_id: str, thread: Thread) -> None:
        told = await self.ledger.tell_nautobot_approvers(request.request_id)
        if told is None:  # told before: by this replica before a restart, or by another
            record = await self.ledger.get(request.request_id)
            self._remember(request, record.nautobot_approval if record else None)
            return
        url = self.lookup.nautobot.scheduled_url(scheduled_id)
        found = await self._find(request, scheduled_id)
        people = [person for person in found.slack_users if person != request.requester_id]
        notices = [await self._post(person, approvers_message(request, form, url), person) for person in people]
        direct = tuple(notice.person for notice in notices if notice is not None and notice.person)
        if self.channel:
            notices.append(await self._post(self.channel, approvers_message(request, form, url, told=direct)))
        posted = [notice for notice in notices if notice is not None]
        await self.ledger.nautobot_notices(request.request_id, posted)
        channel = self.channel if any(notice.person is None for notice in posted) else None
        if posted:
            log.info("told request=%s approvers=%s channel=%s", request.request_id, ",".join(direct), channel)
            await self.threads.reply(thread, request, told_reply(direct, channel))
        else:
            log.warning(
                "nobody was told that request=%s waits for approval in Nautobot: no approver found with a linked "
                "Slack account (group %r) and no NAUTOBOT_APPROVERS_CHANNEL",
                request.request_id,
                found.group,
            )
            await self.threads.reply(thread, request, nobody_told_reply(request.requester_id, url))
        self._remember(request, told)

    async def _remind(self, request: RunRequest, form: JobForm | None, scheduled_id: str) -> None:
        told_before = self.clock() - timedelta(seconds=self.remind_after)
        fired = await self.ledger.remind_nautobot_approvers(request.request_id, told_before=told_before)
        if fired is None:
            return  # decided, or reminded already (by another replica)
        url = self.lookup.nautobot.scheduled_url(scheduled_id)
        reminders = [
            await self._post(person, approvers_message(request, form, url, reminder=True), person, reminder=True)
            for person in fired.people
        ]
        for channel in fired.channels:
            message = approvers_message(request, form, url, reminder=True, told=fired.people)
            reminders.append(await self._post(channel, message, reminder=True))
        await self.ledger.nautobot_notices(request.request_id, [notice for notice in reminders if notice])
        log.info("reminded the approvers of request=%s", request.request_id)

    async def _find(self, request: RunRequest, scheduled_id: str) -> Approvers:
        """The approvers Nautobot names; nobody when a lookup fails (warned once: this runs once per request)."""
        try:
            return await self.lookup.approvers(scheduled_id)
        except Exception as exc:
            log.warning(
                "cannot find the approvers of request=%s in Nautobot (only NAUTOBOT_APPROVERS_CHANNEL is told): %s",
                request.request_id,
                exc,
            )
            return Approvers()

    async def _deciders(self, request: RunRequest, scheduled_id: str, outcome: str) -> tuple[str, ...]:
        if outcome not in NAMED_OUTCOMES:
            return ()
        try:
            return await self.lookup.deciders(scheduled_id)
        except Exception as exc:
            log.warning("cannot read who decided request=%s in Nautobot: %s", request.request_id, exc)
            return ()

    async def _post(
        self, where: str, message: Message, person: str | None = None, *, reminder: bool = False
    ) -> ApproverNotice | None:
        """Post ``message`` to a person (``U…``: a direct message) or a channel; None when Slack refused it."""
        try:
            posted = await self.threads.post(where, message)
        except Exception as exc:
            log.warning("could not tell %s of a run waiting for approval in Nautobot: %s", where, exc)
            return None
        return ApproverNotice(channel=posted.channel_id, ts=posted.ts, person=person, reminder=reminder)

    def _remember(self, request: RunRequest, told: NautobotApproval | None) -> None:
        """When this request's reminder is due, if one is."""
        due = None
        if told is not None and not told.reminded and told.decided is None and self.remind_after > 0:
            due = told.since + timedelta(seconds=self.remind_after)
        self._reminder_due[request.request_id] = due
