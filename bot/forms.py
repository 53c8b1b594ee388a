"""A Job's variables ⇄ a Slack modal: build the view, pre-fill it, read and check what was submitted.

The modal mirrors whatever variables the Job declares, in the Job's order; nothing here knows the
Meraki Job in particular. Every field's ``block_id`` is the variable name and its ``action_id`` is
:data:`ACTION_ID`, so submitted values and Nautobot's field errors map straight back to variables.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
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

from bot.messages import INFO_ICON, clean, escape, truncate
from bot.models import JobForm, JobVariable, ModalContext

ACTION_ID = "value"
CALLBACK_ID = "meraki_add_user"
LOADING_CALLBACK_ID = "meraki_add_user_loading"
UNAVAILABLE_CALLBACK_ID = "meraki_add_user_unavailable"

MAX_BLOCKS = 100
MAX_FIELDS = MAX_BLOCKS - 3
MAX_VIEW_BYTES = 250_000
TITLE_MAX = 24
LABEL_MAX = 2000
BLOCK_ID_MAX = 255
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
TEXT_INPUT_MAX = 3000
ERROR_MAX = 2000
GENERAL_ERRORS_MAX = 20
UNUSED_TOKENS_MAX = 50

EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
CHECKED = "true"
"""The value of a checkbox's one option."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Control, format (bidi overrides, zero-width), line-separator and surrogate characters: invisible or
# misleading in a one-line value, and some (NUL, surrogates) cannot even be stored or encoded.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_JOINERS = frozenset("\u200c\u200d")  # emoji sequences and several scripts need them
_INTEGER = re.compile(r"^[+-]?\d{1,30}$")
_DRYRUN_FLAGS = frozenset({"dry-run", "dryrun", "dry_run", "--dry-run", "--dryrun", "--dry_run"})
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
_TOKEN = re.compile(
    r"(?:(?P<key>[A-Za-z_][\w-]{0,99})=)?"
    r"(?:\"(?P<dq>[^\"]*)(?:\"|$)"
    r"|\u201c(?P<cq>[^\u201d]*)(?:\u201d|$)"
    r"|'(?P<sq>[^']*)(?:'|$)"
    r"|\u2018(?P<tq>[^\u2019]*)(?:\u2019|$)"
    r"|(?P<bare>\S+))"
)
_MAILTO = re.compile(r"<mailto:([^|>]*)(?:\|[^>]*)?>")


class Kind(StrEnum):
    """How a variable is shown in Slack."""

    TEXT = "text"
    EMAIL = "email"
    MULTILINE = "multiline"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    MULTICHOICE = "multichoice"
    OBJECT = "object"
    MULTIOBJECT = "multiobject"
    IP = "ip"
    JSON = "json"
    NO_CHOICES = "no_choices"
    UNSUPPORTED = "unsupported"


NOTE_KINDS = frozenset({Kind.NO_CHOICES, Kind.UNSUPPORTED})
_FIXED_KINDS = {
    "TextVar": Kind.MULTILINE,
    "IntegerVar": Kind.INTEGER,
    "BooleanVar": Kind.BOOLEAN,
    "DryRunVar": Kind.BOOLEAN,
    "ObjectVar": Kind.OBJECT,
    "MultiObjectVar": Kind.MULTIOBJECT,
    "IPAddressVar": Kind.IP,
    "IPAddressWithMaskVar": Kind.IP,
    "IPNetworkVar": Kind.IP,
    "JSONVar": Kind.JSON,
}
_IP_PLACEHOLDERS = {
    "IPAddressVar": "192.0.2.10",
    "IPAddressWithMaskVar": "192.0.2.10/24",
    "IPNetworkVar": "192.0.2.0/24",
}


