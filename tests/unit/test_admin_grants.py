"""Time-bound grants and their revoke against the Meraki stand-in, without Nautobot (the schedules are a fake here;
tests/integration/test_expiry_jobs.py runs the real ones)."""

from __future__ import annotations

import importlib
import logging
from datetime import timedelta

import pytest

from testbed.meraki_standin import MerakiStandIn
from testbed.seed import ACME, BRANCH, WAREHOUSE, seed
from tests.unit.test_meraki_admins import PACKAGE

meraki_admins = importlib.import_module(f"{PACKAGE}.meraki_admins")
admin_creation = importlib.import_module(f"{PACKAGE}.admin_creation")
admin_grants = importlib.import_module(f"{PACKAGE}.admin_grants")
admin_expiry = importlib.import_module(f"{PACKAGE}.admin_expiry")
grant_terms = importlib.import_module(f"{PACKAGE}.grant_terms")
JANE = "jane@example.com"


class FakeRevokes:
    """Schedules kept in a list; ``fail`` makes scheduling raise like Nautobot might."""

    grant_result_id = "result-1"
    requested_by = "Slack user <@U1>"

    def __init__(self):
        self.scheduled: list[dict] = []
        self.fail: Exception | None = None

    def check_ready(self) -> None:
        pass

    def pending(self, org_id, admin_id):
        for grant in self.scheduled:
            if (grant["organization_id"], grant["admin_id"]) == (org_id, admin_id):
                return admin_grants.PendingRevoke(grant, self.entry(grant))
        return None

    def entry(self, grant):
        return {"scheduled_job_id": "s1", "name": "revoke", "start_time": grant["expires_at"], "awaits_approval": False}

    def schedule(self, grant, expires_at):
        if self.fail:
            raise self.fail
        self.scheduled.append(grant)
        return self.entry(grant)

    def move(self, pending, expires_at):
        pending.grant["expires_at"] = admin_grants.iso(expires_at)
        return self.entry(pending.grant)


@pytest.fixture(scope="module")
def standin():
    with MerakiStandIn() as server:
        yield server


@pytest.fixture
def revokes():
    return FakeRevokes()


@pytest.fixture
def grants(standin, revokes):
    seed(standin)
    settings = meraki_admins.DashboardSettings(api_key=standin.api_key, base_url=standin.base_url)
    client = meraki_admins.dashboard(settings, timeout=5, retries=2)
    limits = grant_terms.GrantLimits.from_env({"NAUTOBOT_JOB_MERAKI_LONGEST": "full=8h"})
    return admin_creation.AdminCreation(
        client, standin.base_url, logging.getLogger("job"), revokes=revokes, limits=limits
    )


def expiry(standin):
    return admin_expiry.AdminExpiry(
        meraki_admins.dashboard(
            meraki_admins.DashboardSettings(api_key=standin.api_key, base_url=standin.base_url), timeout=5, retries=2
        ),
        standin.base_url,
        logging.getLogger("job"),
    )


def add(grants, **kwargs):
    args = {"email": JANE, "name": "Jane", "org_id": ACME, "org_access": "read-only", "duration": "1h", **kwargs}
    return grants.add(**args)


def test_durations_parse_bounded_and_label():
    assert grant_terms.parse_duration("") is None
    assert grant_terms.parse_duration("30m") == timedelta(minutes=30)
    assert grant_terms.duration_label("2d") == "2 days" and grant_terms.duration_label("1h") == "1 hour"
    assert (
        grant_terms.parse_duration("40s") == timedelta(seconds=40) and grant_terms.duration_label("40s") == "40 seconds"
    )
    for bad in ("0h", "1w", "h", "1" * 50 + "h", "-1h", "1.5h", "999999d", "400d", "1h\n1h"):
        with pytest.raises(ValueError):
            grant_terms.parse_duration(bad)
    choices = grant_terms.duration_choices({"NAUTOBOT_JOB_MERAKI_DURATIONS": "30m, 1d,bogus,1d"})
    assert choices == [("", "Until removed"), ("30m", "30 minutes"), ("1d", "1 day")]
    assert [c for c, _ in grant_terms.duration_choices({})] == ["", "1h", "2h", "4h", "8h", "1d", "7d", "30d"]


def test_limits_refuse_and_name_the_setting():
    limits = grant_terms.GrantLimits.from_env(
        {"NAUTOBOT_JOB_MERAKI_LONGEST": "full=8h", "NAUTOBOT_JOB_MERAKI_UNTIL_REMOVED": "read-only"}
    )
    assert limits.refusal("full", "8h") == "" and limits.refusal("read-only", "") == ""
    assert "NAUTOBOT_JOB_MERAKI_LONGEST" in limits.refusal("full", "1d") and "8 hours" in limits.refusal("full", "1d")
    assert "NAUTOBOT_JOB_MERAKI_UNTIL_REMOVED" in limits.refusal("full", "")
    broken = grant_terms.GrantLimits.from_env({"NAUTOBOT_JOB_MERAKI_LONGEST": "full=forever"})
    assert "NAUTOBOT_JOB_MERAKI_LONGEST" in broken.refusal("read-only", "1h")  # a broken limit refuses everything


