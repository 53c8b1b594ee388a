"""Options of a long choice list: past Slack's 100 static options a choice is an external select."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot import access as policy
from bot.access import Actor
from bot.listeners.parts import Parts
from bot.models import JobForm, JobVariable, ModalContext
from bot.slack import modal


async def options(parts: Parts, ack: AsyncAck, body: dict[str, Any]) -> None:
    form = parts.forms.current()
    var = form.variable(body.get("block_id", "")) if form else None
    if var is not None and var.choices:  # only the choices this person may pick
        var = await _offered(parts, var, body)
    if var is None or not var.choices:
        await ack(options=[])
        return
    found = modal.choice_options(var, body.get("value", ""))
    await ack(options=[option.to_dict() for option in found])


async def _offered(parts: Parts, var: JobVariable, body: dict[str, Any]) -> JobVariable | None:
    try:
        channel = ModalContext.from_metadata((body.get("view") or {}).get("private_metadata", "")).channel_id
    except ValueError:
        return None
    decision = await parts.decide_soon(Actor.from_interaction(body, channel))
    if decision is None or not decision.allowed:
        return None
    return policy.restricted_form(JobForm(job_id="", job_name="", variables=[var]), decision).variables[0]
