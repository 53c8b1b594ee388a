"""Time-bound grants: Create Meraki User schedules Revoke Meraki Access, and Nautobot's own scheduler revokes.

A real Nautobot runs both Jobs (synced from Git) and Celery beat; the web server and the worker offer durations of
40 and 80 seconds, so a grant expires within the test. Waits are bounded: beat ticks every few seconds, and each
revoke is polled for with a timeout.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from testbed.meraki_standin import MerakiStandIn
from testbed.nautobot_stack import NautobotStack, StackError
from testbed.seed import ACME, BRANCH, WAREHOUSE
from tests.support.approvals import requiring_approval
from tests.support.job_runs import Run, run_job
from tests.support.revokes import REVOKE, delete_scheduled_revokes, scheduled_revokes

pytestmark = pytest.mark.nautobot

FIND = "Find Meraki User"
JANE, JOHN, MARY = "jane@example.com", "john@example.com", "mary@example.com"
WRITES = r"/organizations/\d+/admins(/\d+)?"
LATE = 60
"""Seconds a revoke may start after its time: beat's ticks, the worker's pick-up."""


@pytest.fixture(scope="module", autouse=True)
def short_durations(nautobot: NautobotStack):
    """Durations of seconds in the form (the web server validates the choice) and in the runs (the worker)."""
    with nautobot.job_env(NAUTOBOT_JOB_MERAKI_DURATIONS="40s,80s,1h"):
        yield


@pytest.fixture(autouse=True)
def no_revokes_left(stack: NautobotStack):
    """Each test starts without scheduled revokes and leaves none for the next one's scheduler."""
    yield
    delete_scheduled_revokes(stack)


def grant(stack: NautobotStack, bot: httpx.Client, email: str, **data) -> Run:
    payload = {"user_email": email, "user_name": email.split("@")[0].title(), "meraki_org_id": ACME, **data}
    return run_job(stack, bot, stack.job_id, {"meraki_access_level": "read-only", **payload})


def revoke_results(stack: NautobotStack, scheduled_id: str) -> list[dict]:
    params = {"scheduled_job": scheduled_id}
    return stack.admin.get("/api/extras/job-results/", params=params).raise_for_status().json()["results"]


