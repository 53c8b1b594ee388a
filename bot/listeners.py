"""What happens on the slash command, the modal's submission and the buttons.

Each of them asks :class:`bot.access.Access` first, and records what happened in the audit trail.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import access as policy
from bot import forms, messages
from bot.access import Access, Actor, Decision
from bot.audit import Audit
from bot.form_cache import FormCache
from bot.ledger import AuditAction, AuditEntry, AuditOutcome, Ledger, LedgerError, Record, RequestState
from bot.logs import set_correlation
from bot.metrics import Metrics
from bot.models import REQUESTED_BY, JobForm, JobVariable, ModalContext, RunRequest
from bot.nautobot import JobFieldErrors, NautobotError, Submission
from bot.runs import Runs

log = logging.getLogger("bot.listeners")

# Nautobot's answer to a run usually arrives in about a second. Waiting this long for it (counted from
# the submission's arrival) lets its field errors appear under the form's fields; Slack wants the
# submission acknowledged within 3 s.
SUBMIT_WAIT = 2.0
# The part of that budget the access check may take (grants are re-read from Nautobot on submission).
ACCESS_WAIT = 1.0
ACCESS_TIMEOUT = "The bot could not check your access in time. Nothing was sent; press Run again."
RETRY_LATER = "Try again in a minute; if it keeps happening, tell your Nautobot administrator."
RETRY_KEPT = (
    "Press Retry once Nautobot is back; what you entered is kept. "
    "If it keeps failing, tell your Nautobot administrator."
)
# A refused request may be corrected and sent again from the same modal; each attempt gets its own key.
MAX_ATTEMPTS = 20


SUBMITTING = forms.message_modal("Submitting", "⏳ Sending the request to Nautobot…")


def request_key(view_id: str, values: dict[str, Any], attempt: int = 0) -> str:
    """The idempotency key: the same submission delivered twice maps to one key, a changed one does not."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{view_id}:{digest}" + (f":{attempt}" if attempt else "")


