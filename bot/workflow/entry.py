"""A workflow reached one of the bot's steps (``function_executed``): the request is checked like a command's and
handed to the core under the execution's id, so Slack's redelivery of the event runs it once.

The requester is the person the step's ``requester`` input names ("Person who used this workflow"), once they
confirm the step in Slack (:mod:`bot.workflow.confirmation`: the input is the workflow author's to fill, a click
is Slack's word for who it is). Their access, the policy's approval rules and the audit apply as if they had
typed the command. A request the checks refuse ends the step at once, with the reason as its error; a request the
core took ends it when the request ends (:mod:`bot.workflow.completion`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.access import Actor, Decision, refused_choices
from bot.ledger import AuditAction, AuditOutcome, LedgerError
from bot.ledger.workflow_steps import StepState, WorkflowStep
from bot.listeners.outcome import Asked, PrivateAnswer, described
from bot.listeners.parts import Parts, requested_by
from bot.models import REQUESTED_BY, JobForm, ModalContext
from bot.nautobot import NautobotError, NautobotUnreachable
from bot.runs.outcome import Ask, Sent, SubmitOutcome, request_key
from bot.slack import messages, modal
from bot.workflow import confirmation, endings
from bot.workflow.completion import StepCompletions, step_key
from bot.workflow.specs import CHANNEL, REQUESTER, STEPS, StepSpec

log = logging.getLogger("bot.workflow")

TRY_AGAIN = "Run the workflow again; if it keeps failing, tell the bot's administrator."
GOES_ON = frozenset({Sent.DUPLICATE, Sent.UNRECORDED})
"""Outcomes after which the request may still run (another delivery has it, or it is taken up once the ledger
answers): the step ends when the request does."""
NOT_RUN = ("Nothing ran.", "Correct the workflow step's inputs, or run the workflow again once Nautobot is back.")


class StepAnswer(PrivateAnswer):
    """The core's outcome of a step's request: the person is told as for a command; a request the core did not
    take ends the step at once, with what went wrong as its error."""

    def __init__(self, parts: Parts, asked: Asked, completions: StepCompletions, execution_id: str) -> None:
        super().__init__(parts, asked, not_run=NOT_RUN)
        self.completions = completions
        self.execution_id = execution_id

    async def tell(self, outcome: SubmitOutcome) -> None:
        await super().tell(outcome)
        if outcome.accepted or outcome.sent in GOES_ON or _may_have_run(outcome):
            return
        await self.completions.end(
            self.execution_id, endings.failure(f"Nautobot did not run it: {described(outcome)}. Nothing ran.")
        )


class WorkflowSteps:
    """The bot's custom steps: each one's command parts, and the completions they end with."""

    def __init__(self, commands: Mapping[str, Parts], completions: StepCompletions, *, wait: timedelta) -> None:
        """``commands``: the parts of each slash command; ``wait``: how long a step waits for its request."""
        self.commands = dict(commands)
        self.completions = completions
        self.wait = wait

    async def executed(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Bolt acknowledged the event already (``auto_acknowledge``); this records the step and asks the person it
        names to confirm it."""
        step = _step_of(event, self.wait)
        if step is None or not await self._recorded(step):
            return
        log.info("step=%s callback=%s names user=%s", step.execution_id, step.callback_id, step.requester_id)
        title = str((event.get("function") or {}).get("title") or step.callback_id)
        ending = self._unrunnable(step) or await self._ask_to_confirm(step, title, dict(event.get("inputs") or {}))
        if ending is not None:
            await self.completions.end(step.execution_id, ending)

    async def confirmed(self, ack: Any, body: dict[str, Any]) -> None:
        """*Run it*: the person the step names confirmed it, so its request is asked for, once."""
        await ack()
        click = confirmation.Click.of(body)
        if click is None or not await self.completions.ledger.confirm_step(click.execution_id, click.user_id):
            await self._not_theirs(click)
            return
        await self._answered(click, body, confirmed=True)
        step = await self.completions.ledger.get_step(click.execution_id)
        if step is None:
            return
        try:
            ending = await self._ask(step, click.inputs, click.team_id)
        except Exception:
            log.exception("step=%s: asking for its request failed", step.execution_id)
            ending = await self._failed_before_asking(step.execution_id)
        if ending is not None:
            await self.completions.end(step.execution_id, ending)

    async def declined(self, ack: Any, body: dict[str, Any]) -> None:
        """*Decline*: the person the step names did not ask for it; the step fails and nothing runs."""
        await ack()
        click = confirmation.Click.of(body)
        ending = endings.declined(click.user_id) if click is not None else {}
        if click is None or not await self.completions.ledger.decline_step(click.execution_id, click.user_id, ending):
            await self._not_theirs(click)
            return
        log.info("step=%s declined by user=%s", click.execution_id, click.user_id)
        await self._answered(click, body, confirmed=False)
        await self.completions.deliver(click.execution_id)

    def _unrunnable(self, step: WorkflowStep) -> dict[str, Any] | None:
        """The step's ending when no one could confirm it into a request: an unknown step, nobody named."""
        spec = STEPS.get(step.callback_id)
        if spec is None or spec.command not in self.commands:
            return endings.refused(
                f"The bot does not offer the step {step.callback_id!r}.",
                "Ask the bot's administrator which steps it offers.",
            )
        if not step.requester_id:
            return endings.refused(
                "The step was given no requester.", "Set its Requested by input to Person who used this workflow."
            )
        return None

    async def _ask_to_confirm(self, step: WorkflowStep, title: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
        """A direct message to the person named, with the execution's token so Slack ties its buttons to the step;
        the step's ending when it cannot be sent."""
        hidden = frozenset({REQUESTER})
        text, blocks = confirmation.asking(title, step.execution_id, step.requester_id, inputs, hidden)
        client = self.completions.client
        try:
            opened = await client.conversations_open(users=step.requester_id, token=step.token)
            channel = str((opened.get("channel") or {}).get("id") or "")
            await client.chat_postMessage(channel=channel, text=text, blocks=blocks, token=step.token)
        except Exception as exc:  # Slack refused or is out of reach: nobody can confirm, so nothing runs
            log.warning("step=%s: could not ask user=%s to confirm it: %s", step.execution_id, step.requester_id, exc)
            return endings.failure(
                f"The bot could not ask the requester ({step.requester_id}) to confirm the step in Slack: nothing "
                f"ran. {TRY_AGAIN}"
            )
        return None

    async def _answered(self, click: confirmation.Click, body: dict[str, Any], *, confirmed: bool) -> None:
        """The confirmation's buttons give way to the answer (best effort: the step goes on either way)."""
        text, blocks = confirmation.answered(click.user_id, confirmed)
        try:
            await self.completions.client.chat_update(
                channel=click.channel_id, ts=click.message_ts, text=text, blocks=blocks,
                token=str(body.get("bot_access_token") or "") or None,
            )  # fmt: skip
        except Exception as exc:
            log.warning("step=%s: the confirmation was not updated: %s", click.execution_id, exc)

    async def _not_theirs(self, click: confirmation.Click | None) -> None:
        """A click that answers nothing: not the person named, a second click, a step ended or unknown."""
        if click is None:
            log.warning("a step confirmation click without its step's data: ignored")
            return
        log.warning("step=%s: click by user=%s answers nothing", click.execution_id, click.user_id)
        text = (
            "This workflow step is not waiting for your answer: it was answered already, its time is up, or it names "
            "someone else. Nothing ran from this click."
        )
        try:
            await self.completions.client.chat_postEphemeral(channel=click.channel_id, user=click.user_id, text=text)
        except Exception as exc:
            log.warning("step=%s: could not tell user=%s: %s", click.execution_id, click.user_id, exc)

    async def _failed_before_asking(self, execution_id: str) -> dict[str, Any] | None:
        """The step's ending after an unexpected failure: none if its request may exist (the sweep settles it once
        the request ends), else that nothing ran."""
        try:
            step = await self.completions.ledger.get_step(execution_id)
        except LedgerError:
            return None  # the sweep decides, once the ledger answers
        if step is None or step.request_id:
            return None
        return endings.failure(f"The bot failed while checking the request: nothing ran. {TRY_AGAIN}")

    async def _recorded(self, step: WorkflowStep) -> bool:
        """Whether this delivery recorded the step (and so runs it): a redelivery, or an unrecorded step, does not."""
        try:
            if await self.completions.ledger.record_step(step):
                return True
            log.info("step=%s delivered again: it runs once", step.execution_id)
        except LedgerError as exc:  # nothing recorded, nothing run: Slack ends the step when its time is up
            log.error("step=%s not recorded, so not run: %s", step.execution_id, exc)
        return False

    async def _ask(self, step: WorkflowStep, inputs: dict[str, Any], team_id: str) -> dict[str, Any] | None:
        """Hand the request to the core; the step's ending when it is refused before reaching it."""
        spec = STEPS.get(step.callback_id)
        parts = self.commands.get(spec.command) if spec is not None else None
        if spec is None or parts is None:
            return self._unrunnable(step)
        channel = str(inputs.get(CHANNEL) or "")
        actor = Actor(user_id=step.requester_id, channel_id=channel, team_id=team_id)
        decision = await parts.access.decide(actor, fresh=True)
        if not decision.allowed:
            await self._refused(parts, actor, decision, AuditOutcome.DENIED, decision.reason, decision.remedy)
            return endings.refused(decision.reason, decision.remedy)
        return await self._checked(step, spec, parts, actor, decision, inputs)

    async def _checked(
        self, step: WorkflowStep, spec: StepSpec, parts: Parts, actor: Actor, decision: Decision, inputs: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The inputs checked as a submitted form is, then the request handed to the core."""
        try:
            form = await parts.forms.get()
        except NautobotError as exc:
            return endings.failure(f"Nautobot could not give the Job's form: {exc}. Nothing ran. Run it again later.")
        values = _values(spec, parts, form, inputs)
        problems = _problems(spec, parts, form, values, decision)
        if problems:
            what = "The step's inputs do not fit the Job: " + "; ".join(problems)
            remedy = "Correct the step's inputs in the workflow."
            await self._refused(parts, actor, decision, AuditOutcome.INVALID, what, remedy, inputs=values)
            return endings.refused(what, remedy)
        if form.variable(REQUESTED_BY) is not None:
            values[REQUESTED_BY] = f"{requested_by(actor)} (Workflow Builder step)"
        channel = actor.channel_id
        context = ModalContext(channel_id=channel, user_id=actor.user_id, job_id=form.job_id, command=parts.slash)
        asked = Asked(form, context, actor, decision, note=f"Workflow Builder step {spec.callback_id}")
        answer = StepAnswer(parts, asked, self.completions, step.execution_id)
        key = step_key(step.execution_id)
        # The request's id is known before it is asked for (one ask per step: redeliveries never get this far).
        await self.completions.ledger.ask_step(step.execution_id, request_key(key, values))
        ask = Ask(key, actor.user_id, channel or actor.user_id, form, values, parts.approval_for(form, values))
        await parts.runs.ask(ask, answer)
        return None

    async def _refused(
        self,
        parts: Parts,
        actor: Actor,
        decision: Decision,
        outcome: AuditOutcome,
        what: str,
        remedy: str | None,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        """The person hears why (a direct message), and the audit trail records it, as for a command."""
        log.warning("step refused user=%s: %s", actor.user_id, what)
        await parts.tell("", actor.user_id, messages.error_message(what, "Nothing ran.", remedy or NOT_RUN[1]))
        await parts.record(
            AuditAction.SUBMIT,
            outcome,
            actor,
            decision=decision,
            reason=f"Workflow Builder step: {what}",
            inputs=inputs,
        )


def _may_have_run(outcome: SubmitOutcome) -> bool:
    """Nautobot's answer to the run was lost after it was sent: the request is taken up (found in Nautobot, or
    known not to have run) once its lease runs out, and the step ends when it does."""
    return isinstance(outcome.error, NautobotUnreachable) and outcome.error.request_sent


def _step_of(event: dict[str, Any], wait: timedelta) -> WorkflowStep | None:
    """The step ``function_executed`` names (None without an execution id), held until ``wait`` from now."""
    execution_id = str(event.get("function_execution_id") or "")
    if not execution_id:
        return None
    stamp = datetime.now(UTC)
    return WorkflowStep(
        execution_id=execution_id,
        callback_id=str((event.get("function") or {}).get("callback_id") or ""),
        requester_id=str((event.get("inputs") or {}).get(REQUESTER) or ""),
        state=StepState.CONFIRMING,
        deadline=stamp + wait,
        created_at=stamp,
        token=str(event.get("bot_access_token") or "") or None,
    )


def _values(spec: StepSpec, parts: Parts, form: JobForm, inputs: dict[str, Any]) -> dict[str, Any]:
    """The Job's values: its defaults, what the workflow gave (a choice by its label too), the policy's default
    duration."""
    shown = modal.input_variables(form, parts.hidden)
    values = {var.name: var.default for var in shown if var.default is not None}
    for name, value in spec.values(inputs).items():
        var = form.variable(name)
        values[name] = _choice(var.choices, value) if var is not None and isinstance(value, str) else value
    return parts.default_duration(form, values)


def _choice(choices: list[tuple[str, str]], value: str) -> str:
    """A choice's value from what a workflow author typed: the value itself, or its label as the form shows it
    (``Acme Corp (111111)``) or without the id in brackets (``Acme Corp``), when only one choice has it. Anything
    else is left as typed, for the form's checks to refuse."""
    if not choices or value in dict(choices):
        return value
    wanted = value.strip().casefold()
    found = {
        choice for choice, label in choices if wanted in (label.casefold(), label.rsplit(" (", 1)[0].strip().casefold())
    }
    return found.pop() if len(found) == 1 else value


def _problems(spec: StepSpec, parts: Parts, form: JobForm, values: dict[str, Any], decision: Decision) -> list[str]:
    """What the form's own checks, the choices the person may pick and the policy's durations say, each named by
    the step's input (the workflow author's word for it)."""
    found = {
        **modal.validate(values, form, email_regex=parts.email_regex, hidden=parts.hidden),
        **refused_choices(values, form, decision, setting=decision.source),
        **parts.duration_errors(form, values),
    }
    names = {variable: name for name, variable in spec.variables.items()}
    return [f"{names.get(variable, variable)}: {text}" for variable, text in found.items()]
