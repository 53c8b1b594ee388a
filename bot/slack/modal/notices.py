"""The small modals around the form: one shown while it loads, one when it cannot be opened (with a Retry for
a kept request), and one that only tells something."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock
from slack_sdk.models.views import View

from bot.models import ModalContext
from bot.slack.modal.build import modal_title
from bot.slack.modal.elements import mrkdwn
from bot.slack.text import escape

LOADING_CALLBACK_ID = "meraki_add_user_loading"
UNAVAILABLE_CALLBACK_ID = "meraki_add_user_unavailable"


def loading_modal(context: ModalContext, job_name: str, *, callback_id: str = LOADING_CALLBACK_ID) -> View:
    """Opened at once while the form is fetched, because the trigger id dies after 3 s."""
    return View(
        type="modal",
        callback_id=callback_id,
        title=modal_title(job_name),
        close="Cancel",
        blocks=[SectionBlock(text=mrkdwn("⏳ Loading the form from Nautobot…"))],
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
        blocks=[SectionBlock(text=mrkdwn(text))],
    )
