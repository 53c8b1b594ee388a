"""``meraki-chatops doctor``: check every setting and connection the bot needs, before it runs.

Each check says what it found and, when something is wrong, what to change. A check whose answer
would mean nothing after an earlier failure is reported as SKIP, so the first real problem stands
out. No token is ever shown: at most its last four characters.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import ssl
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import httpx
from pydantic import ValidationError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot import forms
from bot.nautobot import JobInfo, JobNotFound, NautobotAuthError, NautobotClient, NautobotError
from bot.settings import Settings, SettingsError, describe

__all__ = [
    "REQUIRED_SCOPES",
    "Check",
    "Status",
    "as_dicts",
    "doctor",
    "exit_code",
    "render",
    "run_checks",
]

REQUIRED_SCOPES = frozenset({"commands", "chat:write", "im:write", "files:write", "usergroups:read"})
"""The bot scopes of manifest.yml; kept here because an installed wheel does not ship the manifest."""
GROUP_SCOPE = "usergroups:read"
"""Needed only when the access policy names Slack user groups; neither required nor extra otherwise."""

WIDTH = 100
NAME_WIDTH = 20
STATUS_WIDTH = 6
DETAIL_WIDTH = WIDTH - NAME_WIDTH - STATUS_WIDTH - 2
SLACK_TIMEOUT = 10

SlackClientFactory = Callable[[str, str], AsyncWebClient]
"""``(token, base_url)`` → a Web API client."""
NautobotTransportFactory = Callable[[Settings], httpx.AsyncBaseTransport | None]
"""Where Nautobot requests go; ``None`` is the network, a ``MockTransport`` serves tests."""

BOT_TOKEN_FIX = (
    "Set SLACK_BOT_TOKEN to a new Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page "
    "(reinstall the app to the workspace if the token was revoked)."
)
APP_TOKEN_FIX = (
    "Set SLACK_APP_TOKEN to an app-level token (xapp-…) with connections:write (Basic Information → "
    "App-Level Tokens), and make sure Socket Mode is enabled (Settings → Socket Mode)."
)
VIEW_PERMISSION_FIX = (
    "Add the action view on {models} to the ObjectPermission of the bot's Nautobot user; without it the bot "
    "can start a run but cannot follow it or post its log."
)
SENSITIVE_FIX = (
    "Set has_sensitive_variables = False in the Job's Meta, or override it in Nautobot "
    "(Jobs → Edit → Has sensitive variables)."
)
_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"}
)
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)")
_SLACK_TRANSPORT_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError, OSError)
_COLORS = {"OK": "32", "WARN": "33", "FAIL": "31", "SKIP": "2"}


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it went, and what to do about it."""

    name: str
    status: Status
    detail: str
    fix: str = ""


class _Verdict(NamedTuple):
    status: Status
    detail: str
    fix: str = ""


@dataclass
class _Context:
    """What the checks learn, passed along so that no check asks the same question twice."""

    load_settings: Callable[[], Settings]
    slack_client: SlackClientFactory
    nautobot_transport: NautobotTransportFactory
    settings: Settings | None = None
    granted_scopes: frozenset[str] | None = None
    nautobot: NautobotClient | None = None
    status: dict[str, Any] | None = None
    job: JobInfo | None = None
    job_error: NautobotError | None = None
    extra_secrets: list[str] = field(default_factory=list)

    @property
    def s(self) -> Settings:
        assert self.settings is not None
        return self.settings

    @property
    def client(self) -> NautobotClient:
        assert self.nautobot is not None
        return self.nautobot

    def secrets(self) -> list[str]:
        if self.settings is None:
            return list(self.extra_secrets)
        tokens = (self.s.slack_bot_token, self.s.slack_app_token, self.s.slack_signing_secret, self.s.nautobot_token)
        return [token.get_secret_value() for token in tokens if token is not None] + self.extra_secrets


@dataclass(frozen=True)
class _Step:
    name: str
    run: Callable[[_Context], Awaitable[_Verdict]]
    needs: tuple[str, ...] = ()


