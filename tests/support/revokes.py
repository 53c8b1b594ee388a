"""Time-bound grants in the test stack: the Revoke Job's scheduled runs, listed and cleared between tests."""

from __future__ import annotations

from testbed.nautobot_stack import NautobotStack

REVOKE = "Revoke Meraki Access"


def scheduled_revokes(stack: NautobotStack) -> list[dict]:
    params = {"job_model": stack.job_ids[REVOKE], "limit": 0}
    return stack.admin.get("/api/extras/scheduled-jobs/", params=params).raise_for_status().json()["results"]


def delete_scheduled_revokes(stack: NautobotStack) -> None:
    """None left for the next test's scheduler."""
    for scheduled in scheduled_revokes(stack):
        stack.admin.delete(f"/api/extras/scheduled-jobs/{scheduled['id']}/")
