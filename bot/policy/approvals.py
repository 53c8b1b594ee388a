"""Approval rules: which requests wait for whom to approve them in Slack before the bot sends them to Nautobot.

A rule covers commands (``*``: every one); of those, the requests it ``needs`` approval for are the ones whose
Job variables hold one of the values of ``when`` (every request when ``when`` is empty), dry runs only when
``dry_runs`` says so. ``count`` distinct people of ``approvers`` must approve within ``expire_after``; after
``escalate_after`` the people of ``escalate_to`` are told too and may approve as well. Approvers may be named by
Nautobot group (``nautobot_groups``: the Slack users linked to its active users through nautobot-chatops), and
``require_account_link`` makes such a link a condition for everyone approving under the rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.policy.audience import WILDCARD, ApproverAudience, slash_commands
from bot.policy.durations import Duration, describe_duration

DM = "dm"
MAX_COUNT = 10
MAX_EXPIRY = timedelta(days=30)
_NOTIFY_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,}$")


class ApprovalRule(BaseModel):
    """Requests of ``commands`` that match ``when`` wait for ``count`` of ``approvers``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commands: tuple[str, ...]
    when: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    dry_runs: bool = False
    approvers: ApproverAudience
    require_account_link: bool = False
    """Every approver's Slack account must be linked (nautobot-chatops) to an active Nautobot user."""
    count: int = 1
    notify: str = DM
    remind_after: Duration | None = None
    escalate_after: Duration | None = None
    escalate_to: ApproverAudience | None = None
    expire_after: Duration = timedelta(hours=24)

    @field_validator("commands")
    @classmethod
    def _commands(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("names no command: list the slash commands (like /meraki-add-user) it is about, or *")
        return slash_commands(value)

    @field_validator("when", mode="before")
    @classmethod
    def _when(cls, value: Any) -> Any:
        """Each variable with a list of text values: say so for the shapes a hand-written policy gets wrong."""
        if not isinstance(value, Mapping):
            return value
        for name, values in value.items():
            if isinstance(values, str) or not isinstance(values, list | tuple) or not values:
                raise ValueError(
                    f"{name} is {values!r}: list the choice values that need approval, e.g. {name}: [full]"
                )
            numbers = [item for item in values if not isinstance(item, str)]
            if numbers:
                raise ValueError(
                    f"{name} lists {numbers[0]!r}, which is not text: choice values are text, write it in quotes "
                    f'("{numbers[0]}")'
                )
        return {name: tuple(dict.fromkeys(values)) for name, values in value.items()}

    @field_validator("approvers", "escalate_to")
    @classmethod
    def _named_people(cls, value: ApproverAudience | None) -> ApproverAudience | None:
        if value is not None and WILDCARD in value.users:
            raise ValueError(
                'names everyone ("*"), and approval by anyone is no approval: name the people (U…), user groups '
                "(S…) or Nautobot groups who may approve"
            )
        return value

    @field_validator("count")
    @classmethod
    def _count(cls, value: int) -> int:
        if not 1 <= value <= MAX_COUNT:
            raise ValueError(f"is {value}: write how many distinct people must approve, from 1 to {MAX_COUNT}")
        return value

    @field_validator("notify")
    @classmethod
    def _notify(cls, value: str) -> str:
        if value != DM and not _NOTIFY_CHANNEL.match(value):
            raise ValueError(
                f"{value!r} is neither dm nor a channel id: write dm (a direct message to each approver) or the id "
                "of the channel (C… or G…) to post the approvers' message in"
            )
        return value

    @model_validator(mode="after")
    def _timeline(self) -> ApprovalRule:
        if (self.escalate_after is None) != (self.escalate_to is None):
            raise ValueError(
                "escalate_after and escalate_to go together: give both (when, and to whom, a request still waiting "
                "is escalated) or neither"
            )
        if self.expire_after > MAX_EXPIRY:
            raise ValueError(
                f"expire_after is {describe_duration(self.expire_after)}: a request may wait at most "
                f"{describe_duration(MAX_EXPIRY)}, write a shorter expire_after"
            )
        for name, span in (("remind_after", self.remind_after), ("escalate_after", self.escalate_after)):
            if span is not None and span >= self.expire_after:
                raise ValueError(
                    f"{name} ({describe_duration(span)}) is not shorter than expire_after "
                    f"({describe_duration(self.expire_after)}): the request would expire first; write a shorter "
                    f"{name} or a longer expire_after"
                )
        return self

    @model_validator(mode="after")
    def _satisfiable(self) -> ApprovalRule:
        everyone = self.deciders(escalated=True)
        if not everyone.groups and not everyone.nautobot_groups and self.count > len(everyone.users):
            raise ValueError(
                f"nobody can satisfy this rule: it needs {self.count} approvers but names only "
                f"{len(everyone.users)} {'person' if len(everyone.users) == 1 else 'people'}; lower count, or name "
                "more people, a user group or a Nautobot group"
            )
        return self

    def covers(self, command: str) -> bool:
        return WILDCARD in self.commands or command in self.commands

    def needs(self, values: Mapping[str, Any], *, dryrun: bool) -> bool:
        """Whether a request with these values (``dryrun``: a dry run) waits for approval under this rule."""
        if dryrun and not self.dry_runs:
            return False
        if not self.when:
            return True
        return any(_picked(values.get(name)) & set(listed) for name, listed in self.when.items())

    def deciders(self, *, escalated: bool) -> ApproverAudience:
        """Who may approve: the approvers, and once the request is escalated the people of ``escalate_to`` too."""
        if not escalated or self.escalate_to is None:
            return self.approvers
        return ApproverAudience(
            users=(*self.approvers.users, *self.escalate_to.users),
            groups=(*self.approvers.groups, *self.escalate_to.groups),
            nautobot_groups=(*self.approvers.nautobot_groups, *self.escalate_to.nautobot_groups),
        )


def _picked(value: Any) -> set[str]:
    """The choice values a variable holds: one, or each of a list (a ``MultiChoiceVar``), compared as text as
    Nautobot's choice values are."""
    if value is None:
        return set()
    if isinstance(value, list | tuple | set | frozenset):
        return {str(item) for item in value}
    return {str(value)}
