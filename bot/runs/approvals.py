"""A request's wait for approval in Slack, before anything reaches Nautobot: asking, deciding, reminding, ending.

The ledger holds the wait (:mod:`bot.ledger.approvals`): who must approve, each person's decision counted
once, the approvers' messages, the timers. Here those become messages: the requester's (who must approve,
since when, Withdraw), each approver's (Approve, Deny), reminders and escalations, and, once the wait ends,
every one of them showing how and who decided. An approved request goes on to Nautobot through the core
(:meth:`Carrier.send_approved`), once, like any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.home.changes import NOBODY, HomeChanges
from bot.ledger import (
    Approval,
    AuditAction,
    AuditEntry,
    AuditOutcome,
    Ending,
    Fired,
    IllegalTransition,
    Ledger,
    LedgerError,
    Notice,
    NoticeKind,
    Record,
)
from bot.ledger import Vote as LedgerVote
from bot.models import APPROVED_BY, JobForm, RunRequest
from bot.nautobot import FormCaches, NautobotError
from bot.policy import ApprovalRule, describe_duration
from bot.runs.approval_checks import Decider, Identity, check_click
from bot.runs.approval_snapshot import snapshot
from bot.runs.approver_links import ApproverLinks
from bot.runs.outcome import NoApprovers, Sent, SubmitOutcome
from bot.slack import approval_messages
from bot.slack.thread import SlackThreads, Thread

log = logging.getLogger("bot.runs")

DIRECT_MESSAGES_MAX = 50
"""Approvers told one by one at most; a larger group is better served by an approvers' channel."""

Members = Callable[..., Awaitable[frozenset[str]]]
"""A user group's members: ``members(group_id, fresh=…)``."""


class Sender(Protocol):
    """What the wait needs of the core: sending an approved request, and holding a request while working on it."""

    async def send_approved(self, record: Record) -> None: ...

    def holding(self, request_id: str) -> contextlib.AbstractContextManager[None]: ...


