"""Random secrets for a test run, and a scanner that finds them, whole or in part, in captured text.

A secret counts as leaked when its whole value appears, or its distinctive part (what follows a
``xoxb-``-like prefix), or any run of :data:`WINDOW` characters of that part: a token cut short
("xoxb-5550…") or split over two log fields is still a leak. The values are random, so a hit is
never a coincidence.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

WINDOW = 12


@dataclass(frozen=True)
class Secret:
    name: str
    value: str
    prefix: str = ""

    @property
    def core(self) -> str:
        return self.value.removeprefix(self.prefix)

    def windows(self) -> set[str]:
        core = self.core
        return {core[start : start + WINDOW] for start in range(max(len(core) - WINDOW, 0) + 1)}


def random_secrets() -> dict[str, Secret]:
    """Values shaped like the real ones (Slack's prefixes, Nautobot's 40 hex digits)."""
    return {
        "SLACK_BOT_TOKEN": Secret("SLACK_BOT_TOKEN", f"xoxb-{secrets.token_hex(16)}", "xoxb-"),
        "SLACK_APP_TOKEN": Secret("SLACK_APP_TOKEN", f"xapp-1-A0STANDIN-{secrets.token_hex(16)}", "xapp-1-A0STANDIN-"),
        "SLACK_SIGNING_SECRET": Secret("SLACK_SIGNING_SECRET", secrets.token_hex(16)),
        "NAUTOBOT_TOKEN": Secret("NAUTOBOT_TOKEN", secrets.token_hex(20)),
    }


@dataclass(frozen=True)
class Leak:
    secret: str
    source: str
    context: str

    def __str__(self) -> str:
        return f"{self.secret} in {self.source}: …{self.context}…"


def scan(sources: Mapping[str, str], found_secrets: Iterable[Secret]) -> list[Leak]:
    """Every place a secret (or a piece of it) shows up; ``sources`` maps a name to captured text."""
    leaks = []
    for secret in found_secrets:
        needles = [secret.value, secret.core, *sorted(secret.windows())]
        for source, text in sources.items():
            hit = next((needle for needle in needles if needle and needle in text), None)
            if hit is not None:
                at = text.index(hit)
                leaks.append(Leak(secret.name, source, text[max(at - 60, 0) : at + len(hit) + 20]))
    return leaks
