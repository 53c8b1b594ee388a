"""Find Meraki User and Remove Meraki User, synced from Git into a real Nautobot and run by its real worker."""

from __future__ import annotations

import itertools
import re

import httpx
import pytest

from testbed.meraki_standin import FORBIDDEN, MerakiStandIn
from testbed.nautobot_stack import NautobotStack
from testbed.seed import ACME, BRANCH, GLOBEX, WAREHOUSE
from tests.support.job_runs import Run, run_job

pytestmark = pytest.mark.nautobot

FIND, REMOVE = "Find Meraki User", "Remove Meraki User"
INITECH, UMBRELLA = "333333", "444444"
JANE = "jane.doe@example.com"
DELETES = r"/organizations/\d+/admins/\d+"


def as_logged(text: str) -> str:
    """A line as Nautobot stores it: its log sanitizer redacts whatever precedes an @ (SANITIZER_PATTERNS)."""
    return re.sub(r"(https?://)?\S+\s*@", r"\1(redacted)@", text)


@pytest.fixture
def run(stack: NautobotStack, bot: httpx.Client):
    """Run a Job of this repository by name, as the Slack bot does, and wait for its result and log."""

    def run_named(job_name: str, **data) -> Run:
        return run_job(stack, bot, stack.job_ids[job_name], data)

    return run_named


def emails(meraki: MerakiStandIn, org_id: str) -> list[str]:
    return sorted(admin["email"] for admin in meraki.admins(org_id))


def second_full_admin(meraki: MerakiStandIn, org_id: str) -> dict:
    """Another active full administrator, so removing Jane does not leave the organization without one."""
    return meraki.add_admin(org_id, f"ops.{org_id}@example.com", "Ops Team", "full", account_status="ok")


def test_both_jobs_are_listed_with_their_forms(stack, bot):
    for job_name, order in (
        (FIND, ["query", "meraki_org_id", "requested_by", "approved_by", "request_id"]),
        (REMOVE, ["user_email", "meraki_org_id", "dryrun", "requested_by", "approved_by", "request_id"]),
    ):
        job = bot.get(f"/api/extras/jobs/{stack.job_ids[job_name]}/").raise_for_status().json()
        assert job["module_name"] == "meraki_chatops.jobs.meraki_lifecycle"
        assert job["enabled"] and job["installed"] and not job["has_sensitive_variables"]
        found = {v["name"]: v for v in bot.get(f"/api/extras/jobs/{job['id']}/variables/").raise_for_status().json()}
        assert list(found) == order
        choices = found["meraki_org_id"]["choices"]
        assert choices == [["all", "All organizations"], [ACME, f"Acme Corp ({ACME})"], [GLOBEX, f"Globex ({GLOBEX})"]]
        assert found["meraki_org_id"]["default"] == "all"
    remove = {v["name"]: v for v in bot.get(f"/api/extras/jobs/{stack.job_ids[REMOVE]}/variables/").json()}
    assert remove["dryrun"]["type"] == "DryRunVar"
    assert remove["dryrun"]["default"] is True  # a removal is a dry run unless someone turns that off


