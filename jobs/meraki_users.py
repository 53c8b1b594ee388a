"""Nautobot Job: add an administrator to a Cisco Meraki organization.

The Job runs in Nautobot's Celery worker, which holds the Meraki API key; everything that reaches
Meraki goes through the official SDK. Settings come from the worker's (and web server's) environment:

- ``MERAKI_DASHBOARD_API_KEY``: the Dashboard API key (required).
- ``MERAKI_BASE_URL``: the API base URL; defaults to the global cloud, set it for a regional cloud.
- ``NAUTOBOT_JOB_MERAKI_EMAIL_VALIDATION_REGEX``: the regex every new admin's email must match.
- ``NAUTOBOT_JOB_MERAKI_BOT_USERS``: the Nautobot usernames of the Slack bot (comma-separated). Only
  when one of them runs the Job is its ``requested_by`` taken as who asked; from anyone else it is
  shown as a claim.
- ``NAUTOBOT_JOB_MERAKI_DURATIONS``: the durations "For how long" offers besides "Until removed"
  (comma-separated, units m/h/d; default ``1h,2h,4h,8h,1d,7d,30d``).
- ``NAUTOBOT_JOB_MERAKI_LONGEST``: per organization access level, the longest duration (``full=8h,enterprise=8h``);
  a level not listed has no cap.
- ``NAUTOBOT_JOB_MERAKI_UNTIL_REMOVED``: the organization access levels that may be granted "until removed"
  (comma-separated; unset: all).

A grant with a duration is time-bound (admin_grants.py): a new administrator is created, an existing one's access
is raised, and this Job schedules the Revoke Meraki Access Job at the expiry (revoke_schedules.py), so that
Nautobot's scheduler revokes it even when the Slack bot is down, and a grant made in Nautobot's own form expires
too. The limits hold for Nautobot's form as well as for the bot.
"""

from __future__ import annotations

import os
import re

from nautobot.apps.jobs import ChoiceVar, DryRunVar, Job, StringVar

from .admin_creation import AdminCreation
from .grant_terms import DURATIONS_ENV, UNTIL_REMOVED, GrantLimits, duration_choices
from .meraki_admins import NETWORK_ACCESS_CHOICES, ORG_ACCESS_CHOICES, dashboard_settings
from .meraki_runs import MerakiRunMixin
from .organizations import organization_choices
from .requesters import approved_by_var, request_id_var, requested_by_var
from .revoke_schedules import NautobotRevokes

name = "Meraki"

EMAIL_REGEX_ENV = "NAUTOBOT_JOB_MERAKI_EMAIL_VALIDATION_REGEX"
DEFAULT_EMAIL_REGEX = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"


def email_regex() -> tuple[str, str]:
    """The configured email regex and the field label that shows it.

    The label carries the regex because Nautobot's variables API does not expose it. A regex that
    does not compile must not widen what is accepted, so it turns into one that matches nothing.
    """
    pattern = os.environ.get(EMAIL_REGEX_ENV) or DEFAULT_EMAIL_REGEX
    try:
        re.compile(pattern)
    except re.error as exc:
        return (
            r"(?!)",
            f"User Email ({EMAIL_REGEX_ENV} is not a valid regex: {exc}; fix it on the worker and web server)",
        )
    return without_percent(pattern), f"User Email, regex: {pattern}"


def without_percent(pattern: str) -> str:
    """The same regex with each literal ``%`` written as ``\\x25``.

    Nautobot puts the regex into a Django validation message that is then %-formatted, so a ``%``
    in the regex turns every field error into a 500. Escaped backslashes are left alone.
    """
    return re.sub(r"\\\\|\\?%", lambda m: m.group() if m.group() == "\\\\" else r"\x25", pattern)


EMAIL_PATTERN, EMAIL_LABEL = email_regex()
ORGANIZATIONS = organization_choices(dashboard_settings())


class CreateMerakiUser(MerakiRunMixin, Job):
    """Add an administrator to a Meraki organization, optionally with access to one network."""

    user_email = StringVar(
        label=EMAIL_LABEL,
        description="Email address of the new administrator; Meraki sends the invitation there.",
        regex=EMAIL_PATTERN,
        max_length=254,
    )
    user_name = StringVar(
        label="User Name",
        description="Full name of the new administrator, as shown in the Meraki dashboard.",
        max_length=255,
    )
    meraki_org_id = ChoiceVar(
        label="Meraki Organization",
        description=ORGANIZATIONS.help_text,
        choices=ORGANIZATIONS.choices,
    )
    meraki_access_level = ChoiceVar(
        label="Organization Access",
        description="Access to the whole organization; 'None' with a network grants only that network.",
        choices=ORG_ACCESS_CHOICES,
        default="read-only",
    )
    meraki_network = StringVar(
        label="Meraki Network",
        description="Optional: a network name or ID in the organization to grant access to.",
        required=False,
        max_length=255,
    )
    meraki_network_access = ChoiceVar(
        label="Network Access",
        description="Access to the network above (ignored without a network).",
        choices=NETWORK_ACCESS_CHOICES,
        default="read-only",
        required=False,
    )
    dryrun = DryRunVar(description="Check everything and log what would be created, without creating it.")
    duration = ChoiceVar(
        label="For how long",
        description=(
            "'Until removed', or a time after which Nautobot takes the access back: it removes a new administrator, "
            f"or puts back what an existing one had (their access is raised meanwhile). Offered: {DURATIONS_ENV}."
        ),
        choices=duration_choices(os.environ),
        default=UNTIL_REMOVED,
        required=False,
    )
    requested_by = requested_by_var()
    approved_by = approved_by_var()
    request_id = request_id_var()

    class Meta:
        name = "Create Meraki User"
        description = (
            "Add an administrator to a Cisco Meraki organization (optionally with access to one network). "
            "Never creates a duplicate: an existing administrator is reported, not changed, unless access is asked "
            "for a while: then it is raised, and Nautobot puts it back at the expiry."
        )
        field_order = [  # noqa: RUF012 - Nautobot reads Meta as plain class attributes
            "user_email",
            "user_name",
            "meraki_org_id",
            "meraki_access_level",
            "meraki_network",
            "meraki_network_access",
            "dryrun",
            "duration",
            "requested_by",
            "approved_by",
            "request_id",
        ]
        has_sensitive_variables = False
        soft_time_limit = 600
        time_limit = 660

    def run(
        self,
        *,
        user_email: str,
        user_name: str,
        meraki_org_id: str,
        meraki_access_level: str,
        meraki_network: str = "",
        meraki_network_access: str = "read-only",
        dryrun: bool = False,
        duration: str = UNTIL_REMOVED,
        requested_by: str = "",
        approved_by: str = "",
        request_id: str = "",
    ) -> dict:
        requester = self.log_request(requested_by, request_id, approved_by)
        revokes = NautobotRevokes(self.user, str(self.job_result.id), requester)
        return self.meraki_result(
            lambda: AdminCreation.connect(
                dashboard_settings(), self.logger, revokes=revokes, limits=GrantLimits.from_env(os.environ)
            ).add(
                email=user_email,
                name=user_name,
                org_id=meraki_org_id,
                org_access=meraki_access_level,
                network=meraki_network or "",
                network_access=meraki_network_access or "read-only",
                dryrun=dryrun,
                duration=duration or UNTIL_REMOVED,
            ),
            requester,
            self.approval(approved_by),
            email=user_email,
            organization_id=meraki_org_id,
            duration=duration or UNTIL_REMOVED,
        )
