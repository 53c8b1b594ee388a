"""Revoking a time-bound grant: put back what the administrator had, or remove the administrator it created.

Only what the grant itself made is undone. The administrator's access now is compared with what was granted:
anything else means someone changed it by hand since, and that is left alone. Access already back to what it was
before (a second revoke of the same grant) is nothing to do, like an administrator who is gone.

Kept free of Nautobot imports like meraki_admins.py.
"""

from __future__ import annotations

import logging
from typing import Any

from .admin_grants import held
from .grant_terms import NETWORK_ACCESS_RANK, ORG_ACCESS_RANK, same_access
from .meraki_admins import SUCCESS, MerakiAdmins, MerakiProblem
from .result_table import result_table

COLUMNS = (
    ("organization", "Organization"),
    ("email", "Email"),
    ("admin_id", "Admin ID"),
    ("outcome", "Outcome"),
    ("access", "Access now"),
)


def _problem(what: str) -> MerakiProblem:
    return MerakiProblem(
        "input", f"The grant to revoke is not one Create Meraki User recorded: {what}. Nothing was changed."
    )


def _check_access(value: Any, where: str, *, tags: bool = False) -> None:
    if not isinstance(value, dict) or value.get("orgAccess") not in ORG_ACCESS_RANK:
        raise _problem(f"{where} needs an 'orgAccess' of {', '.join(ORG_ACCESS_RANK)}")
    lists = (("networks", "id"), ("tags", "tag")) if tags else (("networks", "id"),)
    for key, id_key in lists:
        items = value.get(key)
        if not isinstance(items, list) or not all(
            isinstance(item, dict)
            and isinstance(item.get(id_key), str)
            and item.get("access") in NETWORK_ACCESS_RANK
            and set(item) == {id_key, "access"}
            for item in items
        ):
            raise _problem(f"{where}.{key} must be a list of {{{id_key}, access}}")


def checked_grant(grant: Any) -> dict:
    """The grant, if it has the shape the Create Job records; else a :class:`MerakiProblem` saying what is wrong."""
    if not isinstance(grant, dict):
        raise _problem("it is not a JSON object")
    for key in ("organization_id", "admin_id", "email"):
        if not isinstance(grant.get(key), str) or not grant[key].strip():
            raise _problem(f"'{key}' is missing")
    _check_access(grant.get("granted"), "granted")
    if grant.get("before") is not None:
        _check_access(grant["before"], "before", tags=True)
    return grant


class AdminExpiry(MerakiAdmins):
    """Revoke one grant, if the administrator still has exactly what it gave them."""

    def revoke(self, grant: Any) -> dict:
        grant = checked_grant(grant)
        org_id, admin_id = grant["organization_id"], grant["admin_id"]
        before = grant.get("before")
        admin = self.admin_by_id(org_id, admin_id)
        if admin is None:
            return self._report(grant, "gone", None, "is no longer an administrator there: nothing to revoke.")
        # A grant never touches tags: a new administrator was created without any, a raised one kept theirs.
        tags = before["tags"] if before else []
        if same_access(admin, grant["granted"], tags=tags):
            if before is None:
                self.delete_admin(org_id, admin_id)
                return self._report(grant, "removed", None, "was removed: the time-bound grant ended.")
            self.update_admin(org_id, admin_id, **before)
            return self._report(grant, "restored", before, f"is back to {held(before)}: the time-bound grant ended.")
        if before is not None and same_access(admin, before, tags=tags):
            return self._report(grant, "gone", admin, "already has the access from before the grant: already restored.")
        return self._report(grant, "changed", admin, f"has {held(admin)}, changed by hand since the grant; left alone.")

    def _report(self, grant: dict, outcome: str, now: dict | None, what: str) -> dict:
        org_name = grant.get("organization_name") or grant["organization_id"]
        summary = f"{grant['email']} in {org_name} (admin id {grant['admin_id']}) {what}"
        level = {"changed": logging.WARNING, "gone": logging.INFO}.get(outcome, SUCCESS)
        self._log(level, "summary", "%s", summary)
        row = {
            "organization": org_name,
            "email": grant["email"],
            "admin_id": grant["admin_id"],
            "outcome": outcome,
            "access": held(now) if now else "none (not an administrator)",
        }
        return {
            "outcome": outcome,
            "email": grant["email"],
            "organization_id": grant["organization_id"],
            "organization_name": org_name,
            "admin_id": grant["admin_id"],
            "restored": now if outcome == "restored" else None,
            "grant_result_id": grant.get("grant_result_id"),
            "expires_at": grant.get("expires_at"),
            "summary": summary,
            "table": result_table(COLUMNS, [row], title=summary),
        }
