"""Removing administrators against the Meraki stand-in, without Nautobot (edge cases, fast).

``jobs/__init__.py`` needs a configured Nautobot, so the Nautobot-free modules are loaded as a package of
their own that never runs it. The per-organization lock is a stand-in here; tests/security/test_removal_job.py
runs the real one in Nautobot.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import types
from pathlib import Path

import pytest

from testbed.meraki_standin import MerakiStandIn
from testbed.seed import ACME, GLOBEX, seed

PACKAGE = "jobs_without_nautobot"
package = sys.modules.setdefault(PACKAGE, types.ModuleType(PACKAGE))
package.__path__ = [str(Path(__file__).resolve().parents[2] / "jobs")]
meraki_admins = importlib.import_module(f"{PACKAGE}.meraki_admins")
admin_removal = importlib.import_module(f"{PACKAGE}.admin_removal")


class Locks:
    """Records which organizations were locked; ``busy`` ones refuse, ``lost`` ones lose the lock before deleting."""

    def __init__(self) -> None:
        self.taken: list[str] = []
        self.busy: set[str] = set()
        self.lost: set[str] = set()

    @contextlib.contextmanager
    def __call__(self, organization):
        if organization.id in self.busy:
            raise admin_removal.OrganizationBusy("another removal in this organization was still under way")
        self.taken.append(organization.id)

        def renew() -> None:
            if organization.id in self.lost:
                raise admin_removal.OrganizationBusy("the organization's removal lock expired before the delete")

        yield renew


@pytest.fixture(scope="module")
def standin():
    with MerakiStandIn() as server:
        yield server


@pytest.fixture
def locks() -> Locks:
    return Locks()


@pytest.fixture
def removal(standin, locks):
    seed(standin)
    settings = meraki_admins.DashboardSettings(api_key=standin.api_key, base_url=standin.base_url)
    client = meraki_admins.dashboard(settings, timeout=5, retries=2)
    yield admin_removal.AdminRemoval(client, standin.base_url, logging.getLogger("job"), lock=locks)
    standin.clear_faults()


def emails(standin, org_id: str) -> list[str]:
    return [admin["email"] for admin in standin.admins(org_id)]


def test_a_pending_or_locked_full_admin_cannot_take_over(removal, standin):
    standin.add_admin(ACME, "ann@example.com", "Ann", "full", account_status="ok")
    standin.add_admin(ACME, "bob@example.com", "Bob", "full", account_status="pending")
    standin.add_admin(ACME, "cy@example.com", "Cy", "full", account_status="locked")
    result = removal.remove("ann@example.com", ACME, dryrun=False)
    assert [a["action"] for a in result["admins"]] == ["refused"]
    standin.add_admin(ACME, "dee@example.com", "Dee", "full", account_status="ok")
    result = removal.remove("ann@example.com", ACME, dryrun=False)
    assert [a["action"] for a in result["admins"]] == ["removed"]
    assert "ann@example.com" not in emails(standin, ACME)


def test_a_failed_removal_is_reported_and_the_rest_goes_on(removal, standin):
    standin.add_admin(ACME, "ann@example.com", "Ann")
    standin.add_admin(GLOBEX, "ann@example.com", "Ann")
    standin.fail_with(400, match=rf"^DELETE /organizations/{ACME}/", body={"errors": ["Admin is managed by SAML"]})
    result = removal.remove("ann@example.com", meraki_admins.ALL_ORGANIZATIONS, dryrun=False)
    assert result["outcome"] == "incomplete"
    assert [(a["organization_id"], a["action"]) for a in result["admins"]] == [(ACME, "failed"), (GLOBEX, "removed")]
    assert "Admin is managed by SAML" in result["admins"][0]["reason"]


def test_the_removal_returns_a_table_for_slack(removal, standin, locks):
    standin.add_admin(ACME, "ann@example.com", "Ann")
    standin.add_admin(GLOBEX, "ann@example.com", "Ann")
    locks.busy.add(GLOBEX)
    result = removal.remove("ann@example.com", meraki_admins.ALL_ORGANIZATIONS, dryrun=False)
    table = result["table"]
    assert [column["label"] for column in table["columns"]] == [
        "Organization",
        "Name",
        "Email",
        "Access",
        "Action",
        "Why",
    ]
    assert table["rows"] == [
        {"organization": "Acme Corp", "name": "Ann", "email": "ann@example.com", "access": "read-only",
         "action": "removed", "reason": ""}
    ]  # fmt: skip
    assert table["title"] == result["summary"]
    assert table["notes"] == ["Not checked: Globex (another removal in this organization was still under way)"]


def test_a_removal_locks_each_organization_and_a_dry_run_none(removal, standin, locks):
    standin.add_admin(ACME, "ann@example.com", "Ann")
    removal.remove("ann@example.com", meraki_admins.ALL_ORGANIZATIONS, dryrun=True)
    assert locks.taken == []
    removal.remove("ann@example.com", meraki_admins.ALL_ORGANIZATIONS, dryrun=False)
    assert locks.taken == [ACME, GLOBEX]


def test_a_busy_organization_is_not_checked_and_the_rest_goes_on(removal, standin, locks):
    standin.add_admin(ACME, "ann@example.com", "Ann")
    standin.add_admin(GLOBEX, "ann@example.com", "Ann")
    locks.busy.add(ACME)
    result = removal.remove("ann@example.com", meraki_admins.ALL_ORGANIZATIONS, dryrun=False)
    assert result["outcome"] == "incomplete"
    assert emails(standin, ACME) == ["ann@example.com"] and emails(standin, GLOBEX) == []
    [acme] = result["not_checked"]
    assert acme["organization_id"] == ACME and "still under way" in acme["reason"]
    # Busy means not even looked at: its administrators were not listed.
    assert standin.requests_to("GET", f"/organizations/{ACME}/admins") == []


def test_a_lock_lost_before_the_delete_removes_nothing(removal, standin, locks):
    standin.add_admin(ACME, "ann@example.com", "Ann")
    locks.lost.add(ACME)
    result = removal.remove("ann@example.com", ACME, dryrun=False)
    assert [(a["action"], a["reason"]) for a in result["admins"]] == [
        ("failed", "the organization's removal lock expired before the delete")
    ]
    assert emails(standin, ACME) == ["ann@example.com"]
    assert standin.requests_to("DELETE", ".*") == []


def test_the_key_owner_is_spared_without_being_named(removal, standin, caplog):
    standin.set_identity("Owner.Person@example.com", "Olga Owner")
    standin.add_admin(ACME, "owner.person@example.com", "Olga Owner", "full", account_status="ok")
    standin.add_admin(ACME, "ops@example.com", "Ops", "full", account_status="ok")
    with caplog.at_level(logging.DEBUG, logger="job"):
        result = removal.remove("ann@example.com", ACME, dryrun=False)
    assert result["outcome"] == "nothing-to-remove"
    logged = caplog.text.casefold()
    assert "the api key's own administrator" in logged
    assert "olga" not in logged and "owner.person" not in logged
