"""The Create Meraki User Job, synced from Git into a real Nautobot and run by its real worker."""

from __future__ import annotations

import time

import httpx
import pytest

from testbed.nautobot_stack import EMAIL_REGEX, JOB_NAME
from testbed.seed import ACME, BRANCH, FIELD_ORDER, GLOBEX, WAREHOUSE
from tests.support.polling import wait_until

pytestmark = pytest.mark.nautobot

ADMINS = r"/organizations/\d+/admins"


def variables(bot: httpx.Client, job_id: str) -> dict[str, dict]:
    response = bot.get(f"/api/extras/jobs/{job_id}/variables/")
    assert response.status_code == 200, response.text
    return {v["name"]: v for v in response.json()}


def test_job_is_listed_with_its_form(stack, bot):
    jobs = bot.get("/api/extras/jobs/", params={"name": JOB_NAME}).json()["results"]
    assert len(jobs) == 1
    job = jobs[0]
    assert job["module_name"] == "meraki_chatops.jobs.meraki_users"
    assert job["enabled"] and job["installed"] and not job["has_sensitive_variables"]

    found = variables(bot, stack.job_id)
    filled_by_the_bot = ["requested_by", "approved_by", "request_id"]  # never in the modal
    assert list(found) == [*FIELD_ORDER, *filled_by_the_bot]
    assert {name: v["type"] for name, v in found.items()} == {
        "user_email": "StringVar",
        "user_name": "StringVar",
        "meraki_org_id": "ChoiceVar",
        "meraki_access_level": "ChoiceVar",
        "meraki_network": "StringVar",
        "meraki_network_access": "ChoiceVar",
        "dryrun": "DryRunVar",
        "duration": "ChoiceVar",
        "requested_by": "StringVar",
        "approved_by": "StringVar",
        "request_id": "StringVar",
    }
    assert all(found[name]["required"] is False for name in filled_by_the_bot)  # Nautobot's own form leaves them empty
    assert found["user_email"]["label"] == f"User Email, regex: {EMAIL_REGEX}"
    assert found["meraki_org_id"]["choices"] == [[ACME, f"Acme Corp ({ACME})"], [GLOBEX, f"Globex ({GLOBEX})"]]
    assert found["meraki_access_level"]["choices"] == [
        ["full", "Full"],
        ["read-only", "Read Only"],
        ["enterprise", "Enterprise"],
        ["none", "None"],
    ]
    assert [c[0] for c in found["meraki_network_access"]["choices"]] == [
        "full",
        "read-only",
        "guest-ambassador",
        "monitor-only",
    ]
    assert found["meraki_network"]["required"] is False
    assert found["duration"]["label"] == "For how long" and found["duration"]["required"] is False
    assert found["duration"]["default"] == ""  # until removed, as before durations existed
    assert found["duration"]["choices"][:2] == [["", "Until removed"], ["1h", "1 hour"]]


def test_run_creates_the_admin_with_network_access(stack, meraki, run_job):
    run = run_job(
        user_email="Jane.Doe@example.com",
        user_name="Jane Doe",
        meraki_access_level="none",
        meraki_network="branch office",
        meraki_network_access="monitor-only",
    )
    assert run.status == "SUCCESS", run.lines()

    [admin] = meraki.admins(ACME)
    assert admin["email"] == "Jane.Doe@example.com"
    assert admin["name"] == "Jane Doe"
    assert admin["orgAccess"] == "none"
    assert admin["networks"] == [{"id": BRANCH, "access": "monitor-only"}]
    assert meraki.requests_to("POST", ADMINS)[0].headers["authorization"] == f"Bearer {meraki.api_key}"

    result = run.result["result"]
    assert result["outcome"] == "created"
    assert result["admin_id"] == admin["id"]
    assert result["email"] == "Jane.Doe@example.com"
    assert result["organization_id"] == ACME
    assert result["org_access"] == "none"
    assert result["networks"] == [{"id": BRANCH, "access": "monitor-only"}]
    [created] = run.lines("success")[:1]
    # Nautobot redacts the part before "@"; the name and admin id keep the line useful.
    assert "Jane Doe" in created and admin["id"] in created and "pending" in created


def test_the_job_logs_and_returns_who_asked(stack, meraki, run_job):
    asked = "Slack user U123 (alice) via meraki-chatops"
    run = run_job(requested_by=asked, dryrun=True)
    assert run.status == "SUCCESS", run.lines()
    assert f"Requested by {asked}" in run.lines("info")
    assert "Run by Nautobot user chatops-bot" in run.lines("info")
    assert run.result["result"]["requested_by"] == asked

    from_nautobot = run_job(dryrun=True)  # as from Nautobot's own form: nobody filled it in
    assert from_nautobot.status == "SUCCESS", from_nautobot.lines()
    assert "Requested by Nautobot user chatops-bot" in from_nautobot.lines("info")
    assert from_nautobot.result["result"]["requested_by"] == "Nautobot user chatops-bot"
    assert from_nautobot.result["result"]["approved_by"] is None  # nobody approved in Slack
    assert not [line for line in from_nautobot.lines() if line.startswith(("Approved", "Approval"))]


