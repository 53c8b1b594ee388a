"""The terms of a time-bound grant: the durations offered, the limits on them, and what raising access means.

Kept free of Nautobot imports like meraki_admins.py. Settings come from the worker's (and web server's)
environment, read when the Job module is imported:

- ``NAUTOBOT_JOB_MERAKI_DURATIONS``: the durations offered, comma-separated, each a number and a unit
  ``m``/``h``/``d`` (default ``1h,2h,4h,8h,1d,7d,30d``); "Until removed" is always offered first.
- ``NAUTOBOT_JOB_MERAKI_LONGEST``: per organization access level, the longest duration, e.g.
  ``full=8h,enterprise=8h``; a level not listed has no cap.
- ``NAUTOBOT_JOB_MERAKI_UNTIL_REMOVED``: the organization access levels that may be granted "until removed"
  (comma-separated); unset means every level, as before time-bound grants existed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

DURATIONS_ENV = "NAUTOBOT_JOB_MERAKI_DURATIONS"
LONGEST_ENV = "NAUTOBOT_JOB_MERAKI_LONGEST"
UNTIL_REMOVED_ENV = "NAUTOBOT_JOB_MERAKI_UNTIL_REMOVED"
DEFAULT_DURATIONS = "1h,2h,4h,8h,1d,7d,30d"
UNTIL_REMOVED = ""
"""The duration choice that means no expiry."""

ORG_ACCESS_RANK = {"none": 0, "read-only": 1, "enterprise": 2, "full": 3}
"""Organization access from least to most: enterprise is full access without the organization's own settings."""
NETWORK_ACCESS_RANK = {"guest-ambassador": 0, "monitor-only": 1, "read-only": 2, "full": 3}
"""Network access from least to most, as Meraki's documentation orders the roles."""

# Bounded: at most five digits and one unit letter, anchored, so no input makes the match slow.
_DURATION = re.compile(r"\A([1-9][0-9]{0,4})([smhd])\Z")
_UNITS = {"s": ("second", 1), "m": ("minute", 60), "h": ("hour", 3600), "d": ("day", 86400)}
LONGEST_POSSIBLE = timedelta(days=366)


def parse_duration(text: str) -> timedelta | None:
    """``"4h"`` as a timedelta; None for "until removed"; ValueError for anything else."""
    text = str(text).strip()
    if text == UNTIL_REMOVED:
        return None
    match = _DURATION.match(text) if len(text) <= 8 else None
    if match is None:
        raise ValueError(f"'{text[:20]}' is not a duration like 30m, 4h or 7d (or seconds: 90s)")
    amount, unit = int(match.group(1)), match.group(2)
    duration = timedelta(seconds=amount * _UNITS[unit][1])
    if duration > LONGEST_POSSIBLE:
        raise ValueError(f"'{text}' is longer than a year")
    return duration


def duration_label(text: str) -> str:
    """``"2d"`` → ``"2 days"``; ``""`` → ``"Until removed"``."""
    if parse_duration(text) is None:
        return "Until removed"
    amount, unit = int(text[:-1]), _UNITS[text[-1]][0]
    return f"{amount} {unit}" + ("" if amount == 1 else "s")


def duration_choices(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The durations offered: "Until removed" first, then the configured ones in order (invalid ones left out)."""
    choices = [(UNTIL_REMOVED, duration_label(UNTIL_REMOVED))]
    for entry in (environ.get(DURATIONS_ENV) or DEFAULT_DURATIONS).split(","):
        entry = entry.strip()
        try:
            if parse_duration(entry) is not None and entry not in dict(choices):
                choices.append((entry, duration_label(entry)))
        except ValueError:
            continue
    return choices


@dataclass(frozen=True)
class GrantLimits:
    """The Job's own limits on durations (defence in depth: Nautobot's form lets anyone pick any choice)."""

    longest: Mapping[str, timedelta]
    until_removed: frozenset[str] | None
    """The levels that may be granted without an expiry; None: every level."""
    problem: str = ""
    """Why the settings could not be read; while set, every request is refused (a broken limit is no limit)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GrantLimits:
        try:
            return cls(_longest(environ.get(LONGEST_ENV, "")), _levels(environ.get(UNTIL_REMOVED_ENV)))
        except ValueError as exc:
            return cls({}, frozenset(), problem=str(exc))

    def refusal(self, org_access: str, duration: str) -> str:
        """Why organization access ``org_access`` may not be granted for ``duration``; empty when it may."""
        if self.problem:
            return f"{self.problem}; fix it on the Nautobot worker and web server. Nothing was changed."
        length = parse_duration(duration)
        if length is None:
            if self.until_removed is None or org_access in self.until_removed:
                return ""
            allowed = ", ".join(sorted(self.until_removed)) or "none"
            return (
                f"Organization access '{org_access}' cannot be granted until removed ({UNTIL_REMOVED_ENV} allows "
                f"it only for: {allowed}). Choose a duration. Nothing was changed."
            )
        cap = self.longest.get(org_access)
        if cap is not None and length > cap:
            return (
                f"Organization access '{org_access}' can be granted for at most {_spoken(cap)} ({LONGEST_ENV}); "
                f"{duration_label(duration)} is longer. Choose a shorter duration. Nothing was changed."
            )
        return ""