# -- running -------------------------------------------------------------------------------------


async def run_checks(
    settings_loader: Callable[[], Settings] = Settings,
    *,
    slack_client_factory: SlackClientFactory | None = None,
    nautobot_factory: NautobotTransportFactory | None = None,
) -> list[Check]:
    """Every check in order; one that depends on a failed check is SKIP with the reason."""
    context = _Context(settings_loader, slack_client_factory or _slack_client, nautobot_factory or _network)
    checks: list[Check] = []
    try:
        for step in STEPS:
            checks.append(await _run_step(step, context, checks))
    finally:
        if context.nautobot is not None:
            await context.nautobot.aclose()
    return [_scrubbed(check, context.secrets()) for check in checks]


async def _run_step(step: _Step, context: _Context, done: list[Check]) -> Check:
    blocker = next((c for c in done if c.name in step.needs and c.status in (Status.FAIL, Status.SKIP)), None)
    if blocker is None:
        return Check(step.name, *await step.run(context))
    if blocker.status is Status.SKIP:
        return Check(step.name, Status.SKIP, blocker.detail)
    return Check(step.name, Status.SKIP, f"not checked: the {blocker.name} check failed")


def exit_code(checks: Iterable[Check]) -> int:
    """1 when any check failed, else 0 (warnings do not stop the bot)."""
    return 1 if any(check.status is Status.FAIL for check in checks) else 0


async def doctor(argv_json: bool) -> int:
    """Run every check, print the table (or JSON), and return the exit code."""
    checks = await run_checks()
    if argv_json:
        print(json.dumps(as_dicts(checks), indent=2, ensure_ascii=False))
    else:
        print(render(checks, color=sys.stdout.isatty()))
    return exit_code(checks)


def as_dicts(checks: Iterable[Check]) -> list[dict[str, str]]:
    return [{"check": c.name, "status": str(c.status), "detail": c.detail, "fix": c.fix} for c in checks]


def _slack_client(token: str, base_url: str) -> AsyncWebClient:
    """No retries: an operator waiting at a terminal wants the first answer, not a backoff."""
    return AsyncWebClient(token=token, base_url=base_url, timeout=SLACK_TIMEOUT, retry_handlers=[])


def _network(_settings: Settings) -> httpx.AsyncBaseTransport | None:
    return None


def _scrubbed(check: Check, secrets: list[str]) -> Check:
    """A last guard: any error text that echoed a secret loses it before it is printed."""
    detail, fix = check.detail, check.fix
    for secret in filter(None, secrets):
        detail, fix = detail.replace(secret, "****"), fix.replace(secret, "****")
    return Check(check.name, check.status, detail, fix)


def _tail(secret: str) -> str:
    return f"…{secret[-4:]}" if len(secret) >= 16 else "(too short to show any of it)"


# -- settings ------------------------------------------------------------------------------------


async def _check_settings(context: _Context) -> _Verdict:
    try:
        context.settings = context.load_settings()
    except ValidationError as exc:
        return _Verdict(Status.FAIL, describe(exc), "Set the settings named above, then run doctor again.")
    except SettingsError as exc:
        return _Verdict(Status.FAIL, str(exc), "Set the settings named above, then run doctor again.")
    s = context.s
    return _Verdict(Status.OK, f"Slack API {s.slack_api_url}, Nautobot {s.nautobot_base}, Job {s.nautobot_job_name!r}")


# -- Slack ---------------------------------------------------------------------------------------


