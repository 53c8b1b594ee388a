"""The Job's Meraki steps against the Meraki stand-in, without Nautobot (edge cases, fast).

``jobs/__init__.py`` needs a configured Nautobot, so the Nautobot-free modules are loaded as a package of their
own that never runs it.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from pathlib import Path

import pytest

from testbed.meraki_standin import MerakiStandIn
from testbed.seed import ACME, BRANCH, GLOBEX, seed

PACKAGE = "jobs_without_nautobot"
package = sys.modules.setdefault(PACKAGE, types.ModuleType(PACKAGE))
package.__path__ = [str(Path(__file__).resolve().parents[2] / "jobs")]
meraki_admins = importlib.import_module(f"{PACKAGE}.meraki_admins")
admin_creation = importlib.import_module(f"{PACKAGE}.admin_creation")
admin_search = importlib.import_module(f"{PACKAGE}.admin_search")
admin_report = importlib.import_module(f"{PACKAGE}.admin_report")


@pytest.fixture(scope="module")
def standin():
    with MerakiStandIn() as server:
        yield server


@pytest.fixture
def admins(standin):
    seed(standin)
    settings = meraki_admins.DashboardSettings(api_key=standin.api_key, base_url=standin.base_url)
    client = meraki_admins.dashboard(settings, timeout=5, retries=2)
    yield admin_creation.AdminCreation(client, standin.base_url, logging.getLogger("job"))
    standin.clear_faults()


@pytest.fixture
def search(admins, standin):
    return admin_search.AdminSearch(admins.api, standin.base_url, logging.getLogger("job"))


def add(admins, **kwargs):
    args = {"email": "a@example.com", "name": "A", "org_id": ACME, "org_access": "read-only", **kwargs}
    return admins.add(**args)


def problem(admins, **kwargs) -> str:
    with pytest.raises(meraki_admins.MerakiProblem) as caught:
        add(admins, **kwargs)
    return str(caught.value)


def test_creates_and_reports(admins, standin):
    result = add(admins, network=BRANCH, network_access="full")
    assert result["outcome"] == "created"
    assert standin.admins(ACME)[0]["networks"] == [{"id": BRANCH, "access": "full"}]


def test_two_networks_with_one_name_need_the_id(admins, standin):
    standin.add_network(ACME, "N_2", "Branch Office")
    message = problem(admins, network="Branch Office")
    assert "More than one network is named 'Branch Office'" in message and "N_2" in message


def test_org_access_none_needs_a_network(admins, standin):
    message = problem(admins, org_access="none")
    assert "grants nothing without a network" in message
    assert standin.requests == []


def test_forbidden_organization(admins, standin):
    standin.reset()
    standin.add_organization(GLOBEX, "Globex", forbidden=True)
    assert problem(admins, org_id=GLOBEX).startswith(
        f"The API key may not read the organization in organization {GLOBEX} (403"
    )


def test_api_access_disabled(admins, standin):
    standin.reset()
    standin.add_organization(GLOBEX, "Globex", api_enabled=False)
    message = problem(admins, org_id=GLOBEX)
    assert "(404: To make requests you must first enable API access" in message


def test_meraki_unreachable(standin):
    settings = meraki_admins.DashboardSettings(api_key="k", base_url="http://127.0.0.1:9/api/v1")
    client = meraki_admins.dashboard(settings, timeout=1, retries=1)
    admins = admin_creation.AdminCreation(client, settings.base_url, logging.getLogger("job"))
    message = problem(admins)
    assert message.startswith("Could not reach the Meraki Dashboard API at http://127.0.0.1:9/api/v1")
    assert "MERAKI_BASE_URL" in message


def test_creation_refused(admins, standin):
    standin.fail_with(400, match="POST", body={"errors": ["Name is too long"]})
    assert problem(admins) == (
        "Meraki refused to create the administrator (400: Name is too long). Correct the input and run the Job again."
    )


def test_missing_key():
    with pytest.raises(meraki_admins.MerakiProblem, match="MERAKI_DASHBOARD_API_KEY is not set"):
        meraki_admins.dashboard(meraki_admins.DashboardSettings(api_key="", base_url="http://x"))


def test_settings_default_to_the_global_cloud(monkeypatch):
    monkeypatch.delenv("MERAKI_BASE_URL", raising=False)
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", " key ")
    settings = meraki_admins.dashboard_settings()
    assert settings == meraki_admins.DashboardSettings(api_key="key", base_url="https://api.meraki.com/api/v1")


# finding and removing across organizations


def test_find_matches_an_email_exactly_and_anything_else_as_part(search, standin):
    standin.add_admin(ACME, "ann@example.com", "Ann Lee")
    standin.add_admin(ACME, "joann@example.com", "Jo Ann")
    assert [m["email"] for m in search.find("ANN@example.com", ACME)["matches"]] == ["ann@example.com"]
    assert [m["email"] for m in search.find("ann", ACME)["matches"]] == ["ann@example.com", "joann@example.com"]


def test_find_reports_a_rate_limit_that_never_lifts_and_goes_on(search, standin):
    standin.add_admin(ACME, "ann@example.com", "Ann")
    standin.add_admin(GLOBEX, "ann@example.com", "Ann")
    standin.rate_limit(GLOBEX, times=5, retry_after=0)  # more than the client's two attempts
    result = search.find("ann@example.com", meraki_admins.ALL_ORGANIZATIONS)
    assert [m["organization_id"] for m in result["matches"]] == [ACME]
    [globex] = result["not_searched"]
    assert globex["organization_id"] == GLOBEX and "(429: API rate limit exceeded" in globex["reason"]


def test_find_returns_its_matches_as_a_table_for_slack(search, standin):
    standin.add_admin(ACME, "ann@example.com", "Ann", networks=[{"id": BRANCH, "access": "full"}], two_factor=True)
    standin.add_admin(ACME, "ann.b@example.com", "Ann B", last_active="2026-11-20T10:00:00Z")
    standin.rate_limit(GLOBEX, times=5, retry_after=0)
    result = search.find("ann", meraki_admins.ALL_ORGANIZATIONS)
    table = result["table"]
    assert [column["label"] for column in table["columns"]] == [
        "Organization", "Name", "Email", "Access", "2FA", "Last seen", "Until"
    ]  # fmt: skip
    assert table["columns"][-1] == {"key": "expires_at", "label": "Until", "type": "datetime"}
    assert table["rows"] == [
        {"organization": "Acme Corp", "name": "Ann", "email": "ann@example.com", "access": "read-only +1 net",
         "two_factor": True, "last_active": "", "expires_at": None},
        {"organization": "Acme Corp", "name": "Ann B", "email": "ann.b@example.com", "access": "read-only",
         "two_factor": False, "last_active": "2026-11-20", "expires_at": None},
    ]  # fmt: skip
    assert table["title"] == result["summary"]
    [note] = table["notes"]
    assert note.startswith("Not searched: Globex (Meraki kept rate-limiting")


def test_find_says_until_when_time_bound_access_lasts(search, standin, caplog):
    ann = standin.add_admin(ACME, "ann@example.com", "Ann")
    standin.add_admin(GLOBEX, "ann@example.com", "Ann")  # the grant was in Acme: Globex's access is until removed
    standin.add_admin(ACME, "ann.b@example.com", "Ann B")
    expiry = admin_report.Expiry("2026-06-01T14:00:00Z")
    later = admin_report.Expiry("2026-06-02T09:30:00Z", awaits_approval=True)
    expiries = admin_report.Expiries(
        [
            ({"organization_id": ACME, "admin_id": ann["id"], "email": "someone.else@example.com"}, expiry),
            ({"organization_id": ACME, "admin_id": ann["id"]}, later),  # a second revoke: the first one ends it
            ({"organization_id": ACME, "admin_id": None, "email": "ANN.B@example.com"}, later),  # no id: its email
            ({"organization_id": GLOBEX, "admin_id": "999", "email": "ann@example.com"}, expiry),  # another admin
        ]
    )

    with caplog.at_level(logging.INFO, logger="job"):
        result = search.find("ann", meraki_admins.ALL_ORGANIZATIONS, expiries)

    until = {(m["organization_id"], m["email"]): m["expires_at"] for m in result["matches"]}
    assert until == {
        (ACME, "ann@example.com"): "2026-06-01T14:00:00Z",
        (ACME, "ann.b@example.com"): "2026-06-02T09:30:00Z",
        (GLOBEX, "ann@example.com"): None,
    }
    assert [row["expires_at"] for row in result["table"]["rows"]] == list(until.values())
    lines = [record.getMessage() for record in caplog.records if "admin id" in record.getMessage()]
    assert lines[0].endswith("; until 2026-06-01 14:00:00 UTC")
    assert lines[1].endswith("; until 2026-06-02 09:30:00 UTC (its revoke awaits approval in Nautobot: until "
                             "someone approves it, the access does not expire)")  # fmt: skip
    assert lines[2].endswith("; until removed")


def test_a_rejected_key_stops_the_search(search, standin):
    standin.api_key = "another"
    try:
        with pytest.raises(meraki_admins.MerakiProblem, match=r"Meraki rejected the API key \(401"):
            search.find("ann", ACME)
    finally:
        standin.api_key = "standin-api-key"


def test_text_from_meraki_stays_on_one_line():
    assert meraki_admins.plain("Eve\nInjected line\x1b[31m") == "Eve Injected line [31m"
    assert len(meraki_admins.plain("x" * 500)) == 200
