"""Nautobot Jobs for the rest of an administrator's life: find where they have access, and take it away.

Find also reads Nautobot's pending revokes of time-bound grants (revoke_schedules.py), to say until when each
administrator it finds keeps their access.
Both reach Meraki through :class:`MerakiAdmins` (admin_search.py, admin_removal.py) with the same settings
as Create Meraki User (the worker's ``MERAKI_DASHBOARD_API_KEY`` and ``MERAKI_BASE_URL``).
Many organizations mean many requests: the SDK paces them per organization and waits out a 429 for as long
as Meraki's Retry-After says.
An organization that refuses (API access off, forbidden) is reported and the others are still done.
"""

from __future__ import annotations

from nautobot.apps.jobs import ChoiceVar, DryRunVar, Job, StringVar

from .admin_removal import AdminRemoval
from .admin_search import AdminSearch
from .meraki_admins import ALL_ORGANIZATIONS, dashboard_settings
from .meraki_runs import MerakiRunMixin
from .org_lock import organization_lock
from .organizations import organization_choices, with_all_organizations
from .requesters import approved_by_var, request_id_var, requested_by_var
from .revoke_schedules import expiries

name = "Meraki"

ANY_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
"""Removal accepts any address: an administrator added by hand need not match the creation regex."""

ORGANIZATIONS = with_all_organizations(organization_choices(dashboard_settings()))
# Room for hundreds of organizations at Meraki's 10 requests a second each, and for its rate-limit waits.
SOFT_TIME_LIMIT, TIME_LIMIT = 900, 960


def organization_var() -> ChoiceVar:
    return ChoiceVar(
        label="Meraki Organization",
        description=ORGANIZATIONS.help_text,
        choices=ORGANIZATIONS.choices,
        default=ALL_ORGANIZATIONS,
    )


def on_by_default(dryrun: DryRunVar) -> DryRunVar:
    """A DryRunVar that Nautobot's variables API reports as on (DryRunVar forces its default off).

    It stays a DryRunVar, so that Nautobot still lets a dry run skip approval and clients still know it.
    """
    dryrun.field_attrs["initial"] = True
    return dryrun


class FindMerakiUser(MerakiRunMixin, Job):
    """List every Meraki organization where an administrator has access, and what access."""

    query = StringVar(
        label="Email or Name",
        description="An email address finds that administrator; anything else finds every administrator whose "
        "name or email contains it. Case does not matter.",
        min_length=2,
        max_length=254,
    )
    meraki_org_id = organization_var()
    requested_by = requested_by_var()
    approved_by = approved_by_var()
    request_id = request_id_var()

    class Meta:
        name = "Find Meraki User"
        description = (
            "Find Cisco Meraki administrators by email or name across every organization the API key can see "
            "(or one), with their organization, network and tag access. Changes nothing."
        )
        field_order = ["query", "meraki_org_id", "requested_by", "approved_by", "request_id"]  # noqa: RUF012 - Nautobot reads Meta as plain class attributes
        has_sensitive_variables = False
        soft_time_limit = SOFT_TIME_LIMIT
        time_limit = TIME_LIMIT

    def run(
        self,
        *,
        query: str,
        meraki_org_id: str = ALL_ORGANIZATIONS,
        requested_by: str = "",
        approved_by: str = "",
        request_id: str = "",
    ) -> dict:
        requester = self.log_request(requested_by, request_id, approved_by)
        result = self.meraki_result(
            lambda: AdminSearch.connect(dashboard_settings(), self.logger).find(query, meraki_org_id, expiries()),
            requester,
            self.approval(approved_by),
            query=query,
        )
        if result.get("not_searched") and not result.get("organizations_searched"):
            self.fail("No organization could be searched; the reasons are listed above.", extra={"grouping": "summary"})
            result["outcome"] = "failed"
        return result


class RemoveMerakiUser(MerakiRunMixin, Job):
    """Take an administrator's access away in one Meraki organization or all of them."""

    user_email = StringVar(
        label="User Email",
        description="Email address of the administrator to remove (case does not matter).",
        regex=ANY_EMAIL,
        max_length=254,
    )
    meraki_org_id = organization_var()
    dryrun = on_by_default(
        DryRunVar(
            description="On by default: log exactly what would be removed, without removing it. Turn it off to remove."
        )
    )
    requested_by = requested_by_var()
    approved_by = approved_by_var()
    request_id = request_id_var()

    class Meta:
        name = "Remove Meraki User"
        description = (
            "Remove a Cisco Meraki administrator from one organization or every organization the API key can see. "
            "Dry run by default; never removes the API key's own administrator or an organization's last "
            "administrator with full access."
        )
        field_order = ["user_email", "meraki_org_id", "dryrun", "requested_by", "approved_by", "request_id"]  # noqa: RUF012 - Nautobot reads Meta as plain class attributes
        has_sensitive_variables = False
        dryrun_default = True  # the box in Nautobot's own form starts ticked
        soft_time_limit = SOFT_TIME_LIMIT
        time_limit = TIME_LIMIT

    @classmethod
    def validate_data(cls, data, files=None):
        """Only an explicit JSON ``false`` removes; anything else sent as ``dryrun``, or nothing, is a dry run.

        Left to Django's checkbox, ``null``, ``""``, ``0`` and ``"false"`` would all mean False, that is remove.
        Nautobot's own form posts an unticked box as no ``dryrun`` at all, but it does not come here: its view
        cleans the form itself, and the unticked box arrives in ``run`` as False.
        """
        if isinstance(data, dict) and data.get("dryrun") is not False:
            data = {**data, "dryrun": True}
        return super().validate_data(data, files=files)

    def run(
        self,
        *,
        user_email: str,
        meraki_org_id: str = ALL_ORGANIZATIONS,
        dryrun: bool = True,
        requested_by: str = "",
        approved_by: str = "",
        request_id: str = "",
    ) -> dict:
        # A run whose inputs skipped validate_data (a schedule's or an approval's stored inputs) is held to the
        # same rule: only False removes.
        dryrun = dryrun is not False
        requester = self.log_request(requested_by, request_id, approved_by)
        result = self.meraki_result(
            lambda: AdminRemoval.connect(dashboard_settings(), self.logger, lock=organization_lock).remove(
                user_email, meraki_org_id, dryrun=dryrun
            ),
            requester,
            self.approval(approved_by),
            email=user_email,
            dryrun=dryrun,
        )
        if result["outcome"] == "incomplete":
            self.fail("%s", result["summary"], extra={"grouping": "summary"})
        return result