async def _check_slack_auth(context: _Context) -> _Verdict:
    token = context.s.slack_bot_token.get_secret_value()
    client = context.slack_client(token, str(context.s.slack_api_url))
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        return _slack_refusal("bot token", exc, BOT_TOKEN_FIX)
    except _SLACK_TRANSPORT_ERRORS as exc:
        return _slack_unreachable(context, exc)
    context.granted_scopes = _scopes_header(response.headers)
    team, user = response.get("team"), response.get("user")
    return _Verdict(
        Status.OK,
        f"workspace {team} ({response.get('team_id')}), bot user @{user} ({response.get('user_id')}), "
        f"token {_tail(token)}",
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


def _slack_refusal(what: str, exc: SlackApiError, token_fix: str) -> _Verdict:
    error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    detail = f"Slack refused the {what}: {error}"
    if error in _TOKEN_ERRORS or error == "missing_scope":
        return _Verdict(Status.FAIL, detail, token_fix)
    return _Verdict(Status.FAIL, detail, "Try again in a minute; if it persists, check https://slack-status.com.")


def _slack_unreachable(context: _Context, exc: BaseException) -> _Verdict:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return _Verdict(
        Status.FAIL,
        f"no answer from Slack at {context.s.slack_api_url}: {reason}",
        "Check SLACK_API_URL and that this host can reach Slack (firewall, proxy, DNS).",
    )


def _needed_scopes(settings: Settings) -> frozenset[str]:
    policy = settings.policy
    names_groups = policy is not None and bool(policy.groups())
    return REQUIRED_SCOPES if names_groups else REQUIRED_SCOPES - {GROUP_SCOPE}


async def _check_slack_scopes(context: _Context) -> _Verdict:
    granted = context.granted_scopes
    needed = _needed_scopes(context.s)
    wanted = ", ".join(sorted(needed))
    if granted is None:
        return _Verdict(
            Status.WARN,
            "Slack did not report the bot token's scopes (no x-oauth-scopes header)",
            f"Compare OAuth & Permissions → Bot Token Scopes with manifest.yml: {wanted}.",
        )
    missing, extra = sorted(needed - granted), sorted(granted - REQUIRED_SCOPES)
    if missing:
        also = f"; granted but not needed: {', '.join(extra)}" if extra else ""
        return _Verdict(
            Status.FAIL,
            f"the bot token lacks: {', '.join(missing)}{also}",
            f"Reinstall the app from manifest.yml (App Manifest → paste it → Install App → Reinstall) so the "
            f"bot token gets: {', '.join(missing)}.",
        )
    if extra:
        return _Verdict(
            Status.WARN,
            f"granted but not needed: {', '.join(extra)} (least privilege: the bot needs only {wanted})",
            "Remove them under OAuth & Permissions → Bot Token Scopes, or reinstall the app from manifest.yml.",
        )
    return _Verdict(Status.OK, f"exactly the scopes of manifest.yml: {wanted}")


async def _check_socket_mode(context: _Context) -> _Verdict:
    if context.s.slack_mode == "http" or context.s.slack_app_token is None:
        return _Verdict(Status.OK, "HTTP mode: Slack sends requests to /slack/events; no socket to open")
    token = context.s.slack_app_token.get_secret_value()
    client = context.slack_client(token, str(context.s.slack_api_url))
    try:
        response = await client.apps_connections_open(app_token=token)
    except SlackApiError as exc:
        return _slack_refusal("app-level token", exc, APP_TOKEN_FIX)
    except _SLACK_TRANSPORT_ERRORS as exc:
        return _slack_unreachable(context, exc)
    if not str(response.get("url") or "").startswith(("ws://", "wss://")):
        return _Verdict(Status.FAIL, "Slack answered apps.connections.open without a WebSocket URL", APP_TOKEN_FIX)
    return _Verdict(Status.OK, f"Slack issued a Socket Mode WebSocket URL (not connected); token {_tail(token)}")


# -- Nautobot ------------------------------------------------------------------------------------


def _nautobot_client(context: _Context) -> NautobotClient:
    s = context.s
    transport = context.nautobot_transport(s)
    return NautobotClient(s.nautobot_base, s.nautobot_token, verify=s.tls_verify, transport=transport)


def _error_detail(exc: NautobotError) -> str:
    if exc.status is not None:
        return f"HTTP {exc.status}: {exc.detail or type(exc).__name__}"
    return exc.detail or type(exc).__name__


async def _check_reachable(context: _Context) -> _Verdict:
    base = context.s.nautobot_base
    try:
        context.nautobot = _nautobot_client(context)
        context.status = await context.nautobot.status()
    except NautobotAuthError as exc:
        return _Verdict(Status.OK, f"Nautobot at {base} answers, but refused the token ({_error_detail(exc)})")
    except NautobotError as exc:
        return _Verdict(Status.FAIL, f"no usable answer from {base} ({_error_detail(exc)})", str(exc))
    return _reachable_verdict(base, context.status)


def _reachable_verdict(base: str, status: Mapping[str, Any]) -> _Verdict:
    version = status.get("nautobot-version") or "?"
    detail = f"Nautobot {version} at {base}, REST API {status.get('api-version') or '?'}"
    workers = status.get("celery-workers-running")
    if workers == 0:
        return _Verdict(
            Status.WARN,
            f"{detail}; no Celery worker is running, so Nautobot would refuse every run",
            "Start a Nautobot Celery worker (nautobot-server celery worker).",
        )
    return _Verdict(Status.OK, detail if workers is None else f"{detail}, {workers} Celery worker(s)")


async def _check_version(context: _Context) -> _Verdict:
    if context.status is None:
        return _Verdict(Status.SKIP, "not checked: Nautobot tells its version only to an accepted token")
    raw = str(context.status.get("nautobot-version") or "")
    match = _VERSION.match(raw)
    if match is None:
        return _Verdict(
            Status.WARN,
            f"Nautobot did not report a version ({raw or 'none'})",
            "Check that NAUTOBOT_URL points at Nautobot 2.x or 3.x itself.",
        )
    major, minor = int(match[1]), int(match[2])
    if major < 2:
        return _Verdict(
            Status.WARN,
            f"Nautobot {raw} is not supported: the bot uses the Nautobot 2.x/3.x Job API",
            "Upgrade Nautobot to 3.2 or later.",
        )
    if (major, minor) < (3, 2):
        return _Verdict(Status.OK, f"Nautobot {raw} is supported; cancelling a run needs 3.2+, so it is unavailable")
    return _Verdict(Status.OK, f"Nautobot {raw} is supported")


async def _check_token(context: _Context) -> _Verdict:
    tail = _tail(context.s.nautobot_token.get_secret_value())
    try:
        context.job = await context.client.find_job(context.s.nautobot_job_name)
    except JobNotFound as exc:
        context.job_error = exc
    except NautobotError as exc:
        return _Verdict(Status.FAIL, f"Nautobot refused to list Jobs ({_error_detail(exc)}); token {tail}", str(exc))
    return _Verdict(Status.OK, f"the token is accepted and may list Jobs; token {tail}")


async def _check_job(context: _Context) -> _Verdict:
    name = context.s.nautobot_job_name
    job = context.job
    if job is None:
        fix = str(context.job_error) if context.job_error else "Check NAUTOBOT_JOB_NAME."
        return _Verdict(Status.FAIL, f"no Job named {name!r} is visible to the token", fix)
    problems, fixes = _job_problems(job)
    if problems:
        return _Verdict(Status.FAIL, f"{job.name!r} ({job.id}) is {' and '.join(problems)}", " ".join(fixes))
    if job.raw.get("has_sensitive_variables", False):
        return _Verdict(
            Status.WARN,
            f"{job.name!r} is installed and enabled, but has_sensitive_variables is true: Nautobot refuses "
            "approvals and scheduling for it",
            SENSITIVE_FIX,
        )
    return _Verdict(Status.OK, f"{job.name!r} ({job.id}) is installed and enabled")


def _job_problems(job: JobInfo) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    fixes: list[str] = []
    if not job.installed:
        problems.append("not installed")
        fixes.append("Sync the Git repository that holds it (Extensibility → Git Repositories → Sync).")
    if not job.enabled:
        problems.append("disabled")
        fixes.append("Enable it: Jobs → Edit → Enabled.")
    return problems, fixes


async def _check_variables(context: _Context) -> _Verdict:
    if context.job is None:
        return _Verdict(Status.SKIP, "not checked: the Job was not found")
    try:
        form = await context.client.job_form(context.s.nautobot_job_name)
    except NautobotError as exc:
        return _Verdict(Status.FAIL, f"cannot read the Job's variables ({_error_detail(exc)})", str(exc))
    count = f"{len(form.variables)} variable(s)"
    blocking = forms.blocking_problems(form)
    if blocking:
        return _Verdict(
            Status.FAIL,
            f"{count}; required but not settable from Slack: {' '.join(blocking)}",
            "Make those variables optional or of a type the modal supports; until then only Nautobot can run it.",
        )
    notes = [f"{var.display_label} ({var.type})" for var in form.variables if forms.kind_of(var) in forms.NOTE_KINDS]
    if notes:
        return _Verdict(
            Status.WARN,
            f"{count}; the modal shows a note instead of: {', '.join(notes)}",
            "These can be set only in Nautobot; give them a type the modal supports if people need them.",
        )
    return _Verdict(Status.OK, f"{count}, all shown in the modal")


_VIEW_PROBES = (
    ("/api/extras/job-results/", "view jobresult", "extras.jobresult"),
    ("/api/extras/job-logs/", "view joblogentry", "extras.joblogentry"),
)


def _tls_verify(settings: Settings) -> bool | ssl.SSLContext:
    if settings.nautobot_ca_bundle is not None:
        return ssl.create_default_context(cafile=str(settings.nautobot_ca_bundle))
    return settings.nautobot_verify_tls


def _probe_client(context: _Context) -> httpx.AsyncClient:
    """The client exposes no raw GET, so the view probes use their own client with the same header."""
    s = context.s
    return httpx.AsyncClient(
        base_url=context.client.base_url,
        headers={"Authorization": f"Token {s.nautobot_token.get_secret_value()}", "Accept": "application/json"},
        transport=context.nautobot_transport(s),
        verify=_tls_verify(s),
        timeout=15.0,
        follow_redirects=False,
    )


async def _probe(http: httpx.AsyncClient, path: str) -> int | str:
    try:
        response = await http.get(path, params={"limit": "1"})
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return response.status_code


async def _check_permissions(context: _Context) -> _Verdict:
    async with _probe_client(context) as http:
        answers = [(label, model, await _probe(http, path)) for path, label, model in _VIEW_PROBES]
    denied = [(label, model) for label, model, answer in answers if answer == 403]
    if denied:
        return _Verdict(
            Status.FAIL,
            f"the token may not {' or '.join(label for label, _ in denied)}",
            VIEW_PERMISSION_FIX.format(models=" and ".join(model for _, model in denied)),
        )
    odd = [f"{label}: {answer}" for label, _, answer in answers if answer != 200]
    if odd:
        return _Verdict(
            Status.WARN,
            f"unexpected answers ({', '.join(odd)})",
            "Check the Nautobot logs and that NAUTOBOT_URL points at Nautobot itself.",
        )
    return _Verdict(
        Status.OK, "may view job results and job log entries (run can be confirmed only by running the Job)"
    )


# -- ledger --------------------------------------------------------------------------------------


def _display_url(url: str) -> tuple[str, str | None]:
    """The URL with any password masked, and that password (so error texts can be scrubbed too)."""
    parts = urlsplit(url)
    if not parts.password:
        return url, None
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urlunsplit(parts._replace(netloc=netloc)), parts.password


async def _resolved(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _check_ledger(context: _Context) -> _Verdict:
    raw = getattr(context.settings, "store_url", None)
    url = str(raw.get_secret_value() if hasattr(raw, "get_secret_value") else raw or "")
    if not url:
        return _Verdict(Status.SKIP, "no ledger configured (STORE_URL is empty)")
    try:
        module = importlib.import_module("bot.ledger")
    except ImportError:
        return _Verdict(Status.SKIP, "no ledger configured: this version of the bot has no ledger")
    opener = getattr(getattr(module, "Ledger", None), "open", None)
    if not callable(opener):
        return _Verdict(Status.SKIP, "no ledger configured: this version of the bot cannot open one")
    shown, password = _display_url(url)
    if password:
        context.extra_secrets.append(password)
    return await _ledger_verdict(opener, url, shown)


async def _ledger_verdict(opener: Callable[[str], Any], url: str, shown: str) -> _Verdict:
    """Opening creates or upgrades the schema, exactly as ``serve`` would at start."""
    fix = (
        f"Check STORE_URL ({shown}): the database must be reachable, and the bot's user must be able to create "
        "its tables and write to it."
    )
    ledger = None
    try:
        ledger = await _resolved(opener(url))
        writable = bool(await _resolved(ledger.writable()))
    except Exception as exc:
        return _Verdict(Status.FAIL, f"cannot use the ledger: {type(exc).__name__}: {exc}", fix)
    finally:
        await _close(ledger)
    if not writable:
        return _Verdict(Status.FAIL, f"the ledger at {shown} opened, but a test write failed", fix)
    return _Verdict(Status.OK, f"the ledger at {shown} is writable")


async def _close(resource: Any) -> None:
    closer = getattr(resource, "aclose", None) or getattr(resource, "close", None)
    if callable(closer):
        await _resolved(closer())


STEPS: tuple[_Step, ...] = (
    _Step("settings", _check_settings),
    _Step("slack auth", _check_slack_auth, ("settings",)),
    _Step("slack scopes", _check_slack_scopes, ("slack auth",)),
    _Step("socket mode", _check_socket_mode, ("settings",)),
    _Step("nautobot reachable", _check_reachable, ("settings",)),
    _Step("nautobot version", _check_version, ("nautobot reachable",)),
    _Step("nautobot token", _check_token, ("nautobot reachable",)),
    _Step("job", _check_job, ("nautobot token",)),
    _Step("job variables", _check_variables, ("nautobot token",)),
    _Step("job permissions", _check_permissions, ("nautobot token",)),
    _Step("ledger", _check_ledger, ("settings",)),
)


# -- output --------------------------------------------------------------------------------------


def render(checks: Iterable[Check], *, color: bool) -> str:
    """A plain-text table no wider than :data:`WIDTH`; colour only the status word."""
    checks = list(checks)
    lines = [f"{'CHECK':<{NAME_WIDTH}}{'STATUS':<{STATUS_WIDTH}}  DETAIL", "-" * WIDTH]
    for check in checks:
        lines.extend(_rows(check, color=color))
    lines.append("-" * WIDTH)
    lines.append(_summary(checks))
    return "\n".join(lines)


def _rows(check: Check, *, color: bool) -> list[str]:
    text = _wrap(check.detail) or [""]
    if check.fix and check.status in (Status.FAIL, Status.WARN):
        text += textwrap.wrap(check.fix, DETAIL_WIDTH, initial_indent="fix: ", subsequent_indent="     ")
    status = f"{check.status.value:<{STATUS_WIDTH}}"
    if color:
        status = f"\x1b[{_COLORS[check.status.value]}m{status}\x1b[0m"
    first = f"{check.name[: NAME_WIDTH - 1]:<{NAME_WIDTH}}{status}  {text[0]}"
    return [first.rstrip()] + [f"{'':<{NAME_WIDTH + STATUS_WIDTH + 2}}{line}".rstrip() for line in text[1:]]


def _wrap(text: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines():
        lead = paragraph[: len(paragraph) - len(paragraph.lstrip())]
        indent = f"{lead}  " if lead else ""
        lines.extend(textwrap.wrap(paragraph, DETAIL_WIDTH, subsequent_indent=indent) or [""])
    return lines


def _summary(checks: list[Check]) -> str:
    counts = {status: sum(1 for c in checks if c.status is status) for status in Status}
    shown = ", ".join(f"{count} {status.value}" for status, count in counts.items() if count)
    verdict = "the bot cannot work until every FAIL is fixed" if counts[Status.FAIL] else "ready"
    return f"{len(checks)} checks: {shown}; {verdict}"
