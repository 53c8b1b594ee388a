"""What every listener works with, and the answers they share: refusals, the audit entry, "try again"."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.access import Access, Actor, Decision, choice_notice, restricted_form
from bot.access.rate import RateLimit
from bot.audit import Audit
from bot.command_bindings import CommandBinding
from bot.ledger import AuditAction, AuditEntry, AuditOutcome, Ledger
from bot.metrics import Metrics
from bot.models import FILLED_BY_BOT, JobForm, ModalContext
from bot.nautobot import FormCache, NautobotError, ObjectSearch
from bot.policy import ApprovalRule
from bot.runs.core import Runs
from bot.slack import messages, modal
from bot.slack.modal.cached import FormViews
from bot.slack.text import escape

log = logging.getLogger("bot.listeners")

RETRY_LATER = "Try again in a minute; if it keeps happening, tell your Nautobot administrator."
RETRY_KEPT = (
    "Press Retry once Nautobot is back; what you entered is kept. "
    "If it keeps failing, tell your Nautobot administrator."
)

ACCESS_WAIT = 1.0
"""Seconds a listener that must answer Slack at once gives the access check (grants may be re-read)."""


@dataclass(frozen=True)
class SlashCommand:
    """One slash command as configured: the Job it runs (through its form cache), who may use it, its audit."""

    slash: str
    forms: FormCache
    access: Access
    audit: Audit | None = None
    binding: CommandBinding | None = None
    """How it runs (confirm, run from text); None: a plain form for ``forms``' Job."""


