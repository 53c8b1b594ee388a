"""What a person may do: each command the access policy lets them use, and where, as :class:`bot.access.Access`
decides it (the same decision a command gets; nothing is decided here).

Where is asked of the policy's own places: a decision without a channel (allowed: any channel will do), else one
decision per channel the policy's rules (or nautobot-chatops' channel grants) name for the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.access import Access, Actor
from bot.nautobot import GrantType
from bot.policy.rules import WILDCARD

CHANNELS_ASKED = 20
"""Channels asked about per command at most; a policy naming more is summed up as "and more"."""
ANY_CHANNEL = ""
"""The channel of a decision that needs none: a rule for any channel allows it."""


@dataclass(frozen=True)
class Ability:
    command: str
    channels: tuple[str, ...]
    """Where: channel ids, or ``("",)`` for any channel."""
    more: bool = False
    """The policy names more channels than were asked about."""

    @property
    def anywhere(self) -> bool:
        return self.channels == (ANY_CHANNEL,)


async def abilities(commands: Sequence[tuple[str, Access]], actor: Actor) -> list[Ability]:
    """The commands ``actor`` may use and where, in the bot's order of commands; those they may not are left out."""
    found = []
    for slash, access in commands:
        ability = await _ability(slash, access, actor)
        if ability is not None:
            found.append(ability)
    return found


async def _ability(slash: str, access: Access, actor: Actor) -> Ability | None:
    if (await access.decide(_in(actor, ANY_CHANNEL))).allowed:
        return Ability(slash, (ANY_CHANNEL,))
    named = _channels_named(access)
    allowed = [channel for channel in named[:CHANNELS_ASKED] if (await access.decide(_in(actor, channel))).allowed]
    return Ability(slash, tuple(allowed), more=len(named) > CHANNELS_ASKED) if allowed else None


def _channels_named(access: Access) -> list[str]:
    """The channels the policy names for this command (a wildcard is the "any channel" decision's)."""
    named = _granted_channels(access) if access.grants is not None else _allowed_channels(access)
    return sorted({channel for channel in named if channel and channel != WILDCARD})


def _granted_channels(access: Access) -> list[str]:
    """nautobot-chatops' channel grants for this command (as cached: a redraw asks Nautobot nothing more)."""
    chatops = access.grants
    if chatops is None:
        return []
    covering = [grant for grant in chatops.peek() or () if grant.covers(chatops.command, chatops.subcommand)]
    return [grant.value for grant in covering if grant.grant_type == GrantType.CHANNEL]


def _allowed_channels(access: Access) -> list[str]:
    rules = access.applying.allow if access.applying is not None else ()
    return [channel for rule in rules for channel in rule.channels]


def _in(actor: Actor, channel: str) -> Actor:
    return Actor(
        user_id=actor.user_id,
        user_name=actor.user_name,
        channel_id=channel,
        team_id=actor.team_id,
        home_team_id=actor.home_team_id,
    )
