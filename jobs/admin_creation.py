"""Adding an administrator to a Meraki organization: check the organization, resolve the network, never
duplicate, create; each step logged as the Create Meraki User Job shows it. With a duration the grant is
time-bound (admin_grants.py): an existing administrator's access is raised for that long.

Kept free of Nautobot imports like meraki_admins.py.
"""

from __future__ import annotations

import logging

import meraki

from .admin_grants import AdminGrants, Ask, RevokeScheduler, held
from .grant_terms import UNTIL_REMOVED, GrantLimits, access_of, parse_duration
from .meraki_admins import SUCCESS, MerakiProblem

NO_LIMITS = GrantLimits({}, None)


class AdminCreation(AdminGrants):
    """Add one administrator, unless they already are one there (never a duplicate; changed only by a time-bound
    grant)."""

    def __init__(
        self,
        api: meraki.DashboardAPI,
        base_url: str,
        logger: logging.Logger | logging.LoggerAdapter,
        *,
        revokes: RevokeScheduler | None = None,
        limits: GrantLimits = NO_LIMITS,
    ):
        super().__init__(api, base_url, logger)
        self.scheduler = revokes
        self.limits = limits

    @property
    def revokes(self) -> RevokeScheduler:
        if self.scheduler is None:
            raise MerakiProblem("setup", "This run cannot schedule revokes, so it grants no time-bound access.")
        return self.scheduler

    def check_terms(self, org_access: str, duration: str, *, dryrun: bool) -> None:
        """Refuse a duration that is malformed or outside the limits, before anything is asked of Meraki."""
        try:
            parse_duration(duration)
        except ValueError as exc:
            raise MerakiProblem("input", f"For how long: {exc}. Nothing was changed.") from None
        refusal = self.limits.refusal(org_access, duration)
        if refusal:
            raise MerakiProblem("limits", refusal)
        if duration != UNTIL_REMOVED and not dryrun:
            self.revokes.check_ready()

    def add(
        self,
        *,
        email: str,
        name: str,
        org_id: str,
        org_access: str,
        network: str = "",
        network_access: str = "read-only",
        dryrun: bool = False,
        duration: str = UNTIL_REMOVED,
    ) -> dict:
        if org_access == "none" and not network:
            raise MerakiProblem(
                "input",
                "Organization access 'None' grants nothing without a network: give a network, "
                "or choose another organization access.",
            )
        self.check_terms(org_access, duration, dryrun=dryrun)
        org = self.organization(org_id)
        org_name = org.get("name", org_id)
        target = self.network(org_id, network) if network else None
        networks = [{"id": target.id, "access": network_access}] if target else []
        result = {
            "email": email,
            "name": name,
            "organization_id": org_id,
            "organization_name": org_name,
            "org_access": org_access,
            "networks": networks,
            "duration": duration,
            "expires_at": None,
            "before": None,
            "granted": {"orgAccess": org_access, "networks": networks},
            "revoke": None,
        }
        grant = f"organization access '{org_access}'" + (
            f" and '{network_access}' on network {target.name} ({target.id})" if target else ""
        )

        existing = self.existing_admin(org_id, email)
        if duration != UNTIL_REMOVED:
            ask = Ask(email, name, org_id, org_name, org_access, target, network_access, duration, dryrun)
            return self.time_bound(ask, existing, result)
        if existing:
            access = held(access_of(existing))
            self._log(
                logging.WARNING,
                "lookup",
                "%s is already an administrator of %s (admin id %s) with %s; nothing was changed. "
                "Change existing access in the Meraki dashboard.",
                name,
                org_name,
                existing.get("id"),
                access,
            )
            return {**result, "outcome": "exists", "admin_id": existing.get("id"), "existing_access": access}

        if dryrun:
            self._log(
                logging.INFO,
                "dryrun",
                "Dry run: would create administrator '%s' <%s> in %s (%s) with %s. Nothing was created.",
                name,
                email,
                org_name,
                org_id,
                grant,
            )
            return {**result, "outcome": "dry-run", "admin_id": None}

        admin = self.create_admin(org_id, email=email, name=name, org_access=org_access, networks=networks)
        self.logger.log(
            SUCCESS,
            "Created administrator '%s' in %s (%s): admin id %s, %s, account status '%s' "
            "(Meraki emails the invitation to the new administrator).",
            name,
            org_name,
            org_id,
            admin.get("id"),
            grant,
            admin.get("accountStatus"),
            extra={"grouping": "create"},
        )
        return {
            **result,
            "outcome": "created",
            "admin_id": admin.get("id"),
            "account_status": admin.get("accountStatus"),
        }