def test_the_job_logs_and_returns_who_approved_in_slack(stack, meraki, run_job):
    approvers = "Slack users U0AAA (alice), U0BBB (bob)"
    run = run_job(requested_by="Slack user U123 (carol) via meraki-chatops", approved_by=approvers, dryrun=True)
    assert run.status == "SUCCESS", run.lines()
    assert f"Approved in Slack by {approvers}" in run.lines("info")
    assert run.result["result"]["approved_by"] == approvers


@pytest.mark.security
def test_who_asked_and_approved_are_claims_unless_the_bots_own_user_ran_the_job(stack, meraki):
    """Anyone who may run the Job can fill requested_by and approved_by; only the bot's Nautobot user is believed."""
    claim = "Slack user U0CEO (the boss) via meraki-chatops"
    approval = "Slack users U0CFO (the other boss)"
    data = {
        "user_email": "claimed@example.com",
        "user_name": "Claimed",
        "meraki_org_id": ACME,
        "meraki_access_level": "read-only",
        "dryrun": True,
        "requested_by": claim,
        "approved_by": approval,
    }
    response = stack.admin.post(f"/api/extras/jobs/{stack.job_id}/run/", json={"data": data}).raise_for_status()
    result = stack.wait_for_result(response.json()["job_result"]["id"], client=stack.admin)
    logs = stack.admin.get(f"/api/extras/job-results/{result['id']}/logs/").raise_for_status().json()
    lines = [entry["message"] for entry in logs]
    assert result["status"]["value"] == "SUCCESS", lines
    assert "Run by Nautobot user admin" in lines
    assert f"Requested by Nautobot user admin (claimed: {claim})" in lines
    assert result["result"]["requested_by"] == f"Nautobot user admin (claimed: {claim})"
    assert f"Approval claimed by Nautobot user admin: {approval}" in lines
    assert not [line for line in lines if line.startswith("Approved in Slack")]
    assert result["result"]["approved_by"] == f"Nautobot user admin (claimed: {approval})"


def test_a_failing_run_still_says_who_asked_and_approved(stack, meraki, run_job):
    asked, approved = "Slack user U123 (alice) via meraki-chatops", "Slack users U0BBB (bob)"
    run = run_job(requested_by=asked, approved_by=approved, meraki_network="Brnach Ofice")
    assert run.status == "FAILURE"
    assert run.result["result"]["requested_by"] == asked
    assert run.result["result"]["approved_by"] == approved


def test_run_by_network_id_with_org_access(stack, meraki, run_job):
    run = run_job(meraki_access_level="full", meraki_network=WAREHOUSE, meraki_network_access="guest-ambassador")
    assert run.status == "SUCCESS", run.lines()
    [admin] = meraki.admins(ACME)
    assert admin["orgAccess"] == "full"
    assert admin["networks"] == [{"id": WAREHOUSE, "access": "guest-ambassador"}]


def test_dry_run_creates_nothing_and_logs_the_plan(stack, meraki, run_job):
    run = run_job(dryrun=True, meraki_network="Warehouse", meraki_access_level="enterprise")
    assert run.status == "SUCCESS", run.lines()
    assert meraki.admins(ACME) == []
    assert meraki.requests_to("POST", ".*") == []
    [plan] = [line for line in run.lines("info") if line.startswith("Dry run")]
    assert "New Admin" in plan and "Acme Corp" in plan and "'enterprise'" in plan and WAREHOUSE in plan
    assert "Nothing was created" in plan
    assert run.result["result"]["outcome"] == "dry-run"


def test_existing_admin_is_reported_not_duplicated(stack, meraki, run_job):
    existing = meraki.add_admin(ACME, "new.admin@example.com", "New Admin", org_access="read-only")
    run = run_job(user_email="NEW.ADMIN@example.com", meraki_access_level="full")
    assert run.status == "SUCCESS", run.lines()
    assert len(meraki.admins(ACME)) == 1
    assert meraki.requests_to("POST", ".*") == []
    [warning] = run.lines("warning")
    assert existing["id"] in warning and "nothing was changed" in warning and "'read-only'" in warning
    assert run.result["result"]["outcome"] == "exists"
    assert run.result["result"]["admin_id"] == existing["id"]


@pytest.mark.parametrize("email", ["someone@elsewhere.test", "not-an-email", "two@@example.com"])
def test_email_against_the_regex_gets_a_field_error(stack, meraki, run_job, email):
    run = run_job(user_email=email)
    assert run.response.status_code == 400
    [error] = run.response.json()["errors"]["user_email"]
    # The Job spells "%" as "\x25" for Nautobot, whose validation message breaks on a raw "%".
    assert error == "Invalid value. Must match regex: " + EMAIL_REGEX.replace("%", r"\x25")
    assert meraki.requests_to("POST", ".*") == []