def kind_of(var: JobVariable) -> Kind:
    """The widget a variable gets; a select with nothing Slack can offer becomes a note."""
    if var.type == "StringVar":
        return Kind.EMAIL if var.is_email else Kind.TEXT
    if var.type in ("ChoiceVar", "MultiChoiceVar"):
        if not usable_choices(var)[0]:
            return Kind.NO_CHOICES
        return Kind.CHOICE if var.type == "ChoiceVar" else Kind.MULTICHOICE
    return _FIXED_KINDS.get(var.type, Kind.UNSUPPORTED)


def _usable_value(value: str) -> bool:
    return 0 < len(value) <= OPTION_VALUE_MAX and value.strip() != "" and clean(value) == value


def usable_choices(var: JobVariable) -> tuple[list[tuple[str, str]], int]:
    """Choices Slack can offer (value ≤ 150 characters, printable), and how many could not be offered."""
    seen: set[str] = set()
    usable: list[tuple[str, str]] = []
    dropped = 0
    for value, label in var.choices:
        if value in seen or value == "":
            continue
        seen.add(value)
        if _usable_value(value):
            usable.append((value, label))
        else:
            dropped += 1
    return usable, dropped


@dataclass(frozen=True)
class _Field:
    """A variable's place in the modal; ``block_id`` is None when its name can't serve as one."""

    var: JobVariable
    kind: Kind
    block_id: str | None


def _usable_block_id(name: str) -> bool:
    return 0 < len(name) <= BLOCK_ID_MAX and clean(name) == name and name.strip() == name


def _layout(form: JobForm, hidden: Iterable[str]) -> tuple[list[_Field], list[JobVariable]]:
    """Fields in the Job's order within the block budget, and the variables left over."""
    hidden = frozenset(hidden)
    seen: set[str] = set()
    fields = []
    for var in form.variables:
        if var.name in hidden:
            continue
        usable = _usable_block_id(var.name) and var.name not in seen
        seen.add(var.name)
        fields.append(_Field(var, kind_of(var) if usable else Kind.UNSUPPORTED, var.name if usable else None))
    return fields[:MAX_FIELDS], [slot.var for slot in fields[MAX_FIELDS:]]


def _input_variables(form: JobForm, hidden: Iterable[str]) -> list[JobVariable]:
    return [slot.var for slot in _layout(form, hidden)[0] if slot.kind not in NOTE_KINDS]


def blocking_problems(form: JobForm, hidden: Iterable[str] = frozenset()) -> list[str]:
    """Required variables Slack cannot fill: while any exist, only Nautobot can run the Job."""
    hidden = frozenset(hidden)
    shown = {var.name for var in _input_variables(form, hidden)}
    return [
        f"{var.display_label} ({var.type}) can't be set from Slack."
        for var in form.variables
        if var.required and var.name not in hidden and var.name not in shown
    ]


# -- building the modal --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    """How generous a view may be; tighter budgets keep huge Jobs under Slack's 250 kB."""

    text_max: int
    hints: bool
    static_options_max: int
    description: bool


_BUDGETS = (_Budget(LABEL_MAX, True, OPTIONS_MAX, True), _Budget(150, True, 20, False), _Budget(50, False, 0, False))
_MISSING: Any = object()


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
    value = prefill.get(var.name, _MISSING)
    return var.default if value is _MISSING else value


def _text_initial(value: Any, limit: int) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = clean(str(value))
    return text[:limit] if text.strip() else None


def _length_bounds(var: JobVariable) -> tuple[int | None, int]:
    high = min(var.max_length, TEXT_INPUT_MAX) if var.max_length and var.max_length > 0 else TEXT_INPUT_MAX
    low = var.min_length if var.min_length and 0 < var.min_length <= high else None
    return low, high


def _text_element(var: JobVariable, initial: Any, *, multiline: bool = False) -> PlainTextInputElement:
    low, high = _length_bounds(var)
    return PlainTextInputElement(
        action_id=ACTION_ID,
        initial_value=_text_initial(initial, high),
        min_length=low,
        max_length=high if var.max_length else None,
        multiline=multiline or None,
        placeholder=_IP_PLACEHOLDERS.get(var.type),
    )


