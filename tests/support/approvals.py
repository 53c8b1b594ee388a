"""Approvals for the test stack: require one for the Job, and decide on a run, as each Nautobot does it.

Nautobot 3.x uses approval workflows (a definition matching the Job's scheduled jobs, one stage, an
approver group); 2.4 uses the Job's ``approval_required`` flag and the scheduled job's approve/deny
endpoints (a denied scheduled job is deleted). Either way the admin decides, never the requester.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx

from testbed.nautobot_stack import JOB_NAME, NautobotStack, StackError

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
    with requiring_approval(stack, JOB_NAME), stack.scheduler():
        yield


@contextlib.contextmanager
def requiring_approval(stack: NautobotStack, job_name: str) -> Iterator[None]:
    """Scheduled runs of the Job named ``job_name`` wait for an approval (without a scheduler to start them)."""
    requiring = _job_flag if stack.release.is_lts else _workflow
    with requiring(stack, job_name):
        yield


@contextlib.contextmanager
def _job_flag(stack: NautobotStack, job_name: str) -> Iterator[None]:
    """Nautobot 2.4: the Job's own flag, overriding what its code says (as an admin does in the Job's edit form)."""
    job = f"/api/extras/jobs/{stack.job_ids[job_name]}/"
    flag = {"approval_required": True, "approval_required_override": True}
    stack.admin.patch(job, json=flag).raise_for_status()
    try:
        yield
    finally:
        stack.admin.patch(job, json={"approval_required": False, "approval_required_override": False})


@contextlib.contextmanager
def _workflow(stack: NautobotStack, job_name: str) -> Iterator[None]:
    """Nautobot 3.x: an approval workflow for the Job's scheduled jobs, one stage the admin's group approves."""
    admin = stack.admin
    group = _created(admin.post("/api/users/groups/", json={"name": APPROVERS}))
    (me,) = admin.get("/api/users/users/", params={"username": "admin"}).raise_for_status().json()["results"]
    admin.patch(f"/api/users/users/{me['id']}/", json={"groups": [group["id"]]}).raise_for_status()
    definition = _created(
        admin.post(
            "/api/extras/approval-workflow-definitions/",
            json={
                "name": WORKFLOW if job_name == JOB_NAME else f"{WORKFLOW}: {job_name}",
                "model_content_type": "extras.scheduledjob",
                "model_constraints": {"job_model__name": job_name},
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
        yield
    finally:
        _remove_workflow(stack, definition["id"], group["id"])


def _remove_workflow(stack: NautobotStack, definition_id: str, group_id: str) -> None:
    """The workflows the definition started (runs still held protect it), the definition, then its group."""
    admin = stack.admin
    params = {"approval_workflow_definition": definition_id, "limit": 0}
    started = admin.get("/api/extras/approval-workflows/", params=params).raise_for_status().json()["results"]
    paths = [f"/api/extras/approval-workflows/{workflow['id']}/" for workflow in started]
    paths += [f"/api/extras/approval-workflow-definitions/{definition_id}/", f"/api/users/groups/{group_id}/"]
    for path in paths:
        answer = admin.delete(path)
        if answer.status_code not in (204, 404):
            raise StackError(f"DELETE {path}: {answer.status_code} {answer.text}")


def decide(stack: NautobotStack, scheduled_id: str, decision: str, *, timeout: float = 30) -> None:
    """``approve`` or ``deny`` the run waiting as the scheduled job, as the admin."""
    if stack.release.is_lts:
        # force: a one-off run's start time is already past when it is approved.
        path = f"/api/extras/scheduled-jobs/{scheduled_id}/{decision}/"
        answer = stack.admin.post(path, params={"force": "true"} if decision == "approve" else None)
    else:
        answer = _decide_stage(stack, scheduled_id, decision, timeout)
    if answer.status_code != 200:
        raise StackError(f"{decision} failed: {answer.status_code} {answer.text}")


def _decide_stage(stack: NautobotStack, scheduled_id: str, decision: str, timeout: float) -> httpx.Response:
    """Nautobot 3.x: the pending stage of the scheduled job's workflow."""
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
    return admin.post(f"/api/extras/approval-workflow-stages/{stages[0]['id']}/{decision}/", json={"comments": "test"})
