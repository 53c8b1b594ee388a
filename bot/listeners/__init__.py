"""The bot's Slack surfaces, one module each: the command, the modal's submission, the buttons, long option lists.

Each asks :class:`bot.access.Access` first, hands the request to the core (:mod:`bot.runs`), and
turns what comes back into Slack's answer (:mod:`bot.listeners.outcome`), recording it in the audit trail.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Access
from bot.audit import Audit
from bot.ledger import Ledger
from bot.listeners import buttons, command, options, submission
from bot.listeners.parts import Parts
from bot.metrics import Metrics
from bot.nautobot import FormCache
from bot.runs import Runs
from bot.slack import messages, modal


class Listeners(Parts):
    """The handlers, sharing the parts they work with; :func:`register` puts them on the app."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        runs: Runs,
        forms_cache: FormCache,
        access: Access,
        audit: Audit | None = None,
        email_regex: str | None = None,
        hidden: frozenset[str] = frozenset(),
        metrics: Metrics | None = None,
    ):
        super().__init__(
            ledger=ledger,
            runs=runs,
            forms=forms_cache,
            access=access,
            audit=audit or Audit(ledger),
            metrics=metrics or Metrics(),
            email_regex=email_regex,
            hidden=hidden,
        )

    async def command(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await command.command(self, ack, body, client)

    async def submission(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, view: dict[str, Any]
    ) -> None:
        await submission.submission(self, ack, body, client, view)

    async def options(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await options.options(self, ack, body)

    async def retry(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await buttons.retry(self, ack, body, client)

    async def cancel(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await buttons.cancel(self, ack, body, client)


def register(app: AsyncApp, listeners: Listeners, slash_command: str) -> None:
    app.command(slash_command)(listeners.command)
    app.view(modal.CALLBACK_ID)(listeners.submission)
    app.options(modal.ACTION_ID)(listeners.options)
    app.action(modal.RETRY_ACTION_ID)(listeners.retry)
    app.action(messages.CANCEL_ACTION_ID)(listeners.cancel)
