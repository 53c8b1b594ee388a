"""What the Jobs say of an administrator: the row they log and return, and the one line that describes it.

Kept free of Nautobot and Meraki imports: plain values in, plain values out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .result_table import DATETIME, Column


def plain(value: Any, limit: int = 200) -> str:
    """Text from Meraki as one plain line: control characters and line breaks become spaces, long text is cut."""
    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029]+", " ", str(value if value is not None else "")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


API_ACCESS_OFF = (
    "its Dashboard API access is off (an organization administrator can turn it on under Organization > Settings)"
)


@dataclass(frozen=True)
class Organization:
    id: str
    name: str

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


@dataclass(frozen=True)
class Skipped:
    """An organization left out, and why."""

    organization: Organization
    reason: str

    def as_dict(self) -> dict:
        return {
            "organization_id": self.organization.id,
            "organization_name": self.organization.name,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Expiry:
    """When an administrator's time-bound access ends: the time of its pending revoke."""

    expires_at: str
    """ISO-8601, UTC."""
    awaits_approval: bool = False
    """The revoke is held for approval in Nautobot: until someone approves it, the access does not expire."""

    def __str__(self) -> str:
        try:
            when = f"{datetime.fromisoformat(self.expires_at).astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        except ValueError:
            when = self.expires_at
        held = " (its revoke awaits approval in Nautobot: until someone approves it, the access does not expire)"
        return f"until {when}" + (held if self.awaits_approval else "")


class Expiries:
    """The pending revokes of time-bound grants, found by organization and administrator.

    A revoke undoes its grant by the administrator's id, so that is what it is found by; a grant that recorded no
    id is found by its email. The first revoke given for an administrator is kept: give the earliest first.
    """

    def __init__(self, grants: Iterable[tuple[dict, Expiry]] = ()):
        self._found: dict[tuple[str, str, str], Expiry] = {}
        for grant, expiry in grants:
            org_id = str(grant.get("organization_id") or "")
            if grant.get("admin_id"):
                self._found.setdefault((org_id, "id", str(grant["admin_id"])), expiry)
            elif grant.get("email"):
                self._found.setdefault((org_id, "email", str(grant["email"]).casefold()), expiry)

    def of(self, row: dict) -> Expiry | None:
        """The expiry of an administrator's access (a row of :func:`admin_row`); None: until removed."""
        org_id = str(row["organization_id"])
        return self._found.get((org_id, "id", str(row["admin_id"]))) or self._found.get(
            (org_id, "email", str(row["email"]).casefold())
        )


def admin_matches(admin: dict, wanted: str) -> bool:
    email = str(admin.get("email", "")).casefold()
    if "@" in wanted:
        return email == wanted
    return wanted in str(admin.get("name", "")).casefold() or wanted in email


def admin_row(organization: Organization, admin: dict, network_names: dict[str, str]) -> dict:
    """One administrator of one organization as the Jobs log and return it (a row of a table)."""
    return {
        "organization_id": organization.id,
        "organization_name": organization.name,
        "admin_id": plain(admin.get("id", "")),
        "name": plain(admin.get("name", "")),
        "email": plain(admin.get("email", "")),
        "org_access": plain(admin.get("orgAccess", "")),
        "networks": [
            {
                "id": plain(network.get("id", "")),
                "name": network_names.get(str(network.get("id", "")), ""),
                "access": plain(network.get("access", "")),
            }
            for network in admin.get("networks") or []
        ],
        "tags": [
            {"tag": plain(tag.get("tag", "")), "access": plain(tag.get("access", ""))}
            for tag in admin.get("tags") or []
        ],
        "account_status": plain(admin.get("accountStatus", "")),
        "two_factor": bool(admin.get("twoFactorAuthEnabled")),
        "last_active": plain(admin.get("lastActive") or ""),
        "has_api_key": bool(admin.get("hasApiKey")),
    }


def describe_admin(row: dict) -> str:
    """One line with everything needed to find the administrator again, or to restore their access by hand."""
    networks = ", ".join(
        f"{network['name']} ({network['id']}) '{network['access']}'"
        if network["name"]
        else f"{network['id']} '{network['access']}'"
        for network in row["networks"]
    )
    tags = ", ".join(f"{tag['tag']} '{tag['access']}'" for tag in row["tags"])
    return (
        # "email x@y" rather than "<x@y>": Nautobot redacts whatever precedes an @ in a log line.
        f"{row['name']}, email {row['email']}, in {row['organization_name']} ({row['organization_id']}), "
        f"admin id {row['admin_id']}: organization access '{row['org_access']}'; "
        f"networks: {networks or 'none'}; tags: {tags or 'none'}; "
        f"account '{row['account_status']}', two-factor {'on' if row['two_factor'] else 'off'}, "
        f"last active {row['last_active'] or 'never'}"
    )


def counted(number: int, noun: str, plural: str = "") -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


# -- the table the Jobs return for Slack (see result_table.py) -----------------------------------

FOUND_COLUMNS: tuple[Column, ...] = (
    ("organization", "Organization"),
    ("name", "Name"),
    ("email", "Email"),
    ("access", "Access"),
    ("two_factor", "2FA"),
    ("last_active", "Last seen"),
    ("expires_at", "Until", DATETIME),  # empty: until removed
)
REMOVAL_COLUMNS: tuple[Column, ...] = (
    ("organization", "Organization"),
    ("name", "Name"),
    ("email", "Email"),
    ("access", "Access"),
    ("action", "Action"),
    ("reason", "Why"),
)


def table_row(row: dict) -> dict:
    """An administrator's row as one line of a table: the details (each network's access, the time) are in the log."""
    access = row["org_access"]
    if row["networks"]:
        access = f"{access or 'none'} +{len(row['networks'])} net"
    return {
        **row,
        "organization": row["organization_name"],
        "access": access,
        "two_factor": row["two_factor"],
        "last_active": row["last_active"][:10],  # the day is enough here
    }


def left_out_note(verb: str, skipped: list[Skipped]) -> list[str]:
    """The organizations left out, as one note under a table (none when there are none)."""
    if not skipped:
        return []
    return [f"{verb}: " + "; ".join(f"{left.organization.name} ({left.reason})" for left in skipped)]
