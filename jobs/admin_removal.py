"""Removing an administrator from Meraki organizations without ever leaving one without a full administrator.

Two safeguards decide per organization: the API key's own administrator is never removed (the Job would lock
itself out), and neither is the last active administrator with full organization access. The second holds only
if no other removal changes the organization between the check and the delete, so a real removal holds the
organization's lock (``OrganizationLock``, jobs/org_lock.py in Nautobot) from listing its administrators until
the delete is done. Kept free of Nautobot imports like meraki_admins.py; the Job passes the lock in.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import meraki
from meraki.exceptions import APIError, APIResponseError

from .admin_report import (
    REMOVAL_COLUMNS,
    Organization,
    Skipped,
    admin_row,
    counted,
    describe_admin,
    left_out_note,
    plain,
    table_row,
)
from .meraki_admins import (
    SUCCESS,
    MerakiAdmins,
    MerakiProblem,
    OrganizationRefused,
    explain,
    meraki_errors,
)
from .result_table import result_table

Renew = Callable[[], None]
"""Called right before a delete: makes sure the lock is still held (and for its full time), else raises."""
OrganizationLock = Callable[[Organization], AbstractContextManager[Renew]]
"""Holds one organization's lock for the ``with`` block; raises :class:`OrganizationBusy` when it cannot."""


class OrganizationBusy(Exception):
    """The organization's lock could not be taken or was lost; ``str()`` says why. Nothing was removed there."""


@contextlib.contextmanager
def unlocked(organization: Organization) -> Iterator[Renew]:
    """No lock, for a dry run: it removes nothing, so it cannot race a removal."""
    yield lambda: None


