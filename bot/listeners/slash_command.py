"""The slash command: check who asks, then open the Job's form at once (Slack's trigger dies in 3 s)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Actor, Decision, refused_choices, restricted_form
from bot.ledger import AuditAction, AuditOutcome
from bot.listeners.outcome import Asked, PrivateAnswer
from bot.listeners.parts import RETRY_LATER, Parts, denied_view, form_view, requested_by
from bot.models import REQUESTED_BY, JobForm, ModalContext
from bot.nautobot import NautobotError
from bot.runs.outcome import Ask
from bot.slack import messages, modal
from bot.slack.errors import slack_error
from bot.slack.modal.cached import ViewPayload
from bot.slack.text import channel_link

log = logging.getLogger("bot.listeners")


async def typed(parts: Parts, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    if await parts.too_often(ack, body):  # the rate limit, before anything costly: answered there, nothing ran
        return
    await ack()
    actor = Actor.from_command(body)
    context = ModalContext(
        channel_id=body["channel_id"],
        user_id=body["user_id"],
        job_id="",
        command_text=body.get("text", ""),
        command=parts.slash,
    )
    decision = parts.access.decide_now(actor)  # no network call may delay views.open (3 s trigger)
    form = parts.forms.current()
    if decision is not None and form is not None:
        values = _filled_by_text(parts, form, context, decision)
        if values is not None:  # nothing to ask: the run goes ahead, no form, once access is decided afresh
            decision = await _still_allowed(parts, actor, form, values)
            await _audit(parts, actor, decision, context)
            if decision.allowed:
                await _run_from_text(parts, body, form, values, actor, decision)
            else:
                await parts.tell(actor.channel_id, actor.user_id, _refused(decision))
            return
        view = form_view(parts, form, context, decision) if decision.allowed else denied_view(decision)
        await client.views_open(trigger_id=body["trigger_id"], view=view)
        parts.forms.refresh_soon()
        await _audit(parts, actor, decision, context)
        return
    opened = await client.views_open(
        trigger_id=body["trigger_id"], view=modal.loading_modal(context, parts.forms.job_name)
    )
    view_id, view_hash = opened["view"]["id"], opened["view"].get("hash")
    if decision is None:
        decision = await parts.access.decide(actor)
    view, values = await _loaded(parts, form, context, decision)
    if values is not None:  # the run goes ahead: decided afresh first
        decision = await _still_allowed(parts, actor, await parts.forms.get(), values)
        view, values = (view, values) if decision.allowed else (denied_view(decision), None)
    await _replace_loading(parts, client, actor, (view_id, view_hash), view, runs=values is not None)
    await _audit(parts, actor, decision, context)
    if values is not None:  # the text said it all: the "Loading…" view said where to follow the run
        await _run_from_text(parts, body, await parts.forms.get(), values, actor, decision)


async def _loaded(
    parts: Parts, form: JobForm | None, context: ModalContext, decision: Decision
) -> tuple[ViewPayload, dict[str, Any] | None]:
    """What replaces the "Loading…" view: the form, why there is none, or (with the values to run) that the run
    goes ahead without one."""
    if not decision.allowed:
        return denied_view(decision), None
    try:
        form = form or await parts.forms.refresh()
    except NautobotError as exc:
        log.warning("form unavailable user=%s: %s", context.user_id, exc)
        return modal.unavailable_modal(str(exc), RETRY_LATER), None
    values = _filled_by_text(parts, form, context, decision)
    if values is not None:
        where = channel_link(context.channel_id)
        return modal.message_modal("Sent", f"✅ Your command said it all: it runs now. Follow it in {where}."), values
    return form_view(parts, form, context, decision), None


async def _replace_loading(
    parts: Parts, client: AsyncWebClient, actor: Actor, opened: tuple[str, str | None], view: ViewPayload, *, runs: bool
) -> None:
    """Put ``view`` in place of the "Loading…" view. That view may be gone (the person closed it, or a second
    command opened a form over it): a run from the text still goes ahead and shows in the channel, and anything
    else the view would have said is told to the person instead, so no command ends in silence."""
    view_id, view_hash = opened
    try:
        await client.views_update(view_id=view_id, hash=view_hash, view=view)
    except SlackApiError as exc:
        log.warning("the loading view is gone user=%s: %s", actor.user_id, slack_error(exc))
        if not runs:
            gone = messages.error_message(
                f"The window of {parts.slash} was closed before its form could be shown.",
                "Nothing ran.",
                f"Type {parts.slash} again.",
            )
            await parts.tell(actor.channel_id, actor.user_id, gone)


async def _still_allowed(parts: Parts, actor: Actor, form: JobForm, values: dict[str, Any]) -> Decision:
    """Access decided afresh right before a run from the text, as a submission does: the decision the command
    was first checked with may come from a cache (a grant revoked up to its lifetime ago), and no form comes in
    between to check it again."""
    decision = await parts.access.decide(actor, fresh=True)
    refused = refused_choices(values, form, decision, setting=decision.source) if decision.allowed else {}
    if not refused:
        return decision
    return Decision(
        allowed=False,
        reason=" ".join(refused.values()),
        remedy=f"Type {parts.slash} without text to open its form, and pick a choice you may use.",
        source=decision.source,
    )


async def _audit(parts: Parts, actor: Actor, decision: Decision, context: ModalContext) -> None:
    outcome = AuditOutcome.ALLOWED if decision.allowed else AuditOutcome.DENIED
    if not decision.allowed:
        parts.metrics.request("denied")
        log.warning("command refused user=%s channel=%s: %s", actor.user_id, actor.channel_id, decision.reason)
    inputs = {"command_text": context.command_text} if context.command_text else None
    await parts.record(AuditAction.COMMAND, outcome, actor, decision=decision, inputs=inputs)


def _filled_by_text(parts: Parts, form: JobForm, context: ModalContext, decision: Decision) -> dict[str, Any] | None:
    """For a command that runs from its text: the values the text gives, with the form's defaults, when they fill
    every required field and pass every check a submission gets; else None (the form opens, pre-filled)."""
    text = (context.command_text or "").strip()
    if not parts.binding.run_from_text or not decision.allowed or not text:
        return None
    shown = restricted_form(form, decision)
    prefill = modal.parse_command_text(text, shown, parts.hidden)
    if prefill.unused:
        return None
    defaults = {var.name: var.default for var in modal.input_variables(shown, parts.hidden) if var.default is not None}
    values = {**defaults, **prefill.values}
    if refused_choices(values, form, decision, setting=decision.source):
        return None
    if modal.validate(values, form, email_regex=parts.email_regex, hidden=parts.hidden):
        return None
    return values


async def _run_from_text(
    parts: Parts,
    body: dict[str, Any],
    form: JobForm,
    values: dict[str, Any],
    actor: Actor,
    decision: Decision,
) -> None:
    """Handed to the core under the command's trigger (a command Slack delivers twice runs once); a refusal is told
    to the person alone."""
    if form.variable(REQUESTED_BY) is not None:
        values = {**values, REQUESTED_BY: requested_by(actor)}
    context = ModalContext(channel_id=actor.channel_id, user_id=actor.user_id, job_id=form.job_id, command=parts.slash)
    answer = PrivateAnswer(parts, Asked(form, context, actor, decision), not_run=NOT_RUN)
    await parts.runs.ask(
        Ask(
            f"command-{body['trigger_id']}",
            actor.user_id,
            actor.channel_id,
            form,
            values,
            parts.approval_for(form, values),
        ),
        answer,
    )


def _refused(decision: Decision) -> tuple[str, list[Block]]:
    return messages.error_message(decision.reason, "Nothing ran.", decision.remedy or RETRY_LATER)


NOT_RUN = ("Nothing ran.", f"Type the command without text to open its form, or try again in a minute. {RETRY_LATER}")
