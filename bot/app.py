"""Wiring: the Bolt app, its clients and its listeners. Behaviour lives in the modules it wires."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import forms, messages
from bot.follow import Follower
from bot.form_cache import FormCache
from bot.ledger import Ledger
from bot.listeners import Listeners
from bot.metrics import Metrics, counting
from bot.nautobot import NautobotClient
from bot.runs import Runs
from bot.settings import Settings


def slack_client(settings: Settings, metrics: Metrics) -> AsyncWebClient:
    """A Web API client that honours Retry-After on 429 and retries Slack's 5xx and dropped connections."""
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=str(settings.slack_api_url),
        retry_handlers=[
            counting(AsyncConnectionErrorRetryHandler(max_retry_count=3), metrics, "connection"),
            counting(AsyncRateLimitErrorRetryHandler(max_retry_count=5), metrics, "429"),
            counting(AsyncServerErrorRetryHandler(max_retry_count=3), metrics, "5xx"),
        ],
    )


def nautobot_client(settings: Settings) -> NautobotClient:
    return NautobotClient(settings.nautobot_base, settings.nautobot_token, verify=settings.tls_verify)


@dataclass
class Bot:
    app: AsyncApp
    nautobot: NautobotClient
    forms: FormCache
    runs: Runs
    listeners: Listeners


def build(settings: Settings, ledger: Ledger, metrics: Metrics) -> Bot:
    client = slack_client(settings, metrics)
    nautobot = nautobot_client(settings)
    form_cache = FormCache(nautobot, settings.nautobot_job_name)
    follower = Follower(nautobot, client, timeout=settings.follow_timeout_seconds, ledger=ledger, metrics=metrics)
    runs = Runs(ledger=ledger, nautobot=nautobot, slack=client, follower=follower, forms_cache=form_cache)
    listeners = Listeners(
        ledger=ledger, runs=runs, forms_cache=form_cache, email_regex=settings.email_regex, metrics=metrics
    )
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = AsyncApp(client=client, signing_secret=signing_secret)
    app.command(settings.slash_command)(listeners.command)
    app.view(forms.CALLBACK_ID)(listeners.submission)
    app.options(forms.ACTION_ID)(listeners.options)
    app.action(forms.RETRY_ACTION_ID)(listeners.retry)
    app.action(messages.CANCEL_ACTION_ID)(listeners.cancel)
    return Bot(app, nautobot, form_cache, runs, listeners)