@dataclass
class Parts:
    """One command's parts (its form, access rules and audit) and the core they share, which the listeners turn
    Slack's events into calls of."""

    ledger: Ledger
    runs: Runs
    forms: FormCache
    access: Access
    audit: Audit
    metrics: Metrics
    slash: str
    """The slash command these parts answer."""
    binding: CommandBinding
    """How it runs its Job: confirmed first, or from the command's text."""
    email_regex: str | None = None
    hidden: frozenset[str] = field(default_factory=frozenset)
    """Job variables the bot fills itself: never in the form, never shown back as inputs."""
    rate: RateLimit | None = None
    """How often one person may use the command; None: as often as they like."""
    objects: ObjectSearch = field(init=False)
    """Nautobot objects for the selects of ObjectVars, searched as a person types."""
    views: FormViews = field(init=False)
    """The form's views as sent, built once for everyone they fit."""

    def __post_init__(self) -> None:
        self.hidden = frozenset(self.hidden) | FILLED_BY_BOT
        self.objects = ObjectSearch(self.forms.nautobot)
        self.views = FormViews()

    def approval_for(self, form: JobForm, values: dict[str, Any]) -> ApprovalRule | None:
        """The policy's rule this request must be approved under before it is sent; None: it needs none."""
        policy = self.access.applying
        if policy is None:
            return None
        dry = form.dry_run_variable
        return policy.approval_for(values, dryrun=bool(values.get(dry)) if dry else False)

    def duration_errors(self, form: JobForm, values: dict[str, Any]) -> dict[str, str]:
        """A duration longer than the policy allows for the access asked for, as a field error; empty: it fits."""
        policy = self.access.applying
        if policy is None or policy.durations is None:
            return {}
        return policy.durations.refusal(values, form)

    def default_duration(self, form: JobForm, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` with the duration the policy pre-picks for the access asked for, unless one was given."""
        policy = self.access.applying
        rule = policy.durations if policy is not None else None
        if rule is None or rule.variable in values:
            return values
        default = rule.default_choice(values, form)
        return values if not default else {**values, rule.variable: default}  # "": the field left empty

    async def decide_soon(self, actor: Actor) -> Decision | None:
        """The decision from the cache, else a fresh one within :data:`ACCESS_WAIT`; None when too slow."""
        try:
            return self.access.decide_now(actor) or await asyncio.wait_for(self.access.decide(actor), ACCESS_WAIT)
        except TimeoutError:
            return None

    async def too_often(self, ack: AsyncAck, body: dict[str, Any]) -> bool:
        """Whether this command comes past the person's rate limit; if so it is answered here, before anything
        costly: nothing runs, the person learns when to try again, and the first refusal of a window is recorded
        (the others only counted), so a script's flood neither runs Jobs nor fills the ledger."""
        limited = self.rate.check(str(body.get("user_id") or ""), self.slash) if self.rate else None
        if limited is None or self.rate is None:
            return False
        what = f"You used {self.slash} more often than the bot takes from one person ({self.rate.describe})."
        text, blocks = messages.error_message(
            what, "Nothing was run, and no form was opened.", f"Try again in {limited.wait_text}."
        )
        await ack(text=text, blocks=blocks)
        if limited.first:
            actor = Actor.from_command(body)
            log.warning("command refused user=%s command=%s: rate limit (%s)", actor.user_id, self.slash, what)
            typed = str(body.get("text") or "")
            reason = f"{what} Further commands in this window are refused without an entry of their own."
            inputs = {"command_text": typed} if typed else None
            await self.record(AuditAction.COMMAND, AuditOutcome.LIMITED, actor, reason=reason, inputs=inputs)
        return True

    async def tell(self, channel_id: str, user_id: str, message: tuple[str, list[Block]]) -> None:
        """A message only ``user_id`` sees, in ``channel_id`` (or a direct message where the bot may not post, or
        when there is no channel: a click on the Home)."""
        if channel_id:
            await self.runs.threads.tell_privately(channel_id, user_id, message)
            return
        try:
            await self.runs.threads.post(user_id, message)
        except Exception:
            log.exception("could not tell user=%s", user_id)

    async def record(
        self,
        action: AuditAction,
        outcome: AuditOutcome,
        actor: Actor,
        *,
        decision: Decision | None = None,
        reason: str | None = None,
        request_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        job_name: str | None = None,
    ) -> None:
        """The audit entry of what ``actor`` did and what became of it."""
        await self.audit.record(
            AuditEntry(
                action=action,
                outcome=outcome,
                user_id=actor.user_id,
                user_name=actor.user_name,
                channel_id=actor.channel_id,
                team_id=actor.team_id,
                request_id=request_id,
                job_name=job_name or self.forms.job_name,
                inputs=inputs,
                reason=reason if reason is not None else (decision.reason if decision else ""),
                source=decision.source if decision else "",
            )
        )


def form_view(
    parts: Parts,
    form: JobForm,
    context: ModalContext,
    decision: Decision,
    *,
    values: dict[str, Any] | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    """The Job's form for this person: only the choices they may pick, pre-filled from ``values`` or the command.

    ``notice`` (e.g. why Nautobot refused the last submission) replaces what the command text would say.
    """
    shown = restricted_form(form, decision)
    context = context.model_copy(update={"job_id": form.job_id, "values": None})  # a form, not a summary
    if values is None:
        text = context.command_text or ""
        prefill = modal.parse_command_text(text, shown, parts.hidden) if text else modal.Prefill()
        notes = (prefill.notice(), choice_notice(form, decision))
        notice = " ".join(note for note in notes if note) or None
        values = parts.default_duration(shown, prefill.values)
    return parts.views.view(
        shown, of=form, shape=_left_out(decision), context=context, prefill=values, hidden=parts.hidden, notice=notice
    )


def _left_out(decision: Decision) -> str:
    """The choices the form leaves out for this person, as text: the one way two people's forms differ."""
    return repr(sorted((name, sorted(denied)) for name, denied in decision.denied_choices.items()))


def denied_view(decision: Decision) -> View:
    return modal.unavailable_modal(decision.reason, decision.remedy or RETRY_LATER, title="Not allowed")


def not_run_view(exc: NautobotError, request_id: str) -> View:
    """What Nautobot's refusal means for the person: a Retry button when the request was kept."""
    if exc.retryable:
        return modal.unavailable_modal(str(exc), RETRY_KEPT, title="Not run", retry=request_id)
    return modal.unavailable_modal(str(exc), RETRY_LATER, title="Not run")


def unrecorded_view(exc: Exception) -> View:
    """The ledger failed while the request was being sent: say what that means, without promising a run."""
    text = (
        f"⚠️ *What happened:* {escape(f'The bot could not record your request while sending it: {exc}', limit=1500)}\n"
        "*What was done:* Nautobot may or may not have it; nothing runs twice.\n"
        "*What to do:* Wait: once its ledger answers, the bot picks the request up and reports it in the channel. "
        "If nothing appears in a few minutes, tell your Nautobot administrator."
    )
    return modal.message_modal("Not recorded", text)


def requested_by(actor: Actor) -> str:
    """What the Job logs and returns about who asked, e.g. ``Slack user U123 (alice) via meraki-chatops``."""
    return f"Slack user {actor.label} via meraki-chatops"