def _email_element(var: JobVariable, initial: Any) -> EmailInputElement:
    text = _text_initial(initial, TEXT_INPUT_MAX)
    fits = text is not None and len(text) <= _length_bounds(var)[1] and EMAIL_SHAPE.match(text)
    return EmailInputElement(  # Slack refuses the whole view over an initial value that is not an email
        action_id=ACTION_ID, initial_value=text if fits else None, placeholder="name@example.com"
    )


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value.strip())
    return None


def _number_element(var: JobVariable, initial: Any) -> NumberInputElement:
    low, high = var.min_value, var.max_value
    if low is not None and high is not None and low > high:
        low = high = None
    start = _integer(initial)
    if start is not None and ((low is not None and start < low) or (high is not None and start > high)):
        start = None
    return NumberInputElement(
        action_id=ACTION_ID, is_decimal_allowed=False, initial_value=start, min_value=low, max_value=high
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().casefold() in _TRUE
    return value is True


def _checkbox_element(var: JobVariable, initial: Any, budget: _Budget) -> CheckboxesElement:
    option = _option(CHECKED, truncate(var.display_label, min(budget.text_max, OPTION_TEXT_MAX)))
    return CheckboxesElement(
        action_id=ACTION_ID, options=[option], initial_options=[option] if _truthy(initial) else None
    )


def _as_list(value: Any) -> list[Any]:
    if value is None or value is _MISSING:
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


def _variable_block(slot: _Field, prefill: Mapping[str, Any], budget: _Budget) -> Block:
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
    fields, left = _layout(form, hidden)
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


def message_modal(title: str, text: str, *, callback_id: str = UNAVAILABLE_CALLBACK_ID) -> View:
    """A modal that only tells something (``text`` is mrkdwn the caller has escaped)."""
    return View(
        type="modal",
        callback_id=callback_id,
        title=modal_title(title),
        close="Close",
        blocks=[SectionBlock(text=_mrkdwn(text))],
    )


# -- pre-filling from the command text -----------------------------------------------------------


@dataclass(frozen=True)
class Prefill:
    """Values parsed from the command text, and the words that matched nothing (to tell the person)."""

    values: dict[str, Any] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)

    def notice(self) -> str | None:
        if not self.unused:
            return None
        return f"Not used from your command: {' '.join(self.unused)}. Fill in the form below instead."


@dataclass(frozen=True)
class _Token:
    raw: str
    text: str
    quoted: bool
    key: str | None


