"""nautobot-chatops' grants for one command, already read: every grant type allows ``*``, for ``meraki *``."""

from __future__ import annotations

from bot.nautobot import AccessGrant, GrantType


class EveryoneGranted:
    command = "meraki"

    def __init__(self, subcommand: str = "add-user") -> None:
        self.subcommand = subcommand
        kinds = (GrantType.ORGANIZATION, GrantType.CHANNEL, GrantType.USER)
        self.grants = tuple(AccessGrant(command="meraki", subcommand="*", grant_type=k, value="*") for k in kinds)

    def peek(self) -> tuple[AccessGrant, ...]:
        return self.grants

    async def current(self, *, fresh: bool = False) -> tuple[AccessGrant, ...]:
        return self.grants
