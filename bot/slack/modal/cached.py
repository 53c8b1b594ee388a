"""The Job's form as the payload ``views.open`` sends, its blocks built once and sent to everyone.

Building the form's blocks with slack_sdk's models and serialising them (``to_dict`` runs every model's checks)
took half the CPU of a slash command. Everyone who gets the same form, with the same choices left out for them,
gets the same blocks but for the fields their command pre-filled and the notice above them: the form is built
once without either and kept, and each person's view is that form with their own pre-filled fields (built with
the same models, at the same budget), their notice and their private metadata (who asked, where). A view that
would then pass Slack's size limit is built whole instead. A refreshed form is another object, so it is built
afresh; the kept ones are few and the oldest go first.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.views import View

from bot.models import JobForm, ModalContext
from bot.slack.modal.build import CALLBACK_ID, build_modal, fitted, notice_block, variable_block
from bot.slack.modal.elements import Budget
from bot.slack.modal.fields import MAX_VIEW_BYTES, Slot, layout

ViewPayload = View | dict[str, Any]
"""A view as Slack's methods take it: slack_sdk's model, or the dict it turns into (a form built once)."""

KEPT = 32
"""Forms kept built: one per Job and per distinct restriction seen lately."""

_Key = tuple[int, str, frozenset[str], str]


@dataclass(frozen=True)
class _Built:
    form: JobForm
    """Kept so that the form's id in the key is never reused by another object while the entry lives."""
    view: dict[str, Any]
    """The view as sent, nothing pre-filled, no notice, without ``private_metadata``."""
    budget: Budget
    slots: dict[str, Slot]
    """The fields by block id: the blocks a pre-filled value replaces."""


class FormViews:
    """Built forms by (form, choices left out, hidden fields, callback id), the oldest dropped first."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._built: OrderedDict[_Key, _Built] = OrderedDict()

    def view(
        self,
        form: JobForm,
        *,
        of: JobForm | None = None,
        shape: str = "",
        context: ModalContext,
        prefill: Mapping[str, Any],
        hidden: frozenset[str],
        notice: str | None,
        callback_id: str = CALLBACK_ID,
    ) -> dict[str, Any]:
        """What :func:`build_modal` builds of ``form``, as ``to_dict()`` gives it.

        ``of``: the form as Nautobot gave it, when ``form`` is that form with this person's choices left out;
        ``shape`` then says which, as text (the same for everyone whose ``form`` is the same).
        """
        source = of or form
        key: _Key = (id(source), shape, hidden, callback_id)
        built = self._built.get(key)
        if built is None or built.form is not source:
            built = self._build(key, source, form, context, hidden, callback_id)
        else:
            self._built.move_to_end(key)
        view = _personal(built, context, prefill, notice)
        if view is None or _size(view) > MAX_VIEW_BYTES:  # theirs needs texts cut further: built whole
            return build_modal(
                form, context=context, prefill=prefill, hidden=hidden, notice=notice, callback_id=callback_id
            ).to_dict()
        return view

    def _build(
        self,
        key: _Key,
        source: JobForm,
        form: JobForm,
        context: ModalContext,
        hidden: frozenset[str],
        callback_id: str,
    ) -> _Built:
        view, budget = fitted(form, context=context, hidden=hidden, callback_id=callback_id)
        sent = view.to_dict()
        sent.pop("private_metadata", None)
        slots = {slot.block_id: slot for slot in layout(form, hidden)[0] if slot.block_id}
        built = _Built(source, sent, budget, slots)
        self._built[key] = built
        while len(self._built) > self._kept:
            self._built.popitem(last=False)
        return built


def _personal(
    built: _Built, context: ModalContext, prefill: Mapping[str, Any], notice: str | None
) -> dict[str, Any] | None:
    """The kept form with this person's pre-filled fields, notice and metadata; None: build it whole."""
    if not built.slots:  # no fields: a notice would take the place of the form's placeholder
        return None if notice else {**built.view, "private_metadata": context.to_metadata()}
    filled = {
        block_id: variable_block(slot, prefill, built.budget).to_dict()
        for block_id, slot in built.slots.items()
        if slot.var.name in prefill
    }
    blocks = [filled.get(block.get("block_id", ""), block) for block in built.view["blocks"]]
    if notice:
        note = notice_block(notice)
        blocks = [note.to_dict(), *blocks] if note is not None else blocks
    return {**built.view, "blocks": blocks, "private_metadata": context.to_metadata()}


def _size(view: dict[str, Any]) -> int:
    """Bytes of the JSON that ``views.open`` sends, as :func:`~bot.slack.modal.build.view_size` counts them."""
    return len(json.dumps(view).encode())
