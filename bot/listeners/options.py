"""Options of a select Slack fills as a person types: a long choice list, or Nautobot objects for an ObjectVar."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.access import Actor, Decision, restricted_form
from bot.listeners.parts import Parts
from bot.models import JobForm, JobVariable, ModalContext
from bot.nautobot import NautobotError
from bot.slack import modal

log = logging.getLogger("bot.listeners.options")

OBJECT_SEARCH_WAIT = 2.5
"""Slack waits 3 s for the options; a slower Nautobot search offers none (typing again asks again)."""


async def options(parts: Parts, ack: AsyncAck, body: dict[str, Any]) -> None:
    form = parts.forms.current()
    var = form.variable(body.get("block_id", "")) if form else None
    decision = await _decision(parts, body) if var is not None else None
    if var is None or decision is None or not decision.allowed:
        await ack(options=[])
        return
    query = str(body.get("value") or "")
    if var.model and modal.kind_of(var) in (modal.Kind.OBJECT, modal.Kind.MULTIOBJECT):
        await ack(options=[option.to_dict() for option in await _objects(parts, var, query)])
        return
    offered = _offered(var, decision)  # only the choices this person may pick
    found = modal.choice_options(offered, query) if offered.choices else []
    await ack(options=[option.to_dict() for option in found])


async def _decision(parts: Parts, body: dict[str, Any]) -> Decision | None:
    try:
        channel = ModalContext.from_metadata((body.get("view") or {}).get("private_metadata", "")).channel_id
    except ValueError:
        return None
    return await parts.decide_soon(Actor.from_interaction(body, channel))


def _offered(var: JobVariable, decision: Decision) -> JobVariable:
    return restricted_form(JobForm(job_id="", job_name="", variables=[var]), decision).variables[0]


async def _objects(parts: Parts, var: JobVariable, query: str) -> list[Any]:
    model = str(var.model)
    try:
        found = await asyncio.wait_for(parts.objects.search(model, query), OBJECT_SEARCH_WAIT)
    except (NautobotError, TimeoutError) as exc:
        log.warning("no %s objects offered for %s: %s", model, var.name, exc)
        return []
    return modal.object_options(found)
