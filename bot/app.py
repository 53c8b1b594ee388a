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
from bot.access import Access, ChatOpsGrants, SlackGroups
from bot.audit import Audit
from bot.chatops_app import ChatOpsApp
from bot.follow import Follower
from bot.form_cache import FormCache
from bot.ledger import Ledger
from bot.listeners import Listeners
from bot.metrics import Metrics, counting
from bot.nautobot import NautobotClient
from bot.result_reader import ResultReader
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


def access_control(
    settings: Settings, client: AsyncWebClient, nautobot: NautobotClient
) -> tuple[Access, ChatOpsApp | None]:
    """Who may use the command (the bot's policy, or nautobot-chatops' grants), and where that is recorded."""
    chatops = ChatOpsApp(nautobot) if settings.nautobot_chatops else None
    grants = None
    if chatops is not None:
        grants = ChatOpsGrants(
            chatops,
            settings.nautobot_chatops_command,
            settings.nautobot_chatops_subcommand,
            ttl=settings.nautobot_chatops_cache_seconds,
        )
    access = Access(
        settings.policy,
        groups=SlackGroups(client, ttl=settings.slack_group_cache_seconds),
        grants=grants,
        slash_command=settings.slash_command,
        setting=settings.policy_setting,
    )
    return access, chatops


@dataclass
class Bot:
    app: AsyncApp
    nautobot: NautobotClient
    forms: FormCache
    runs: Runs
    listeners: Listeners
    access: Access
    audit: Audit


def build(settings: Settings, ledger: Ledger, metrics: Metrics) -> Bot:
    client = slack_client(settings, metrics)
    nautobot = nautobot_client(settings)
    form_cache = FormCache(nautobot, settings.nautobot_job_name)
    follower = Follower(
        nautobot,
        client,
        timeout=settings.follow_timeout_seconds,
        ledger=ledger,
        metrics=metrics,
        reader=ResultReader(nautobot),  # the polls of many runs go to Nautobot together
    )
    runs = Runs(ledger=ledger, nautobot=nautobot, slack=client, follower=follower, forms_cache=form_cache)
    access, chatops = access_control(settings, client, nautobot)
    audit = Audit(
        ledger,
        chatops,
        command=settings.nautobot_chatops_command,
        subcommand=settings.nautobot_chatops_subcommand,
    )
    listeners = Listeners(
        ledger=ledger,
        runs=runs,
        forms_cache=form_cache,
        access=access,
        audit=audit,
        email_regex=settings.email_regex,
        metrics=metrics,
    )
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = AsyncApp(client=client, signing_secret=signing_secret)
    app.command(settings.slash_command)(listeners.command)
    app.view(forms.CALLBACK_ID)(listeners.submission)
    app.options(forms.ACTION_ID)(listeners.options)
    app.action(forms.RETRY_ACTION_ID)(listeners.retry)
    app.action(messages.CANCEL_ACTION_ID)(listeners.cancel)
    return Bot(app, nautobot, form_cache, runs, listeners, access, audit)