def wait_for_revoke(stack: NautobotStack, scheduled_id: str, *, timeout: float) -> Run:
    """The scheduled revoke's run once it has ended, started by beat within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := revoke_results(stack, scheduled_id)):
        if time.monotonic() > deadline:
            raise StackError(f"the scheduled revoke {scheduled_id} did not start within {timeout:.0f} s")
        time.sleep(1)
    result = stack.wait_for_result(found[0]["id"])
    logs = stack.admin.get(f"/api/extras/job-results/{result['id']}/logs/").raise_for_status().json()
    return Run(httpx.Response(200), result, logs)


def find(stack: NautobotStack, bot: httpx.Client, query: str) -> Run:
    return run_job(stack, bot, stack.job_ids[FIND], {"query": query, "meraki_org_id": ACME})


def match_line(run: Run, admin_id: str) -> str:
    [line] = [line for line in run.lines("info") if f"admin id {admin_id}:" in line]
    return line


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def seconds_left(run: Run) -> float:
    return (moment(run.data["expires_at"]) - datetime.now(UTC)).total_seconds()


def test_the_scheduler_removes_restores_and_leaves_hand_changes_alone(stack, meraki: MerakiStandIn, bot):
    tags = [{"tag": "west", "access": "read-only"}]
    john = meraki.add_admin(ACME, JOHN, "John", "read-only", [{"id": WAREHOUSE, "access": "monitor-only"}], tags=tags)
    mary = meraki.add_admin(ACME, MARY, "Mary", "read-only")

    new = grant(stack, bot, JANE, duration="40s")
    raised = grant(stack, bot, JOHN, meraki_access_level="full", meraki_network=BRANCH, meraki_network_access="full",
                   duration="40s")  # fmt: skip
    hand_changed = grant(stack, bot, MARY, meraki_access_level="full", duration="40s")

    assert new.status == raised.status == hand_changed.status == "SUCCESS", (new.lines(), raised.lines())
    assert new.data["outcome"] == "created" and new.data["before"] is None and new.data["duration"] == "40s"
    assert raised.data["outcome"] == "raised" and raised.data["admin_id"] == john["id"]
    assert raised.data["before"] == {"orgAccess": "read-only", "networks": john["networks"], "tags": tags}
    assert raised.data["granted"] == {
        "orgAccess": "full",
        "networks": [{"id": WAREHOUSE, "access": "monitor-only"}, {"id": BRANCH, "access": "full"}],
    }
    [john_now] = [a for a in meraki.admins(ACME) if a["email"] == JOHN]
    assert john_now["orgAccess"] == "full" and john_now["tags"] == tags
    for run in (new, raised, hand_changed):
        revoke = run.data["revoke"]
        assert revoke["awaits_approval"] is False and revoke["start_time"] == run.data["expires_at"]
        assert revoke["job"] == REVOKE and revoke["grant"]["admin_id"] == run.data["admin_id"]
        assert revoke["grant"]["expires_at"] == run.data["expires_at"]
        assert revoke["name"].startswith("Revoke Meraki access: ") and run.result["id"] in revoke["name"]
        assert 10 < seconds_left(run) <= 40
    assert len(scheduled_revokes(stack)) == 3
    meraki.update_admin(ACME, mary["id"], orgAccess="enterprise")  # by hand, in the dashboard

    with stack.scheduler():
        done = {
            run.data["email"]: wait_for_revoke(stack, run.data["revoke"]["scheduled_job_id"], timeout=40 + LATE)
            for run in (new, raised, hand_changed)
        }

    for run in done.values():
        assert run.status == "SUCCESS", run.lines()
        assert moment(run.result["date_created"]) >= moment(run.data["expires_at"]) - timedelta(seconds=1)
    assert done[JANE].data["outcome"] == "removed" and done[JANE].data["grant_result_id"] == new.result["id"]
    assert done[JOHN].data["outcome"] == "restored" and done[JOHN].data["restored"] == raised.data["before"]
    assert done[MARY].data["outcome"] == "changed"
    assert any("changed by hand since the grant; left alone" in line for line in done[MARY].lines("warning"))
    assert done[JOHN].data["table"]["rows"][0]["outcome"] == "restored"
    admins = {a["email"]: a for a in meraki.admins(ACME)}
    assert JANE not in admins
    assert (admins[JOHN]["orgAccess"], admins[JOHN]["networks"], admins[JOHN]["tags"]) == (
        "read-only",
        john["networks"],
        tags,
    )
    assert admins[MARY]["orgAccess"] == "enterprise"


def test_extending_moves_the_one_revoke_and_beat_honours_it(stack, meraki, bot):
    meraki.add_admin(ACME, JANE, "Jane", "read-only")
    with stack.scheduler():  # beat has loaded the first time before the grant is extended
        first = grant(stack, bot, JANE, meraki_access_level="full", duration="40s")
        assert first.data["outcome"] == "raised", first.lines()
        time.sleep(10)
        extended = grant(stack, bot, JANE, meraki_access_level="full", duration="80s")

        assert extended.status == "SUCCESS", extended.lines()
        assert extended.data["outcome"] == "extended"
        assert extended.data["revoke"]["scheduled_job_id"] == first.data["revoke"]["scheduled_job_id"]
        assert extended.data["before"] == first.data["before"]
        assert extended.data["revoke"]["grant"]["expires_at"] == extended.data["expires_at"]
        assert moment(extended.data["expires_at"]) >= moment(first.data["expires_at"]) + timedelta(seconds=40)
        [scheduled] = scheduled_revokes(stack)
        assert moment(scheduled["start_time"]) == moment(extended.data["expires_at"])
        assert meraki.requests_to("PUT", WRITES)[1:] == []  # raised once, never again

        time.sleep(max(0.0, seconds_left(first)) + 20)  # past the old time: nothing ran
        assert revoke_results(stack, scheduled["id"]) == []
        assert meraki.admins(ACME)[0]["orgAccess"] == "full"
        done = wait_for_revoke(stack, scheduled["id"], timeout=seconds_left(extended) + LATE)

    assert done.data["outcome"] == "restored", done.lines()
    assert moment(done.result["date_created"]) >= moment(extended.data["expires_at"]) - timedelta(seconds=1)
    assert meraki.admins(ACME)[0]["orgAccess"] == "read-only"


def test_revoking_now_deletes_the_pending_schedule(stack, meraki, bot):
    created = grant(stack, bot, JANE, duration="1h")
    [scheduled] = scheduled_revokes(stack)
    full = stack.admin.get(f"/api/extras/scheduled-jobs/{scheduled['id']}/").raise_for_status().json()
    assert full["kwargs"]["grant"]["admin_id"] == created.data["admin_id"]

    now = run_job(stack, bot, stack.job_ids[REVOKE], {"grant": full["kwargs"]["grant"], "requested_by": "Slack <@U1>"})

    assert now.status == "SUCCESS", now.lines()
    assert now.data["outcome"] == "removed" and now.data["requested_by"] == "Slack <@U1>"
    assert meraki.admins(ACME) == [] and scheduled_revokes(stack) == []
    # The log names the deleted revoke (Nautobot's log redacts the email in it, not the grant's id).
    assert any("Deleted the scheduled revoke" in line and created.result["id"] in line for line in now.lines("info"))
    again = run_job(stack, bot, stack.job_ids[REVOKE], {"grant": full["kwargs"]["grant"]})
    assert again.status == "SUCCESS" and again.data["outcome"] == "gone"


def test_find_says_whose_access_is_time_bound_and_until_when(stack, meraki, bot):
    john = meraki.add_admin(ACME, JOHN, "John", "full")  # added by hand: until removed
    granted = grant(stack, bot, JANE, duration="1h")
    assert granted.status == "SUCCESS" and granted.data["outcome"] == "created", granted.lines()

    found = find(stack, bot, "example.com")

    assert found.status == "SUCCESS", found.lines()
    until = {match["email"]: match["expires_at"] for match in found.data["matches"]}
    assert until == {JANE: granted.data["expires_at"], JOHN: None}
    table = found.data["table"]  # the bot shows the Until column in each reader's own time zone
    assert table["columns"][-1] == {"key": "expires_at", "label": "Until", "type": "datetime"}
    assert {row["email"]: row["expires_at"] for row in table["rows"]} == until
    expiry = moment(granted.data["expires_at"])
    assert match_line(found, granted.data["admin_id"]).endswith(f"; until {expiry:%Y-%m-%d %H:%M:%S} UTC")
    assert match_line(found, john["id"]).endswith("; until removed")


def test_limits_refuse_with_nothing_changed(stack, meraki, bot):
    with stack.worker_env(NAUTOBOT_JOB_MERAKI_LONGEST="full=40s", NAUTOBOT_JOB_MERAKI_UNTIL_REMOVED="read-only"):
        too_long = grant(stack, bot, JANE, meraki_access_level="full", duration="80s")
        forever = grant(stack, bot, JANE, meraki_access_level="full")
        allowed = grant(stack, bot, JOHN, meraki_access_level="read-only")

    assert too_long.status == forever.status == "FAILURE"
    assert "NAUTOBOT_JOB_MERAKI_LONGEST" in too_long.data["error"] and "40 seconds" in too_long.data["error"]
    assert "NAUTOBOT_JOB_MERAKI_UNTIL_REMOVED" in forever.data["error"]
    assert allowed.status == "SUCCESS" and allowed.data["outcome"] == "created", allowed.lines()
    assert [a["email"] for a in meraki.admins(ACME)] == [JOHN]
    assert len(meraki.requests_to("POST", WRITES)) == 1 and scheduled_revokes(stack) == []


def test_a_dry_run_schedules_nothing(stack, meraki, bot):
    meraki.add_admin(ACME, JANE, "Jane", "read-only")
    planned = grant(stack, bot, JANE, meraki_access_level="full", duration="1h", dryrun=True)
    assert planned.status == "SUCCESS", planned.lines()
    assert planned.data["outcome"] == "dry-run" and planned.data["revoke"] is None and planned.data["expires_at"]
    assert any(line.startswith("Dry run: would raise") for line in planned.lines("info"))
    assert scheduled_revokes(stack) == [] and meraki.requests_to("PUT", WRITES) == []


def test_the_approval_trap_is_flagged(stack, meraki, bot):
    with requiring_approval(stack, REVOKE):
        held = grant(stack, bot, JANE, duration="1h")
        found = find(stack, bot, JANE)

    assert held.status == "SUCCESS", held.lines()
    assert held.data["revoke"]["awaits_approval"] is True
    assert any(
        "the revoke waits for approval in nautobot: until someone approves it, the access does not expire"
        in line.lower()
        for line in held.lines("warning")
    )
    assert len(scheduled_revokes(stack)) == 1
    assert found.data["matches"][0]["expires_at"] == held.data["expires_at"]
    assert match_line(found, held.data["admin_id"]).endswith(
        "(its revoke awaits approval in Nautobot: until someone approves it, the access does not expire)"
    )
