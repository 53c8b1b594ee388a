"""Wiring: the Bolt app, its clients and its listeners. Behaviour lives in the modules it wires."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.web.async_client import AsyncWebClient

from bot import listeners
from bot.access import Access, ChatOpsGrants, SlackGroups
from bot.audit import Audit
from bot.follow import Follower
from bot.ledger import Ledger
from bot.listeners import Listeners
from bot.metrics import Metrics
from bot.nautobot import ChatOpsApp, FormCache, NautobotClient, ResultReader
from bot.nautobot.events import EventSource
from bot.runs import Runs
from bot.settings import Settings
from bot.slack.client import slack_client
from bot.slack.pacing import ChannelPacer
from bot.slack.thread import SlackThreads


class _SameToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment too, and warns that the client's token wins: it is the
    same token, so the warning says nothing an operator could act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_SAME_TOKEN = _SameToken()


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
    reader: ResultReader
    events: EventSource | None = None
    slack_session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        """Close the connections to Nautobot and Slack (after the last call through them)."""
        await self.nautobot.aclose()
        if self.slack_session is not None:
            await self.slack_session.close()


def wire(
    *,
    slack: AsyncWebClient,
    nautobot: NautobotClient,
    ledger: Ledger,
    access: Access,
    forms: FormCache,
    follow_timeout: float,
    audit: Audit | None = None,
    metrics: Metrics | None = None,
    email_regex: str | None = None,
    pacer: ChannelPacer | None = None,
    reader: ResultReader | None = None,
    events: EventSource | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Listeners:
    """The core (threads, follower, runs) and the listeners on top of it, from the clients given."""
    metrics = metrics or Metrics()
    access.watch_form(forms.current(), forms.refresh)  # every form read is checked against the policy
    forms.listen(access.form_changed)
    threads = SlackThreads(slack, pacer, can_cancel=lambda: nautobot.capabilities.cancel)
    follower = Follower(
        nautobot,
        threads,
        timeout=follow_timeout,
        ledger=ledger,
        metrics=metrics,
        reader=reader,
        events=events,
        sleep=sleep,
    )
    runs = Runs(
        ledger=ledger, nautobot=nautobot, threads=threads, follower=follower, forms_cache=forms, metrics=metrics
    )
    return Listeners(
        ledger=ledger,
        runs=runs,
        forms_cache=forms,
        access=access,
        audit=audit,
        email_regex=email_regex,
        metrics=metrics,
    )


def build(settings: Settings, ledger: Ledger, metrics: Metrics) -> Bot:
    # One connection pool for every Web API call: no TCP and TLS handshake per message.
    session = aiohttp.ClientSession()
    client = slack_client(
        settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url), metrics, session=session
    )
    nautobot = NautobotClient.from_settings(settings, on_retry=metrics.nautobot_retry)
    form_cache = FormCache(nautobot, settings.nautobot_job_name)
    access, chatops = access_control(settings, client, nautobot)
    events = None
    if settings.nautobot_events_url is not None:
        events = EventSource(settings.nautobot_events_url.get_secret_value(), metrics=metrics)
    audit = Audit(
        ledger,
        chatops,
        command=settings.nautobot_chatops_command,
        subcommand=settings.nautobot_chatops_subcommand,
    )
    reader = ResultReader(nautobot)  # the polls of many runs go to Nautobot together
    handlers = wire(
        slack=client,
        nautobot=nautobot,
        ledger=ledger,
        access=access,
        forms=form_cache,
        follow_timeout=settings.follow_timeout_seconds,
        audit=audit,
        metrics=metrics,
        email_regex=settings.email_regex,
        reader=reader,
        events=events,
    )
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    bolt_logger = logging.getLogger("slack_bolt.AsyncApp")
    if _SAME_TOKEN not in bolt_logger.filters:
        bolt_logger.addFilter(_SAME_TOKEN)
    app = AsyncApp(client=client, signing_secret=signing_secret)
    listeners.register(app, handlers, settings.slash_command)
    return Bot(app, nautobot, form_cache, handlers.runs, handlers, access, audit, reader, events, session)
