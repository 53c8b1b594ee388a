"""The stand-in workspace's identity and the Slack limits it enforces: scopes, sizes, timeouts, rate limits."""

from __future__ import annotations

from dataclasses import dataclass

TEAM_ID = "T0STANDIN"
TEAM_DOMAIN = "standin"
TEAM_NAME = "Stand-in Workspace"
APP_ID = "A0STANDIN"
BOT_ID = "B0STANDIN"
BOT_USER_ID = "U0STANDBOT"
BOT_USER_NAME = "meraki-admin"
VERIFICATION_TOKEN = "standin-verification-token"

ACK_TIMEOUT = 3.0
"""Seconds Slack waits for a Socket Mode envelope to be acknowledged."""
TRIGGER_TTL = 3.0
"""Seconds a trigger_id stays exchangeable."""
MAX_SOCKET_CONNECTIONS = 10
MAX_VIEW_STACK = 3
MAX_MESSAGE_TEXT = 40_000
MAX_RESPONSE_URL_USES = 5
MAX_HOME_BLOCKS = 100
WORKFLOW_TOKEN_TTL = 15 * 60
"""Seconds a custom step's ``bot_access_token`` lives at most; Slack revokes it sooner, when the step completes
(a maintainer's answer in slackapi/bolt-python#1075)."""
WORKFLOW_TOKEN_PREFIX = "xwfp-"

METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "apps.connections.open": "connections:write",
    "views.open": None,
    "views.update": None,
    "views.push": None,
    "views.publish": None,
    "functions.completeSuccess": None,
    "functions.completeError": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.getPermalink": None,
    "conversations.open": "im:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "usergroups.users.list": "usergroups:read",
    "users.info": "users:read",
}
"""The scope each supported Web API method requires (``None``: the token alone suffices).

``connections:write`` belongs to the app-level token; every other scope to the bot token.
"""

OPTIONAL_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write.public",),
    "users.info": ("users:read.email",),
}
"""Scopes that widen what a method may do without being required to call it."""

APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
APP_SCOPES = frozenset({"connections:write"})
DEFAULT_BOT_SCOPES = frozenset(
    {scope for scope in METHOD_SCOPES.values() if scope and scope not in APP_SCOPES} | {"commands"}
)
"""Every bot scope in :data:`METHOD_SCOPES`, plus ``commands`` so slash commands reach the app."""


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``burst`` calls at once, refilled at ``per_second``.

    ``per="channel"`` keeps one bucket per channel argument, ``per="method"`` one for
    the whole method, ``per="workspace"`` one per workspace of the calling token (Slack's
    tiers count per app and workspace; the stand-in is one workspace, :data:`TEAM_ID`).
    """

    per_second: float
    burst: int = 1
    per: str = "channel"


DEFAULT_POST_MESSAGE_LIMIT = RateLimit(per_second=1.0, burst=3, per="channel")
"""chat.postMessage default: Slack documents "1 message per second per channel, with
short bursts allowed" but not the burst size; 3 is an assumption. Pass
``post_message_limit=None`` to the constructor to disable it, or call ``rate_limit``."""

DEFAULT_CHAT_UPDATE_LIMIT = RateLimit(per_second=50 / 60, burst=20, per="workspace")
"""chat.update default: Slack's Tier 3, documented as "50+ per minute" per app and workspace
with "occasional bursts" allowed, of a size it does not give; 20 is an assumption. Pass
``chat_update_limit=None`` to the constructor to disable it, or call ``rate_limit``."""

DEFAULT_VIEWS_PUBLISH_LIMIT = RateLimit(per_second=100 / 60, burst=20, per="workspace")
"""views.publish default: Slack's Tier 4, "100+ per minute" per app and workspace; the burst of 20 is the same
assumption as chat.update's. Call ``rate_limit("views.publish", per_second=None)`` to remove it."""

DEFAULT_FUNCTIONS_COMPLETE_LIMIT = DEFAULT_CHAT_UPDATE_LIMIT
"""functions.completeSuccess and functions.completeError: Tier 3, like chat.update (one bucket per method)."""

RATE_LIMIT_SCOPES = ("channel", "method", "workspace")
