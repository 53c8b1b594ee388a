"""What happens on the slash command and on the modal's submission."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import forms, messages
from bot.follow import Follower, Thread
from bot.form_cache import FormCache
from bot.models import JobForm, ModalContext, RunRequest, RunStatus
from bot.nautobot import JobFieldErrors, NautobotClient, NautobotError, Submission

log = logging.getLogger("bot.listeners")

# Nautobot's answer to a run usually arrives in about a second. Waiting this long for it lets its
# field errors appear under the form's fields; Slack wants the submission acknowledged within 3 s.
SUBMIT_WAIT = 2.0
RETRY_LATER = "Try again in a minute; if it keeps happening, tell your Nautobot administrator."
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})


class Listeners:
    def __init__(
        self,
        *,
        nautobot: NautobotClient,
        forms_cache: FormCache,
        follower: Follower,
        email_regex: str | None = None,
        hidden: frozenset[str] = frozenset(),
    ):
        self.nautobot = nautobot
        self.forms = forms_cache
        self.follower = follower
        self.email_regex = email_regex
        self.hidden = hidden
        self.submitted: set[str] = set()
        self.tasks: set[asyncio.Task] = set()

    # -- the command -----------------------------------------------------------------------------

    async def command(self, ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        context = ModalContext(
            channel_id=body["channel_id"], user_id=body["user_id"], job_id="", command_text=body.get("text", "")
        )
        form = self.forms.current()
        if form is not None:
            await client.views_open(trigger_id=body["trigger_id"], view=self._modal(form, context))
            self.forms.refresh_soon()
            return
        opened = await client.views_open(
            trigger_id=body["trigger_id"], view=forms.loading_modal(context, self.forms.job_name)
        )
        view = opened["view"]
        try:
            form = await self.forms.refresh()
        except NautobotError as exc:
            log.warning("form unavailable user=%s: %s", context.user_id, exc)
            replacement = forms.unavailable_modal(str(exc), RETRY_LATER)
        else:
            replacement = self._modal(form, context)
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=replacement)

    def _modal(self, form: JobForm, context: ModalContext):
        prefill = forms.parse_command_text(context.command_text or "", form, self.hidden)
        context = context.model_copy(update={"job_id": form.job_id})
        return forms.build_modal(
            form, context=context, prefill=prefill.values, hidden=self.hidden, notice=prefill.notice()
        )

    # -- the submission --------------------------------------------------------------------------

    async def submission(self, ack, body: dict[str, Any], client: AsyncWebClient, view: dict[str, Any]) -> None:
        context = ModalContext.from_metadata(view.get("private_metadata", ""))
        user_id = body["user"]["id"]
        try:
            form = self.forms.current() or await self.forms.refresh()
        except NautobotError as exc:
            await ack(response_action="update", view=forms.unavailable_modal(str(exc), RETRY_LATER, title="Not run"))
            return
        values = forms.read_submission(view["state"]["values"], form, self.hidden)
        errors = forms.validate(values, form, email_regex=self.email_regex, hidden=self.hidden)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        if view["id"] in self.submitted:  # Slack redelivered, or a second click got through
            await ack()
            return
        self.submitted.add(view["id"])
        request = RunRequest(
            request_id=view["id"],
            requester_id=user_id,
            channel_id=context.channel_id,
            job_name=form.job_name,
            inputs=values,
            dryrun=bool(values.get("dryrun", False)),
        )
        posting = asyncio.create_task(self.nautobot.run_job(form.job_id, values))
        done, _ = await asyncio.wait({posting}, timeout=SUBMIT_WAIT)
        if not done:
            await ack(
                response_action="update",
                view=forms.message_modal("Submitting", "⏳ Sending the request to Nautobot…"),
            )
            await self._finish_late(request, form, values, context, posting, client, view["id"])
            return
        try:
            submission = posting.result()
        except JobFieldErrors as exc:
            self.submitted.discard(view["id"])
            on_fields, general = forms.field_errors(exc.errors, form, hidden=self.hidden)
            if on_fields:
                await ack(response_action="errors", errors=self._with_general(on_fields, general))
            else:
                await ack(response_action="update", view=self._refused(form, values, context, general))
            return
        except NautobotError as exc:
            self.submitted.discard(view["id"])
            log.warning("run refused request=%s: %s", request.request_id, exc)
            await ack(response_action="update", view=forms.unavailable_modal(str(exc), RETRY_LATER, title="Not run"))
            return
        await ack()
        await self._started(request, form, submission, client)

    def _with_general(self, on_fields: dict[str, str], general: list[str]) -> dict[str, str]:
        if not general:
            return on_fields
        first = next(iter(on_fields))
        return {**on_fields, first: messages.truncate(f"{on_fields[first]} ({'; '.join(general)})", 2000)}

    def _refused(self, form: JobForm, values: dict[str, Any], context: ModalContext, general: list[str]):
        notice = "Nautobot did not run the Job: " + "; ".join(general) + " Correct the form and submit again."
        context = context.model_copy(update={"job_id": form.job_id})
        return forms.build_modal(form, context=context, prefill=values, hidden=self.hidden, notice=notice)

    async def _finish_late(self, request, form, values, context, posting, client, view_id) -> None:
        """Nautobot answered after the ack: the modal, already showing "Submitting", shows the outcome."""
        try:
            submission = await posting
        except JobFieldErrors as exc:
            self.submitted.discard(view_id)
            on_fields, general = forms.field_errors(exc.errors, form, hidden=self.hidden)
            lines = [f"{form.variable(name).display_label}: {text}" for name, text in on_fields.items()] + general
            await client.views_update(view_id=view_id, view=self._refused(form, values, context, lines))
            return
        except NautobotError as exc:
            self.submitted.discard(view_id)
            await client.views_update(
                view_id=view_id, view=forms.unavailable_modal(str(exc), RETRY_LATER, title="Not run")
            )
            return
        await client.views_update(
            view_id=view_id,
            view=forms.message_modal(
                "Submitted", f"✅ Submitted. Follow it in {messages.channel_link(context.channel_id)}."
            ),
        )
        await self._started(request, form, submission, client)

    # -- after Nautobot accepted the run ---------------------------------------------------------

    async def _started(self, request: RunRequest, form: JobForm, submission: Submission, client: AsyncWebClient):
        run = submission.run
        if run is None:
            log.info("run scheduled request=%s scheduled=%s", request.request_id, submission.scheduled_job_id)
        text, blocks = messages.parent_message(
            request,
            run,
            None if run else RunStatus.AWAITING_APPROVAL,
            form=form,
            nautobot_url=submission.scheduled_url,
        )
        thread = await self._post_parent(request, client, text, blocks)
        log.info("run started request=%s result=%s", request.request_id, run.result_id if run else None)
        if run is not None and thread is not None:
            task = asyncio.create_task(self.follower.follow(request, form, run, thread))
            self.tasks.add(task)
            task.add_done_callback(self._finished)

    async def _post_parent(self, request: RunRequest, client: AsyncWebClient, text: str, blocks) -> Thread | None:
        try:
            posted = await client.chat_postMessage(channel=request.channel_id, text=text, blocks=blocks)
            return Thread(posted["channel"], posted["ts"])
        except SlackApiError as exc:
            if exc.response.get("error") not in CANNOT_POST:
                raise
        # The bot is not in that channel: the requester still gets the run, in a direct message.
        dm = await client.conversations_open(users=request.requester_id)
        channel = dm["channel"]["id"]
        note_text, note_blocks = messages.cannot_post_in_channel(request.channel_id, submitted=True)
        await client.chat_postMessage(channel=channel, text=note_text, blocks=note_blocks)
        posted = await client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        return Thread(posted["channel"], posted["ts"])

    def _finished(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("following a run failed", exc_info=task.exception())
