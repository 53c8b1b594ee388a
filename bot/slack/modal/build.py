"""A Job's form as a Slack modal, within Slack's limits; and the small modals around it.

The modal mirrors whatever variables the Job declares, in the Job's order; nothing here knows the
Meraki Job in particular.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    EmailInputElement,
    ExternalDataMultiSelectElement,
    ExternalDataSelectElement,
    InputBlock,
    InputInteractiveElement,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.models import JobForm, JobVariable, ModalContext
from bot.slack.messages import input_rows, input_sections  # the parent message shows inputs the same way
from bot.slack.modal.fields import (
    ACTION_ID,
    CHECKED,
    IP_PLACEHOLDERS,
    LABEL_MAX,
    MAX_VIEW_BYTES,
    MISSING,
    NOTE_KINDS,
    OPTION_TEXT_MAX,
    OPTIONS_MAX,
    TEXT_INPUT_MAX,
    TITLE_MAX,
    TRUE_WORDS,
    Kind,
    Slot,
    blocking_problems,
    integer,
    layout,
    length_bounds,
    looks_like_email,
    usable_choices,
    usable_value,
)
from bot.slack.text import INFO_ICON, clean, escape, truncate

CALLBACK_ID = "meraki_add_user"
LOADING_CALLBACK_ID = "meraki_add_user_loading"
UNAVAILABLE_CALLBACK_ID = "meraki_add_user_unavailable"


# -- building the modal --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    """How generous a view may be; tighter budgets keep huge Jobs under Slack's 250 kB."""

    text_max: int
    hints: bool
    static_options_max: int
    description: bool


_BUDGETS = (_Budget(LABEL_MAX, True, OPTIONS_MAX, True), _Budget(150, True, 20, False), _Budget(50, False, 0, False))


def modal_title(job_name: str) -> str:
    """Fit a Job name into the 24-character title, cutting at a word boundary."""
    name = " ".join(clean(job_name).split()) or "Run a Nautobot Job"
    if len(name) <= TITLE_MAX:
        return name
    head = name[: TITLE_MAX - 1]
    if name[TITLE_MAX - 1] != " " and " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:-") + "…"


def _mrkdwn(text: str) -> MarkdownTextObject:
    """``mrkdwn`` Slack shows as written: it links nothing by itself; the bot escapes what it echoes."""
    return MarkdownTextObject(text=text, verbatim=True)


def _plain(text: str, limit: int, *, one_line: bool = True) -> PlainTextObject | None:
    """A plain_text object, or None for blank text (Slack rejects empty labels and hints)."""
    text = clean(text)
    text = truncate(" ".join(text.split()) if one_line else text.strip(), limit)
    return PlainTextObject(text=text, emoji=True) if text.strip() else None


def _option(value: str, label: str) -> Option:
    text = truncate(" ".join(clean(label).split()), OPTION_TEXT_MAX) or truncate(value, OPTION_TEXT_MAX)
    return Option(value=value, text=PlainTextObject(text=text, emoji=True))


def object_options(found: Iterable[tuple[str, str]]) -> list[Option]:
    """Options of an ObjectVar's select: Nautobot's objects as (id, display), in Nautobot's order."""
    usable = [(value, label) for value, label in found if usable_value(value)]
    return [_option(value, label) for value, label in usable[:OPTIONS_MAX]]


def choice_options(var: JobVariable, query: str = "", limit: int = OPTIONS_MAX) -> list[Option]:
    """Options of a ChoiceVar shown as an external select, filtered by what the person typed."""
    needle = clean(query).strip().casefold()
    found = [
        _option(value, label)
        for value, label in usable_choices(var)[0]
        if not needle or needle in value.casefold() or needle in label.casefold()
    ]
    return found[: max(min(limit, OPTIONS_MAX), 0)]


def _initial(var: JobVariable, prefill: Mapping[str, Any]) -> Any:
    value = prefill.get(var.name, MISSING)
    return var.default if value is MISSING else value


def _text_initial(value: Any, limit: int) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = clean(str(value))
    return text[:limit] if text.strip() else None


def _text_element(var: JobVariable, initial: Any, *, multiline: bool = False) -> PlainTextInputElement:
    low, high = length_bounds(var)
    return PlainTextInputElement(
        action_id=ACTION_ID,
        initial_value=_text_initial(initial, high),
        min_length=low,
        max_length=high if var.max_length else None,
        multiline=multiline or None,
        placeholder=IP_PLACEHOLDERS.get(var.type),
    )


def _email_element(var: JobVariable, initial: Any) -> EmailInputElement:
    text = _text_initial(initial, TEXT_INPUT_MAX)
    fits = text is not None and len(text) <= length_bounds(var)[1] and looks_like_email(text)
    return EmailInputElement(  # Slack refuses the whole view over an initial value that is not an email
        action_id=ACTION_ID, initial_value=text if fits else None, placeholder="name@example.com"
    )