class AdminRemoval(MerakiAdmins):
    """Remove the administrator with an email from each organization in scope, unless that is unsafe there."""

    def __init__(
        self,
        api: meraki.DashboardAPI,
        base_url: str,
        logger: logging.Logger | logging.LoggerAdapter,
        *,
        lock: OrganizationLock,
    ):
        super().__init__(api, base_url, logger)
        self.lock = lock

    def key_owner(self) -> KeyOwner:
        """Whose API key the Job uses, from ``GET /administered/identities/me``.

        The Job's log is posted to Slack, so it says only that the key's own administrator is spared,
        never who that is.
        """
        try:
            identity = self.api.administered.getAdministeredIdentitiesMe()
        except APIError as exc:
            if exc.status == 401 or isinstance(exc.response, APIResponseError):
                raise MerakiProblem(
                    "identity",
                    explain(exc, action="read whose API key this is", org_id="-", base_url=self.base_url),
                ) from exc
            return KeyOwner(None, f"Meraki did not say whose API key this is ({exc.status}: {meraki_errors(exc)})")
        except AttributeError:  # an SDK release without the identity endpoint
            return KeyOwner(None, "this Meraki SDK cannot ask whose API key this is (no getAdministeredIdentitiesMe)")
        email = str((identity or {}).get("email") or "").strip()
        if not email:
            return KeyOwner(None, "Meraki's answer about the API key's owner carried no email address")
        self._log(logging.INFO, "identity", "The API key's own administrator is known; it is never removed.")
        return KeyOwner(email)

    def remove(self, email: str, choice: str, *, dryrun: bool) -> dict:
        wanted = email.strip().casefold()
        owner = self.key_owner()
        if owner.email is None:
            self._log(
                logging.WARNING,
                "identity",
                "Cannot tell whose API key this Job uses (%s): an administrator who holds an API key "
                "may be its owner, so such administrators are not removed.",
                owner.reason,
            )
        organizations, skipped = self.organizations_in_scope(choice)
        for ruled_out in skipped:
            self._not_searched(ruled_out, "Not checked")
        entries: list[dict] = []
        absent = 0
        lock = unlocked if dryrun else self.lock
        for organization in organizations:
            try:
                # Held from the listing to the delete: no other removal changes who is left in between.
                with lock(organization) as renew:
                    entry = self._remove_from(organization, wanted, owner, renew, dryrun=dryrun)
            except (OrganizationRefused, OrganizationBusy) as problem:
                skipped.append(Skipped(organization, str(problem)))
                self._not_searched(skipped[-1], "Not checked")
                continue
            if entry is None:
                absent += 1
            else:
                entries.append(entry)
        return self._removal_report(email, entries, skipped, absent, dryrun=dryrun)

    def _remove_from(
        self, organization: Organization, wanted: str, owner: KeyOwner, renew: Renew, *, dryrun: bool
    ) -> dict | None:
        """The administrator's entry in this organization (removed, refused, ...); None when not an administrator."""
        admins = self._admins_of(organization)
        target = next((a for a in admins if str(a.get("email", "")).casefold() == wanted), None)
        if target is None:
            return None
        row = admin_row(organization, target, self._network_names(organization, [target]))
        refusal = refusal_reason(target, admins, owner)
        if refusal:
            self._log(logging.WARNING, "refused", "Not removed: %s. %s", describe_admin(row), refusal)
            return {**row, "action": "refused", "reason": refusal}
        if dryrun:
            self._log(logging.INFO, "dryrun", "Dry run: would remove %s.", describe_admin(row))
            return {**row, "action": "would-remove", "reason": ""}
        return self._delete(organization, row, renew)

    def _delete(self, organization: Organization, row: dict, renew: Renew) -> dict:
        try:
            renew()
            self._in_organization(
                "remove",
                "remove the administrator",
                organization.id,
                self.api.organizations.deleteOrganizationAdmin,
                organization.id,
                row["admin_id"],
            )
        except (OrganizationRefused, OrganizationBusy) as problem:
            self._log(logging.WARNING, "remove", "Could not remove %s: %s", describe_admin(row), problem)
            return {**row, "action": "failed", "reason": str(problem)}
        self._log(SUCCESS, "remove", "Removed %s.", describe_admin(row))
        return {**row, "action": "removed", "reason": ""}

    def _removal_report(
        self, email: str, entries: list[dict], skipped: list[Skipped], absent: int, *, dryrun: bool
    ) -> dict:
        done = [e for e in entries if e["action"] in ("removed", "would-remove")]
        refused = [e for e in entries if e["action"] == "refused"]
        failed = [e for e in entries if e["action"] == "failed"]
        who = plain(email)
        parts = [
            f"{'would be removed from' if dryrun else 'removed from'} {counted(len(done), 'organization')}",
            f"refused in {len(refused)}",
            f"failed in {len(failed)}",
            f"not checked in {len(skipped)}",
            f"not an administrator in {absent}",
        ]
        summary = ("Dry run: " if dryrun else "") + f"{who} {', '.join(parts)}."
        if refused or failed or skipped:
            outcome = "incomplete"
            summary += " The administrator may keep access where it was refused, failed or not checked."
        elif not entries:
            outcome = "nothing-to-remove"
            summary = f"{who} is not an administrator in any of the {absent} organizations checked: nothing to remove."
        else:
            outcome = "dry-run" if dryrun else "removed"
        if outcome != "incomplete":
            self._log(SUCCESS, "summary", "%s", summary)
        return {
            "outcome": outcome,
            "email": email,
            "dryrun": dryrun,
            "admins": entries,
            "not_checked": [ruled_out.as_dict() for ruled_out in skipped],
            "summary": summary,
            "table": result_table(
                REMOVAL_COLUMNS, map(table_row, entries), title=summary, notes=left_out_note("Not checked", skipped)
            ),
        }


@dataclass(frozen=True)
class KeyOwner:
    """The email of the API key's owner; None when Meraki would not say (``reason`` says why)."""

    email: str | None
    reason: str = field(default="")

    def may_be(self, admin: dict) -> bool:
        if self.email is not None:
            return str(admin.get("email", "")).casefold() == self.email.casefold()
        # Unknown owner: whoever holds an API key could be it; an admin without one cannot.
        return admin.get("hasApiKey") is not False


def refusal_reason(target: dict, admins: list[dict], owner: KeyOwner) -> str:
    """Why removing ``target`` from an organization with these ``admins`` is unsafe; empty when it is not."""
    if owner.may_be(target):
        if owner.email is not None:
            return (
                "This is the administrator whose API key this Job uses; removing it would lock the Job out. "
                "Another administrator with full access can remove it in the Meraki dashboard."
            )
        return (
            f"Whose API key this Job uses is unknown ({owner.reason}) and this administrator holds an API key, "
            "so it may be the Job's own. Remove it in the Meraki dashboard if it is not."
        )
    if target.get("orgAccess") == "full" and not any(
        admin is not target and admin.get("orgAccess") == "full" and admin.get("accountStatus") == "ok"
        for admin in admins
    ):
        return (
            "It is the last administrator with full organization access whose account is active ('ok'); "
            "removing it would leave the organization without one. Give another administrator full access first."
        )
    return ""