def test_find_across_three_organizations_with_one_forbidden(stack, meraki, run):
    meraki.add_organization(INITECH, "Initech", forbidden=True, listed=True)
    in_acme = meraki.add_admin(
        ACME,
        JANE,
        "Jane Doe",
        "none",
        [{"id": BRANCH, "access": "full"}, {"id": WAREHOUSE, "access": "monitor-only"}],
        tags=[{"tag": "west", "access": "read-only"}],
        account_status="ok",
        two_factor=True,
        last_active="2026-11-20T10:00:00Z",
    )
    in_globex = meraki.add_admin(GLOBEX, "Jane.Doe@Example.com", "Jane Doe", "read-only")
    meraki.add_admin(ACME, "john.roe@example.com", "John Roe", "full", account_status="ok")

    found = run(FIND, query="JANE.DOE@example.com", meraki_org_id="all")

    assert found.status == "SUCCESS", found.lines()
    assert found.data["outcome"] == "found"
    assert [(m["organization_name"], m["admin_id"]) for m in found.data["matches"]] == [
        ("Acme Corp", in_acme["id"]),
        ("Globex", in_globex["id"]),
    ]
    acme = found.data["matches"][0]
    assert acme["email"] == JANE and acme["name"] == "Jane Doe" and acme["org_access"] == "none"
    assert acme["networks"] == [
        {"id": BRANCH, "name": "Branch Office", "access": "full"},
        {"id": WAREHOUSE, "name": "Warehouse", "access": "monitor-only"},
    ]
    assert acme["tags"] == [{"tag": "west", "access": "read-only"}]
    assert (acme["account_status"], acme["two_factor"], acme["last_active"]) == ("ok", True, "2026-11-20T10:00:00Z")
    assert found.data["organizations_searched"] == 2
    [initech] = found.data["not_searched"]
    assert initech["organization_id"] == INITECH and initech["organization_name"] == "Initech"
    assert f"(403: {FORBIDDEN})" in initech["reason"]
    table = found.data["table"]  # what the Slack bot shows, in the Job's own columns
    assert [(row["organization"], row["email"], row["access"]) for row in table["rows"]] == [
        ("Acme Corp", JANE, "none +2 net"),
        ("Globex", "Jane.Doe@Example.com", "read-only"),
    ]
    assert table["title"] == found.data["summary"]
    assert table["notes"] == [f"Not searched: Initech ({initech['reason']})"]

    [not_searched] = found.lines("warning")
    assert not_searched.startswith(f"Not searched Initech ({INITECH}): The API key may not list")
    matches = [line for line in found.lines("info") if "admin id" in line]
    assert len(matches) == 2
    assert "Branch Office (N_24329156) 'full'" in matches[0] and "west 'read-only'" in matches[0]
    assert "two-factor on" in matches[0] and "last active 2026-11-20T10:00:00Z" in matches[0]
    assert found.summary() == [
        "success: " + as_logged("2 matches for JANE.DOE@example.com in 2 organizations (2 searched); 1 not searched.")
    ]
    assert {r.method for r in meraki.requests} == {"GET"}  # finding changes nothing


def test_find_by_part_of_a_name_in_one_organization(stack, meraki, run):
    meraki.add_admin(ACME, JANE, "Jane Doe")
    roe = meraki.add_admin(ACME, "john.roe@example.com", "John Roe")
    meraki.add_admin(GLOBEX, "roe@example.com", "Richard Roe")

    found = run(FIND, query="rOE", meraki_org_id=ACME)

    assert found.status == "SUCCESS", found.lines()
    assert [m["admin_id"] for m in found.data["matches"]] == [roe["id"]]
    assert meraki.requests_to("GET", f"/organizations/{GLOBEX}/admins") == []


def test_find_skips_an_organization_with_api_access_off_without_asking_it(stack, meraki, run):
    meraki.add_organization(UMBRELLA, "Umbrella", api_enabled=False)
    meraki.add_admin(UMBRELLA, JANE, "Jane Doe")

    found = run(FIND, query=JANE, meraki_org_id="all")

    assert found.status == "SUCCESS", found.lines()
    [umbrella] = found.data["not_searched"]
    assert umbrella["organization_id"] == UMBRELLA and "API access is off" in umbrella["reason"]
    assert meraki.requests_to("GET", f"/organizations/{UMBRELLA}.*") == []  # the org list already said so


def test_find_fails_when_no_organization_can_be_searched(stack, meraki, run):
    meraki.fail_with(403, times=None, match=r"^GET /organizations/\d+/admins$")
    found = run(FIND, query=JANE, meraki_org_id="all")
    assert found.status == "FAILURE"
    assert len(found.data["not_searched"]) == 2
    assert found.summary() == [
        "info: 0 matches for (redacted)@example.com in 0 organizations (0 searched); 2 not searched.",
        "failure: No organization could be searched; the reasons are listed above.",
    ]


