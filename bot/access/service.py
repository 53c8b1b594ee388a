"""The access service: one per command, it answers "may this person do this, here?" with the policy and the
lookups it is given (Slack user groups, nautobot-chatops' grants, the installed workspace), and keeps the
policy checked against the Job's live form (see :mod:`bot.access` for the rules it applies).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from slack_sdk.web.async_client import AsyncWebClient

from bot.access.decisions import (
    GRANTS_SETTING,
    Actor,
    Decision,
    denied_choices,
    grants_decision,
    policy_decision,
    team_decision,
)
from bot.access.lookups import LOOKUP_ERRORS, ChatOpsGrants, SlackGroups
from bot.access.workspace import Workspace
from bot.models import JobForm
from bot.nautobot import AccessGrant
from bot.policy import AccessPolicy, CommandPolicy, policy_problems

log = logging.getLogger("bot.access")  # the package's name: what log filters and alerts select on


class Access:
    """The one place that answers "may this person do this, here?"."""

    def __init__(
        self,
        policy: AccessPolicy | None,
        *,
        groups: SlackGroups,
        grants: ChatOpsGrants | None = None,
        slash_command: str = "/meraki-add-user",
        main: bool = True,
        setting: str = "ACCESS_POLICY",
        installed_team: str | None = None,
        workspace: Workspace | None = None,
    ):
        self.groups = groups
        self.grants = grants
        self.slash_command = slash_command
        self.main = main
        """Whether this is the main command: the one rules without ``commands`` are about."""
        self.setting = setting
        self.workspace = workspace if workspace is not None else Workspace(installed_team)
        """The Slack workspace the app is installed in (``auth.test``), shared by every command."""
        self._form: JobForm | None = None
        self._load_form: Callable[[], Awaitable[JobForm]] | None = None
        self._problems: tuple[str, ...] = ()
        self._policy = policy
        self.applying = self._for_this_command(policy)
        """The part of the policy about this command (see :meth:`AccessPolicy.for_command`), taken once per policy:
        every decision reads it."""

    # -- the policy against the Job's form -------------------------------------------------------

    @property
    def policy(self) -> AccessPolicy | None:
        return self._policy

    @policy.setter
    def policy(self, policy: AccessPolicy | None) -> None:
        self._policy = policy
        self.applying = self._for_this_command(policy)
        if self._form is not None:
            self.form_changed(self._form)

    @property
    def installed_team(self) -> str | None:
        """The workspace the app is installed in; None until Slack named it."""
        return self.workspace.team

    @installed_team.setter
    def installed_team(self, team: str | None) -> None:
        self.workspace.team = team or None

    def _for_this_command(self, policy: AccessPolicy | None) -> CommandPolicy | None:
        return policy.for_command(self.slash_command, main=self.main) if policy is not None else None

    def watch_form(self, form: JobForm | None, load: Callable[[], Awaitable[JobForm]] | None = None) -> None:
        """Check the policy against the Job's form: the one known now, and ``load()`` before deciding without one.

        Then call :meth:`form_changed` with every form read afterwards (the form cache's listener).
        """
        self._load_form = load
        if form is not None:
            self.form_changed(form)

    def form_changed(self, form: JobForm) -> None:
        """A form was read from Nautobot: check the policy's ``restrict`` and approval rules against it, and say so
        once per change."""
        self._form = form
        problems = tuple(policy_problems(self.applying, form))
        if problems == self._problems:
            return
        self._problems = problems
        if problems:
            log.error(
                "the access policy (%s) does not fit the Job %r, so every request is refused until %s or the Job "
                "is corrected: %s",
                self.setting,
                form.job_name,
                self.setting,
                "; ".join(problems),
            )
        else:
            log.warning(
                "the access policy (%s) fits the Job %r again: requests are decided as usual",
                self.setting,
                form.job_name,
            )

    def _form_unchecked(self) -> bool:
        """True while a policy that restricts choices or asks approval has not been checked against any form it
        could be."""
        return (
            self._form is None
            and self._load_form is not None
            and self.applying is not None
            and bool(self.applying.restrict or self.applying.approvals)
        )

    def _misfit(self) -> Decision | None:
        if not self._problems:
            return None
        return Decision(
            allowed=False,
            reason=f"{self.slash_command} is switched off: the bot's access policy ({self.setting}) does not fit the "
            f"Job's form, and a restriction or an approval rule that names no real choice would keep nothing back: "
            f"{'; '.join(self._problems)}.",
            remedy=f"Nothing was done. Tell the bot's administrator: correct restrict or approvals in {self.setting} "
            "(and restart the bot) or the Job's variables; `meraki-chatops doctor` lists the problems. The bot takes "
            "up a corrected Job by itself.",
            source=self.setting,
        )

    async def learn_installed_team(self, client: AsyncWebClient | None = None) -> str:
        """The workspace the app is installed in, from Slack's ``auth.test``, asked until it answers."""
        return await self.workspace.learn(client if client is not None else self.groups.client)

    # -- deciding --------------------------------------------------------------------------------

    def _needed_groups(self) -> frozenset[str]:
        policy = self.applying
        if policy is None:
            return frozenset()
        if self.grants is not None:  # allow rules are not used: only restrict's groups matter
            return frozenset(group for audience in policy.restricted() for group in audience.groups)
        return policy.groups()

    def decide_now(self, actor: Actor) -> Decision | None:
        """The decision from what is cached, or None when Slack or Nautobot must be asked first."""
        if self._form_unchecked():
            return None
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
            if self._form_unchecked() and self._load_form is not None:
                await self._load_form()  # the form cache's listener checks the policy against it
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
                source=GRANTS_SETTING if self.grants is not None else self.setting,
                unavailable=True,
            )
        return self._decide(actor, lambda group: members.get(group, frozenset()), grants)

    def _decide(
        self, actor: Actor, members: Callable[[str], frozenset[str]], grants: Iterable[AccessGrant]
    ) -> Decision:
        misfit = self._misfit()
        if misfit is not None:
            return misfit
        policy = self.applying
        if policy is None and self.grants is None:  # nobody may, from whichever workspace
            return policy_decision(policy, actor, members, command=self.slash_command, setting=self.setting)
        # Whichever source decides (the policy or nautobot-chatops' grants), people of other workspaces are refused.
        other_team = team_decision(policy, actor, self.installed_team, command=self.slash_command, setting=self.setting)
        if other_team is not None:
            return other_team
        if self.grants is None:
            return policy_decision(policy, actor, members, command=self.slash_command, setting=self.setting)
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
            denied_choices=denied_choices(policy, actor, members),
        )

    async def warm(self) -> None:
        """Learn the workspace the app is installed in (asking until Slack answers: until then everyone is refused),
        and fill the caches meanwhile, so the first command opens its form at once."""
        await asyncio.gather(self.learn_installed_team(), self._preload())

    async def _preload(self) -> None:
        try:
            await self.decide(Actor(user_id=""))
        except Exception as exc:  # a warm-up is only an optimisation
            log.warning("could not pre-load access data: %s", exc)
