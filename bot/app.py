"""Wiring: the Bolt app, its clients and its listeners. Behaviour lives in the modules it wires."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.web.async_client import AsyncWebClient

from bot import listeners
from bot.access import Access, ChatOpsGrants, SlackGroups, Workspace
from bot.access.rate import RateLimit
from bot.audit import Audit
from bot.clients import nautobot_client
from bot.command_bindings import CommandBinding
from bot.home.emails import Emails
from bot.home.service import Home
from bot.ledger import Ledger
from bot.ledger.grants import GrantTimes
from bot.listeners import Listeners
from bot.listeners.parts import Parts, SlashCommand
from bot.metrics import Metrics
from bot.nautobot import ChatOpsApp, FormCache, FormCaches, NautobotClient, ResultReader
from bot.nautobot.approvers import ApproverLookup
from bot.nautobot.events import EventSource
from bot.runs.approver_links import ApproverLinks
from bot.runs.core import Runs
from bot.runs.follow import Follower
from bot.runs.nautobot_approvers import NautobotApprovers
from bot.settings import Settings
from bot.slack.client import slack_client
from bot.slack.pacing import ChannelPacer
from bot.slack.thread import SlackThreads
from bot.workflow import StepCompletions, Told, WorkflowSteps
from bot.workflow import register as register_steps


class _SameToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment too, and warns that the client's token wins: it is the
    same token, so the warning says nothing an operator could act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_SAME_TOKEN = _SameToken()


def commands(
    settings: Settings, client: AsyncWebClient, nautobot: NautobotClient, ledger: Ledger
) -> list[SlashCommand]:
    """Every slash command of ``COMMANDS`` with its own form cache, access rules and audit trail."""
    chatops = ChatOpsApp(nautobot) if settings.nautobot_chatops else None
    groups = SlackGroups(client, ttl=settings.slack_group_cache_seconds)  # one cache: the same groups for all
    workspace = Workspace()  # learned once (auth.test), for all
    built = []
    grants: ChatOpsGrants | None = None
    for slash, binding in settings.commands.items():
        if chatops is not None:  # every command reads the same grants: one cache for all
            grants = (
                grants.sibling(binding.subcommand)
                if grants
                else ChatOpsGrants(
                    chatops,
                    settings.nautobot_chatops_command,
                    binding.subcommand,
                    ttl=settings.nautobot_chatops_cache_seconds,
                )
            )
        access = Access(
            settings.policy,
            groups=groups,
            grants=grants,
            slash_command=slash,
            main=slash == settings.main_command,
            setting=settings.policy_setting,
            workspace=workspace,
        )
        audit = Audit(ledger, chatops, command=settings.nautobot_chatops_command, subcommand=binding.subcommand)
        built.append(SlashCommand(slash, FormCache(nautobot, binding.job), access, audit, binding))
    return built


@dataclass
class Bot:
    app: AsyncApp
    nautobot: NautobotClient
    runs: Runs
    listeners: Listeners
    commands: list[SlashCommand]
    reader: ResultReader
    events: EventSource | None = None
    slack_session: aiohttp.ClientSession | None = None

    async def warm(self) -> None:
        """Each command's access data before its first use; the workspace the app is installed in (Slack's
        ``auth.test``, asked until it answers) is learned once, for all of them."""
        await asyncio.gather(*(command.access.warm() for command in self.commands))

    async def drain_audits(self) -> None:
        """Wait for every command's command-log writes under way (they must reach Nautobot before its client closes)."""
        for command in self.commands:
            if command.audit is not None:
                await command.audit.drain()

    async def aclose(self) -> None:
        """Close the connections to Nautobot and Slack (after the last call through them)."""
        if self.listeners.home is not None:
            await self.listeners.home.stop()
        if self.listeners.steps is not None:
            await self.listeners.steps.completions.stop()
        await self.nautobot.aclose()
        if self.slack_session is not None:
            await self.slack_session.close()


