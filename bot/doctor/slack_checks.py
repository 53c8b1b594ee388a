"""``doctor``'s Slack checks: the bot token, its scopes, and the Socket Mode token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.doctor.report import Context, Status, Verdict, last_four
from bot.settings import Settings
from bot.slack.errors import slack_error

REQUIRED_SCOPES = frozenset({"commands", "chat:write", "im:write", "files:write", "usergroups:read"})
"""The bot scopes of manifest.yml the bot cannot do without; kept here because an installed wheel does not ship the
manifest."""
OPTIONAL_SCOPES = frozenset({"users:read", "users:read.email"})
"""The manifest's other scopes: with them a person's Home also shows the access granted to their address."""
GROUP_SCOPE = "usergroups:read"
"""Needed only when the access policy names Slack user groups (to decide access, or who may approve); neither
required nor extra otherwise."""
SLACK_TIMEOUT = 10

BOT_TOKEN_FIX = (
    "Set SLACK_BOT_TOKEN to a new Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page "
    "(reinstall the app to the workspace if the token was revoked)."
)
APP_TOKEN_FIX = (
    "Set SLACK_APP_TOKEN to an app-level token (xapp-…) with connections:write (Basic Information → "
    "App-Level Tokens), and make sure Socket Mode is enabled (Settings → Socket Mode)."
)
_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"}
)
SLACK_TRANSPORT_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError, OSError)


def slack_client(token: str, base_url: str) -> AsyncWebClient:
    """No retries: an operator waiting at a terminal wants the first answer, not a backoff."""
    return AsyncWebClient(token=token, base_url=base_url, timeout=SLACK_TIMEOUT, retry_handlers=[])


# -- Slack ---------------------------------------------------------------------------------------


async def check_slack_auth(context: Context) -> Verdict:
    token = context.s.slack_bot_token.get_secret_value()
    client = context.slack_client(token, str(context.s.slack_api_url))
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        return _slack_refusal("bot token", exc, BOT_TOKEN_FIX)
    except SLACK_TRANSPORT_ERRORS as exc:
        return slack_unreachable(context, exc)
    context.granted_scopes = _scopes_header(response.headers)
    team, user = response.get("team"), response.get("user")
    return Verdict(
        Status.OK,
        f"workspace {team} ({response.get('team_id')}), bot user @{user} ({response.get('user_id')}), "
        f"token {last_four(token)}",
    )


def _scopes_header(headers: Mapping[str, Any] | None) -> frozenset[str] | None:
    """Slack lists a token's scopes in ``x-oauth-scopes`` on every Web API answer."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if str(k).lower() == "x-oauth-scopes"), None)
    if value is None:
        return None
    text = ",".join(value) if isinstance(value, list | tuple) else str(value)
    return frozenset(scope.strip() for scope in text.split(",") if scope.strip())


def _slack_refusal(what: str, exc: SlackApiError, token_fix: str) -> Verdict:
    error = slack_error(exc) or "no answer"
    detail = f"Slack refused the {what}: {error}"
    if error in _TOKEN_ERRORS or error == "missing_scope":
        return Verdict(Status.FAIL, detail, token_fix)
    return Verdict(Status.FAIL, detail, "Try again in a minute; if it persists, check https://slack-status.com.")


def slack_unreachable(context: Context, exc: BaseException) -> Verdict:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return Verdict(
        Status.FAIL,
        f"no answer from Slack at {context.s.slack_api_url}: {reason}",
        "Check SLACK_API_URL and that this host can reach Slack (firewall, proxy, DNS).",
    )


def _needed_scopes(settings: Settings) -> frozenset[str]:
    policy = settings.policy
    names_groups = policy is not None and bool(policy.groups() | policy.approval_groups())
    return REQUIRED_SCOPES if names_groups else REQUIRED_SCOPES - {GROUP_SCOPE}


async def check_slack_scopes(context: Context) -> Verdict:
    granted = context.granted_scopes
    needed = _needed_scopes(context.s)
    wanted = ", ".join(sorted(needed))
    if granted is None:
        return Verdict(
            Status.WARN,
            "Slack did not report the bot token's scopes (no x-oauth-scopes header)",
            f"Compare OAuth & Permissions → Bot Token Scopes with manifest.yml: {wanted}.",
        )
    missing, extra = sorted(needed - granted), sorted(granted - REQUIRED_SCOPES - OPTIONAL_SCOPES)
    if missing:
        also = f"; granted but not needed: {', '.join(extra)}" if extra else ""
        return Verdict(
            Status.FAIL,
            f"the bot token lacks: {', '.join(missing)}{also}",
            f"Reinstall the app from manifest.yml (App Manifest → paste it → Install App → Reinstall) so the "
            f"bot token gets: {', '.join(missing)}.",
        )
    if extra:
        return Verdict(
            Status.WARN,
            f"granted but not needed: {', '.join(extra)} (least privilege: the bot needs only {wanted})",
            "Remove them under OAuth & Permissions → Bot Token Scopes, or reinstall the app from manifest.yml.",
        )
    without = sorted(OPTIONAL_SCOPES - granted)
    if without:
        return Verdict(
            Status.WARN,
            f"without {', '.join(without)}: each person's Home shows the access they asked for, not the access "
            "granted to their email address",
            "Reinstall the app from manifest.yml to add them, or leave them out if that is what you want.",
        )
    return Verdict(Status.OK, f"the scopes of manifest.yml: {', '.join(sorted(needed | OPTIONAL_SCOPES))}")


async def check_socket_mode(context: Context) -> Verdict:
    if context.s.slack_mode == "http" or context.s.slack_app_token is None:
        return Verdict(Status.OK, "HTTP mode: Slack sends requests to /slack/events; no socket to open")
    token = context.s.slack_app_token.get_secret_value()
    client = context.slack_client(token, str(context.s.slack_api_url))
    try:
        response = await client.apps_connections_open(app_token=token)
    except SlackApiError as exc:
        return _slack_refusal("app-level token", exc, APP_TOKEN_FIX)
    except SLACK_TRANSPORT_ERRORS as exc:
        return slack_unreachable(context, exc)
    if not str(response.get("url") or "").startswith(("ws://", "wss://")):
        return Verdict(Status.FAIL, "Slack answered apps.connections.open without a WebSocket URL", APP_TOKEN_FIX)
    return Verdict(Status.OK, f"Slack issued a Socket Mode WebSocket URL (not connected); token {last_four(token)}")


# -- Nautobot ------------------------------------------------------------------------------------
