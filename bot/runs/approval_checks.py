"""The checks a click on an approver's button passes, each made when the click is, each failing closed.

The button must be one of this request's approvers' messages (a forged value names another request's id), the
request must still wait, the person must not have asked for it, and must be an approver now: named by Slack user,
or in a user group as Slack lists it now, or linked to a member of a Nautobot group as Nautobot says now; and, under
a rule with ``require_account_link``, linked to an active Nautobot user (:mod:`bot.runs.approver_links`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bot.ledger import Record, RequestState
from bot.runs.approver_links import ApproverLinks, Identity, not_a_member
from bot.slack.thread import Thread

log = logging.getLogger("bot.runs")

People = Callable[[Iterable[str], Iterable[str]], Awaitable[frozenset[str]]]
"""The Slack users named and the user groups' members, read from Slack now."""


@dataclass(frozen=True)
class Decider:
    """Who clicked, as the click's payload names them."""

    user_id: str
    label: str
    name: str = ""
    """Their Slack name, when the payload gives it."""

    def linked(self, nautobot_user: str) -> str:
        """How the ledger and the Job name them when their Nautobot account link counted, e.g.
        ``U0AAA (alice, Nautobot user alice)``."""
        name = f"{self.name}, " if self.name else ""
        return f"{self.user_id} ({name}Nautobot user {nautobot_user})"


async def check_click(
    record: Record | None, decider: Decider, clicked: Thread, people: People, links: ApproverLinks
) -> Identity:
    """Whether ``decider`` may decide on ``record`` from the message ``clicked`` (see the module's description)."""
    approval = record.approval if record is not None else None
    if record is None or approval is None:
        return Identity("This button does not belong to a request the bot knows. Nothing was decided.")
    if not approval.noticed(clicked.channel_id, clicked.ts):  # a forged value, or a copy never recorded
        return Identity(
            "The bot does not take decisions on this request from this message. Nothing was decided; decide from the "
            "latest message the bot sent you about it."
        )
    if record.state not in (RequestState.ASKING_APPROVAL, RequestState.AWAITING_APPROVAL):
        return Identity("This request is no longer waiting for approval. Nothing was decided.")
    if decider.user_id == record.requester_id:
        return Identity("You asked for this yourself: someone else must approve it. Nothing was decided.")
    try:
        deciders = await people(*approval.deciders(escalated=approval.escalated))
    except Exception as exc:  # whether they are an approver cannot be checked: they are not, for now
        log.warning("request=%s: cannot read its approvers' user groups: %s", record.request_id, exc)
        return Identity("The bot could not check with Slack that you are an approver. Nothing was decided; try again.")
    if decider.user_id not in deciders and not approval.nautobot_deciders(escalated=approval.escalated):
        return Identity(not_a_member(()))
    return await links.identity(approval, decider.user_id, slack_approver=decider.user_id in deciders)