def _number_element(var: JobVariable, initial: Any) -> NumberInputElement:
    low, high = var.min_value, var.max_value
    if low is not None and high is not None and low > high:
        low = high = None
    start = integer(initial)
    if start is not None and ((low is not None and start < low) or (high is not None and start > high)):
        start = None
    return NumberInputElement(
        action_id=ACTION_ID, is_decimal_allowed=False, initial_value=start, min_value=low, max_value=high
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().casefold() in TRUE_WORDS
    return value is True


def _checkbox_element(var: JobVariable, initial: Any, budget: _Budget) -> CheckboxesElement:
    option = _option(CHECKED, truncate(var.display_label, min(budget.text_max, OPTION_TEXT_MAX)))
    return CheckboxesElement(
        action_id=ACTION_ID, options=[option], initial_options=[option] if _truthy(initial) else None
    )


def _as_list(value: Any) -> list[Any]:
    if value is None or value is MISSING:
        return []
    return list(value) if isinstance(value, list | tuple | set | frozenset) else [value]


def _select_element(var: JobVariable, initial: Any, budget: _Budget) -> InputInteractiveElement:
    choices = usable_choices(var)[0]
    options = {value: _option(value, label) for value, label in choices}
    external = len(choices) > min(budget.static_options_max, OPTIONS_MAX)
    if var.type == "MultiChoiceVar":
        picked = [options[str(item)] for item in _as_list(initial) if str(item) in options] or None
        if external:
            return ExternalDataMultiSelectElement(
                action_id=ACTION_ID, placeholder="Type to search…", min_query_length=0, initial_options=picked
            )
        return StaticMultiSelectElement(
            action_id=ACTION_ID, placeholder="Choose…", options=list(options.values()), initial_options=picked
        )
    chosen = options.get(str(initial)) if initial is not None and not isinstance(initial, bool) else None
    if external:
        return ExternalDataSelectElement(
            action_id=ACTION_ID, placeholder="Type to search…", min_query_length=0, initial_option=chosen
        )
    return StaticSelectElement(
        action_id=ACTION_ID, placeholder="Choose…", options=list(options.values()), initial_option=chosen
    )


def _object_element(var: JobVariable) -> InputInteractiveElement:
    if var.type == "MultiObjectVar":
        return ExternalDataMultiSelectElement(action_id=ACTION_ID, placeholder="Search Nautobot…", min_query_length=0)
    return ExternalDataSelectElement(action_id=ACTION_ID, placeholder="Search Nautobot…", min_query_length=0)


def _element(var: JobVariable, kind: Kind, initial: Any, budget: _Budget) -> InputInteractiveElement:
    if kind is Kind.EMAIL:
        return _email_element(var, initial)
    if kind in (Kind.TEXT, Kind.IP):
        return _text_element(var, initial)
    if kind in (Kind.MULTILINE, Kind.JSON):
        return _text_element(var, initial, multiline=True)
    if kind is Kind.INTEGER:
        return _number_element(var, initial)
    if kind is Kind.BOOLEAN:
        return _checkbox_element(var, initial, budget)
    if kind in (Kind.CHOICE, Kind.MULTICHOICE):
        return _select_element(var, initial, budget)
    return _object_element(var)


def _hint(var: JobVariable, budget: _Budget) -> PlainTextObject | None:
    if not budget.hints:
        return None
    text = var.help_text
    dropped = usable_choices(var)[1] if var.type in ("ChoiceVar", "MultiChoiceVar") else 0
    if dropped:
        text += f" ({dropped} choices can't be picked from Slack; use Nautobot for those.)"
    return _plain(text, budget.text_max, one_line=False)


def _note_text(var: JobVariable, kind: Kind, budget: _Budget) -> str:
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


def _variable_block(slot: Slot, prefill: Mapping[str, Any], budget: _Budget) -> Block:
    var, kind = slot.var, slot.kind
    if kind in NOTE_KINDS:
        return SectionBlock(block_id=slot.block_id, text=_mrkdwn(_note_text(var, kind, budget)))
    return InputBlock(
        block_id=slot.block_id,
        label=_plain(var.display_label, budget.text_max) or PlainTextObject(text="Field", emoji=True),
        element=_element(var, kind, _initial(var, prefill), budget),
        hint=_hint(var, budget),
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
    return ContextBlock(elements=[_mrkdwn(text)])


def _context_note(text: str, limit: int) -> ContextBlock | None:
    shown = escape(text.strip(), limit=limit)
    return ContextBlock(elements=[_mrkdwn(shown)]) if shown else None


def _view(
    form: JobForm,
    context: ModalContext,
    prefill: Mapping[str, Any],
    hidden: frozenset[str],
    callback_id: str,
    notice: str | None,
    budget: _Budget,
) -> View:
    intro = [
        _context_note(notice or "", 1000),
        _context_note(form.description, min(budget.text_max, 1000)) if budget.description else None,
    ]
    fields, left = layout(form, hidden)
    shown = [_variable_block(slot, prefill, budget) for slot in fields]
    blocks = [block for block in (*intro, *shown, _overflow_note(left)) if block is not None]
    if not blocks:
        blocks = [SectionBlock(text=_mrkdwn("This Job has no inputs to fill in."))]
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


def build_modal(
    form: JobForm,
    *,
    context: ModalContext,
    prefill: Mapping[str, Any] | None = None,
    hidden: Iterable[str] = frozenset(),
    callback_id: str = CALLBACK_ID,
    notice: str | None = None,
) -> View:
    """The Job's form as a modal: one block per variable, in the Job's order, within Slack's limits.

    ``notice`` is plain text shown above the fields (e.g. words of the command that were ignored).
    """
    hidden = frozenset(hidden)
    view = _view(form, context, prefill or {}, hidden, callback_id, notice, _BUDGETS[0])
    for budget in _BUDGETS[1:]:
        if view_size(view) <= MAX_VIEW_BYTES:
            break
        view = _view(form, context, prefill or {}, hidden, callback_id, notice, budget)
    has_inputs = any(isinstance(block, InputBlock) for block in view.blocks or [])
    if not has_inputs and blocking_problems(form, hidden):
        view.submit = None
    return view


def loading_modal(context: ModalContext, job_name: str, *, callback_id: str = LOADING_CALLBACK_ID) -> View:
    """Opened at once while the form is fetched, because the trigger id dies after 3 s."""
    return View(
        type="modal",
        callback_id=callback_id,
        title=modal_title(job_name),
        close="Cancel",
        blocks=[SectionBlock(text=_mrkdwn("⏳ Loading the form from Nautobot…"))],
        private_metadata=context.to_metadata(),
    )


RETRY_ACTION_ID = "retry_request"


def unavailable_modal(
    problem: str,
    next_step: str,
    *,
    title: str = "Can't open the form",
    callback_id: str = UNAVAILABLE_CALLBACK_ID,
    retry: str | None = None,
) -> View:
    """Shown instead of the form when it cannot be built: what happened, nothing was sent, what to do.

    ``retry``: the key of a kept request; a Retry button sends it again, nothing needs retyping.
    """
    text = (
        f"⚠️ *What happened:* {escape(problem, limit=1500)}\n"
        "*Nothing was submitted.*\n"
        f"*What to do:* {escape(next_step, limit=1000)}"
    )
    view = message_modal(title, text, callback_id=callback_id)
    if retry:
        button = ButtonElement(text="Retry", action_id=RETRY_ACTION_ID, value=retry[:2000], style="primary")
        view.blocks.append(ActionsBlock(block_id="retry", elements=[button]))
    return view


def summary_modal(form: JobForm, values: Mapping[str, Any], context: ModalContext) -> View:
    """What a confirmed command shows in place of its checked form: the inputs, and Confirm to run the Job.

    ``context`` carries the values (see :attr:`ModalContext.values`); its ``to_metadata`` raises ``ValueError``
    when they do not fit.
    """
    job = escape(form.job_name, limit=200)
    dry = form.dry_run_variable
    if dry is None:
        what = f"⚠️ *{job}* runs with these inputs once you confirm."
    elif _truthy(values.get(dry)):
        what = f"*{job}*, as a *dry run*: nothing is changed; the result in the channel lists what would be."
    else:
        what = f"⚠️ *{job}*, *for real* (not a dry run): what it does cannot be undone from Slack."
    blocks: list[Block] = [
        SectionBlock(text=_mrkdwn(what)),
        *input_sections(input_rows(values, form)),
        ContextBlock(elements=[_mrkdwn("*Confirm* sends it to Nautobot. *Cancel* closes this; nothing is sent.")]),
    ]
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=modal_title("Confirm"),
        submit="Confirm",
        close="Cancel",
        blocks=blocks,
        private_metadata=context.model_copy(update={"values": dict(values)}).to_metadata(),
    )


def message_modal(title: str, text: str, *, callback_id: str = UNAVAILABLE_CALLBACK_ID) -> View:
    """A modal that only tells something (``text`` is mrkdwn the caller has escaped)."""
    return View(
        type="modal",
        callback_id=callback_id,
        title=modal_title(title),
        close="Close",
        blocks=[SectionBlock(text=_mrkdwn(text))],
    )