def test_find_nothing_is_a_success(stack, meraki, run):
    meraki.add_admin(ACME, JANE, "Jane Doe")
    found = run(FIND, query="nobody@example.com", meraki_org_id="all")
    assert found.status == "SUCCESS", found.lines()
    assert found.data["outcome"] == "none" and found.data["matches"] == []
    assert found.summary() == [
        "info: " + as_logged("0 matches for nobody@example.com in 0 organizations (2 searched); 0 not searched.")
    ]


def test_remove_dry_run_then_for_real(stack, meraki, run):
    jane_acme = meraki.add_admin(ACME, JANE, "Jane Doe", "read-only", [{"id": BRANCH, "access": "full"}])
    jane_globex = meraki.add_admin(GLOBEX, "Jane.Doe@example.com", "Jane Doe", "full", account_status="ok")
    second_full_admin(meraki, GLOBEX)

    planned = run(REMOVE, user_email=JANE, meraki_org_id="all")  # no dryrun given: a dry run

    assert planned.status == "SUCCESS", planned.lines()
    assert emails(meraki, ACME) == [JANE] and emails(meraki, GLOBEX) == [
        "Jane.Doe@example.com",
        f"ops.{GLOBEX}@example.com",
    ]
    assert meraki.requests_to("DELETE", ".*") == []
    assert planned.data["outcome"] == "dry-run" and planned.data["dryrun"] is True
    assert [(a["organization_id"], a["admin_id"], a["action"]) for a in planned.data["admins"]] == [
        (ACME, jane_acme["id"], "would-remove"),
        (GLOBEX, jane_globex["id"], "would-remove"),
    ]
    assert [(row["organization"], row["action"]) for row in planned.data["table"]["rows"]] == [
        ("Acme Corp", "would-remove"),
        ("Globex", "would-remove"),
    ]
    plans = [line for line in planned.lines("info") if line.startswith("Dry run: would remove")]
    assert len(plans) == 2
    # Enough to restore by hand: where, who, and every access held.
    assert f"Acme Corp ({ACME}), admin id {jane_acme['id']}: organization access 'read-only'" in plans[0]
    assert "networks: Branch Office (N_24329156) 'full'" in plans[0]
    assert planned.summary() == [
        "success: "
        + as_logged(
            f"Dry run: {JANE} would be removed from 2 organizations, refused in 0, failed in 0, not checked in 0, "
            "not an administrator in 0."
        )
    ]

    removed = run(REMOVE, user_email=JANE, meraki_org_id="all", dryrun=False)

    assert removed.status == "SUCCESS", removed.lines()
    assert emails(meraki, ACME) == [] and emails(meraki, GLOBEX) == [f"ops.{GLOBEX}@example.com"]
    assert [(r.path, r.status) for r in meraki.requests_to("DELETE", DELETES)] == [
        (f"/organizations/{ACME}/admins/{jane_acme['id']}", 204),
        (f"/organizations/{GLOBEX}/admins/{jane_globex['id']}", 204),
    ]
    assert removed.data["outcome"] == "removed"
    assert [a["action"] for a in removed.data["admins"]] == ["removed", "removed"]
    done = [line for line in removed.lines("success") if line.startswith("Removed")]
    assert [line.removeprefix("Removed") for line in done] == [
        line.removeprefix("Dry run: would remove") for line in plans
    ]


def test_the_last_full_admin_is_refused(stack, meraki, run):
    jane = meraki.add_admin(ACME, JANE, "Jane Doe", "full", account_status="ok")
    # Neither can manage Acme in her place: one has not accepted the invitation, the other is read-only.
    meraki.add_admin(ACME, "invited@example.com", "Invited", "full", account_status="pending")
    meraki.add_admin(ACME, "reader@example.com", "Reader", "read-only", account_status="ok")
    meraki.add_admin(GLOBEX, JANE, "Jane Doe", "read-only")

    removed = run(REMOVE, user_email=JANE, meraki_org_id="all", dryrun=False)

    assert removed.status == "FAILURE"
    assert JANE in emails(meraki, ACME)
    assert JANE not in emails(meraki, GLOBEX)  # the other organization is still done
    assert meraki.requests_to("DELETE", f"/organizations/{ACME}/.*") == []
    [refused] = removed.lines("warning")
    assert refused.startswith(
        as_logged(f"Not removed: Jane Doe, email {JANE}, in Acme Corp ({ACME}), admin id {jane['id']}")
    )
    assert "last administrator with full organization access" in refused
    assert removed.data["outcome"] == "incomplete"
    assert [(a["organization_id"], a["action"]) for a in removed.data["admins"]] == [
        (ACME, "refused"),
        (GLOBEX, "removed"),
    ]
    [summary] = removed.summary()
    assert summary.startswith("failure: ")
    assert "removed from 1 organization, refused in 1" in summary and "may keep access" in summary


