"""Every setting of the bot, read from the environment (or a ``.env`` file) and checked at start."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AnyHttpUrl,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.command_bindings import DEFAULT_COMMANDS, REPLACED, SLASH_COMMAND, CommandBinding, commands_text
from bot.policy import AccessPolicy, policy_file, policy_text
from bot.policy.audience import CHANNEL_ID

HINTS = {
    "slack_bot_token": "the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth & Permissions page",
    "slack_app_token": "an app-level token (xapp-…) with connections:write, from Basic Information → App-Level Tokens",
    "nautobot_url": "the base URL of your Nautobot, e.g. https://nautobot.example.com",
    "nautobot_token": "a Nautobot API token of the bot's user (see the README for its permissions)",
    "nautobot_ca_bundle": "a readable PEM file of the CA that signed Nautobot's certificate",
    "slack_signing_secret": "the Signing Secret from your Slack app's Basic Information page",
    "access_policy": "a JSON policy, e.g. "
    '{"allow": [{"groups": ["S0NETOPS"], "channels": ["C0NETOPS"]}]} (see the README, "Who may use it")',
    "nautobot_events_url": "the redis:// URL of the Redis your Nautobot's RedisEventBroker publishes to "
    '(see the README, "Results at event speed"), or leave it out to follow runs by polling',
    "access_policy_file": 'the path of a YAML or JSON file holding the policy (see the README, "Who may use it")',
    "commands": 'a JSON object of slash commands and the Jobs they run (see the README, "Commands")',
}


def _present(value: SecretStr) -> SecretStr:
    """A secret that is set must hold something: an empty or blank one would only fail later, on every request."""
    if not value.get_secret_value().strip():
        raise ValueError("is empty (or only spaces): set it to the real value, or leave it out")
    return value


EVENT_URL_SCHEMES = ("redis://", "rediss://", "unix://")


class NautobotSettings(BaseSettings):
    """What every command needs: where Nautobot is, and which Job to run."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    nautobot_url: AnyHttpUrl
    nautobot_token: SecretStr
    nautobot_verify_tls: bool = True
    nautobot_ca_bundle: Path | None = None
    # Slash command → the Job it runs; the first is the main one (see DEFAULT_COMMANDS).
    commands: Annotated[dict[str, CommandBinding], NoDecode, BeforeValidator(commands_text)] = Field(
        default_factory=lambda: dict(DEFAULT_COMMANDS)
    )
    slash_command: str | None = None
    nautobot_job_name: str | None = None
    nautobot_chatops_subcommand: str | None = None
    email_regex: str | None = None
    follow_timeout_seconds: float = Field(default=3600, gt=0)
    # Nautobot's Job events (Redis pub/sub): unset, runs are followed by polling alone.
    nautobot_events_url: SecretStr | None = None
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("commands")
    @classmethod
    def _commands(cls, value: dict[str, CommandBinding]) -> dict[str, CommandBinding]:
        if not value:
            raise ValueError('binds no command: give at least one, e.g. {"/meraki-add-user": {"job": ...}}')
        named: dict[str, CommandBinding] = {}
        jobs: dict[str, str] = {}
        subcommands: dict[str, str] = {}
        for slash, binding in value.items():
            if not SLASH_COMMAND.match(slash):
                raise ValueError(
                    f"{slash!r} is not a slash command: it must look like /meraki-add-user (a slash, no spaces, at "
                    "most 32 characters)"
                )
            binding = binding if binding.subcommand else binding.model_copy(update={"subcommand": slash[1:]})
            for seen, key, what in ((jobs, binding.job, "Job"), (subcommands, binding.subcommand, "subcommand")):
                if key in seen:
                    raise ValueError(f"{seen[key]} and {slash} both name the {what} {key!r}: give each its own")
                seen[key] = slash
            named[slash] = binding
        return named

    @field_validator(*REPLACED)
    @classmethod
    def _replaced(cls, value: str | None, info: ValidationInfo) -> None:
        if value is not None:
            raise ValueError(
                f"is replaced by {REPLACED[str(info.field_name)]}: remove it and set COMMANDS, e.g. "
                'COMMANDS={"/meraki-add-user": {"job": "Create Meraki User", "subcommand": "add-user"}}'
            )
        return None

    @property
    def main_command(self) -> str:
        """The first command: the one a policy rule without ``commands`` covers, and ``preview``/``run``'s Job."""
        return next(iter(self.commands))

    @property
    def main_job(self) -> str:
        return self.commands[self.main_command].job

    @field_validator("nautobot_token")
    @classmethod
    def _nautobot_token(cls, value: SecretStr) -> SecretStr:
        return _present(value)

    @field_validator("nautobot_events_url", mode="before")
    @classmethod
    def _events_url(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None  # NAUTOBOT_EVENTS_URL= in an env file: events off, as when it is left out
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str):
            from redis.connection import parse_url

            if not text.startswith(EVENT_URL_SCHEMES):
                raise ValueError(f"must be a Redis URL starting with {', '.join(EVENT_URL_SCHEMES)}")
            try:
                parse_url(text)
            except ValueError as exc:  # its text names the part that is wrong, never the whole URL
                raise ValueError(f"is not a valid Redis URL: {exc}") from None
        return value

    @field_validator("nautobot_ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @field_validator("email_regex")
    @classmethod
    def _email_regex(cls, value: str | None) -> str | None:
        from bot.slack.modal import patterns  # the one place patterns are compiled and run

        problem = patterns.problem(value) if value else None
        if problem:
            raise ValueError(
                f"{value!r} is not a regex the bot can check in linear time (RE2 says: {problem}); "
                "fix it (no lookarounds or backreferences) or unset EMAIL_REGEX"
            )
        return value

    @property
    def nautobot_base(self) -> str:
        return str(self.nautobot_url).rstrip("/")


class Settings(NautobotSettings):
    """Everything ``serve`` needs: Nautobot, plus Slack and the ledger."""

    slack_mode: Literal["socket", "http"] = "socket"
    slack_bot_token: SecretStr
    # Validated even when unset: which of the two is required depends on SLACK_MODE.
    slack_app_token: SecretStr | None = Field(default=None, validate_default=True)
    slack_signing_secret: SecretStr | None = Field(default=None, validate_default=True)
    slack_api_url: AnyHttpUrl = Field(default=AnyHttpUrl("https://slack.com/api/"))
    # A SecretStr: a database password in it shows neither in repr(settings) nor in a traceback's locals.
    store_url: SecretStr = SecretStr("sqlite+aiosqlite:///meraki-chatops.sqlite3")
    # HTTP mode: where Slack's requests (/slack/events) arrive.
    web_host: str = "0.0.0.0"
    web_port: int = Field(default=8080, ge=1, le=65535)
    # /healthz, /readyz and /metrics (see probe_address): loopback unless told otherwise.
    probe_host: str = Field(default="127.0.0.1", min_length=1)
    probe_port: int | None = Field(default=None, ge=1, le=65535, validate_default=True)
    readiness_cache_seconds: float = Field(default=5, ge=0, le=60)
    # Who may use the command. Unset: nobody (the refusal names these settings).
    access_policy: Annotated[AccessPolicy | None, NoDecode, BeforeValidator(policy_text)] = None
    access_policy_file: Annotated[AccessPolicy | None, NoDecode, BeforeValidator(policy_file)] = None
    slack_group_cache_seconds: float = Field(default=300, ge=0)
    # Nautobot's ChatOps app (nautobot-chatops): its Access Grants decide who may run the command,
    # and every request goes into its command log.
    nautobot_chatops: bool = False
    nautobot_chatops_command: str = Field(default="meraki", min_length=1, max_length=64)
    nautobot_chatops_cache_seconds: float = Field(default=30, ge=0)
    # A run Nautobot holds for approval: its approvers found through their nautobot-chatops account links are
    # told directly, and this channel (a Slack channel id) too, or alone when none can be found; reminded once
    # after NAUTOBOT_APPROVAL_REMIND_SECONDS without a decision (0: never).
    nautobot_approvers_channel: str | None = None
    nautobot_approval_remind_seconds: float = Field(default=3600, ge=0)
    # A time-bound grant (a run whose result names its revoke): the requester is told GRANT_WARN_AHEAD_SECONDS
    # before its end (at most halfway through it); a revoke Nautobot has not run GRANT_REVOKE_GRACE_SECONDS after
    # its time is reported loudly and run by the bot itself.
    grant_warn_ahead_seconds: float = Field(default=3600, ge=0)
    grant_revoke_grace_seconds: float = Field(default=300, ge=10)
    # A Workflow Builder step whose request has not ended after WORKFLOW_STEP_WAIT_SECONDS fails with a message
    # saying so (the request goes on): Slack takes a step's completion for 15 minutes at most.
    workflow_step_wait_seconds: float = Field(default=840, ge=5, le=900)
    # Several replicas on one ledger: each holds the requests it works on for LEASE_SECONDS at a time and
    # renews them every HEARTBEAT_SECONDS; a request whose lease ran out is taken over by another replica.
    replica_id: str | None = Field(default=None, min_length=1, max_length=255)
    lease_seconds: float = Field(default=30, ge=2, le=3600)
    heartbeat_seconds: float = Field(default=10, gt=0)
    # SIGTERM/SIGINT: how long the bot may take to stop (well under Kubernetes' 30 s grace period).
    shutdown_seconds: float = Field(default=10, gt=0, le=300)

    # -- how often one person may use a command, and how long the ledger keeps what is over ------------------
    # At most RATE_LIMIT_COMMANDS of one command per person in any RATE_LIMIT_SECONDS (0: no limit), counted by
    # each replica: a person fixing a typo types a command a few times in a minute, a script dozens of times.
    rate_limit_commands: int = Field(default=5, ge=0, le=10_000)
    rate_limit_seconds: float = Field(default=60, ge=1, le=86_400)
    # Finished requests are kept for their buttons ("… for real", a late Cancel) and a redelivered event; the
    # audit trail is a security record (a year, as PCI DSS 10.5.1 asks). 0 keeps them for ever.
    ledger_keep_requests_days: int = Field(default=90, ge=0, le=36_500)
    ledger_keep_audit_days: int = Field(default=365, ge=0, le=36_500)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        _present(value)
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must start with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None and info.data.get("slack_mode") == "socket":
            raise ValueError("is not set, and Socket Mode needs it")
        if value is not None:
            _present(value)
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must start with xapp-")
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None and info.data.get("slack_mode") == "http":
            raise ValueError("is not set, and HTTP mode needs it")
        return value if value is None else _present(value)

    @field_validator("probe_port")
    @classmethod
    def _probes_apart(cls, value: int | None, info: ValidationInfo) -> int | None:
        """In HTTP mode the probe server and Slack's are two listeners unless their addresses are one."""
        web_host, web_port, host = info.data.get("web_host"), info.data.get("web_port"), info.data.get("probe_host")
        mode = info.data.get("slack_mode")
        if web_host is None or web_port is None or host is None or mode is None:
            return value  # already reported
        port = _probe_port(value, mode, host, web_host, web_port)
        if port > 65535:
            raise ValueError(f"is not set, and WEB_PORT + 1 ({port}) is no port: set it")
        if mode == "http" and port == web_port and host != web_host:
            raise ValueError(
                f"is WEB_PORT ({port}) on another host (PROBE_HOST {host}, WEB_HOST {web_host}): set another "
                "PROBE_PORT, or PROBE_HOST to WEB_HOST to serve Slack's requests and the probes on one port"
            )
        return value

    @field_validator("access_policy_file")
    @classmethod
    def _one_policy(cls, value: AccessPolicy | None, info: ValidationInfo) -> AccessPolicy | None:
        if value is not None and info.data.get("access_policy") is not None:
            raise ValueError("is set, and so is ACCESS_POLICY: set only one of them")
        return value

    @field_validator("nautobot_chatops")
    @classmethod
    def _grants_or_rules(cls, value: bool, info: ValidationInfo) -> bool:
        policy = info.data.get("access_policy") or info.data.get("access_policy_file")
        if value and policy is not None and policy.allow:
            raise ValueError(
                "is on, so Nautobot's Access Grants decide who may use the command: remove the allow rules from "
                "ACCESS_POLICY / ACCESS_POLICY_FILE (its restrict part still applies)"
            )
        return value

    @field_validator("nautobot_approvers_channel", mode="before")
    @classmethod
    def _approvers_channel(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None  # NAUTOBOT_APPROVERS_CHANNEL= in an env file: no channel, as when it is left out
        if isinstance(value, str) and not CHANNEL_ID.match(value.strip()):
            raise ValueError(
                f"{value!r} is not a Slack channel id: give the channel's id (C…, G…), found in the channel's details"
            )
        return value.strip() if isinstance(value, str) else value

    @field_validator("nautobot_chatops_command")
    @classmethod
    def _chatops_name(cls, value: str) -> str:
        if value == "*" or any(char.isspace() for char in value):
            raise ValueError("must be a command name without spaces (a grant's * matches it; the name itself is not *)")
        return value

    @field_validator("heartbeat_seconds")
    @classmethod
    def _heartbeat(cls, value: float, info: ValidationInfo) -> float:
        lease = info.data.get("lease_seconds")
        if lease is not None and value > lease / 2:
            raise ValueError(f"must be at most half of LEASE_SECONDS ({lease:g}), so one missed renewal loses nothing")
        return value

    @property
    def probe_address(self) -> tuple[str, int]:
        """Where /healthz, /readyz and /metrics are served: PROBE_HOST and PROBE_PORT.

        PROBE_PORT unset: WEB_PORT in Socket Mode (nothing else listens) and in HTTP mode when PROBE_HOST is
        WEB_HOST (one server serves everything); otherwise WEB_PORT + 1.
        """
        return self.probe_host, _probe_port(
            self.probe_port, self.slack_mode, self.probe_host, self.web_host, self.web_port
        )

    @property
    def probes_with_events(self) -> bool:
        """HTTP mode with the probe address equal to Slack's: one server serves both."""
        return self.slack_mode == "http" and self.probe_address == (self.web_host, self.web_port)

    @property
    def policy(self) -> AccessPolicy | None:
        """The access policy from ACCESS_POLICY or ACCESS_POLICY_FILE (at most one is set)."""
        return self.access_policy or self.access_policy_file

    @property
    def policy_setting(self) -> str:
        """The setting that holds the policy, for messages."""
        return "ACCESS_POLICY_FILE" if self.access_policy_file is not None else "ACCESS_POLICY"

    @model_validator(mode="after")
    def _rules_name_commands(self) -> Settings:
        """A rule or a restriction naming a command nobody set up is a typo that would let in less, or keep back
        less, than meant: refuse to start."""
        for where, slash in self.policy.commands_named() if self.policy is not None else ():
            if slash not in self.commands:
                close = difflib.get_close_matches(slash, list(self.commands), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(
                    f"{self.policy_setting} {where} names {slash}, which COMMANDS does not bind{hint}; its commands "
                    f"are {', '.join(self.commands)}"
                )
        return self


def _probe_port(port: int | None, mode: str, probe_host: str, web_host: str, web_port: int) -> int:
    """PROBE_PORT, or unset: WEB_PORT in Socket Mode (nothing else listens) and in HTTP mode when PROBE_HOST is
    WEB_HOST (one server serves everything), else WEB_PORT + 1."""
    if port is not None:
        return port
    return web_port if mode == "socket" or probe_host == web_host else web_port + 1


class SettingsError(Exception):
    """Settings are missing or malformed; ``str()`` lists every problem and how to fix it."""


AnySettings = TypeVar("AnySettings", bound=NautobotSettings)


def load_settings(kind: type[AnySettings], **overrides: Any) -> AnySettings:
    try:
        return kind(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    lines = ["The bot cannot start: fix these settings (environment variables or .env) and start it again."]
    for error in exc.errors():
        problem = "is not set" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a check across settings: its text names them
            lines.append(f"  {problem}")
            continue
        field = str(error["loc"][0])
        where = _inside(error["loc"][1:])
        hint = HINTS.get(field) if not where else None
        lines.append(f"  {field.upper()}{where}: {problem}" + (f" — set it to {hint}" if hint else ""))
    return "\n".join(lines)


def _inside(loc: tuple[Any, ...]) -> str:
    """Where inside a structured setting the problem is: `` allow[0].users[1]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):  # pydantic's validator steps, not places
            continue
        else:
            path += f".{part}" if path else f" {part}"
    return path
