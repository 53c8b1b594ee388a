"""The Job's form as the payload ``views.open`` sends, built once and sent to everyone it fits.

Building the form's blocks with slack_sdk's models and serialising them (``to_dict`` runs every model's checks)
took half the CPU of a slash command. Everyone who gets the same form, with the same choices left out for them,
the same pre-filled values and the same notice, gets the same blocks: those are built once and kept; only the
private metadata (who asked, where) is the person's own. A refreshed form is another object, so it is built
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
from bot.slack.modal.build import CALLBACK_ID, build_modal
from bot.slack.modal.fields import MAX_VIEW_BYTES

ViewPayload = View | dict[str, Any]
"""A view as Slack's methods take it: slack_sdk's model, or the dict it turns into (a form built once)."""

KEPT = 32
"""Forms kept built: one per Job and per distinct restriction or pre-fill seen lately."""

_Key = tuple[int, str, str, str | None, frozenset[str], str]


@dataclass(frozen=True)
class _Built:
    form: JobForm
    """Kept so that the form's id in the key is never reused by another object while the entry lives."""
    view: dict[str, Any]
    """The view as sent, without ``private_metadata``."""
    size: int
    """Bytes of ``view`` as JSON, without ``private_metadata``."""


class FormViews:
    """Built forms by (form, pre-filled values, notice, hidden fields, callback id), the oldest dropped first."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._built: OrderedDict[_Key, _Built] = OrderedDict()

    def view(
        self,
        form: JobForm,
        *,
        of: JobForm | None = None,
        context: ModalContext,
        prefill: Mapping[str, Any],
        hidden: frozenset[str],
        notice: str | None,
        callback_id: str = CALLBACK_ID,
        shape: str = "",
    ) -> dict[str, Any]:
        """What :func:`build_modal` would build of ``form``, as ``to_dict()`` gives it.

        ``of``: the form as Nautobot gave it, when ``form`` is that form with this person's choices left out;
        ``shape`` then says which, as text (the same for everyone whose ``form`` is the same).
        """
        metadata = context.to_metadata()
        source = of or form
        key: _Key = (id(source), shape, repr(sorted(prefill.items())), notice, hidden, callback_id)
        built = self._built.get(key)
        if built is None or built.form is not source:
            built = self._build(key, source, form, context, prefill, hidden, notice, callback_id)
        else:
            self._built.move_to_end(key)
        if built.size + len(json.dumps(metadata)) + len(',"private_metadata":') > MAX_VIEW_BYTES:
            # This person's metadata tips the form over Slack's limit: built for them alone, with a tighter budget.
            return _as_sent(form, context, prefill, hidden, notice, callback_id)
        return {**built.view, "private_metadata": metadata}

    def _build(
        self,
        key: _Key,
        source: JobForm,
        form: JobForm,
        context: ModalContext,
        prefill: Mapping[str, Any],
        hidden: frozenset[str],
        notice: str | None,
        callback_id: str,
    ) -> _Built:
        view = _as_sent(form, context, prefill, hidden, notice, callback_id)
        view.pop("private_metadata", None)
        built = _Built(source, view, len(json.dumps(view).encode()))
        self._built[key] = built
        while len(self._built) > self._kept:
            self._built.popitem(last=False)
        return built


def _as_sent(
    form: JobForm,
    context: ModalContext,
    prefill: Mapping[str, Any],
    hidden: frozenset[str],
    notice: str | None,
    callback_id: str,
) -> dict[str, Any]:
    built = build_modal(form, context=context, prefill=prefill, hidden=hidden, notice=notice, callback_id=callback_id)
    return built.to_dict()