def test_a_new_admin_for_a_while_and_its_revoke(grants, revokes, standin):
    result = add(grants, network=BRANCH, network_access="full")
    assert result["outcome"] == "created" and result["before"] is None
    assert result["granted"] == {"orgAccess": "read-only", "networks": [{"id": BRANCH, "access": "full"}]}
    [grant] = revokes.scheduled
    assert grant["admin_id"] == result["admin_id"] and grant["grant_result_id"] == "result-1"
    assert result["revoke"]["start_time"] == result["expires_at"] == grant["expires_at"]

    done = expiry(standin).revoke(grant)
    assert done["outcome"] == "removed" and standin.admins(ACME) == []
    assert done["table"]["rows"][0]["outcome"] == "removed"
    assert expiry(standin).revoke(grant)["outcome"] == "gone"


def test_raise_then_restore_and_a_second_revoke_is_already_restored(grants, revokes, standin):
    tags = [{"tag": "west", "access": "read-only"}]
    jane = standin.add_admin(ACME, JANE, "Jane", "read-only", [{"id": WAREHOUSE, "access": "monitor-only"}], tags=tags)
    result = add(grants, org_access="full", network=BRANCH, network_access="full")
    assert result["outcome"] == "raised" and result["admin_id"] == jane["id"]
    assert result["before"] == {"orgAccess": "read-only", "networks": jane["networks"], "tags": tags}
    [now] = standin.admins(ACME)
    assert now["orgAccess"] == "full" and len(now["networks"]) == 2 and now["tags"] == tags

    [grant] = revokes.scheduled
    done = expiry(standin).revoke(grant)
    assert done["outcome"] == "restored" and done["restored"] == result["before"]
    [back] = standin.admins(ACME)
    assert (back["orgAccess"], back["networks"], back["tags"]) == ("read-only", jane["networks"], tags)
    again = expiry(standin).revoke(grant)
    assert again["outcome"] == "gone" and "already restored" in again["summary"]


def test_changed_by_hand_is_left_alone(grants, revokes, standin):
    standin.add_admin(ACME, JANE, "Jane", "read-only")
    add(grants, org_access="full")
    [grant] = revokes.scheduled
    standin.update_admin(ACME, grant["admin_id"], orgAccess="enterprise")
    done = expiry(standin).revoke(grant)
    assert done["outcome"] == "changed" and standin.admins(ACME)[0]["orgAccess"] == "enterprise"


def test_never_lowers_and_the_same_access_changes_nothing(grants, revokes, standin):
    standin.add_admin(ACME, JANE, "Jane", "full", [{"id": BRANCH, "access": "full"}])
    with pytest.raises(meraki_admins.MerakiProblem, match="only raises access"):
        add(grants, org_access="read-only")
    with pytest.raises(meraki_admins.MerakiProblem, match="only raises access"):
        add(grants, org_access="full", network=BRANCH, network_access="read-only")
    same = add(grants, org_access="full", network=BRANCH, network_access="full")
    assert same["outcome"] == "exists" and same["expires_at"] is None and same["revoke"] is None
    assert revokes.scheduled == [] and not standin.requests_to("PUT", ".*")


def test_extend_moves_the_one_revoke(grants, revokes, standin):
    standin.add_admin(ACME, JANE, "Jane", "read-only")
    first = add(grants, org_access="full")
    second = add(grants, org_access="full", duration="4h")
    assert second["outcome"] == "extended" and len(revokes.scheduled) == 1
    assert second["expires_at"] > first["expires_at"] and second["before"] == first["before"]
    assert second["revoke"]["start_time"] == second["expires_at"]
    with pytest.raises(meraki_admins.MerakiProblem, match="already holds a time-bound grant"):
        add(grants, org_access="full", network=BRANCH, network_access="full")


def test_a_failed_schedule_undoes_the_grant(grants, revokes, standin):
    revokes.fail = RuntimeError("database gone")
    with pytest.raises(meraki_admins.MerakiProblem, match="grant was undone"):
        add(grants)
    assert standin.admins(ACME) == []
    standin.add_admin(ACME, JANE, "Jane", "read-only")
    with pytest.raises(meraki_admins.MerakiProblem, match="grant was undone"):
        add(grants, org_access="full")
    assert standin.admins(ACME)[0]["orgAccess"] == "read-only"


def test_limits_and_dry_runs_change_nothing(grants, revokes, standin):
    with pytest.raises(meraki_admins.MerakiProblem, match="NAUTOBOT_JOB_MERAKI_LONGEST"):
        add(grants, org_access="full", duration="1d")
    planned = add(grants, dryrun=True)
    assert planned["outcome"] == "dry-run" and planned["expires_at"]
    assert standin.admins(ACME) == [] and revokes.scheduled == []
    assert [r.method for r in standin.requests] == ["GET"] * len(standin.requests)


def test_a_malformed_grant_is_refused():
    for grant in (None, "x", {"organization_id": ACME}, {"organization_id": ACME, "admin_id": "1", "email": JANE}):
        with pytest.raises(meraki_admins.MerakiProblem, match="not one Create Meraki User recorded"):
            admin_expiry.checked_grant(grant)