def wire(
    *,
    slack: AsyncWebClient,
    nautobot: NautobotClient,
    ledger: Ledger,
    commands: Sequence[SlashCommand],
    follow_timeout: float,
    metrics: Metrics | None = None,
    email_regex: str | None = None,
    pacer: ChannelPacer | None = None,
    reader: ResultReader | None = None,
    events: EventSource | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rate: RateLimit | None = None,
    approvers_channel: str | None = None,
    approval_remind: float = 3600.0,
    grant_times: GrantTimes | None = None,
    step_wait: float = 840.0,
) -> Listeners:
    """The core (threads, follower, runs) and the listeners of every command on top of it, from the clients given."""
    metrics = metrics or Metrics()
    forms = FormCaches(nautobot)
    for command in commands:
        forms.add(command.forms)
        command.access.watch_form(command.forms.current(), command.forms.refresh)  # every form read is checked
        command.forms.listen(command.access.form_changed)
    threads = SlackThreads(slack, pacer, can_cancel=lambda: nautobot.capabilities.cancel)
    lookup = ApproverLookup(nautobot)
    follower = Follower(
        nautobot,
        threads,
        timeout=follow_timeout,
        ledger=ledger,
        metrics=metrics,
        reader=reader,
        events=events,
        sleep=sleep,
        approvers=NautobotApprovers(lookup, threads, ledger, channel=approvers_channel, remind_after=approval_remind),
    )
    runs = Runs(
        ledger=ledger,
        nautobot=nautobot,
        threads=threads,
        follower=follower,
        forms=forms,
        metrics=metrics,
        members=commands[0].access.groups.members if commands else None,  # one cache of user groups for all
        grant_times=grant_times,
    )
    runs.approvals.links = ApproverLinks(lookup)  # approvers named by Nautobot group, or required to be linked
    home = Home(
        ledger=ledger,
        client=slack,
        results=nautobot.job_results,
        commands=[(command.slash, command.access) for command in commands],
        members=runs.approvals.members,
        can_cancel=threads.can_cancel,
        emails=Emails(slack),  # the grants a person holds, where the token may read addresses
    )
    completions = StepCompletions(ledger, slack, nautobot)
    Told([home, completions]).watch(runs, follower, runs.approvals, runs.grants)
    runs.sweepers.append(completions.sweep)  # steps whose request ended unseen (a restart, another replica)
    parts = [
        Parts(
            ledger=ledger,
            runs=runs,
            forms=command.forms,
            access=command.access,
            audit=command.audit or Audit(ledger),
            metrics=metrics,
            slash=command.slash,
            binding=command.binding or CommandBinding(job=command.forms.job_name),
            email_regex=email_regex,
            rate=rate,
        )
        for command in commands
    ]
    handlers = Listeners(parts, home)
    handlers.steps = WorkflowSteps({part.slash: part for part in parts}, completions, wait=timedelta(seconds=step_wait))
    return handlers


def build(settings: Settings, ledger: Ledger, metrics: Metrics) -> Bot:
    # One connection pool for every Web API call: no TCP and TLS handshake per message.
    session = aiohttp.ClientSession()
    client = slack_client(
        settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url), metrics, session=session
    )
    nautobot = nautobot_client(settings, on_retry=metrics.nautobot_retry)
    bound = commands(settings, client, nautobot, ledger)
    events = None
    if settings.nautobot_events_url is not None:
        events = EventSource(settings.nautobot_events_url.get_secret_value(), metrics=metrics)
    reader = ResultReader(nautobot)  # the polls of many runs go to Nautobot together
    handlers = wire(
        slack=client,
        nautobot=nautobot,
        ledger=ledger,
        commands=bound,
        follow_timeout=settings.follow_timeout_seconds,
        metrics=metrics,
        email_regex=settings.email_regex,
        reader=reader,
        events=events,
        rate=RateLimit(settings.rate_limit_commands, settings.rate_limit_seconds, registry=metrics.registry),
        approvers_channel=settings.nautobot_approvers_channel,
        approval_remind=settings.nautobot_approval_remind_seconds,
        grant_times=GrantTimes(
            warn_ahead=timedelta(seconds=settings.grant_warn_ahead_seconds),
            grace=timedelta(seconds=settings.grant_revoke_grace_seconds),
        ),
        step_wait=settings.workflow_step_wait_seconds,
    )
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    bolt_logger = logging.getLogger("slack_bolt.AsyncApp")
    if _SAME_TOKEN not in bolt_logger.filters:
        bolt_logger.addFilter(_SAME_TOKEN)
    app = AsyncApp(client=client, signing_secret=signing_secret)
    listeners.register(app, handlers)
    if handlers.steps is not None:
        register_steps(app, handlers.steps)
    return Bot(app, nautobot, handlers.runs, handlers, bound, reader, events, session)
