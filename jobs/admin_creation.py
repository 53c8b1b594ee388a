"""Adding an administrator to a Meraki organization: check the organization, resolve the network, never
duplicate, create; each step logged as the Create Meraki User Job shows it.

Kept free of Nautobot imports like meraki_admins.py.
"""

from __future__ import annotations

import logging

from .meraki_admins import SUCCESS, MerakiAdmins, MerakiProblem


class AdminCreation(MerakiAdmins):
    """Add one administrator, unless they already are one there (never a duplicate, never a change)."""

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
    ) -> dict:
        if org_access == "none" and not network:
            raise MerakiProblem(
                "input",
                "Organization access 'None' grants nothing without a network: give a network, "
                "or choose another organization access.",
            )
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
        }
        grant = f"organization access '{org_access}'" + (
            f" and '{network_access}' on network {target.name} ({target.id})" if target else ""
        )

        existing = self.existing_admin(org_id, email)
        if existing:
            held = f"organization access '{existing.get('orgAccess')}'"
            if existing.get("networks"):
                held += " and networks " + ", ".join(f"{n.get('id')}:{n.get('access')}" for n in existing["networks"])
            self._log(
                logging.WARNING,
                "lookup",
                "%s is already an administrator of %s (admin id %s) with %s; nothing was changed. "
                "Change existing access in the Meraki dashboard.",
                name,
                org_name,
                existing.get("id"),
                held,
            )
            return {**result, "outcome": "exists", "admin_id": existing.get("id"), "existing_access": held}

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
