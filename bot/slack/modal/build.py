"""A Job's form as a Slack modal, within Slack's limits.

The modal mirrors whatever variables the Job declares, in the Job's order; nothing here knows the
Meraki Job in particular. Each variable's input is :mod:`bot.slack.modal.elements`; the modals around the
form (loading, could not open, the confirmation summary) are :mod:`bot.slack.modal.notices` and
:mod:`bot.slack.modal.summary`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, InputBlock, PlainTextObject, SectionBlock
from slack_sdk.models.views import View

from bot.models import JobForm, JobVariable, ModalContext
from bot.slack.modal.elements import BUDGETS, Budget, initial_value, input_element, input_hint, mrkdwn, plain_text
from bot.slack.modal.fields import MAX_VIEW_BYTES, NOTE_KINDS, TITLE_MAX, Kind, Slot, blocking_problems, layout
from bot.slack.text import INFO_ICON, clean, escape

CALLBACK_ID = "meraki_add_user"


def modal_title(job_name: str) -> str:
    """Fit a Job name into the 24-character title, cutting at a word boundary."""
    name = " ".join(clean(job_name).split()) or "Run a Nautobot Job"
    if len(name) <= TITLE_MAX:
        return name
    head = name[: TITLE_MAX - 1]
    if name[TITLE_MAX - 1] != " " and " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:-") + "…"


def _note_text(var: JobVariable, kind: Kind, budget: Budget) -> str:
    label = f"*{escape(var.display_label, limit=min(budget.text_max, 500))}*"
    if kind is Kind.NO_CHOICES:
        why = escape(var.help_text.strip(), limit=min(budget.text_max, 1500))
        text = f"⚠️ {label} has no choices to pick from right now." + (f" {why}" if why else "")
        if var.required:
            text += " The form can't be submitted without it: try again later, or run the Job in Nautobot."
        return text
    kind_name = escape(var.type, limit=100)
    if var.required:
        return (
            f"⚠️ {label} ({kind_name}) can't be set from Slack, and the Job requires it, "
            "so this form can't be submitted. Run the Job in Nautobot instead."
        )
    return f"{INFO_ICON} {label} ({kind_name}) can't be set from Slack; Nautobot will use its default."


def _variable_block(slot: Slot, prefill: Mapping[str, Any], budget: Budget) -> Block:
    var, kind = slot.var, slot.kind
    if kind in NOTE_KINDS:
        return SectionBlock(block_id=slot.block_id, text=mrkdwn(_note_text(var, kind, budget)))
    return InputBlock(
        block_id=slot.block_id,
        label=plain_text(var.display_label, budget.text_max) or PlainTextObject(text="Field", emoji=True),
        element=input_element(var, kind, initial_value(var, prefill), budget),
        hint=input_hint(var, budget),
        optional=not var.required,
    )


def _overflow_note(left: list[JobVariable]) -> Block | None:
    if not left:
        return None
    required = [var.display_label for var in left if var.required]
    text = f"{INFO_ICON} {len(left)} more fields can't be shown in Slack; Nautobot will use their defaults."
    if required:
        names = escape(", ".join(required), limit=1500)
        text += f" Required among them: {names}, so this form can't be submitted. Run the Job in Nautobot instead."
    return ContextBlock(elements=[mrkdwn(text)])


def _context_note(text: str, limit: int) -> ContextBlock | None:
    shown = escape(text.strip(), limit=limit)
    return ContextBlock(elements=[mrkdwn(shown)]) if shown else None


def _view(
    form: JobForm,
    context: ModalContext,
    prefill: Mapping[str, Any],
    hidden: frozenset[str],
    callback_id: str,
    notice: str | None,
    budget: Budget,
) -> View:
    intro = [
        _context_note(notice or "", 1000),
        _context_note(form.description, min(budget.text_max, 1000)) if budget.description else None,
    ]
    fields, left = layout(form, hidden)
    shown = [_variable_block(slot, prefill, budget) for slot in fields]
    blocks = [block for block in (*intro, *shown, _overflow_note(left)) if block is not None]
    if not blocks:
        blocks = [SectionBlock(text=mrkdwn("This Job has no inputs to fill in."))]
    return View(
        type="modal",
        callback_id=callback_id,
        title=modal_title(form.job_name),
        submit="Run",
        close="Cancel",
        blocks=blocks,
        private_metadata=context.to_metadata(),
    )


def view_size(view: View) -> int:
    """Bytes of the JSON that ``views.open`` sends (``to_dict()`` also runs slack_sdk's checks)."""
    return len(json.dumps(view.to_dict()).encode())


def build_modal(form: JobForm, *, context: ModalContext, **options: Any) -> View:
    """The Job's form as a modal: one block per variable, in the Job's order, within Slack's limits.

    ``options``: ``prefill``, ``hidden``, ``callback_id``, and ``notice``, plain text shown above the fields (e.g.
    words of the command that were ignored); see :func:`fitted`.
    """
    return fitted(form, context=context, **options)[0]


def fitted(
    form: JobForm,
    *,
    context: ModalContext,
    prefill: Mapping[str, Any] | None = None,
    hidden: Iterable[str] = frozenset(),
    callback_id: str = CALLBACK_ID,
    notice: str | None = None,
) -> tuple[View, Budget]:
    """:func:`build_modal`, and the budget its texts were cut to so that it fits."""
    hidden = frozenset(hidden)
    budget = BUDGETS[0]
    view = _view(form, context, prefill or {}, hidden, callback_id, notice, budget)
    for budget in BUDGETS[1:]:
        if view_size(view) <= MAX_VIEW_BYTES:
            break
        view = _view(form, context, prefill or {}, hidden, callback_id, notice, budget)
    has_inputs = any(isinstance(block, InputBlock) for block in view.blocks or [])
    if not has_inputs and blocking_problems(form, hidden):
        view.submit = None
    return view, budget


def variable_block(slot: Slot, prefill: Mapping[str, Any], budget: Budget) -> Block:
    """One field of the form, pre-filled from ``prefill``, its texts cut to ``budget``."""
    return _variable_block(slot, prefill, budget)


def notice_block(notice: str) -> Block | None:
    """The notice above the form's fields (e.g. words of the command that were ignored)."""
    return _context_note(notice, 1000)
