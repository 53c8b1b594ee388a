"""A Job's variables ⇄ a Slack modal: build the view, pre-fill it, read and check what was submitted.

``fields`` decides which widget each variable gets and which fit; ``elements`` makes each widget, ``build``
the form's view, ``summary`` the confirmation in its place, ``notices`` the modals that only tell something;
``prefill`` places the command's words, ``read`` turns a submission back into Job data,
``validate`` checks it, ``field_errors`` puts Nautobot's refusals under the fields.
"""

from bot.slack.modal.build import CALLBACK_ID, build_modal, modal_title, view_size
from bot.slack.modal.elements import choice_options, object_options
from bot.slack.modal.field_errors import field_errors
from bot.slack.modal.fields import (
    ACTION_ID,
    MAX_BLOCKS,
    MAX_VIEW_BYTES,
    NOTE_KINDS,
    Kind,
    blocking_problems,
    input_variables,
    kind_of,
)
from bot.slack.modal.notices import (
    LOADING_CALLBACK_ID,
    RETRY_ACTION_ID,
    UNAVAILABLE_CALLBACK_ID,
    loading_modal,
    message_modal,
    unavailable_modal,
)
from bot.slack.modal.prefill import Prefill, parse_command_text
from bot.slack.modal.read import Unreadable, read_submission
from bot.slack.modal.summary import summary_modal
from bot.slack.modal.validate import validate

__all__ = [
    "ACTION_ID",
    "CALLBACK_ID",
    "LOADING_CALLBACK_ID",
    "MAX_BLOCKS",
    "MAX_VIEW_BYTES",
    "NOTE_KINDS",
    "RETRY_ACTION_ID",
    "UNAVAILABLE_CALLBACK_ID",
    "Kind",
    "Prefill",
    "Unreadable",
    "blocking_problems",
    "build_modal",
    "choice_options",
    "field_errors",
    "input_variables",
    "kind_of",
    "loading_modal",
    "message_modal",
    "modal_title",
    "object_options",
    "parse_command_text",
    "read_submission",
    "summary_modal",
    "unavailable_modal",
    "validate",
    "view_size",
]
