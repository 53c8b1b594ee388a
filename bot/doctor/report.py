"""What ``doctor`` reports: one line per check (OK, WARN, FAIL or SKIP), what was found, what to do."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

import httpx
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import JobForm
from bot.nautobot import JobInfo, NautobotClient, NautobotError
from bot.settings import Settings

SlackClientFactory = Callable[[str, str], AsyncWebClient]
"""``(token, base_url)`` → a Web API client."""
NautobotTransportFactory = Callable[[Settings], httpx.AsyncBaseTransport | None]
"""Where Nautobot requests go; ``None`` is the network, a ``MockTransport`` serves tests."""

WIDTH = 100
NAME_WIDTH = 20
STATUS_WIDTH = 6
DETAIL_WIDTH = WIDTH - NAME_WIDTH - STATUS_WIDTH - 2
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


class Verdict(NamedTuple):
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Context:
    """What the checks learn, passed along so that no check asks the same question twice."""

    load_settings: Callable[[], Settings]
    slack_client: SlackClientFactory
    nautobot_transport: NautobotTransportFactory
    settings: Settings | None = None
    granted_scopes: frozenset[str] | None = None
    nautobot: NautobotClient | None = None
    status: dict[str, Any] | None = None
    job: JobInfo | None = None
    """The main command's Job, when found."""
    jobs: dict[str, JobInfo] = field(default_factory=dict)
    """Each command's Job that was found, by slash command."""
    job_errors: dict[str, NautobotError] = field(default_factory=dict)
    forms: dict[str, JobForm] = field(default_factory=dict)
    """Each command's Job's form that was read, by slash command."""
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
class Step:
    name: str
    run: Callable[[Context], Awaitable[Verdict]]
    needs: tuple[str, ...] = ()


# -- running -------------------------------------------------------------------------------------


def last_four(secret: str) -> str:
    return f"…{secret[-4:]}" if len(secret) >= 16 else "(too short to show any of it)"


# -- settings ------------------------------------------------------------------------------------


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
