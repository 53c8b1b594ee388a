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
from collections.abc import Callable, Iterable

from bot.access.decisions import (
    GRANTS_SETTING,
    Actor,
    Decision,
    choice_notice,
    denied_choices,
    grants_decision,
    policy_decision,
    refused_choices,
    restricted_form,
)
from bot.access.lookups import LOOKUP_ERRORS, ChatOpsGrants, SlackGroups
from bot.access.policy import AccessPolicy, Audience, Rule
from bot.nautobot import AccessGrant

__all__ = [
    "GRANTS_SETTING",
    "Access",
    "AccessPolicy",
    "Actor",
    "Audience",
    "ChatOpsGrants",
    "Decision",
    "Rule",
    "SlackGroups",
    "choice_notice",
    "denied_choices",
    "grants_decision",
    "policy_decision",
    "refused_choices",
    "restricted_form",
]

log = logging.getLogger("bot.access")


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
