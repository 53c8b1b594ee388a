"""`meraki-chatops preview` and `meraki-chatops run` against the real Nautobot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.nautobot_stack import BOT_TOKEN
from testbed.seed import ACME
from testbed.slack_flow import bot_env
from testbed.slack_standin import SlackStandIn
from tests.support.approvals import WORKFLOW, requiring_approval

pytestmark = [pytest.mark.e2e, pytest.mark.nautobot]

MERAKI_CHATOPS = str(Path(sys.executable).parent / "meraki-chatops")


def cli(stack, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NAUTOBOT_"))}
    env.update(NAUTOBOT_URL=stack.url, NAUTOBOT_TOKEN=BOT_TOKEN)
    return subprocess.run(
        [MERAKI_CHATOPS, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_preview_prints_the_modal_of_the_live_job(stack, tmp_path):
    done = cli(stack, "preview", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["type"] == "modal"
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"][:3] == [
        "user_email",
        "user_name",
        "meraki_org_id",
    ]


def test_run_prints_the_log_as_it_arrives(stack, meraki, tmp_path):
    done = cli(
        stack,
        "run",
        "--user-email",
        "cli.user@example.com",
        "--org",
        "Acme Corp",
        "--access-level",
        "full",
        tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Created administrator 'cli.user'" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("succeeded: ")
    [admin] = meraki.admins(ACME)
    assert admin["orgAccess"] == "full"


def test_run_takes_any_commands_job_and_its_variables_from_its_form(stack, meraki, tmp_path):
    meraki.add_admin(ACME, "cli.found@example.com", "Found Person")
    done = cli(stack, "run", "/meraki-find-user", "--query", "cli.found@example.com", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 match for cli.found@example.com in 1 organization" in done.stdout.replace("(redacted)", "cli.found")
    unknown = cli(stack, "run", "/meraki-find-user", "--user-email", "x@example.com", tmp_path=tmp_path)
    assert unknown.returncode == 2 and "Its variables: --query, --meraki-org-id" in unknown.stderr


def test_run_refuses_bad_input_with_the_field(stack, meraki, tmp_path):
    done = cli(stack, "run", "--user-email", "x@elsewhere.test", "--org", ACME, tmp_path=tmp_path)
    assert done.returncode == 2
    assert "user_email" in done.stderr
    assert meraki.admins(ACME) == []


def test_doctor_passes_on_a_good_setup_and_names_the_fix_when_the_job_is_disabled(stack, tmp_path):
    from testbed.slack_flow import bot_env, workspace

    with workspace() as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NAUTOBOT_"))}
        env.update(bot_env(slack, stack))
        good = subprocess.run(
            [MERAKI_CHATOPS, "doctor", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert good.returncode == 0, good.stdout + good.stderr
        checks = {c["check"]: c["status"] for c in json.loads(good.stdout)}
        assert set(checks.values()) == {"OK"}, checks
        (version,) = [c["detail"] for c in json.loads(good.stdout) if c["check"] == "nautobot version"]
        offers = {"3.2": "approvals by approval workflows; cancel: yes", "2.4": "approval_required flag; cancel: no"}
        assert f"Nautobot {stack.release.name}." in version and offers[stack.release.name] in version, version

        stack.set_job_enabled(False)
        try:
            bad = subprocess.run(
                [MERAKI_CHATOPS, "doctor"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
        finally:
            stack.set_job_enabled(True)
    assert bad.returncode == 1
    assert "Enabled" in bad.stdout
    for secret in (BOT_TOKEN, env["SLACK_BOT_TOKEN"], env["SLACK_APP_TOKEN"]):
        assert secret not in good.stdout + bad.stdout + good.stderr + bad.stderr


REVOKE_JOB = "Revoke Meraki Access"


def doctor_checks(stack, slack: SlackStandIn, tmp_path: Path) -> dict[str, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NAUTOBOT_"))}
    env.update(bot_env(slack, stack))
    done = subprocess.run(
        [MERAKI_CHATOPS, "doctor", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert BOT_TOKEN not in done.stdout + done.stderr
    return {check["check"]: check for check in json.loads(done.stdout)}


def test_doctor_fails_when_the_revoke_of_expiring_access_would_wait_for_approval(stack, slack, tmp_path):
    with requiring_approval(stack, REVOKE_JOB):
        held = doctor_checks(stack, slack, tmp_path)["access expiry"]
    passed = doctor_checks(stack, slack, tmp_path)["access expiry"]

    assert held["status"] == "FAIL", held
    assert "the access does not expire until someone approves it" in held["detail"]
    if stack.release.is_lts:
        assert "'Revoke Meraki Access' has approval required" in held["detail"]
        assert "Untick Approval required" in held["fix"]
    else:
        assert f"the approval workflow definition '{WORKFLOW}: {REVOKE_JOB}'" in held["detail"]
        assert '{"job_model__name": "Create Meraki User"}' in held["fix"]
    assert passed["status"] == "OK", passed
    assert "time-bound grants of /meraki-add-user are revoked at their expiry" in passed["detail"]


def test_doctor_fails_while_the_revoke_job_is_disabled(stack, slack, tmp_path):
    stack.set_job_enabled(False, REVOKE_JOB)
    try:
        check = doctor_checks(stack, slack, tmp_path)["access expiry"]
    finally:
        stack.set_job_enabled(True, REVOKE_JOB)

    assert check["status"] == "FAIL", check
    assert "is disabled, so time-bound grants of /meraki-add-user" in check["detail"]
    assert "filter the Jobs list by hidden" in check["fix"]