def test_the_api_keys_own_admin_is_refused(stack, meraki, run):
    meraki.set_identity("Automation@example.com", "Automation")
    own = meraki.add_admin(ACME, "automation@example.com", "Automation", "full", account_status="ok", has_api_key=True)
    second_full_admin(meraki, ACME)

    removed = run(REMOVE, user_email="automation@example.com", meraki_org_id="all", dryrun=False)

    assert removed.status == "FAILURE"
    assert "automation@example.com" in emails(meraki, ACME)
    assert meraki.requests_to("DELETE", ".*") == []
    [refused] = removed.lines("warning")
    assert own["id"] in refused and "whose API key this Job uses" in refused
    assert "The API key's own administrator is known; it is never removed." in removed.lines("info")


def test_unknown_key_owner_spares_only_admins_with_an_api_key(stack, meraki, run):
    meraki.fail_with(404, times=None, match=r"^GET /administered/identities/me$")
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only", has_api_key=True)
    meraki.add_admin(GLOBEX, JANE, "Jane Doe", "read-only", has_api_key=False)

    removed = run(REMOVE, user_email=JANE, meraki_org_id="all", dryrun=False)

    assert removed.status == "FAILURE"
    assert emails(meraki, ACME) == [JANE] and emails(meraki, GLOBEX) == []
    warnings = removed.lines("warning")
    assert warnings[0].startswith(
        "Cannot tell whose API key this Job uses (Meraki did not say whose API key this is (404"
    )
    assert "holds an API key, so it may be the Job's own" in warnings[1]


def test_a_rate_limited_organization_is_waited_out(stack, meraki, run):
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only")
    meraki.add_admin(GLOBEX, JANE, "Jane Doe", "read-only")
    meraki.rate_limit(GLOBEX, times=2, retry_after=2)

    removed = run(REMOVE, user_email=JANE, meraki_org_id="all", dryrun=False)

    assert removed.status == "SUCCESS", removed.lines()
    assert emails(meraki, ACME) == [] and emails(meraki, GLOBEX) == []
    globex = meraki.requests_to("GET", f"/organizations/{GLOBEX}/admins")
    assert [r.status for r in globex] == [429, 429, 200]
    # Meraki said "Retry-After: 2" each time: the next attempt came no sooner.
    waits = [later.received_at - earlier.received_at for earlier, later in itertools.pairwise(globex)]
    assert min(waits) >= 1.95, waits
    assert all(r.status != 429 for r in meraki.requests_to("GET", f"/organizations/{ACME}.*"))


def test_removing_someone_found_nowhere_is_a_success(stack, meraki, run):
    meraki.add_admin(ACME, JANE, "Jane Doe", "read-only")
    removed = run(REMOVE, user_email="nobody@example.com", meraki_org_id="all", dryrun=False)
    assert removed.status == "SUCCESS", removed.lines()
    assert removed.data["outcome"] == "nothing-to-remove" and removed.data["admins"] == []
    assert removed.summary() == [
        "success: "
        + as_logged(
            "nobody@example.com is not an administrator in any of the 2 organizations checked: nothing to remove."
        )
    ]
    assert emails(meraki, ACME) == [JANE]


def test_remove_needs_an_email(stack, meraki, run):
    refused = run(REMOVE, user_email="Jane Doe", meraki_org_id="all")
    assert refused.response.status_code == 400
    assert "user_email" in refused.response.json()["errors"]
    assert meraki.requests_to("DELETE", ".*") == []