def _slack_unescape(text: str) -> str:
    """Slack's own ``<mailto:…>`` links first: a ``&lt;mailto:…&gt;`` someone typed stays text."""
    text = _MAILTO.sub(lambda match: match.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _tokens(text: str) -> list[_Token]:
    found = []
    for match in _TOKEN.finditer(_slack_unescape(clean(text))):
        quoted = next((match.group(name) for name in ("dq", "cq", "sq", "tq") if match.group(name) is not None), None)
        value = quoted if quoted is not None else match.group("bare")
        found.append(_Token(match.group(0), value.strip(), quoted is not None, match.group("key")))
    return found


def _match_choice(choices: Sequence[tuple[str, str]], text: str, *, prefix: bool = False) -> str | None:
    """The choice whose value or label is ``text`` (any case); with ``prefix``, the only label starting so."""
    wanted = text.casefold()
    if not prefix:
        return next((value for value, label in choices if wanted in (value.casefold(), label.casefold())), None)
    if len(wanted) < 3:
        return None
    starting = [value for value, label in choices if label.casefold().startswith(wanted)]
    return starting[0] if len(starting) == 1 else None


class _Filler:
    """Assigns tokens to the first free variable that fits, in the Job's order."""

    def __init__(self, form: JobForm, hidden: frozenset[str]):
        self.variables = _input_variables(form, hidden)
        self.kinds = {var.name: kind_of(var) for var in self.variables}
        self.choices = {var.name: usable_choices(var)[0] for var in self.variables if var.type == "ChoiceVar"}
        self.values: dict[str, Any] = {}

    def free(self, accepts: Callable[[JobVariable], bool]) -> JobVariable | None:
        return next((var for var in self.variables if var.name not in self.values and accepts(var)), None)

    def free_of_kind(self, kind: Kind) -> JobVariable | None:
        return self.free(lambda var: self.kinds[var.name] is kind)

    def by_key(self, key: str) -> JobVariable | None:
        wanted = key.replace("-", "_").casefold()
        return next((var for var in self.variables if var.name.casefold() == wanted), None)

    def coerce(self, var: JobVariable, text: str) -> Any:
        """A typed value for ``name=value``, or ``_MISSING`` when it does not fit the variable."""
        kind = self.kinds[var.name]
        if kind is Kind.BOOLEAN:
            folded = text.casefold()
            return True if folded in _TRUE else False if folded in _FALSE else _MISSING
        if kind is Kind.INTEGER:
            number = _integer(text)
            return _MISSING if number is None else number
        if kind is Kind.CHOICE:
            return _match_choice(self.choices[var.name], text) or _MISSING
        if kind is Kind.EMAIL and not EMAIL_SHAPE.match(text):
            return _MISSING
        if kind in (Kind.TEXT, Kind.EMAIL, Kind.MULTILINE, Kind.IP, Kind.JSON):
            return text if text and len(text) <= _length_bounds(var)[1] else _MISSING
        return _MISSING

    def place(self, token: _Token) -> bool:
        if token.key:
            var = self.by_key(token.key)
            return self._set(var, self.coerce(var, token.text) if var else _MISSING)
        if not token.quoted and token.text.casefold() in _DRYRUN_FLAGS:
            return self._set(self.free(lambda var: var.type == "DryRunVar"), True)
        email = token.text.rstrip(",;")
        email_field = self.free_of_kind(Kind.EMAIL) if EMAIL_SHAPE.match(email) else None
        if email_field and self._set(email_field, self.coerce(email_field, email)):
            return True
        if token.text and self._place_choice(token.text):
            return True
        if token.quoted and token.text:
            var = self.free_of_kind(Kind.TEXT)
            return self._set(var, self.coerce(var, token.text) if var else _MISSING)
        return False

    def _place_choice(self, text: str) -> bool:
        for prefix in (False, True):
            for name, choices in self.choices.items():
                if name not in self.values and self.kinds[name] is Kind.CHOICE:
                    value = _match_choice(choices, text, prefix=prefix)
                    if value is not None:
                        self.values[name] = value
                        return True
        return False

    def _set(self, var: JobVariable | None, value: Any) -> bool:
        if var is None or value is _MISSING:
            return False
        self.values[var.name] = value
        return True


def parse_command_text(text: str, form: JobForm, hidden: Iterable[str] = frozenset()) -> Prefill:
    """Pre-fill values from ``/meraki-add-user bob@example.com read-only "Bob Smith" dry-run``.

    Emails go to the first email field, words matching a choice's value or label to the first free
    select that offers them, quoted text to the next free text field, ``name=value`` to that field.
    """
    try:
        filler = _Filler(form, frozenset(hidden))
        unused = [truncate(token.raw, 100) for token in _tokens(text or "") if not filler.place(token)]
    except (ValueError, TypeError, RecursionError):
        return Prefill(unused=[truncate(clean(str(text)), 100)] if text else [])
    if len(unused) > UNUSED_TOKENS_MAX:
        unused = [*unused[: UNUSED_TOKENS_MAX - 1], f"(and {len(unused) - UNUSED_TOKENS_MAX + 1} more)"]
    return Prefill(values=filler.values, unused=unused)


# -- reading a submission ------------------------------------------------------------------------


@dataclass(frozen=True)
class Unreadable:
    """A submitted value that could not be turned into the variable's type; :func:`validate` reports it."""

    raw: str
    problem: str


def _action_state(state_values: Any, block_id: str) -> Mapping[str, Any]:
    block = state_values.get(block_id) if isinstance(state_values, Mapping) else None
    if not isinstance(block, Mapping):
        return {}
    action = block.get(ACTION_ID)
    if action is None:
        action = next(iter(block.values()), None)
    return action if isinstance(action, Mapping) else {}


def _option_value(option: Any) -> str | None:
    value = option.get("value") if isinstance(option, Mapping) else None
    return value if isinstance(value, str) and value != "" else None


def _read_text(action: Mapping[str, Any]) -> Any:
    value = action.get("value")
    if not isinstance(value, str) or not value.strip():
        return _MISSING
    return _broken(value, "delete it and type that part again") or value.strip()


def _broken(value: str, remedy: str) -> Unreadable | None:
    """Slack's JSON can carry half a UTF-16 pair (``\\ud800``); it can be neither stored nor sent on."""
    broken = _SURROGATE.search(value)
    if not broken:
        return None
    problem = f"This has a broken character ({_describe(broken.group())}); {remedy}."
    return Unreadable(truncate(clean(value), 100), problem)


def _read_integer(action: Mapping[str, Any]) -> Any:
    text = _read_text(action)
    if text is _MISSING or isinstance(text, Unreadable):
        return text
    number = _integer(text)
    return number if number is not None else Unreadable(truncate(text, 100), "Enter a whole number.")


def _read_json(action: Mapping[str, Any]) -> Any:
    text = _read_text(action)
    if text is _MISSING or isinstance(text, Unreadable):
        return text
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Unreadable(truncate(text, 100), f"Enter valid JSON ({truncate(str(exc), 200)}).")


def _read_boolean(action: Mapping[str, Any]) -> Any:
    options = action.get("selected_options")
    values = [_option_value(option) for option in options] if isinstance(options, list) else []
    if any(value != CHECKED for value in values):  # not what the box offers: a hand-made payload
        problem = "Untick this box, tick it again if you want it, and submit again: it sent a value it doesn't offer."
        return Unreadable(truncate(clean(str(values)), 100), problem)
    return bool(values)


def _read_single(action: Mapping[str, Any]) -> Any:
    value = _option_value(action.get("selected_option"))
    return _MISSING if value is None else _broken(value, "pick the option again") or value


def _read_multiple(action: Mapping[str, Any]) -> Any:
    options = action.get("selected_options")
    values = [value for value in map(_option_value, options if isinstance(options, list) else []) if value]
    broken = [found for found in (_broken(value, "pick the options again") for value in values) if found]
    return broken[0] if broken else values or _MISSING


_READERS: dict[Kind, Callable[[Mapping[str, Any]], Any]] = {
    Kind.TEXT: _read_text,
    Kind.EMAIL: _read_text,
    Kind.MULTILINE: _read_text,
    Kind.IP: _read_text,
    Kind.JSON: _read_json,
    Kind.INTEGER: _read_integer,
    Kind.BOOLEAN: _read_boolean,
    Kind.CHOICE: _read_single,
    Kind.OBJECT: _read_single,
    Kind.MULTICHOICE: _read_multiple,
    Kind.MULTIOBJECT: _read_multiple,
}


def read_submission(
    state_values: Mapping[str, Any], form: JobForm, hidden: Iterable[str] = frozenset()
) -> dict[str, Any]:
    """``view.state.values`` → Job data: text stripped, empty fields left out, checkboxes as bools.

    Values that cannot be typed (``"12a"`` for an integer) come back as :class:`Unreadable`.
    """
    data: dict[str, Any] = {}
    for var in _input_variables(form, hidden):
        value = _READERS[kind_of(var)](_action_state(state_values, var.name))
        if value is not _MISSING:
            data[var.name] = value
    return data


# -- validating ----------------------------------------------------------------------------------

_MISSING_MESSAGES = {
    Kind.BOOLEAN: "Tick this box to continue.",
    Kind.CHOICE: "Pick an option.",
    Kind.MULTICHOICE: "Pick at least one option.",
    Kind.OBJECT: "Pick an option.",
    Kind.MULTIOBJECT: "Pick at least one option.",
}


def _is_empty(value: Any) -> bool:
    return value is _MISSING or value is None or value == "" or value == [] or value is False


def _check_length(var: JobVariable, text: str) -> str | None:
    if var.min_length is not None and len(text) < var.min_length:
        return f"Use at least {var.min_length} characters (this has {len(text)})."
    if var.max_length is not None and len(text) > var.max_length:
        return f"Use at most {var.max_length} characters (this has {len(text)})."
    return None


def _matches(pattern: str, text: str) -> bool:
    """Like Django's ``RegexValidator``: ``re.search``; a pattern that does not compile is skipped."""
    try:
        return re.search(pattern, text) is not None
    except (re.error, RecursionError, OverflowError):
        return True


def _describe(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``; a visible character is shown too, an invisible one never."""
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    if unicodedata.category(char) in _HIDDEN_CATEGORIES or char.isspace():
        return f"{code} {name}".rstrip()
    return f"'{char}', {code} {name}".rstrip()


def _hidden_character(text: str, *, multiline: bool) -> str | None:
    allowed = _JOINERS | ({"\n", "\t"} if multiline else set())
    return next((c for c in text if c not in allowed and unicodedata.category(c) in _HIDDEN_CATEGORIES), None)


def _check_characters(var: JobVariable, text: str, *, multiline: bool) -> str | None:
    hidden = _hidden_character(text, multiline=multiline)
    if hidden:
        return f"Delete the control or invisible character {_describe(hidden)}: it can't be part of this field."
    if var.is_email:
        foreign = next((c for c in text if not c.isascii()), None)
        if foreign:
            return (
                f"Use only plain ASCII in an email address: {_describe(foreign)} only looks like one. "
                "Write an international domain in its xn-- form."
            )
    return None


def _check_text(var: JobVariable, value: Any, extra_patterns: Sequence[str], *, multiline: bool) -> str | None:
    if not isinstance(value, str):
        return "Enter text."
    problem = _check_length(var, value) or _check_characters(var, value, multiline=multiline)
    if problem:
        return problem
    if var.is_email and not EMAIL_SHAPE.match(value):
        return "Enter an email address, like name@example.com."
    for pattern in (var.regex, *extra_patterns):
        if pattern and not _matches(pattern, value):
            return f"This doesn't match the required pattern {pattern}"
    return None


def _check_integer(var: JobVariable, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "Enter a whole number."
    low, high = var.min_value, var.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            return f"Enter a number from {low} to {high}."
        return f"Enter a number of at least {low}." if low is not None else f"Enter a number of at most {high}."
    return None


def _check_choice(var: JobVariable, value: Any) -> str | None:
    allowed = {key for key, _ in usable_choices(var)[0]}
    picked = value if isinstance(value, list) else [value]
    if any(not isinstance(item, str) or item not in allowed for item in picked):
        return "Pick one of the listed options."
    return None


def _check_ip(var: JobVariable, value: Any) -> str | None:
    parsers: dict[str, Callable[[str], object]] = {
        "IPAddressVar": ipaddress.ip_address,
        "IPAddressWithMaskVar": ipaddress.ip_interface,
        "IPNetworkVar": ipaddress.ip_network,
    }
    if not isinstance(value, str):
        return f"Enter an address like {_IP_PLACEHOLDERS[var.type]}."
    try:
        parsers[var.type](value)
    except ValueError:
        return f"Enter an address like {_IP_PLACEHOLDERS[var.type]}."
    if var.type == "IPAddressWithMaskVar" and "/" not in value:
        return f"Include the prefix length, like {_IP_PLACEHOLDERS[var.type]}."
    return None


def _check(var: JobVariable, kind: Kind, value: Any, email_regex: str | None) -> str | None:
    if isinstance(value, Unreadable):
        return value.problem
    if _is_empty(value):
        return _MISSING_MESSAGES.get(kind, "Fill this in.") if var.required else None
    if kind in (Kind.TEXT, Kind.EMAIL, Kind.MULTILINE):
        patterns = [email_regex] if email_regex and kind is Kind.EMAIL else []
        return _check_text(var, value, patterns, multiline=kind is Kind.MULTILINE)
    if kind is Kind.INTEGER:
        return _check_integer(var, value)
    if kind in (Kind.CHOICE, Kind.MULTICHOICE):
        return _check_choice(var, value)
    if kind is Kind.IP:
        return _check_ip(var, value)
    return None


def validate(
    values: Mapping[str, Any],
    form: JobForm,
    *,
    email_regex: str | None = None,
    hidden: Iterable[str] = frozenset(),
) -> dict[str, str]:
    """Checks Slack can answer inline, as ``{block_id: message}`` for ``response_action="errors"``.

    ``email_regex`` (a setting) applies to email fields on top of any regex a label announces.
    """
    hidden = frozenset(hidden)
    inputs = _input_variables(form, hidden)
    errors: dict[str, str] = {}
    for var in inputs:
        problem = _check(var, kind_of(var), values.get(var.name, _MISSING), email_regex)
        if problem:
            errors[var.name] = truncate(problem, ERROR_MAX)
    blockers = blocking_problems(form, hidden)
    if blockers and inputs and inputs[0].name not in errors:
        message = " ".join(blockers) + " Run the Job in Nautobot instead."
        errors[inputs[0].name] = truncate(message, ERROR_MAX)
    return errors


# -- Nautobot's field errors ---------------------------------------------------------------------


def _flatten(messages: Any) -> list[str]:
    if messages is None:
        return []
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        return [f"{key}: {text}" for key, value in messages.items() for text in _flatten(value)]
    if isinstance(messages, list | tuple):
        return [text for item in messages for text in _flatten(item)]
    return [str(messages)]


def field_errors(
    nautobot_errors: Any, form: JobForm | None = None, *, hidden: Iterable[str] = frozenset()
) -> tuple[dict[str, str], list[str]]:
    """Split a Nautobot 400 body into errors shown under form fields and general messages.

    Accepts the whole body (``{"errors": ...}``, ``{"detail": ...}``) or just its ``errors`` value.
    Without ``form`` every named key counts as a field.
    """
    errors = nautobot_errors
    if isinstance(errors, Mapping) and "errors" in errors:
        errors = errors["errors"]
    elif isinstance(errors, Mapping) and "detail" in errors:
        errors = errors["detail"]
    if not isinstance(errors, Mapping):
        return {}, _cap_general([clean(text) for text in _flatten(errors)])
    fields = {var.name for var in _input_variables(form, hidden)} if form else None
    by_field: dict[str, str] = {}
    general: list[str] = []
    for key, messages in errors.items():
        text = " ".join(clean(item) for item in _flatten(messages)).strip() or "Invalid value."
        name = str(key)
        known = name in fields if fields is not None else name not in ("non_field_errors", "__all__")
        if known:
            by_field[name] = truncate(text, ERROR_MAX)
        else:
            general.append(_general_line(name, text, form))
    return by_field, _cap_general(general)


def _general_line(name: str, text: str, form: JobForm | None) -> str:
    if name in ("non_field_errors", "__all__"):
        return text
    var = form.variable(name) if form else None
    return f"{var.display_label if var else clean(name)}: {text}"


def _cap_general(messages: list[str]) -> list[str]:
    capped = [truncate(text, 500) for text in messages if text.strip()]
    if len(capped) > GENERAL_ERRORS_MAX:
        capped = [*capped[: GENERAL_ERRORS_MAX - 1], f"…and {len(capped) - GENERAL_ERRORS_MAX + 1} more."]
    return capped