def _longest(setting: str) -> dict[str, timedelta]:
    longest: dict[str, timedelta] = {}
    for entry in filter(None, (part.strip() for part in setting.split(","))):
        level, _, duration = (part.strip() for part in entry.partition("="))
        if level not in ORG_ACCESS_RANK:
            raise ValueError(f"{LONGEST_ENV} names an unknown organization access level '{level[:20]}'")
        try:
            length = parse_duration(duration)
        except ValueError as exc:
            raise ValueError(f"{LONGEST_ENV} for '{level}': {exc}") from None
        if length is None:
            raise ValueError(f"{LONGEST_ENV} for '{level}' has no duration")
        longest[level] = length
    return longest


def _levels(setting: str | None) -> frozenset[str] | None:
    if setting is None:
        return None
    levels = frozenset(filter(None, (part.strip() for part in setting.split(","))))
    unknown = sorted(levels - set(ORG_ACCESS_RANK))
    if unknown:
        raise ValueError(f"{UNTIL_REMOVED_ENV} names an unknown organization access level '{unknown[0][:20]}'")
    return levels


def _spoken(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit][1] == 0:
            return duration_label(f"{seconds // _UNITS[unit][1]}{unit}")
    return f"{seconds} seconds"


# -- access: what an administrator holds, and what raising it means -------------------------------------------


def access_of(admin: Mapping) -> dict:
    """The access a grant changes: organization access and the network list."""
    return {
        "orgAccess": admin.get("orgAccess"),
        "networks": [{"id": n.get("id"), "access": n.get("access")} for n in admin.get("networks") or []],
    }


def before_of(admin: Mapping) -> dict:
    """What a raise puts back at expiry: the access and the tags."""
    return {
        **access_of(admin),
        "tags": [{"tag": t.get("tag"), "access": t.get("access")} for t in admin.get("tags") or []],
    }


def _pairs(items: list | None, key: str) -> list[tuple[str, str]]:
    return sorted((str(item.get(key)), str(item.get("access"))) for item in items or [])


def same_access(held: Mapping, wanted: Mapping, *, tags: list | None = None) -> bool:
    """Whether ``held`` has exactly ``wanted``'s organization access and networks (in any order), and
    when ``tags`` is given, exactly those tags."""
    if held.get("orgAccess") != wanted.get("orgAccess"):
        return False
    if _pairs(held.get("networks"), "id") != _pairs(wanted.get("networks"), "id"):
        return False
    return tags is None or _pairs(held.get("tags"), "tag") == _pairs(tags, "tag")


@dataclass(frozen=True)
class Raise:
    """Raising an administrator's access: the access afterwards, or why it is refused."""

    target: dict
    refusal: str = ""
    unchanged: bool = False


def raised_access(held: Mapping, org_access: str, network_id: str | None, network_access: str) -> Raise:
    """``held`` raised to ``org_access`` (and ``network_access`` on ``network_id``); never lowered."""
    current = access_of(held)
    if ORG_ACCESS_RANK.get(org_access, -1) < ORG_ACCESS_RANK.get(str(current["orgAccess"]), -1):
        return Raise(
            current,
            f"asks for organization access '{org_access}' but they have '{current['orgAccess']}': a time-bound "
            f"grant only raises access. Ask for '{current['orgAccess']}' or more.",
        )
    networks = [dict(n) for n in current["networks"]]
    if network_id:
        held_there = next((n for n in networks if n["id"] == network_id), None)
        if held_there is None:
            networks.append({"id": network_id, "access": network_access})
        elif NETWORK_ACCESS_RANK.get(network_access, -1) < NETWORK_ACCESS_RANK.get(str(held_there["access"]), -1):
            return Raise(
                current,
                f"asks for '{network_access}' on network {network_id} but they have '{held_there['access']}' there: "
                f"a time-bound grant only raises access. Ask for '{held_there['access']}' or more.",
            )
        else:
            held_there["access"] = network_access
    target = {"orgAccess": org_access, "networks": networks}
    return Raise(target, unchanged=same_access(current, target))
