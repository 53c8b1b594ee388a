"""Approvers Nautobot vouches for: a rule's ``nautobot_groups`` and its ``require_account_link``.

``nautobot_groups`` names Nautobot groups; the Slack users whose nautobot-chatops account link points to an active
user of one of them may approve. ``require_account_link`` makes such a link a condition for every approver of the
rule, those named by Slack user or user group too. Both are read from Nautobot through
:class:`bot.nautobot.approvers.ApproverLookup` (groups → users → account links, the links from Nautobot's change
log): when asking (who could approve at all), when telling (whom to message), and at every click, fresh, as Slack's
user groups are. A click Nautobot could not be asked about is refused: an approver that cannot be confirmed is
none for now.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bot.ledger import Approval
from bot.nautobot import NautobotError
from bot.nautobot.approvers import ApproverLookup

log = logging.getLogger("bot.runs")

HOW_TO_LINK = (
    "Link your Slack account to your Nautobot user in Nautobot (Apps → Nautobot ChatOps → Link ChatOps Account, "
    "platform Slack, your Slack member id), or ask a Nautobot admin to add the link; then click again."
)
NAUTOBOT_DOWN = "The bot could not ask Nautobot whether you may approve this request. Nothing was decided; try again."
NOT_LINKED = (
    "This request may only be approved by people whose Slack account is linked to an active Nautobot user, and yours "
    "is not. Nothing was decided. "
)


class NoNautobot(NautobotError):
    """The bot was built without a Nautobot to ask about approvers."""


@dataclass(frozen=True)
class Identity:
    """What Nautobot says of a person clicking: ``refused`` (why they may not decide, None: they may) and the
    Nautobot user their link names, when the decision rests on it."""

    refused: str | None = None
    nautobot_user: str | None = None


@dataclass(frozen=True)
class ApproverLinks:
    """The Nautobot side of who may approve (see the module's description)."""

    lookup: ApproverLookup | None = None

    async def members(self, groups: Iterable[str]) -> dict[str, str]:
        """Slack user id → Nautobot username of the linked active members of ``groups``; raises
        :class:`NautobotError` when Nautobot cannot tell."""
        names = tuple(groups)
        if not names:
            return {}
        return await self._lookup().group_links(names)

    async def possible(self, approval: Approval, slack_people: frozenset[str]) -> frozenset[str]:
        """Everyone who could approve under ``approval`` once escalated: the Slack users named or in the user groups
        (``slack_people``) and the linked members of its Nautobot groups; with ``require_account_link`` only those
        linked to an active Nautobot user. Raises :class:`NautobotError` when Nautobot cannot tell."""
        linked = await self.members(approval.nautobot_deciders(escalated=True))
        if not approval.require_account_link:
            return slack_people | frozenset(linked)
        if slack_people:
            linked |= await self._lookup().linked_users(slack_people)
        return frozenset(linked)

    async def identity(self, approval: Approval, person: str, *, slack_approver: bool) -> Identity:
        """Whether ``person`` may decide as far as Nautobot goes (``slack_approver``: named in Slack, by user or
        user group), asked now; refused when Nautobot cannot be asked."""
        if slack_approver and not approval.require_account_link:
            return Identity()
        groups = approval.nautobot_deciders(escalated=approval.escalated)
        try:
            if slack_approver:
                user = (await self._lookup().linked_users([person])).get(person)
                return Identity(nautobot_user=user) if user else Identity(refused=NOT_LINKED + HOW_TO_LINK)
            user = (await self.members(groups)).get(person)
        except Exception as exc:  # whether they are an approver cannot be checked: they are not, for now
            log.warning("cannot check with Nautobot whether %s may approve: %s", person, exc)
            return Identity(refused=NAUTOBOT_DOWN)
        if user is None:
            return Identity(refused=not_a_member(groups))
        return Identity(nautobot_user=user)

    def _lookup(self) -> ApproverLookup:
        if self.lookup is None:
            raise NoNautobot("the bot has no Nautobot to ask about approvers")
        return self.lookup


def not_a_member(groups: Iterable[str]) -> str:
    """Why a person is no approver: named nowhere, or not linked to a member of the rule's Nautobot groups."""
    named = ", ".join(groups)
    if not named:
        return "You are not one of this request's approvers (any more). Nothing was decided."
    return (
        "You are not one of this request's approvers (any more): your Slack account is not linked to an active member "
        f"of the Nautobot group(s) {named}. Nothing was decided. If you are a member, {HOW_TO_LINK[0].lower()}"
        f"{HOW_TO_LINK[1:]}"
    )
