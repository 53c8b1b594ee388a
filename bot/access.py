"""Who may use the command, where, and which choices they may pick.

Nobody may, until a policy says otherwise. The policy is either the bot's own (``ACCESS_POLICY``
or ``ACCESS_POLICY_FILE``: Slack users, user groups and channels), or, with ``NAUTOBOT_CHATOPS``
on, nautobot-chatops' Access Grants with that app's own rule: an organization (Slack team), a
channel and a user grant must all match the command. Either way the policy's ``restrict`` part
can keep single choices (e.g. organization access ``full``) to some people.

The decision is taken on the command, again on the submission and on every button, because
access can change while a form is open. Group memberships and grants are cached (with a TTL):
the command must open its modal within Slack's 3-second trigger window.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chatops_app import AccessGrant, ChatOpsApp, GrantType
from bot.models import JobForm, JobVariable
from bot.nautobot import NautobotError

log = logging.getLogger("bot.access")

WILDCARD = "*"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
FAILED_LOOKUP_TTL = 30.0
"""Seconds a failed group lookup counts as "no members" before Slack is asked again (Tier 2 limits)."""
GRANTS_SETTING = "NAUTOBOT_CHATOPS"
LOOKUP_ERRORS = (NautobotError, SlackApiError, aiohttp.ClientError, OSError, asyncio.TimeoutError)
"""What a failed look-up of grants or group members raises; the request is then refused, not crashed."""


# -- the policy as configured --------------------------------------------------------------------


def _ids(values: Iterable[str], pattern: re.Pattern[str], what: str, *, wildcard: bool) -> tuple[str, ...]:
    checked = []
    for value in values:
        if not (pattern.match(value) or (wildcard and value == WILDCARD)):
            star = " or *" if wildcard else ""
            raise ValueError(f"{value!r} is not a Slack {what}{star}")
        checked.append(value)
    return tuple(dict.fromkeys(checked))


class Audience(BaseModel):
    """People: Slack user ids (``U…``/``W…``, or ``*`` for everyone) and user group ids (``S…``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @field_validator("users")
    @classmethod
    def _users(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _ids(value, _USER_ID, "user id (U… or W…)", wildcard=True)

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _ids(value, _GROUP_ID, "user group id (S…)", wildcard=False)

    @model_validator(mode="after")
    def _someone(self) -> Audience:
        if not self.users and not self.groups:
            raise ValueError("names nobody: give users, groups or both")
        return self

    def includes(self, user_id: str, members: Callable[[str], frozenset[str]]) -> bool:
        if WILDCARD in self.users or user_id in self.users:
            return True
        return any(user_id in members(group) for group in self.groups)


class Rule(Audience):
    """These people may use the command in these channels (``*``: any channel)."""

    channels: tuple[str, ...] = Field(min_length=1)

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _ids(value, _CHANNEL_ID, "channel id (C…, G… or D…)", wildcard=True)

    def in_channel(self, channel_id: str) -> bool:
        return WILDCARD in self.channels or channel_id in self.channels


class AccessPolicy(BaseModel):
    """``allow``: a request is allowed when one rule matches it. ``restrict``: variable → choice → who may pick it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: tuple[Rule, ...] = ()
    restrict: dict[str, dict[str, Audience]] = Field(default_factory=dict)

    @field_validator("restrict")
    @classmethod
    def _restrict(cls, value: dict[str, dict[str, Audience]]) -> dict[str, dict[str, Audience]]:
        for name, choices in value.items():
            if not choices:
                raise ValueError(f"{name} restricts no choice: list choice values, each with who may pick it")
        return value

    def groups(self) -> frozenset[str]:
        """Every user group the policy names: what a decision may need to look up."""
        audiences: list[Audience] = [*self.allow, *(a for choices in self.restrict.values() for a in choices.values())]
        return frozenset(group for audience in audiences for group in audience.groups)


# -- who asks, and the answer --------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """A person doing something in Slack, and where."""

    user_id: str
    user_name: str = ""
    channel_id: str = ""
    team_id: str = ""

    @classmethod
    def from_command(cls, body: Mapping[str, Any]) -> Actor:
        return cls(
            user_id=str(body.get("user_id") or ""),
            user_name=str(body.get("user_name") or ""),
            channel_id=str(body.get("channel_id") or ""),
            team_id=str(body.get("team_id") or ""),
        )

    @classmethod
    def from_interaction(cls, body: Mapping[str, Any], channel_id: str) -> Actor:
        """A view submission or a button; the channel is the request's, which these payloads may lack."""
        user = body.get("user") or {}
        team = body.get("team") or {}
        return cls(
            user_id=str(user.get("id") or ""),
            user_name=str(user.get("username") or user.get("name") or ""),
            channel_id=channel_id,
            team_id=str(team.get("id") or user.get("team_id") or ""),
        )

    @property
    def label(self) -> str:
        return f"{self.user_id} ({self.user_name})" if self.user_name else self.user_id


@dataclass(frozen=True)
class Decision:
    """Whether an actor may go on, why (for the person and the audit), and which choices they may not pick."""

    allowed: bool
    reason: str
    remedy: str = ""
    source: str = ""
    denied_choices: Mapping[str, frozenset[str]] = field(default_factory=dict)
    unavailable: bool = False
    """True when access could not be checked (Slack or Nautobot failed); the refusal says to try again."""


# -- caches --------------------------------------------------------------------------------------

V = TypeVar("V")


class _Cached(Generic[V]):
    """Values by key for ``ttl`` seconds; one lookup per key at a time."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._values: dict[str, tuple[float, V]] = {}
        self._pending: dict[str, asyncio.Future[V]] = {}

    def peek(self, key: str) -> V | None:
        found = self._values.get(key)
        return found[1] if found is not None and found[0] > self.clock() else None

    def put(self, key: str, value: V, ttl: float | None = None) -> V:
        self._values[key] = (self.clock() + (self.ttl if ttl is None else ttl), value)
        return value

    async def get(self, key: str, load: Callable[[], Awaitable[V]], *, fresh: bool = False) -> V:
        """The cached value, else the result of ``load()``; callers that give up (a timeout) leave it running."""
        if not fresh:
            cached = self.peek(key)
            if cached is not None:
                return cached
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(load())
            self._pending[key] = task
            task.add_done_callback(lambda done: self._settled(key, done))
        return await asyncio.shield(task)

    def _settled(self, key: str, task: asyncio.Future[V]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # a lookup nobody waits for any more must not log "never retrieved"


class SlackGroups:
    """Members of Slack user groups (``usergroups.users.list``, scope ``usergroups:read``), cached."""

    def __init__(self, client: AsyncWebClient, *, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self._cache: _Cached[frozenset[str]] = _Cached(ttl, clock)

    def peek(self, group_id: str) -> frozenset[str] | None:
        return self._cache.peek(group_id)

    async def members(self, group_id: str) -> frozenset[str]:
        return await self._cache.get(group_id, lambda: self._load(group_id))

    async def _load(self, group_id: str) -> frozenset[str]:
        try:
            answer = await self.client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            # Fails closed: an unreadable group has no members until Slack answers again.
            error = exc.response.get("error") if exc.response is not None else str(exc)
            log.warning("cannot read the members of user group %s: %s", group_id, error)
            return self._cache.put(group_id, frozenset(), min(self._cache.ttl, FAILED_LOOKUP_TTL))
        users = answer.get("users") or []
        return self._cache.put(group_id, frozenset(str(user) for user in users))


class ChatOpsGrants:
    """nautobot-chatops' Access Grants for one command, cached for a short TTL."""

    def __init__(
        self,
        app: ChatOpsApp,
        command: str,
        subcommand: str,
        *,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        self.command = command
        self.subcommand = subcommand
        self._cache: _Cached[tuple[AccessGrant, ...]] = _Cached(ttl, clock)

    def peek(self) -> tuple[AccessGrant, ...] | None:
        return self._cache.peek(self.command)

    async def current(self, *, fresh: bool = False) -> tuple[AccessGrant, ...]:
        """The grants; ``fresh`` reads them from Nautobot even when the cache holds them."""
        return await self._cache.get(self.command, self._load, fresh=fresh)

    async def _load(self) -> tuple[AccessGrant, ...]:
        grants = tuple(await self.app.access_grants(self.command))
        return self._cache.put(self.command, grants)


# -- deciding ------------------------------------------------------------------------------------


def policy_decision(
    policy: AccessPolicy | None,
    actor: Actor,
    members: Callable[[str], frozenset[str]],
    *,
    command: str,
    setting: str = "ACCESS_POLICY",
) -> Decision:
    """The bot's own policy: allowed when one ``allow`` rule names the actor (or a group of theirs) and the channel."""
    if policy is None or not policy.allow:
        return Decision(
            allowed=False,
            reason=f"Nobody may use {command} yet: the bot has no access policy, and without one it refuses everyone.",
            remedy="An administrator grants access by setting ACCESS_POLICY (or ACCESS_POLICY_FILE) for the bot; "
            "the README's section on access shows how.",
            source=setting,
        )
    rules = [rule for rule in policy.allow if rule.includes(actor.user_id, members)]
    if any(rule.in_channel(actor.channel_id) for rule in rules):
        return Decision(
            allowed=True,
            reason=f"{setting} allows {actor.label} in {actor.channel_id}",
            source=setting,
            denied_choices=denied_choices(policy, actor, members),
        )
    if rules:
        channels = sorted({channel for rule in rules for channel in rule.channels})
        return Decision(
            allowed=False,
            reason=f"You may use {command}, but not in this channel ({actor.channel_id}).",
            remedy=f"Use it in a channel {setting} allows you: {', '.join(channels)}.",
            source=setting,
        )
    return Decision(
        allowed=False,
        reason=f"You ({actor.label}) may not use {command}: no rule of the bot's access policy names you "
        "or a user group you are in.",
        remedy=f"Ask an administrator to add you, or a Slack user group you are in, to {setting}.",
        source=setting,
    )


_GRANT_PHRASES = {
    GrantType.ORGANIZATION: "in organization",
    GrantType.CHANNEL: "in channel",
    GrantType.USER: "by user",
}


def grants_decision(
    grants: Iterable[AccessGrant],
    actor: Actor,
    *,
    command: str,
    subcommand: str,
    slash_command: str,
) -> Decision:
    """nautobot-chatops' own rule (``check_and_enqueue_command``): a matching grant of every type, checked in order."""
    relevant = [grant for grant in grants if grant.covers(command, subcommand)]
    values = {GrantType.ORGANIZATION: actor.team_id, GrantType.CHANNEL: actor.channel_id, GrantType.USER: actor.user_id}
    for kind, value in values.items():
        if not any(grant.grant_type == kind and grant.permits(value) for grant in relevant):
            label = value or "unspecified"
            if kind is GrantType.USER and actor.user_name:
                label += f" ({actor.user_name})"
            return Decision(
                allowed=False,
                reason=f"Access to {slash_command} is not permitted {_GRANT_PHRASES[kind]} {label}.",
                remedy=f"Ask your Nautobot administrator to define an Access Grant in Nautobot's ChatOps app for "
                f"command '{command}', subcommand '{subcommand}' (or *), type {kind.value}, value {value or '*'}.",
                source=GRANTS_SETTING,
            )
    return Decision(
        allowed=True,
        reason=f"nautobot-chatops access grants allow {actor.label} in {actor.channel_id} ({command} {subcommand})",
        source=GRANTS_SETTING,
    )


def denied_choices(
    policy: AccessPolicy | None, actor: Actor, members: Callable[[str], frozenset[str]]
) -> dict[str, frozenset[str]]:
    """Per variable, the restricted choice values this actor may not pick."""
    if policy is None:
        return {}
    denied = {
        name: frozenset(value for value, audience in choices.items() if not audience.includes(actor.user_id, members))
        for name, choices in policy.restrict.items()
    }
    return {name: values for name, values in denied.items() if values}


def restricted_form(form: JobForm, decision: Decision) -> JobForm:
    """The form with the choices this person may not pick taken out (a default among them is dropped too)."""
    if not decision.denied_choices:
        return form
    variables = [_without(var, decision.denied_choices.get(var.name, frozenset())) for var in form.variables]
    return form.model_copy(update={"variables": variables})


def _without(var: JobVariable, denied: frozenset[str]) -> JobVariable:
    if not denied:
        return var
    choices = [(value, label) for value, label in var.choices if value not in denied]
    default = None if isinstance(var.default, str) and var.default in denied else var.default
    return var.model_copy(update={"choices": choices, "default": default})


def refused_choices(values: Mapping[str, Any], form: JobForm, decision: Decision, *, setting: str) -> dict[str, str]:
    """Field errors for restricted choices in a submission (a form opened before access changed, or forged)."""
    errors = {}
    for name, denied in decision.denied_choices.items():
        picked = values.get(name)
        chosen = set(picked) if isinstance(picked, list) else {picked}
        refused = sorted(str(value) for value in chosen & denied)
        if refused:
            var = form.variable(name)
            labels = ", ".join((var.choice_label(value) if var else None) or value for value in refused)
            errors[name] = f"You may not choose {labels}: {setting} keeps it to some people. Pick another option."
    return errors


def choice_notice(form: JobForm, decision: Decision) -> str | None:
    """A line for the form: which choices it leaves out for this person, and why."""
    parts = []
    for name, denied in decision.denied_choices.items():
        var = form.variable(name)
        if var is None:
            continue
        labels = [label for value, label in var.choices if value in denied]
        if labels:
            parts.append(f"{var.display_label}: {', '.join(labels)}")
    if not parts:
        return None
    return "Not offered to you by the access policy: " + "; ".join(parts) + "."


class Access:
    """The one place that answers "may this person do this, here?"."""

    def __init__(
        self,
        policy: AccessPolicy | None,
        *,
        groups: SlackGroups,
        grants: ChatOpsGrants | None = None,
        slash_command: str = "/meraki-add-user",
        setting: str = "ACCESS_POLICY",
    ):
        self.policy = policy
        self.groups = groups
        self.grants = grants
        self.slash_command = slash_command
        self.setting = setting

    def _needed_groups(self) -> frozenset[str]:
        if self.policy is None:
            return frozenset()
        if self.grants is not None:  # allow rules are not used: only restrict's groups matter
            return AccessPolicy(restrict=self.policy.restrict).groups()
        return self.policy.groups()

    def decide_now(self, actor: Actor) -> Decision | None:
        """The decision from what is cached, or None when Slack or Nautobot must be asked first."""
        members = {group: self.groups.peek(group) for group in self._needed_groups()}
        if any(value is None for value in members.values()):
            return None
        grants = self.grants.peek() if self.grants is not None else ()
        if grants is None:
            return None
        return self._decide(actor, lambda group: members.get(group) or frozenset(), grants)

    async def decide(self, actor: Actor, *, fresh: bool = False) -> Decision:
        """The decision, asking Slack and Nautobot where the cache has nothing; ``fresh`` re-reads the grants.

        Never raises for a lookup that failed: access that cannot be checked is refused.
        """
        try:
            loaded = await asyncio.gather(*(self.groups.members(group) for group in sorted(self._needed_groups())))
            members = dict(zip(sorted(self._needed_groups()), loaded, strict=True))
            grants = await self.grants.current(fresh=fresh) if self.grants is not None else ()
        except LOOKUP_ERRORS as exc:
            log.warning("cannot check access user=%s: %s", actor.user_id, exc)
            return Decision(
                allowed=False,
                reason=f"The bot could not check your access: {exc}",
                remedy="Nothing was done. Try again in a minute; if it keeps happening, tell your Nautobot "
                "administrator.",
                source=GRANTS_SETTING,
                unavailable=True,
            )
        return self._decide(actor, lambda group: members.get(group, frozenset()), grants)

    def _decide(self, actor: Actor, members: Callable[[str], frozenset[str]], grants: Iterable[AccessGrant]):
        if self.grants is None:
            return policy_decision(self.policy, actor, members, command=self.slash_command, setting=self.setting)
        decision = grants_decision(
            grants,
            actor,
            command=self.grants.command,
            subcommand=self.grants.subcommand,
            slash_command=self.slash_command,
        )
        if not decision.allowed:
            return decision
        return Decision(
            allowed=True,
            reason=decision.reason,
            source=decision.source,
            denied_choices=denied_choices(self.policy, actor, members),
        )

    async def warm(self) -> None:
        """Fill the caches at start, so the first command opens its form at once."""
        try:
            await self.decide(Actor(user_id=""))
        except Exception as exc:  # a warm-up is only an optimisation
            log.warning("could not pre-load access data: %s", exc)