class Approvals:
    def __init__(self, ledger: Ledger, threads: SlackThreads, forms: FormCaches, members: Members) -> None:
        self.ledger = ledger
        self.threads = threads
        self.forms = forms
        self.members = members
        self.links = ApproverLinks()
        """Approvers Nautobot vouches for (the app gives it Nautobot's lookups; without them such rules approve
        nothing)."""
        self.sender: Sender | None = None
        self.home: HomeChanges = NOBODY
        self.tasks: set[asyncio.Task[Any]] = set()

    # -- asking ----------------------------------------------------------------------------------

    async def ask(self, request: RunRequest, rule: ApprovalRule) -> SubmitOutcome:
        """Record that ``request`` waits for approval under ``rule``; refused when too few people could give it."""
        approval = snapshot(rule, _now())
        where = "Slack"
        try:
            slack_people = await self._people(*approval.deciders(escalated=True))
            where = "Nautobot"
            possible = await self.links.possible(approval, slack_people) - {request.requester_id}
        except Exception as exc:  # Slack or Nautobot unreachable: who may approve is unknown, so nobody is asked
            log.warning("request=%s: cannot read its approvers from %s: %s", request.request_id, where, exc)
            reason = f"The bot could not read who may approve it from {where} ({exc}); try again in a minute."
            await self.ledger.refused(request.request_id, reason)
            return SubmitOutcome(Sent.NO_APPROVERS, error=NoApprovers(reason), request=request)
        if len(possible) < approval.count:
            reason = (
                f"It needs {approval.count} approval(s), and only {len(possible)} person(s) other than you may give "
                "it (nobody approves their own request)."
            )
            await self.ledger.refused(request.request_id, reason)
            return SubmitOutcome(Sent.NO_APPROVERS, error=NoApprovers(reason), request=request)
        await self.ledger.ask_approval(request.request_id, approval)
        log.info("request=%s waits for approval (%d needed)", request.request_id, approval.count)
        return SubmitOutcome(Sent.AWAITING_APPROVAL, request=request)

    async def post(self, request_id: str, form: JobForm | None) -> None:
        """Post the requester's message and each approver's, then wait: what a crash left out is posted when the
        request is taken up (what was posted is in the ledger, and not posted again)."""
        record = await self._get(request_id)
        approval = _approval(record)
        request = record.to_request()
        if not record.message_ts:
            thread = await self.threads.post_parent(
                request, approval_messages.waiting_message(request, form, approval), submitted=False
            )
            link = await self.threads.permalink(thread)
            record = await self.ledger.approval_message(request_id, channel=thread.channel_id, ts=thread.ts, link=link)
        await self._notify(record, form, approval.users, approval.groups, approval.nautobot_groups)
        try:
            record = await self.ledger.awaiting_approval(request_id)
        except IllegalTransition:  # decided while the messages went out: that decision's replica goes on
            log.info("request=%s was decided while its approvers were being asked", request_id)
            return
        self.home.changed(record)
        asked = len(record.approval.notices) if record.approval else 0
        log.info("request=%s waits for its approvers: %d message(s) asked them", request_id, asked)

    async def _notify(
        self,
        record: Record,
        form: JobForm | None,
        users: Iterable[str],
        groups: Iterable[str],
        nautobot_groups: Iterable[str] = (),
        kind: NoticeKind = NoticeKind.ASK,
    ) -> None:
        """Ask the people named: one message in the approvers' channel (the rule's choice; not for an escalation,
        whose people are told each), else a direct message to each who was not asked yet; a reminder goes to
        each who has not decided yet."""
        approval = _approval(record)
        message = approval_messages.approver_message(record.to_request(), form, approval, kind)
        reminder = kind is NoticeKind.REMINDER
        if approval.notify != "dm" and kind is not NoticeKind.ESCALATION:
            if reminder or not approval.notices:
                await self._notice(record.request_id, Notice(channel=approval.notify, ts="", kind=kind), message)
            return
        people = sorted(
            (await self._people(users, groups) | await self._linked(record, nautobot_groups)) - {record.requester_id}
        )
        if len(people) > DIRECT_MESSAGES_MAX:
            log.warning(
                "request=%s: %d approvers, only the first %d are told",
                record.request_id,
                len(people),
                DIRECT_MESSAGES_MAX,
            )
        told = {notice.person for notice in approval.notices}
        for person in people[:DIRECT_MESSAGES_MAX]:
            pending = approval.voted(person) is None if reminder else person not in told
            if pending:
                await self._notice(record.request_id, Notice(channel=person, ts="", person=person, kind=kind), message)

    async def _notice(self, request_id: str, notice: Notice, message: approval_messages.Message) -> None:
        """Post an approvers' message (``notice``: where and why, its ``ts`` to come) and record it."""
        try:
            posted = await self.threads.post(notice.channel, message)
        except Exception as exc:  # one approver Slack refuses keeps no other from being asked
            log.warning("request=%s: could not ask %s for approval: %s", request_id, notice.channel, exc)
            return
        notice = notice.model_copy(update={"channel": posted.channel_id, "ts": posted.ts})
        await self.ledger.approval_notice(request_id, notice)

    # -- deciding --------------------------------------------------------------------------------

    async def refusal(self, request_id: str, decider: Decider, clicked: Thread) -> str | None:
        """Why ``decider`` may not decide on this request from the message ``clicked``, checked now; None: they may.

        The button must be one of this request's approvers' messages (a forged value names another request's id),
        the request must still wait, the person must not have asked for it, and must be an approver today (user
        groups read from Slack now, Nautobot groups and account links from Nautobot now)."""
        return (await self._checked(request_id, decider, clicked)).refused

    async def _checked(self, request_id: str, decider: Decider, clicked: Thread) -> Identity:
        record = await self.ledger.get(request_id)
        return await check_click(record, decider, clicked, functools.partial(self._people, fresh=True), self.links)

    async def decide(
        self, request_id: str, decider: Decider, clicked: Thread, *, approve: bool, reason: str = ""
    ) -> tuple[bool, str]:
        """A person's Approve or Deny, checked when it is made; ``(counted, what they are told)``."""
        checked = await self._checked(request_id, decider, clicked)
        if checked.refused is not None:
            return False, checked.refused
        record = await self._get(request_id)
        linked = checked.nautobot_user
        label = decider.linked(linked) if linked else decider.label
        vote = LedgerVote(person=decider.user_id, label=label, approve=approve, reason=reason, at=_now())
        try:
            record, counted = await self.ledger.vote(request_id, vote, approved_by=await self._approved_by(record))
        except IllegalTransition:
            return False, "This request is no longer waiting for approval. Nothing was decided."
        if not counted:
            return False, "You already decided on this request; it counts once."
        log.info("request=%s %s by %s", request_id, "approved" if approve else "denied", decider.user_id)
        await self._shown(record)
        told = self._told(record, approve)
        return True, f"{told} Recorded as Nautobot user {linked}, linked to your Slack account." if linked else told

    def _told(self, record: Record, approve: bool) -> str:
        approval = _approval(record)
        if not approve:
            self._background(record.request_id, self.close(record))
            return "Denied: the requester is told why, and nothing is run."
        if approval.ending is Ending.APPROVED:
            self._background(record.request_id, self._send(record))
            return "Approved: the request is sent to Nautobot now."
        return f"Approval counted: {len(approval.approvals)} of {approval.count}."

    async def withdraw(self, request_id: str, user_id: str) -> tuple[bool, str]:
        """The requester takes the request back while it waits; ``(withdrawn, what they are told)``."""
        record = await self.ledger.get(request_id)
        if record is None or record.approval is None:
            return False, "The bot does not know this request. Nothing was withdrawn."
        if user_id != record.requester_id:
            return False, "Only the person who asked for it may withdraw it. Nothing was withdrawn."
        try:
            record = await self.ledger.withdraw(request_id)
        except IllegalTransition:
            return False, "This request is no longer waiting for approval. Nothing was withdrawn."
        with self._holding(request_id):
            await self.close(record)
        return True, "Withdrawn: nothing is run, and the approvers are told."

    async def _approved_by(self, record: Record) -> str | None:
        """The Job variable that learns who approved, when the Job has it."""
        try:
            form = await self.forms.of(record.job_name).get()
        except NautobotError:
            return APPROVED_BY  # the form is read again before sending: a Job without it refuses there
        return APPROVED_BY if form.variable(APPROVED_BY) is not None else None

    # -- timers ----------------------------------------------------------------------------------

    async def fire(self) -> int:
        """Fire the due timers (each once across replicas), and post what they mean in the background."""
        fired = await self.ledger.fire_timers()
        for each in fired:
            self._background(each.record.request_id, self._fired(each))
        return len(fired)

    async def _fired(self, fired: Fired) -> None:
        record, approval = fired.record, _approval(fired.record)
        waited = describe_duration(_now() - approval.since)
        if fired.expired:
            log.info("request=%s expired: nobody decided within %s", record.request_id, waited)
            await self._audit(record, AuditAction.EXPIRE, AuditOutcome.REFUSED, f"nobody decided within {waited}")
            await self.close(record)
            return
        form = await self._form(record.job_name)
        if fired.escalated:
            log.info("request=%s escalated after %s", record.request_id, waited)
            escalation = NoticeKind.ESCALATION
            escalated = (approval.escalate_users, approval.escalate_groups, approval.escalate_nautobot_groups)
            await self._notify(record, form, *escalated, kind=escalation)
            await self._audit(record, AuditAction.ESCALATE, AuditOutcome.ALLOWED, f"undecided after {waited}")
        if fired.reminded:
            log.info("request=%s: approvers reminded after %s", record.request_id, waited)
            approvers = (approval.users, approval.groups, approval.nautobot_groups)
            await self._notify(record, form, *approvers, kind=NoticeKind.REMINDER)
            await self._audit(record, AuditAction.REMIND, AuditOutcome.ALLOWED, f"undecided after {waited}")
        await self._shown(await self._get(record.request_id))

    async def _audit(self, record: Record, action: AuditAction, outcome: AuditOutcome, reason: str) -> None:
        """What the bot did of itself to a request, in the audit trail under the requester's name."""
        entry = AuditEntry(
            action=action,
            outcome=outcome,
            user_id=record.requester_id,
            channel_id=record.channel_id,
            request_id=record.request_id,
            job_name=record.job_name,
            reason=f"by the bot: {reason}",
            source="approvals",
        )
        try:
            await self.ledger.audit(entry)
        except LedgerError as exc:
            log.warning("request=%s: the audit entry of %s was not written: %s", record.request_id, action, exc)

    # -- ending ----------------------------------------------------------------------------------

    async def close(self, record: Record) -> None:
        """Denied, withdrawn or expired: every message shows it, the requester hears it in the thread. Final."""
        await self._shown(record)
        await self._reply(record)
        try:
            closed = await self.ledger.closed(record.request_id)
        except IllegalTransition:
            log.info("request=%s was closed already", record.request_id)
            return
        self.home.changed(closed)  # final now: a workflow step waiting on it ends without waiting for the sweep

    async def _send(self, record: Record) -> None:
        if self.sender is None:
            raise LedgerError("approved requests have no sender: the core did not attach itself")
        await self._reply(record)
        await self.sender.send_approved(record)

    async def _reply(self, record: Record) -> None:
        """The ending, as a reply in the requester's thread that notifies them."""
        if not record.message_channel or not record.message_ts:
            return
        reply = approval_messages.requester_reply(record.requester_id, _approval(record))
        if reply is not None:
            await self.threads.reply(Thread(record.message_channel, record.message_ts), record.to_request(), reply)

    async def _shown(self, record: Record) -> None:
        """The requester's message and every approver's, as the wait stands now."""
        approval = _approval(record)
        form = await self._form(record.job_name)
        request = record.to_request()
        if record.message_channel and record.message_ts:
            waiting = approval_messages.waiting_message(request, form, approval)
            await self.threads.rewrite(Thread(record.message_channel, record.message_ts), waiting)
        for notice in approval.notices:
            message = approval_messages.approver_message(request, form, approval, notice.kind)
            await self.threads.rewrite(Thread(notice.channel, notice.ts), message)
        self.home.changed(record)

    # -- internals -------------------------------------------------------------------------------

    async def _people(self, users: Iterable[str], groups: Iterable[str], *, fresh: bool = False) -> frozenset[str]:
        """The users named and the groups' members (read from Slack now when ``fresh``)."""
        people = set(users)
        for group in sorted(set(groups)):
            people |= await self.members(group, fresh=fresh)
        return frozenset(people)

    async def _linked(self, record: Record, nautobot_groups: Iterable[str]) -> frozenset[str]:
        """The Slack users linked to the members of ``nautobot_groups``; nobody when Nautobot cannot tell (the
        others are told all the same)."""
        try:
            return frozenset(await self.links.members(nautobot_groups))
        except Exception as exc:
            log.warning("request=%s: cannot read its approvers' Nautobot groups: %s", record.request_id, exc)
            return frozenset()

    async def _form(self, job_name: str) -> JobForm | None:
        try:
            return await self.forms.of(job_name).get()
        except NautobotError:
            return None  # only shown: the messages go on without the inputs' labels

    async def _get(self, request_id: str) -> Record:
        record = await self.ledger.get(request_id)
        if record is None:
            raise LedgerError(f"request {request_id} is not in the ledger")
        return record

    def _holding(self, request_id: str) -> contextlib.AbstractContextManager[None]:
        """While working on ``request_id`` (held by this replica), its lease is renewed."""
        return self.sender.holding(request_id) if self.sender is not None else contextlib.nullcontext()

    def _background(self, request_id: str, work: Awaitable[Any]) -> None:
        """``work`` on ``request_id`` goes on while the click is answered; its lease is renewed meanwhile."""
        held = self._holding(request_id)

        async def run() -> None:
            try:
                with held:
                    await work
            except Exception:  # its request is taken up again once its lease runs out
                log.exception("an approval step of request=%s failed; it is taken up again", request_id)

        task = asyncio.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def _approval(record: Record) -> Approval:
    if record.approval is None:
        raise LedgerError(f"request {record.request_id} needs no approval")
    return record.approval


def _now() -> datetime:
    return datetime.now(UTC)
