"""Time-bound grants: create or raise an administrator's access, then have Nautobot revoke it at expiry.

Meraki administrators have no expiry, so every time-bound grant comes with a one-off scheduled run of the
Revoke Meraki Access Job, made by the Create Job itself right after the grant (meraki_expiry.py). A grant is
never left without its revoke: when the schedule cannot be made, the grant is undone and the run fails.
An administrator who already holds a pending grant of the same access gets that grant's one revoke moved
to the new expiry instead of a second one.

Kept free of Nautobot imports like meraki_admins.py; the Job passes in the :class:`RevokeScheduler`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from .grant_terms import access_of, before_of, duration_label, parse_duration, raised_access, same_access
from .meraki_admins import SUCCESS, MerakiAdmins, MerakiProblem, Network


@dataclass(frozen=True)
class PendingRevoke:
    """A scheduled revoke that has not run yet: the grant it undoes and its ``revoke`` entry of the result."""

    grant: dict
    revoke: dict


class RevokeScheduler(Protocol):
    """Where revokes are scheduled (Nautobot's scheduled jobs, revoke_schedules.py)."""

    grant_result_id: str
    requested_by: str

    def check_ready(self) -> None:
        """Raise :class:`MerakiProblem` when a revoke could not be scheduled or run (before anything changes)."""

    def pending(self, org_id: str, admin_id: str) -> PendingRevoke | None:
        """The administrator's revoke that has not run yet in this organization, if any."""

    def schedule(self, grant: dict, expires_at: datetime) -> dict:
        """Schedule the revoke of ``grant``; the result's ``revoke`` entry. Raises on any failure."""

    def move(self, pending: PendingRevoke, expires_at: datetime) -> dict:
        """Move the pending revoke to ``expires_at``; the result's ``revoke`` entry. Raises on any failure."""


@dataclass(frozen=True)
class Ask:
    """What the Create Job was asked for, with the organization and network already looked up."""

    email: str
    name: str
    org_id: str
    org_name: str
    org_access: str
    network: Network | None
    network_access: str
    duration: str
    dryrun: bool

    @property
    def who(self) -> str:
        return f"'{self.name}' <{self.email}> in {self.org_name} ({self.org_id})"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def held(access: dict) -> str:
    """An administrator's access in words, for the log."""
    text = f"organization access '{access.get('orgAccess')}'"
    networks = access.get("networks") or []
    if networks:
        text += " and networks " + ", ".join(f"{n.get('id')}:{n.get('access')}" for n in networks)
    return text


class AdminGrants(MerakiAdmins):
    """The time-bound part of Create Meraki User: create, raise or extend, and schedule the revoke."""

    @property
    def revokes(self) -> RevokeScheduler:
        raise NotImplementedError

    def time_bound(self, ask: Ask, existing: dict | None, result: dict) -> dict:
        length = parse_duration(ask.duration)
        assert length is not None  # only called with a duration
        expires = datetime.now(UTC).replace(microsecond=0) + length
        result = {**result, "expires_at": iso(expires)}
        if existing is None:
            return self._create_until(ask, expires, result)
        pending = self.revokes.pending(ask.org_id, str(existing.get("id")))
        if pending is not None:
            return self._extend(ask, existing, pending, expires, result)
        return self._raise(ask, existing, expires, result)

    def _create_until(self, ask: Ask, expires: datetime, result: dict) -> dict:
        until = f"until {iso(expires)} ({duration_label(ask.duration)})"
        if ask.dryrun:
            self._log(
                logging.INFO,
                "dryrun",
                "Dry run: would create administrator %s with %s %s, then remove them. Nothing was created "
                "and no revoke was scheduled.",
                ask.who,
                held(result["granted"]),
                until,
            )
            return {**result, "outcome": "dry-run", "admin_id": None}
        networks = result["granted"]["networks"]
        admin = self.create_admin(
            ask.org_id, email=ask.email, name=ask.name, org_access=ask.org_access, networks=networks
        )
        admin_id = str(admin.get("id"))
        self._log(SUCCESS, "create", "Created administrator %s (admin id %s) %s.", ask.who, admin_id, until)
        created = {**result, "outcome": "created", "admin_id": admin_id, "account_status": admin.get("accountStatus")}
        return self._schedule(ask, created, expires, undo=lambda: self.delete_admin(ask.org_id, admin_id))

    def _raise(self, ask: Ask, existing: dict, expires: datetime, result: dict) -> dict:
        admin_id = str(existing.get("id"))
        plan = raised_access(existing, ask.org_access, ask.network.id if ask.network else None, ask.network_access)
        if plan.refusal:
            raise MerakiProblem(
                "access",
                f"{ask.who} is already an administrator (admin id {admin_id}); this request {plan.refusal} "
                "Nothing was changed.",
            )
        now = held(access_of(existing))
        if plan.unchanged:
            self._log(
                logging.WARNING,
                "lookup",
                "%s already has it: %s (admin id %s). Nothing was changed and no revoke was scheduled.",
                ask.who,
                now,
                admin_id,
            )
            return {**result, "outcome": "exists", "admin_id": admin_id, "existing_access": now, "expires_at": None}
        before = before_of(existing)
        raised = {**result, "admin_id": admin_id, "before": before, "granted": plan.target}
        if ask.dryrun:
            self._log(
                logging.INFO,
                "dryrun",
                "Dry run: would raise %s from %s to %s until %s, then put back what they have now. Nothing was "
                "changed and no revoke was scheduled.",
                ask.who,
                now,
                held(plan.target),
                iso(expires),
            )
            return {**raised, "outcome": "dry-run"}
        self.update_admin(ask.org_id, admin_id, **plan.target)
        self._log(
            SUCCESS,
            "raise",
            "Raised %s (admin id %s) from %s to %s until %s (%s).",
            ask.who,
            admin_id,
            now,
            held(plan.target),
            iso(expires),
            duration_label(ask.duration),
        )
        return self._schedule(
            ask,
            {**raised, "outcome": "raised"},
            expires,
            undo=lambda: self.update_admin(ask.org_id, admin_id, **before),
        )

    def _extend(self, ask: Ask, existing: dict, pending: PendingRevoke, expires: datetime, result: dict) -> dict:
        admin_id = str(existing.get("id"))
        granted = pending.grant.get("granted") or {}
        plan = raised_access(existing, ask.org_access, ask.network.id if ask.network else None, ask.network_access)
        if plan.refusal or not plan.unchanged or not same_access(existing, granted):
            raise MerakiProblem(
                "access",
                f"{ask.who} already holds a time-bound grant until {pending.grant.get('expires_at')} (revoked by the "
                f"scheduled job '{pending.revoke['name']}'). Only that same access can be extended: ask for "
                f"{held(granted)}, or revoke the grant first. Nothing was changed.",
            )
        extended = {**result, "admin_id": admin_id, "before": pending.grant.get("before"), "granted": granted}
        if ask.dryrun:
            self._log(
                logging.INFO,
                "dryrun",
                "Dry run: would move the revoke of %s's grant from %s to %s. Nothing was changed.",
                ask.who,
                pending.grant.get("expires_at"),
                iso(expires),
            )
            return {**extended, "outcome": "dry-run", "revoke": pending.revoke}
        try:
            revoke = self.revokes.move(pending, expires)
        except Exception as exc:  # whatever Nautobot raised: the revoke stays where it was
            raise MerakiProblem(
                "schedule",
                f"Could not move the revoke '{pending.revoke['name']}' ({type(exc).__name__}: {exc}); it still runs at "
                f"{pending.grant.get('expires_at')}. Nothing was changed.",
            ) from exc
        self._log(
            SUCCESS,
            "schedule",
            "Extended %s's grant (%s): its revoke moved from %s to %s.",
            ask.who,
            held(granted),
            pending.grant.get("expires_at"),
            iso(expires),
        )
        self._warn_if_waiting(revoke)
        return {**extended, "outcome": "extended", "revoke": revoke}

    def _schedule(self, ask: Ask, result: dict, expires: datetime, *, undo: Callable[[], object]) -> dict:
        """Schedule the revoke of the grant just made; if that fails, undo the grant and fail the run."""
        grant = {
            "organization_id": ask.org_id,
            "organization_name": ask.org_name,
            "admin_id": result["admin_id"],
            "email": ask.email,
            "granted": result["granted"],
            "before": result["before"],
            "grant_result_id": self.revokes.grant_result_id,
            "expires_at": iso(expires),
            "requested_by": self.revokes.requested_by,
        }
        try:
            revoke = self.revokes.schedule(grant, expires)
        except Exception as exc:  # any failure: a time-bound grant is never left without its revoke
            reason = f"{type(exc).__name__}: {exc}"
            try:
                undo()
            except MerakiProblem as undo_failed:
                raise MerakiProblem(
                    "schedule",
                    f"Could not schedule the revoke ({reason}), and undoing the grant failed too: {undo_failed} "
                    f"{ask.who} keeps the access with no expiry: take it back in the Meraki dashboard.",
                ) from exc
            raise MerakiProblem(
                "schedule",
                f"Could not schedule the revoke ({reason}), so the grant was undone: {ask.who} has what they had "
                "before. Fix the problem and run the Job again.",
            ) from exc
        self._log(
            logging.INFO,
            "schedule",
            "Nautobot runs the revoke at %s: scheduled job '%s' (%s).",
            revoke["start_time"],
            revoke["name"],
            revoke["scheduled_job_id"],
        )
        self._warn_if_waiting(revoke)
        return {**result, "revoke": revoke}

    def _warn_if_waiting(self, revoke: dict) -> None:
        if revoke.get("awaits_approval"):
            self._log(
                logging.WARNING,
                "schedule",
                "The revoke waits for approval in Nautobot: until someone approves it, the access does not expire "
                "(scheduled job '%s').",
                revoke["name"],
            )
