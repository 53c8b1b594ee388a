"""The confirmation summary: what a confirmed command shows in place of its checked form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, SectionBlock
from slack_sdk.models.views import View

from bot.models import JobForm, ModalContext
from bot.slack.messages import input_rows, input_sections  # the parent message shows inputs the same way
from bot.slack.modal.build import CALLBACK_ID, modal_title
from bot.slack.modal.elements import mrkdwn, truthy
from bot.slack.text import escape


def summary_modal(form: JobForm, values: Mapping[str, Any], context: ModalContext) -> View:
    """What a confirmed command shows in place of its checked form: the inputs, and Confirm to run the Job.

    ``context`` carries the values (see :attr:`ModalContext.values`); its ``to_metadata`` raises ``ValueError``
    when they do not fit.
    """
    job = escape(form.job_name, limit=200)
    dry = form.dry_run_variable
    if dry is None:
        what = f"⚠️ *{job}* runs with these inputs once you confirm."
    elif truthy(values.get(dry)):
        what = f"*{job}*, as a *dry run*: nothing is changed; the result in the channel lists what would be."
    else:
        what = f"⚠️ *{job}*, *for real* (not a dry run): what it does cannot be undone from Slack."
    blocks: list[Block] = [
        SectionBlock(text=mrkdwn(what)),
        *input_sections(input_rows(values, form)),
        ContextBlock(elements=[mrkdwn("*Confirm* sends it to Nautobot. *Cancel* closes this; nothing is sent.")]),
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
