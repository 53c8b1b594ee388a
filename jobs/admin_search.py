"""Finding administrators across Meraki organizations: every match, with its access, and the organizations that
could not be searched; as the Find Meraki User Job logs and returns them.

Kept free of Nautobot imports like meraki_admins.py: the Job passes in the pending revokes of time-bound grants
(:class:`Expiries`), so that each match says until when its access lasts.
"""

from __future__ import annotations

import logging

from .admin_report import (
    FOUND_COLUMNS,
    Expiries,
    Organization,
    Skipped,
    admin_matches,
    admin_row,
    counted,
    describe_admin,
    left_out_note,
    plain,
    table_row,
)
from .meraki_admins import SUCCESS, MerakiAdmins, OrganizationRefused
from .result_table import result_table


class AdminSearch(MerakiAdmins):
    """Search every organization in scope; an organization that refuses is reported, the others still searched."""

    def find(self, query: str, choice: str, expiries: Expiries | None = None) -> dict:
        """Every administrator whose email is ``query`` (when it has an @) or whose name or email contains it.

        Each match's ``expires_at`` is when its time-bound access there ends (``expiries``); None: until removed.
        """
        wanted, expiries = query.strip().casefold(), expiries or Expiries()
        organizations, skipped = self.organizations_in_scope(choice)
        for ruled_out in skipped:
            self._not_searched(ruled_out, "Not searched")
        matches: list[dict] = []
        searched = 0
        for organization in organizations:
            try:
                matches += self._matches_in(organization, wanted, expiries)
            except OrganizationRefused as refused:
                skipped.append(Skipped(organization, str(refused)))
                self._not_searched(skipped[-1], "Not searched")
                continue
            searched += 1
        in_organizations = len({row["organization_id"] for row in matches})
        summary = (
            f"{counted(len(matches), 'match', 'matches')} for {plain(query)} in "
            f"{counted(in_organizations, 'organization')} ({searched} searched); {len(skipped)} not searched."
        )
        self._log(SUCCESS if matches else logging.INFO, "summary", "%s", summary)
        return {
            "outcome": "found" if matches else "none",
            "query": query,
            "matches": matches,
            "organizations_searched": searched,
            "not_searched": [ruled_out.as_dict() for ruled_out in skipped],
            "summary": summary,
            "table": result_table(
                FOUND_COLUMNS,
                map(table_row, matches),
                title=summary,
                notes=left_out_note("Not searched", skipped),
            ),
        }

    def _matches_in(self, organization: Organization, wanted: str, expiries: Expiries) -> list[dict]:
        """The organization's matching administrators, each logged with until when their access lasts there."""
        found = [admin for admin in self._admins_of(organization) if admin_matches(admin, wanted)]
        names = self._network_names(organization, found)
        rows = []
        for admin in found:
            row = admin_row(organization, admin, names)
            expiry = expiries.of(row)
            row["expires_at"] = expiry.expires_at if expiry else None
            rows.append(row)
            self._log(logging.INFO, "match", "%s; %s", describe_admin(row), expiry or "until removed")
        return rows