def test_unknown_organization_fails_with_a_clear_line(stack, meraki, run_job, bot):
    variables(bot, stack.job_id)  # the organization list is loaded while Globex still exists
    meraki.reset()
    meraki.add_organization(ACME, "Acme Corp")
    run = run_job(meraki_org_id=GLOBEX)
    assert run.status == "FAILURE"
    [line] = run.lines("failure")
    assert f"no organization {GLOBEX}" in line and "Pick an organization" in line
    assert run.result["result"]["outcome"] == "failed"


def test_unknown_network_fails_listing_the_closest_names(stack, meraki, run_job):
    run = run_job(meraki_network="Brnach Ofice")
    assert run.status == "FAILURE"
    [line] = run.lines("failure")
    assert "No network 'Brnach Ofice'" in line and "Closest names: Branch Office" in line
    assert meraki.admins(ACME) == []


def test_rate_limit_is_waited_out(stack, meraki, run_job):
    meraki.fail_with(429, times=2, retry_after=1, match=f"POST {ADMINS}")
    run = run_job()
    assert run.status == "SUCCESS", run.lines()
    assert [r.status for r in meraki.requests_to("POST", ADMINS)] == [429, 429, 201]
    assert len(meraki.admins(ACME)) == 1


def test_server_error_is_retried(stack, meraki, run_job):
    meraki.fail_with(502, times=1, match=f"POST {ADMINS}")
    run = run_job()
    assert run.status == "SUCCESS", run.lines()
    assert len(meraki.admins(ACME)) == 1


def test_persistent_server_errors_fail_with_advice(stack, meraki, run_job):
    meraki.fail_with(500, times=None, match=r"GET /organizations/\d+$")
    run = run_job()
    assert run.status == "FAILURE"
    [line] = run.lines("failure")
    assert "Meraki had a server error" in line and "run the Job again later" in line
    assert meraki.admins(ACME) == []


def test_rejected_api_key_fails_with_a_human_message(stack, meraki, run_job, bot):
    variables(bot, stack.job_id)  # the organization list is loaded while the key still works
    right_key = meraki.api_key
    meraki.api_key = "revoked"
    try:
        run = run_job()
    finally:
        meraki.api_key = right_key
    assert run.status == "FAILURE"
    [line] = run.lines("failure")
    assert line.startswith("Meraki rejected the API key (401: Invalid API key)")
    assert "MERAKI_DASHBOARD_API_KEY" in line
    assert "Traceback" not in "".join(run.lines())


def test_missing_api_key_fails_with_a_human_message(stack, meraki, run_job):
    with stack.worker_env(MERAKI_DASHBOARD_API_KEY=None):
        run = run_job()
    assert run.status == "FAILURE"
    [line] = run.lines("failure")
    assert line.startswith("MERAKI_DASHBOARD_API_KEY is not set in the Nautobot worker's environment")
    assert meraki.requests == [] or all(r.method == "GET" and r.path == "/organizations" for r in meraki.requests)


def test_disabled_job_answers_403(stack, run_job):
    stack.set_job_enabled(False)
    try:
        run = run_job()
    finally:
        stack.set_job_enabled(True)
    assert run.response.status_code == 403
    assert run.response.json() == {"detail": "This job is not enabled to be run."}


def test_meraki_failing_while_the_job_loads(stack, meraki, bot):
    meraki.fail_with(503, times=None, match="GET /organizations$")
    found = variables(bot, stack.job_id)
    assert found["meraki_org_id"]["choices"] == []
    assert "No organizations could be loaded from Meraki (503" in found["meraki_org_id"]["help_text"]
    assert next(iter(found)) == "user_email"  # the rest of the form is intact


def test_meraki_hanging_while_the_job_loads(stack, meraki, bot):
    meraki.delay(15, match="GET /organizations$")
    started = time.monotonic()
    # Loading must not wait for Meraki: a hung Meraki would otherwise hold this request 15 s or more.
    found = variables(bot, stack.job_id)
    assert time.monotonic() - started < 12
    assert found["meraki_org_id"]["choices"] == []
    assert "reload this form" in found["meraki_org_id"]["help_text"]
    # The background refresh gives up on its own; wait for it so the next test starts clean.
    wait_until(
        lambda: "No organizations could be loaded" in variables(bot, stack.job_id)["meraki_org_id"]["help_text"],
        timeout=40,
    )


def test_organization_list_survives_a_meraki_outage(stack, meraki, bot):
    assert variables(bot, stack.job_id)["meraki_org_id"]["choices"]  # loaded while Meraki is up
    meraki.fail_with(503, times=None)
    found = variables(bot, stack.job_id)
    assert [c[0] for c in found["meraki_org_id"]["choices"]] == [ACME, GLOBEX]
