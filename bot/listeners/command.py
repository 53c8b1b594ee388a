"""The slash command: check who asks, then open the Job's form at once (Slack's trigger dies in 3 s)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot import access as policy
from bot.access import Actor, Decision
from bot.ledger import AuditAction, AuditOutcome
from bot.listeners.parts import RETRY_LATER, Parts, denied_view
from bot.models import JobForm, ModalContext
from bot.nautobot import NautobotError
from bot.slack import modal

log = logging.getLogger("bot.listeners")


async def command(parts: Parts, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    await ack()
    actor = Actor.from_command(body)
    context = ModalContext(
        channel_id=body["channel_id"],
        user_id=body["user_id"],
        job_id="",
        command_text=body.get("text", ""),
        command=parts.command,
    )
    decision = parts.access.decide_now(actor)  # no network call may delay views.open (3 s trigger)
    form = parts.forms.current()
    if decision is not None and form is not None:
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
    await client.views_update(view_id=view_id, hash=view_hash, view=await _loaded(parts, form, context, decision))
    await _audit(parts, actor, decision, context)


async def _loaded(parts: Parts, form: JobForm | None, context: ModalContext, decision: Decision) -> View:
    """What replaces the "Loading…" view: the form, or why there is none."""
    if not decision.allowed:
        return denied_view(decision)
    try:
        form = form or await parts.forms.refresh()
    except NautobotError as exc:
        log.warning("form unavailable user=%s: %s", context.user_id, exc)
        return modal.unavailable_modal(str(exc), RETRY_LATER)
    return form_view(parts, form, context, decision)


def form_view(
    parts: Parts,
    form: JobForm,
    context: ModalContext,
    decision: Decision,
    *,
    values: dict[str, Any] | None = None,
    notice: str | None = None,
) -> View:
    """The Job's form for this person: only the choices they may pick, pre-filled from ``values`` or the command.

    ``notice`` (e.g. why Nautobot refused the last submission) replaces what the command text would say.
    """
    shown = policy.restricted_form(form, decision)
    context = context.model_copy(update={"job_id": form.job_id, "values": None})  # a form, not a summary
    if values is None:
        prefill = modal.parse_command_text(context.command_text or "", shown, parts.hidden)
        notes = (prefill.notice(), policy.choice_notice(form, decision))
        notice = " ".join(text for text in notes if text) or None
        values = prefill.values
    return modal.build_modal(shown, context=context, prefill=values, hidden=parts.hidden, notice=notice)


async def _audit(parts: Parts, actor: Actor, decision: Decision, context: ModalContext) -> None:
    outcome = AuditOutcome.ALLOWED if decision.allowed else AuditOutcome.DENIED
    if not decision.allowed:
        parts.metrics.request("denied")
        log.warning("command refused user=%s channel=%s: %s", actor.user_id, actor.channel_id, decision.reason)
    inputs = {"command_text": context.command_text} if context.command_text else None
    await parts.record(AuditAction.COMMAND, outcome, actor, decision=decision, inputs=inputs)