class Listeners:
    def __init__(
        self,
        *,
        ledger: Ledger,
        runs: Runs,
        forms_cache: FormCache,
        access: Access,
        audit: Audit | None = None,
        email_regex: str | None = None,
        hidden: frozenset[str] = frozenset(),
        metrics: Metrics | None = None,
    ):
        self.metrics = metrics or Metrics()
        self.ledger = ledger
        self.runs = runs
        self.forms = forms_cache
        self.access = access
        self.audit = audit or Audit(ledger)
        self.email_regex = email_regex
        self.hidden = frozenset(hidden) | {REQUESTED_BY}

    # -- the command -----------------------------------------------------------------------------

    async def command(self, ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        actor = Actor.from_command(body)
        context = ModalContext(
            channel_id=body["channel_id"], user_id=body["user_id"], job_id="", command_text=body.get("text", "")
        )
        decision = self.access.decide_now(actor)  # no network call may delay views.open (3 s trigger)
        form = self.forms.current()
        if decision is not None and form is not None:
            view = self._modal(form, context, decision) if decision.allowed else self._denied(decision)
            await client.views_open(trigger_id=body["trigger_id"], view=view)
            self.forms.refresh_soon()
            await self._audit_command(actor, decision, context)
            return
        opened = await client.views_open(
            trigger_id=body["trigger_id"], view=forms.loading_modal(context, self.forms.job_name)
        )
        view = opened["view"]
        if decision is None:
            decision = await self.access.decide(actor)
        if not decision.allowed:
            replacement = self._denied(decision)
        else:
            try:
                form = form or await self.forms.refresh()
            except NautobotError as exc:
                log.warning("form unavailable user=%s: %s", context.user_id, exc)
                replacement = forms.unavailable_modal(str(exc), RETRY_LATER)
            else:
                replacement = self._modal(form, context, decision)
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=replacement)
        await self._audit_command(actor, decision, context)

    def _modal(self, form: JobForm, context: ModalContext, decision: Decision):
        shown = policy.restricted_form(form, decision)  # only the choices this person may pick
        prefill = forms.parse_command_text(context.command_text or "", shown, self.hidden)
        context = context.model_copy(update={"job_id": form.job_id})
        notice = " ".join(text for text in (prefill.notice(), policy.choice_notice(form, decision)) if text)
        return forms.build_modal(
            shown, context=context, prefill=prefill.values, hidden=self.hidden, notice=notice or None
        )

    @staticmethod
    def _denied(decision: Decision):
        return forms.unavailable_modal(decision.reason, decision.remedy or RETRY_LATER, title="Not allowed")

    async def _audit_command(self, actor: Actor, decision: Decision, context: ModalContext) -> None:
        outcome = AuditOutcome.ALLOWED if decision.allowed else AuditOutcome.DENIED
        if not decision.allowed:
            self.metrics.request("denied")
            log.warning("command refused user=%s channel=%s: %s", actor.user_id, actor.channel_id, decision.reason)
        inputs = {"command_text": context.command_text} if context.command_text else None
        await self._audit(AuditAction.COMMAND, outcome, actor, decision=decision, inputs=inputs)

    # -- options of a long choice list ---------------------------------------------------------

    async def options(self, ack, body: dict[str, Any]) -> None:
        """A choice list past Slack's 100 static options is an external select; this answers it."""
        form = self.forms.current()
        var = form.variable(body.get("block_id", "")) if form else None
        if var is not None and var.choices:  # only the choices this person may pick
            var = await self._offered(var, body)
        if var is None or not var.choices:
            await ack(options=[])
            return
        found = forms.choice_options(var, body.get("value", ""))
        await ack(options=[option.to_dict() for option in found])

    async def _offered(self, var: JobVariable, body: dict[str, Any]) -> JobVariable | None:
        try:
            channel = ModalContext.from_metadata((body.get("view") or {}).get("private_metadata", "")).channel_id
        except ValueError:
            return None
        actor = Actor.from_interaction(body, channel)
        try:
            decision = self.access.decide_now(actor) or await asyncio.wait_for(self.access.decide(actor), ACCESS_WAIT)
        except TimeoutError:
            return None
        if not decision.allowed:
            return None
        return policy.restricted_form(JobForm(job_id="", job_name="", variables=[var]), decision).variables[0]

    # -- the submission --------------------------------------------------------------------------

    async def submission(self, ack, body: dict[str, Any], client: AsyncWebClient, view: dict[str, Any]) -> None:
        arrived = asyncio.get_running_loop().time()
        context = ModalContext.from_metadata(view.get("private_metadata", ""))
        actor = Actor.from_interaction(body, context.channel_id)
        try:  # access may have been taken away while the form was open: grants are read again
            decision = await asyncio.wait_for(self.access.decide(actor, fresh=True), ACCESS_WAIT)
        except TimeoutError:
            first = next(iter((view.get("state") or {}).get("values") or {}), None)
            if first is None:
                await ack(response_action="update", view=forms.unavailable_modal(ACCESS_TIMEOUT, RETRY_LATER))
            else:
                await ack(response_action="errors", errors={first: ACCESS_TIMEOUT})
            await self._audit(AuditAction.SUBMIT, AuditOutcome.FAILED, actor, reason=ACCESS_TIMEOUT)
            return
        if not decision.allowed:
            self.metrics.request("denied")
            await ack(response_action="update", view=self._denied(decision))
            log.warning("submission refused user=%s channel=%s: %s", actor.user_id, actor.channel_id, decision.reason)
            await self._audit(AuditAction.SUBMIT, AuditOutcome.DENIED, actor, decision=decision)
            return
        try:
            form = self.forms.current() or await self.forms.refresh()
        except NautobotError as exc:
            await ack(response_action="update", view=forms.unavailable_modal(str(exc), RETRY_LATER, title="Not run"))
            return
        values = forms.read_submission(view["state"]["values"], form, self.hidden)
        refused = policy.refused_choices(values, form, decision, setting=decision.source)
        if refused:
            self.metrics.request("denied")
            await ack(response_action="errors", errors=refused)
            reason = " ".join(refused.values())
            await self._audit(AuditAction.SUBMIT, AuditOutcome.DENIED, actor, decision=decision, reason=reason)
            return
        errors = forms.validate(values, form, email_regex=self.email_regex, hidden=self.hidden)
        if errors:
            self.metrics.request("invalid")
            await ack(response_action="errors", errors=errors)
            await self._audit(
                AuditAction.SUBMIT, AuditOutcome.INVALID, actor, decision=decision, reason=" ".join(errors.values())
            )
            return
        values = self._with_requester(values, form, actor)
        claiming = asyncio.create_task(self._claim(view["id"], body["user"]["id"], context, form, values))
        acked = not await self._in_time(claiming, arrived)
        if acked:  # a busy ledger must not cost the person Slack's 3 s: the modal says "Submitting" meanwhile
            await ack(response_action="update", view=SUBMITTING)
        try:
            request = await claiming
        except LedgerError as exc:
            log.error("cannot record a request: %s", exc)
            unrecorded = f"The bot cannot record requests: {exc}"
            unavailable = forms.unavailable_modal(unrecorded, RETRY_LATER, title="Not run")
            if acked:
                await client.views_update(view_id=view["id"], view=unavailable)
            else:
                await ack(response_action="update", view=unavailable)
            return
        set_correlation(request.request_id if request else view["id"])  # follows the request into every log line
        if request is None:  # Slack redelivered it, or a second click got through: it runs once
            self.metrics.request("duplicate")
            if not acked:
                await ack()
            return
        audit = _Trail(self, AuditAction.SUBMIT, actor, decision, request.request_id, form.job_name, values)
        posting = asyncio.create_task(self.runs.submit(request.request_id, form))
        if acked or not await self._in_time(posting, arrived):
            if not acked:
                await ack(response_action="update", view=SUBMITTING)
            await self._finish_late(request, form, values, context, posting, client, view["id"], decision, audit)
            return
        try:
            submission = posting.result()
        except LedgerError:  # another delivery of this request is already sending it
            self.metrics.request("duplicate")
            await ack()
            return
        except JobFieldErrors as exc:
            self.metrics.request("refused")
            on_fields, general = forms.field_errors(exc.errors, form, hidden=self.hidden)
            if on_fields:
                await ack(response_action="errors", errors=self._with_general(on_fields, general))
            else:
                await ack(response_action="update", view=self._refused(form, values, context, general, decision))
            await audit(AuditOutcome.REFUSED, str(exc))
            return
        except NautobotError as exc:
            self._refusal(exc)
            log.warning("run refused request=%s: %s", request.request_id, exc)
            await ack(response_action="update", view=self._not_run(exc, request.request_id))
            await audit(AuditOutcome.UNSENT if exc.retryable else AuditOutcome.REFUSED, str(exc))
            return
        await ack()
        await self._started(request, form, submission)
        await audit(AuditOutcome.SUBMITTED, _submitted(submission))

    @staticmethod
    async def _in_time(task: asyncio.Task, arrived: float) -> bool:
        """Whether ``task`` ends within the submission's budget, counted from its arrival."""
        waited = asyncio.get_running_loop().time() - arrived
        done, _ = await asyncio.wait({task}, timeout=max(SUBMIT_WAIT - waited, SUBMIT_WAIT / 4))
        return bool(done)

    def _with_requester(self, values: dict[str, Any], form: JobForm, actor: Actor) -> dict[str, Any]:
        """The Job learns who asked, when it has the variable for it (older versions of the Job do not)."""
        if form.variable(REQUESTED_BY) is None:
            return values
        return {**values, REQUESTED_BY: requested_by(actor)}

    async def _claim(
        self, view_id: str, user_id: str, context: ModalContext, form: JobForm, values: dict[str, Any]
    ) -> RunRequest | None:
        """Record the request before anything is sent; None when this submission is already under way."""
        for attempt in range(MAX_ATTEMPTS):
            request = RunRequest(
                request_id=request_key(view_id, values, attempt),
                requester_id=user_id,
                channel_id=context.channel_id,
                job_name=form.job_name,
                inputs=values,
                dryrun=bool(values.get("dryrun", False)),
            )
            record, created = await self.ledger.record(request)
            if created or record.state is RequestState.UNSENT:
                return request
            if record.state is not RequestState.REFUSED:
                return None
        raise LedgerError(f"{MAX_ATTEMPTS} refused attempts from one form; open a new one")

    def _with_general(self, on_fields: dict[str, str], general: list[str]) -> dict[str, str]:
        if not general:
            return on_fields
        first = next(iter(on_fields))
        return {**on_fields, first: messages.truncate(f"{on_fields[first]} ({'; '.join(general)})", 2000)}

    def _refused(
        self, form: JobForm, values: dict[str, Any], context: ModalContext, general: list[str], decision: Decision
    ):
        notice = "Nautobot did not run the Job: " + "; ".join(general) + " Correct the form and submit again."
        context = context.model_copy(update={"job_id": form.job_id})
        shown = policy.restricted_form(form, decision)
        return forms.build_modal(shown, context=context, prefill=values, hidden=self.hidden, notice=notice)

    async def _finish_late(self, request, form, values, context, posting, client, view_id, decision, audit) -> None:
        """Nautobot answered after the ack: the modal, already showing "Submitting", shows the outcome."""
        try:
            submission = await posting
        except LedgerError:  # another delivery of this request is already sending it
            self.metrics.request("duplicate")
            return
        except JobFieldErrors as exc:
            self.metrics.request("refused")
            on_fields, general = forms.field_errors(exc.errors, form, hidden=self.hidden)
            lines = [f"{form.variable(name).display_label}: {text}" for name, text in on_fields.items()] + general
            await client.views_update(view_id=view_id, view=self._refused(form, values, context, lines, decision))
            await audit(AuditOutcome.REFUSED, str(exc))
            return
        except NautobotError as exc:
            self._refusal(exc)
            await client.views_update(view_id=view_id, view=self._not_run(exc, request.request_id))
            await audit(AuditOutcome.UNSENT if exc.retryable else AuditOutcome.REFUSED, str(exc))
            return
        await client.views_update(
            view_id=view_id,
            view=forms.message_modal(
                "Submitted", f"✅ Submitted. Follow it in {messages.channel_link(context.channel_id)}."
            ),
        )
        await self._started(request, form, submission)
        await audit(AuditOutcome.SUBMITTED, _submitted(submission))

    @staticmethod
    def _not_run(exc: NautobotError, request_id: str):
        if exc.retryable:
            return forms.unavailable_modal(str(exc), RETRY_KEPT, title="Not run", retry=request_id)
        return forms.unavailable_modal(str(exc), RETRY_LATER, title="Not run")

    # -- the Retry button of a request Nautobot could not take -----------------------------------

    async def retry(self, ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view, request_id = body["view"], body["actions"][0]["value"]
        set_correlation(request_id)
        record = await self.ledger.get(request_id)
        if record is None or record.requester_id != body["user"]["id"] or record.state is not RequestState.UNSENT:
            done = forms.message_modal("Not run", "This request is no longer waiting for a retry.")
            await client.views_update(view_id=view["id"], view=done)
            if record is not None and record.requester_id != body["user"]["id"]:
                reason = f"only {record.requester_id}, who asked for it, may retry it"
                actor = Actor.from_interaction(body, record.channel_id)
                await self._audit(AuditAction.RETRY, AuditOutcome.DENIED, actor, reason=reason, request_id=request_id)
            return
        actor = Actor.from_interaction(body, record.channel_id)
        decision = await self._button_decision(actor, record)
        if not decision.allowed:
            await client.views_update(view_id=view["id"], view=self._denied(decision))
            await self._audit(AuditAction.RETRY, AuditOutcome.DENIED, actor, decision=decision, request_id=request_id)
            return
        audit = _Trail(self, AuditAction.RETRY, actor, decision, request_id, record.job_name, dict(record.inputs))
        try:
            form = self.forms.current() or await self.forms.refresh()
            submission = await self.runs.submit(request_id, form)
        except LedgerError:  # a second click: the first one is sending it
            return
        except NautobotError as exc:
            self._refusal(exc)
            await client.views_update(view_id=view["id"], view=self._not_run(exc, request_id))
            await audit(AuditOutcome.UNSENT if exc.retryable else AuditOutcome.REFUSED, str(exc))
            return
        channel = messages.channel_link(record.channel_id)
        submitted = forms.message_modal("Submitted", f"✅ Submitted. Follow it in {channel}.")
        await client.views_update(view_id=view["id"], view=submitted)
        await self._started(record.to_request(), form, submission)
        await audit(AuditOutcome.SUBMITTED, _submitted(submission))

    async def _button_decision(self, actor: Actor, record: Record) -> Decision:
        """The policy for a button on a kept request: the person, and the choices the request holds."""
        decision = await self.access.decide(actor, fresh=True)
        if not decision.allowed:
            return decision
        form = self.forms.current()
        refused = policy.refused_choices(dict(record.inputs), form, decision, setting=decision.source) if form else {}
        if not refused:
            return decision
        return Decision(
            allowed=False,
            reason=" ".join(refused.values()),
            remedy="Open a new form with /meraki-add-user and pick a choice you may use.",
            source=decision.source,
        )

    # -- the Cancel button on the parent message -------------------------------------------------

    async def cancel(self, ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        request_id, user_id = body["actions"][0]["value"], body["user"]["id"]
        channel = body["container"]["channel_id"]
        set_correlation(request_id)
        record = await self.ledger.get(request_id)
        if record is None or not record.result_id:
            return
        actor = Actor.from_interaction(body, record.channel_id)
        decision = await self.access.decide(actor, fresh=True)
        if not decision.allowed:  # the policy first, then the rule that only the requester may cancel
            text, blocks = messages.error_message(
                decision.reason, "Nothing was cancelled; the Job goes on.", decision.remedy
            )
            outcome, reason = AuditOutcome.DENIED, decision.reason
        elif user_id != record.requester_id:
            text, blocks = messages.only_requester_may_cancel(record.requester_id)
            outcome, reason = AuditOutcome.DENIED, f"only {record.requester_id}, who asked for the run, may cancel it"
        else:
            try:
                run = await self.runs.nautobot.cancel(record.result_id)
                log.info("cancel requested request=%s result=%s", request_id, record.result_id)
                text, blocks = messages.cancel_requested(run.url)
                outcome, reason = AuditOutcome.ALLOWED, f"cancel sent to Nautobot for JobResult {record.result_id}"
            except NautobotError as exc:
                text, blocks = messages.error_message(
                    f"Nautobot did not cancel the run: {exc}", "The Job goes on.", "Cancel it in Nautobot."
                )
                outcome, reason = AuditOutcome.FAILED, f"Nautobot did not cancel the run: {exc}"
        await client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks)
        await self._audit(
            AuditAction.CANCEL, outcome, actor, decision=decision, reason=reason, request_id=request_id, job=record
        )

    def _refusal(self, exc: NautobotError) -> None:
        self.metrics.nautobot_error(exc)
        self.metrics.request("unsent" if getattr(exc, "retryable", False) else "refused")

    async def _started(self, request: RunRequest, form: JobForm, submission: Submission) -> None:
        self.metrics.request("submitted")
        if submission.run is None:
            log.info("run awaits approval request=%s scheduled=%s", request.request_id, submission.scheduled_job_id)
        await self.runs.start(request, form, submission.run, submission.scheduled_url)

    async def _audit(
        self,
        action: AuditAction,
        outcome: AuditOutcome,
        actor: Actor,
        *,
        decision: Decision | None = None,
        reason: str | None = None,
        request_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        job: Record | None = None,
        job_name: str | None = None,
    ) -> None:
        await self.audit.record(
            AuditEntry(
                action=action,
                outcome=outcome,
                user_id=actor.user_id,
                user_name=actor.user_name,
                channel_id=actor.channel_id,
                team_id=actor.team_id,
                request_id=request_id,
                job_name=job_name or (job.job_name if job else self.forms.job_name),
                inputs=inputs,
                reason=reason if reason is not None else (decision.reason if decision else ""),
                source=decision.source if decision else "",
            )
        )


class _Trail:
    """The audit entry of one submitted (or retried) request, written once its outcome is known."""

    def __init__(self, listeners: Listeners, action, actor, decision, request_id, job_name, inputs):
        self.listeners = listeners
        self.args = (action, actor, decision, request_id, job_name, inputs)

    async def __call__(self, outcome: AuditOutcome, reason: str) -> None:
        action, actor, decision, request_id, job_name, inputs = self.args
        await self.listeners._audit(
            action,
            outcome,
            actor,
            decision=decision,
            reason=reason,
            request_id=request_id,
            inputs=inputs,
            job_name=job_name,
        )


def requested_by(actor: Actor) -> str:
    """What the Job logs and returns about who asked, e.g. ``Slack user U123 (alice) via meraki-chatops``."""
    return f"Slack user {actor.label} via meraki-chatops"


def _submitted(submission: Submission) -> str:
    if submission.run is not None:
        return f"JobResult {submission.run.result_id} ({submission.run.url})"
    return f"awaiting approval: scheduled job {submission.scheduled_job_id} ({submission.scheduled_url})"
