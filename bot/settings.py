"""Every setting of the bot, read from the environment (or a ``.env`` file) and checked at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

HINTS = {
    "slack_bot_token": "the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth & Permissions page",
    "slack_app_token": "an app-level token (xapp-…) with connections:write, from Basic Information → App-Level Tokens",
    "nautobot_url": "the base URL of your Nautobot, e.g. https://nautobot.example.com",
    "nautobot_token": "a Nautobot API token of the bot's user (see the README for its permissions)",
    "nautobot_ca_bundle": "a readable PEM file of the CA that signed Nautobot's certificate",
    "slack_signing_secret": "the Signing Secret from your Slack app's Basic Information page",
}


class NautobotSettings(BaseSettings):
    """What every command needs: where Nautobot is, and which Job to run."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    nautobot_url: AnyHttpUrl
    nautobot_token: SecretStr
    nautobot_verify_tls: bool = True
    nautobot_ca_bundle: Path | None = None
    nautobot_job_name: str = "Create Meraki User"
    email_regex: str | None = None
    follow_timeout_seconds: float = Field(default=3600, gt=0)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("nautobot_ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @property
    def nautobot_base(self) -> str:
        return str(self.nautobot_url).rstrip("/")

    @property
    def tls_verify(self) -> bool | str:
        """What httpx's ``verify`` takes: a CA bundle path, or whether to verify at all."""
        if self.nautobot_ca_bundle is not None:
            return str(self.nautobot_ca_bundle)
        return self.nautobot_verify_tls


class Settings(NautobotSettings):
    """Everything ``serve`` needs: Nautobot, plus Slack and the ledger."""

    slack_mode: Literal["socket", "http"] = "socket"
    slack_bot_token: SecretStr
    # Validated even when unset: which of the two is required depends on SLACK_MODE.
    slack_app_token: SecretStr | None = Field(default=None, validate_default=True)
    slack_signing_secret: SecretStr | None = Field(default=None, validate_default=True)
    slack_api_url: AnyHttpUrl = Field(default=AnyHttpUrl("https://slack.com/api/"))
    slash_command: str = "/meraki-add-user"
    store_url: str = "sqlite+aiosqlite:///meraki-chatops.sqlite3"
    web_host: str = "0.0.0.0"
    web_port: int = Field(default=8080, ge=1, le=65535)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must start with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None and info.data.get("slack_mode") == "socket":
            raise ValueError("is not set, and Socket Mode needs it")
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must start with xapp-")
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None and info.data.get("slack_mode") == "http":
            raise ValueError("is not set, and HTTP mode needs it")
        return value

    @field_validator("slash_command")
    @classmethod
    def _command(cls, value: str) -> str:
        if not value.startswith("/") or len(value) > 32 or " " in value:
            raise ValueError("must look like /meraki-add-user (a slash, no spaces, at most 32 characters)")
        return value


class SettingsError(Exception):
    """Settings are missing or malformed; ``str()`` lists every problem and how to fix it."""


def load_settings(kind: type[NautobotSettings] = Settings, **overrides) -> NautobotSettings:
    try:
        return kind(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    lines = ["The bot cannot start: fix these settings (environment variables or .env) and start it again."]
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        problem = "is not set" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
        hint = HINTS.get(field)
        lines.append(f"  {field.upper()}: {problem}" + (f" — set it to {hint}" if hint else ""))
    return "\n".join(lines)
