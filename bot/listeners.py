"""What happens on the slash command and on the modal's submission."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import forms, messages
from bot.form_cache import FormCache
from bot.ledger import Ledger, LedgerError, RequestState
from bot.logs import set_correlation
from bot.metrics import Metrics
from bot.models import JobForm, ModalContext, RunRequest
from bot.nautobot import JobFieldErrors, NautobotError, Submission
from bot.runs import Runs

log = logging.getLogger("bot.listeners")

# Nautobot's answer to a run usually arrives in about a second. Waiting this long for it lets its
# field errors appear under the form's fields; Slack wants the submission acknowledged within 3 s.
SUBMIT_WAIT = 2.0
RETRY_LATER = "Try again in a minute; if it keeps happening, tell your Nautobot administrator."
RETRY_KEPT = (
    "Press Retry once Nautobot is back; what you entered is kept. "
    "If it keeps failing, tell your Nautobot administrator."
)
# A refused request may be corrected and sent again from the same modal; each attempt gets its own key.
MAX_ATTEMPTS = 20


def request_key(view_id: str, values: dict[str, Any], attempt: int = 0) -> str:
    """The idempotency key: the same submission delivered twice maps to one key, a changed one does not."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{view_id}:{digest}" + (f":{attempt}" if attempt else "")


