"""Nautobot Job: revoke a time-bound grant that Create Meraki User made (admin_expiry.py does the work).

Create Meraki User schedules one run of this Job for every time-bound grant, at its expiry (revoke_schedules.py);
the Slack bot can also run it at once ("revoke now"). It is hidden from Nautobot's Jobs list, but it must be
enabled, or Create Meraki User refuses time-bound grants. It must not need approval: a revoke that waits for
approval leaves the access in place until someone approves it.

A run other than the grant's own scheduled one deletes that still-pending scheduled run, so a grant is never
revoked twice. Same settings as Create Meraki User (the worker's ``MERAKI_DASHBOARD_API_KEY``,
``MERAKI_BASE_URL`` and ``NAUTOBOT_JOB_MERAKI_BOT_USERS``).
"""

from __future__ import annotations

from nautobot.apps.jobs import Job, JSONVar

from .admin_expiry import AdminExpiry
from .meraki_admins import dashboard_settings
from .meraki_runs import MerakiRunMixin
from .requesters import approved_by_var, request_id_var, requested_by_var
from .revoke_schedules import REVOKE_JOB, delete_pending_revokes

name = "Meraki"


class RevokeMerakiAccess(MerakiRunMixin, Job):
    """Put back what an administrator had before a time-bound grant, or remove the administrator it created."""

    grant = JSONVar(
        label="Grant",
        description=(
            "What Create Meraki User granted, as it recorded it: organization_id, organization_name, admin_id, "
            "email, granted {orgAccess, networks}, before {orgAccess, networks, tags} or null, grant_result_id, "
            "expires_at."
        ),
    )
    requested_by = requested_by_var()
    approved_by = approved_by_var()
    request_id = request_id_var()

    class Meta:
        name = REVOKE_JOB
        description = (
            "Revoke a time-bound Meraki grant: restore the access the administrator had before, or remove the "
            "administrator it created. Access changed by hand since the grant is left alone."
        )
        field_order = ["grant", "requested_by", "approved_by", "request_id"]  # noqa: RUF012 - Nautobot reads Meta as plain class attributes
        has_sensitive_variables = False
        hidden = True
        soft_time_limit = 600
        time_limit = 660

    def run(self, *, grant: dict, requested_by: str = "", approved_by: str = "", request_id: str = "") -> dict:
        requester = self.log_request(requested_by, request_id, approved_by)
        echo = grant if isinstance(grant, dict) else {}
        result = self.meraki_result(
            lambda: AdminExpiry.connect(dashboard_settings(), self.logger).revoke(grant),
            requester,
            self.approval(approved_by),
            email=echo.get("email"),
            organization_id=echo.get("organization_id"),
            grant_result_id=echo.get("grant_result_id"),
        )
        if result["outcome"] != "failed":
            self.delete_other_revokes(str(result.get("grant_result_id") or ""))
        return result

    def delete_other_revokes(self, grant_result_id: str) -> None:
        """Done now: the grant's scheduled revoke, unless it is this very run, must not run again later."""
        own = getattr(getattr(self, "job_result", None), "scheduled_job_id", None)
        for deleted in delete_pending_revokes(grant_result_id, keep=own):
            self.logger.info(
                "Deleted the scheduled revoke '%s' of the same grant: it is done now.",
                deleted,
                extra={"grouping": "schedule"},
            )
