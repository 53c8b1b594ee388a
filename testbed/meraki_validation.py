"""The dashboard's checks on an admin's fields, each returning every problem it finds so one
refused call shows them all."""

from __future__ import annotations

import re
from typing import Any

ORG_ACCESS_LEVELS = ("full", "read-only", "enterprise", "none")
TARGET_ACCESS_LEVELS = ("full", "read-only", "guest-ambassador", "monitor-only")
ADMIN_FIELDS = ("email", "name", "orgAccess", "tags", "networks", "authenticationMethod")
UPDATABLE_ADMIN_FIELDS = ("name", "orgAccess", "tags", "networks")
ACCOUNT_STATUSES = ("ok", "pending", "locked", "unverified")


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def one_of(values: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in values]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def string_problems(payload: dict[str, Any], key: str) -> list[str]:
    if key not in payload:
        return []
    value = payload[key]
    if not isinstance(value, str):
        return [f"'{key}' must be a string"]
    return [] if value.strip() else [f"'{key}' must not be blank"]


def email_problems(payload: dict[str, Any]) -> list[str]:
    problems = string_problems(payload, "email")
    if problems or "email" not in payload:
        return problems
    return [] if _EMAIL.fullmatch(payload["email"]) else ["'email' must be a valid email address"]


def access_list_problems(payload: dict[str, Any], key: str, id_key: str) -> list[str]:
    """Check ``tags``/``networks``: a list of ``{id_key, access}`` objects and nothing else."""
    if key not in payload:
        return []
    items = payload[key]
    if not isinstance(items, list):
        return [f"'{key}' must be an array"]
    problems: list[str] = []
    for index, item in enumerate(items):
        problems += _access_item_problems(f"{key}[{index}]", item, id_key)
    return problems


def _access_item_problems(where: str, item: Any, id_key: str) -> list[str]:
    if not isinstance(item, dict):
        return [f"'{where}' must be an object"]
    problems: list[str] = []
    if not isinstance(item.get(id_key), str) or not item[id_key].strip():
        problems.append(f"'{where}.{id_key}' must be specified")
    if item.get("access") not in TARGET_ACCESS_LEVELS:
        problems.append(f"'{where}.access' must be one of: {one_of(TARGET_ACCESS_LEVELS)}")
    known = (id_key, "access")
    problems += [f"Unrecognized parameter '{where}.{k}'" for k in item if k not in known]
    return problems