class Listeners:
    def __init__(
        self,
        *,
        ledger: Ledger,
        runs: Runs,
        forms_cache: FormCache,
        email_regex: str | None = None,
        hidden: frozenset[str] = frozenset(),
        metrics: Metrics | None = None,
    ):
        self.metrics = metrics or Metrics()
        self.ledger = ledger
        self.runs = runs
        self.forms = forms_cache
        self.email_regex = email_regex
        self.hidden = hidden

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

    # -- options of a long choice list ---------------------------------------------------------

    async def options(self, ack, body: dict[str, Any]) -> None:
        """A choice list past Slack's 100 static options is an external select; this answers it."""
        form = self.forms.current()
        var = form.variable(body.get("block_id", "")) if form else None
        if var is None or not var.choices:
            await ack(options=[])
            return
        found = forms.choice_options(var, body.get("value", ""))
        await ack(options=[option.to_dict() for option in found])

    # -- the submission --------------------------------------------------------------------------

    async def submission(self, ack, body: dict[str, Any], client: AsyncWebClient, view: dict[str, Any]) -> None:
        context = ModalContext.from_metadata(view.get("private_metadata", ""))
        try:
            form = self.forms.current() or await self.forms.refresh()
        except NautobotError as exc:
            await ack(response_action="update", view=forms.unavailable_modal(str(exc), RETRY_LATER, title="Not run"))
            return
        values = forms.read_submission(view["state"]["values"], form, self.hidden)
        errors = forms.validate(values, form, email_regex=self.email_regex, hidden=self.hidden)
        if errors:
            self.metrics.request("invalid")
            await ack(response_action="errors", errors=errors)
            return
        try:
            request = await self._claim(view["id"], body["user"]["id"], context, form, values)
        except LedgerError as exc:
            log.error("cannot record a request: %s", exc)
            await ack(
                response_action="update",
                view=forms.unavailable_modal(f"The bot cannot record requests: {exc}", RETRY_LATER, title="Not run"),
            )
            return
        set_correlation(request.request_id if request else view["id"])  # follows the request into every log line
        if request is None:  # Slack redelivered it, or a second click got through: it runs once
            self.metrics.request("duplicate")
            await ack()
            return
        posting = asyncio.create_task(self.runs.submit(request.request_id, form))
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
        except LedgerError:  # another delivery of this request is already sending it
            self.metrics.request("duplicate")
            await ack()
            return
        except JobFieldErrors as exc:
            self.metrics.request("refused")
            on_fields, general = forms.field_errors(exc.errors, form, hidden=self.hidden)
            if on_fields:
                await ack(response_action="errors", errors=self._with_general(on_fields, general))
            else:
                await ack(response_action="update", view=self._refused(form, values, context, general))
            return
        except NautobotError as exc:
            self._refusal(exc)
            log.warning("run refused request=%s: %s", request.request_id, exc)
            await ack(response_action="update", view=self._not_run(exc, request.request_id))
            return
        await ack()
        await self._started(request, form, submission)

    async def _claim(
        self, view_id: str, user_id: str, context: ModalContext, form: JobForm, values: dict[str, Any]
    ) -> RunRequest | None:
        """Record the request before anything is sent; None when this submission is already under way."""
        for attempt in range(MAX_ATTEMPTS):
            request = RunRequest(
                request_id=request_key(view_id, values, attempt),
                requester_id=user_id,
                channel_id=context.channel_id,
                job_name=form.job_name,
                inputs=values,
                dryrun=bool(values.get("dryrun", False)),
            )
            record, created = await self.ledger.record(request)
            if created or record.state is RequestState.UNSENT:
                return request
            if record.state is not RequestState.REFUSED:
                return None
        raise LedgerError(f"{MAX_ATTEMPTS} refused attempts from one form; open a new one")

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
            self.metrics.request("refused")
            on_fields, general = forms.field_errors(exc.errors, form, hidden=self.hidden)
            lines = [f"{form.variable(name).display_label}: {text}" for name, text in on_fields.items()] + general
            await client.views_update(view_id=view_id, view=self._refused(form, values, context, lines))
            return
        except NautobotError as exc:
            self._refusal(exc)
            await client.views_update(view_id=view_id, view=self._not_run(exc, request.request_id))
            return
        await client.views_update(
            view_id=view_id,
            view=forms.message_modal(
                "Submitted", f"✅ Submitted. Follow it in {messages.channel_link(context.channel_id)}."
            ),
        )
        await self._started(request, form, submission)

    @staticmethod
    def _not_run(exc: NautobotError, request_id: str):
        if exc.retryable:
            return forms.unavailable_modal(str(exc), RETRY_KEPT, title="Not run", retry=request_id)
        return forms.unavailable_modal(str(exc), RETRY_LATER, title="Not run")

    # -- the Retry button of a request Nautobot could not take -----------------------------------

    async def retry(self, ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view, request_id = body["view"], body["actions"][0]["value"]
        set_correlation(request_id)
        record = await self.ledger.get(request_id)
        if record is None or record.requester_id != body["user"]["id"] or record.state is not RequestState.UNSENT:
            done = forms.message_modal("Not run", "This request is no longer waiting for a retry.")
            await client.views_update(view_id=view["id"], view=done)
            return
        try:
            form = self.forms.current() or await self.forms.refresh()
            submission = await self.runs.submit(request_id, form)
        except LedgerError:  # a second click: the first one is sending it
            return
        except NautobotError as exc:
            self._refusal(exc)
            await client.views_update(view_id=view["id"], view=self._not_run(exc, request_id))
            return
        channel = messages.channel_link(record.channel_id)
        submitted = forms.message_modal("Submitted", f"✅ Submitted. Follow it in {channel}.")
        await client.views_update(view_id=view["id"], view=submitted)
        await self._started(record.to_request(), form, submission)

    # -- the Cancel button on the parent message -------------------------------------------------

    async def cancel(self, ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        request_id, user_id = body["actions"][0]["value"], body["user"]["id"]
        channel = body["container"]["channel_id"]
        set_correlation(request_id)
        record = await self.ledger.get(request_id)
        if record is None or not record.result_id:
            return
        if user_id != record.requester_id:
            text, blocks = messages.only_requester_may_cancel(record.requester_id)
        else:
            try:
                run = await self.runs.nautobot.cancel(record.result_id)
                log.info("cancel requested request=%s result=%s", request_id, record.result_id)
                text, blocks = messages.cancel_requested(run.url)
            except NautobotError as exc:
                text, blocks = messages.error_message(
                    f"Nautobot did not cancel the run: {exc}", "The Job goes on.", "Cancel it in Nautobot."
                )
        await client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks)

    def _refusal(self, exc: NautobotError) -> None:
        self.metrics.nautobot_error(exc)
        self.metrics.request("unsent" if getattr(exc, "retryable", False) else "refused")

    async def _started(self, request: RunRequest, form: JobForm, submission: Submission) -> None:
        self.metrics.request("submitted")
        if submission.run is None:
            log.info("run awaits approval request=%s scheduled=%s", request.request_id, submission.scheduled_job_id)
        await self.runs.start(request, form, submission.run, submission.scheduled_url)
