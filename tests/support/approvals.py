"""Nautobot 3.x approval workflows for the test stack: require one for the Job, and decide on a run."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from tests.support.nautobot_stack import JOB_NAME, NautobotStack, StackError

APPROVERS = "meraki approvers"
WORKFLOW = "Meraki admin changes"


def _created(response) -> dict:
    if response.status_code != 201:
        raise StackError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response.json()


@contextlib.contextmanager
def approval_required(stack: NautobotStack) -> Iterator[None]:
    """Every non-dry run of the Job waits for one approval by the admin; the scheduler starts approved ones."""
    admin = stack.admin
    group = _created(admin.post("/api/users/groups/", json={"name": APPROVERS}))
    (me,) = admin.get("/api/users/users/", params={"username": "admin"}).raise_for_status().json()["results"]
    admin.patch(f"/api/users/users/{me['id']}/", json={"groups": [group["id"]]}).raise_for_status()
    definition = _created(
        admin.post(
            "/api/extras/approval-workflow-definitions/",
            json={
                "name": WORKFLOW,
                "model_content_type": "extras.scheduledjob",
                "model_constraints": {"job_model__name": JOB_NAME},
            },
        )
    )
    _created(
        admin.post(
            "/api/extras/approval-workflow-stage-definitions/",
            json={
                "approval_workflow_definition": definition["id"],
                "sequence": 1,
                "name": "Network lead",
                "min_approvers": 1,
                "approver_group": group["id"],
            },
        )
    )
    try:
        with stack.scheduler():
            yield
    finally:
        admin.delete(f"/api/extras/approval-workflow-definitions/{definition['id']}/")
        admin.delete(f"/api/users/groups/{group['id']}/")


def decide(stack: NautobotStack, scheduled_id: str, decision: str, *, timeout: float = 30) -> None:
    """``approve`` or ``deny`` the pending stage of the scheduled job's workflow, as the admin."""
    admin = stack.admin
    deadline = time.monotonic() + timeout
    while True:
        params = {"object_under_review_object_id": scheduled_id}
        workflows = admin.get("/api/extras/approval-workflows/", params=params).raise_for_status().json()["results"]
        stages = (
            workflows
            and admin.get("/api/extras/approval-workflow-stages/", params={"approval_workflow": workflows[0]["id"]})
            .raise_for_status()
            .json()["results"]
        )
        if stages:
            break
        if time.monotonic() > deadline:
            raise StackError(f"no approval workflow stage for the scheduled job {scheduled_id}")
        time.sleep(0.5)
    answer = admin.post(
        f"/api/extras/approval-workflow-stages/{stages[0]['id']}/{decision}/", json={"comments": "test"}
    )
    if answer.status_code != 200:
        raise StackError(f"{decision} failed: {answer.status_code} {answer.text}")
