"""The revokes of time-bound grants as Nautobot scheduled jobs: made, found, moved and deleted.

Each revoke is a one-off scheduled run (interval "future") of the Revoke Meraki Access Job, created by the
Create Meraki User run that made the grant, as that run's user, named
``Revoke Meraki access: <email> in <organization> (grant <the Create run's JobResult id>)``. Its inputs hold the
grant (``kwargs["grant"]``), and that is how a revoke is found again: by the Revoke Job's ``job_model`` and the
grant's ``organization_id`` and ``admin_id`` (a pending grant to extend) or ``grant_result_id`` (the revoke of one
grant), through JSON lookups on the scheduled job's ``kwargs``. A revoke is pending while no JobResult points at it
and it is enabled or waiting for approval. Find Meraki User reads every pending revoke at once (:func:`expiries`)
to say whose access is time-bound, and until when.

The approval trap: Nautobot may hold a scheduled run for approval (2.4: the Job's ``approval_required``, which a
schedule carries; 3.x: an approval workflow whose definition matches the scheduled job, started as it is saved).
A held revoke does not run until someone approves it, so the access does not expire; the entry says so.
"""

from __future__ import annotations

import inspect
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef
from django.utils import timezone
from nautobot.extras.choices import JobExecutionType
from nautobot.extras.models import Job as JobModel
from nautobot.extras.models import JobResult, ScheduledJob

from .admin_grants import PendingRevoke, iso
from .admin_report import Expiries, Expiry
from .meraki_admins import MerakiProblem

try:  # Nautobot 3.x: approvals are workflows about an object under review
    from nautobot.extras.choices import ApprovalWorkflowStateChoices
    from nautobot.extras.models import ApprovalWorkflow
except ImportError:  # Nautobot 2.4: a scheduled job's own approval_required flag
    ApprovalWorkflow = None

REVOKE_MODULE = f"{__package__}.meraki_expiry"
REVOKE_CLASS = "RevokeMerakiAccess"
REVOKE_JOB = "Revoke Meraki Access"
NAME_LENGTH = 255
"""ScheduledJob.name's length; the name is also unique, which the grant's id at its end makes it."""


def revoke_name(grant: dict) -> str:
    tail = f" (grant {grant['grant_result_id']})"
    head = f"Revoke Meraki access: {grant['email']} in {grant['organization_name']}"
    return head[: NAME_LENGTH - len(tail)] + tail


def revoke_job() -> JobModel:
    try:
        return JobModel.objects.get(module_name=REVOKE_MODULE, job_class_name=REVOKE_CLASS)
    except JobModel.DoesNotExist:
        raise MerakiProblem(
            "schedule",
            f"Nautobot has no {REVOKE_JOB} Job, which revokes time-bound grants: sync this Git repository again. "
            "Nothing was changed.",
        ) from None


def awaits_approval(scheduled: ScheduledJob) -> bool:
    """Whether Nautobot holds this scheduled run until someone approves it."""
    if ApprovalWorkflow is None:
        return bool(scheduled.approval_required and scheduled.approved_at is None)
    return ApprovalWorkflow.objects.filter(
        object_under_review_content_type=ContentType.objects.get_for_model(ScheduledJob),
        object_under_review_object_id=scheduled.pk,
        current_state=ApprovalWorkflowStateChoices.PENDING,
    ).exists()


def not_run_yet(scheduled: ScheduledJob) -> bool:
    """Pending: never started (no JobResult), and either enabled or waiting for approval (3.x disables it then)."""
    if JobResult.objects.filter(scheduled_job=scheduled).exists():
        return False
    return bool(scheduled.enabled) or awaits_approval(scheduled)


def entry(scheduled: ScheduledJob) -> dict:
    """The ``revoke`` entry of the Create Job's result: also what a bot needs to follow the grant to its end, or
    to run the revoke itself should the scheduler not (the Job's name and its ``grant`` input)."""
    return {
        "scheduled_job_id": str(scheduled.pk),
        "name": scheduled.name,
        "start_time": iso(scheduled.start_time),
        "awaits_approval": awaits_approval(scheduled),
        "job": REVOKE_JOB,
        "grant": scheduled.kwargs.get("grant"),
    }


def expiries() -> Expiries:
    """Every pending revoke, earliest first, in one query (3.x: and one for each disabled one, held for approval?).

    Found by the Revoke Job's module and class rather than :func:`revoke_job`, so that a Nautobot without that Job
    simply has no time-bound access.
    """
    found = (
        ScheduledJob.objects.filter(job_model__module_name=REVOKE_MODULE, job_model__job_class_name=REVOKE_CLASS)
        .exclude(Exists(JobResult.objects.filter(scheduled_job=OuterRef("pk"))))
        .order_by("start_time")
    )
    pending = []
    for scheduled in found:
        grant = (scheduled.kwargs or {}).get("grant")
        # 2.4 holds an enabled schedule by its own flag; 3.x disables the schedule it holds.
        held = (ApprovalWorkflow is None or not scheduled.enabled) and awaits_approval(scheduled)
        if isinstance(grant, dict) and (scheduled.enabled or held):
            pending.append((grant, Expiry(iso(scheduled.start_time), awaits_approval=held)))
    return Expiries(pending)


def delete_pending_revokes(grant_result_id: str, *, keep: object = None) -> list[str]:
    """Delete the pending revokes of one grant (all but ``keep``, a scheduled job's id); their names."""
    if not grant_result_id:
        return []
    deleted = []
    found = ScheduledJob.objects.filter(job_model=revoke_job(), kwargs__grant__grant_result_id=str(grant_result_id))
    for scheduled in found.exclude(pk=keep) if keep else found:
        if not_run_yet(scheduled):
            deleted.append(scheduled.name)
            scheduled.delete()
    return deleted


class NautobotRevokes:
    """The :class:`~jobs.admin_grants.RevokeScheduler` of a Create Meraki User run."""

    def __init__(self, user, grant_result_id: str, requested_by: str):
        self.user = user
        self.grant_result_id = grant_result_id
        self.requested_by = requested_by

    def check_ready(self) -> None:
        job = revoke_job()
        if not (job.enabled and job.installed):
            raise MerakiProblem(
                "schedule",
                f"The {REVOKE_JOB} Job is not enabled in Nautobot, so time-bound access would never be revoked: "
                "enable it (it is hidden from the Jobs list: filter the list by hidden). Nothing was changed.",
            )

    def pending(self, org_id: str, admin_id: str) -> PendingRevoke | None:
        found = ScheduledJob.objects.filter(
            job_model=revoke_job(), kwargs__grant__organization_id=org_id, kwargs__grant__admin_id=admin_id
        ).order_by("start_time")
        for scheduled in found:
            if not_run_yet(scheduled):
                return PendingRevoke(scheduled.kwargs["grant"], entry(scheduled))
        return None

    def schedule(self, grant: dict, expires_at: datetime) -> dict:
        job = revoke_job()
        inputs = {"grant": grant, "requested_by": "", "approved_by": "", "request_id": ""}
        options = {
            "name": revoke_name(grant),
            "start_time": timezone.localtime(expires_at),
            "interval": JobExecutionType.TYPE_FUTURE,
        }
        # 2.4 names its approval flag and takes the inputs as keywords (its ``**job_kwargs``); 3.x has no flag and
        # takes the inputs as ``job_kwargs=``. Both have a parameter called job_kwargs, so the flag tells them apart.
        if "approval_required" in inspect.signature(ScheduledJob.create_schedule).parameters:
            # The schedule carries the Job's own approval flag, as 2.4's API does when it schedules a run.
            scheduled = ScheduledJob.create_schedule(
                job, self.user, approval_required=job.approval_required, **options, **inputs
            )
        else:
            scheduled = ScheduledJob.create_schedule(job, self.user, job_kwargs=inputs, **options)
        scheduled.refresh_from_db()  # 3.x: starting an approval workflow changed it after the save
        return entry(scheduled)

    def move(self, pending: PendingRevoke, expires_at: datetime) -> dict:
        """Move the revoke: a saved ScheduledJob tells Celery beat its schedules changed, and beat reloads them."""
        scheduled = ScheduledJob.objects.get(pk=pending.revoke["scheduled_job_id"])
        if not not_run_yet(scheduled):
            raise RuntimeError("the revoke has just started")
        scheduled.start_time = timezone.localtime(expires_at)
        scheduled.kwargs = {**scheduled.kwargs, "grant": {**scheduled.kwargs["grant"], "expires_at": iso(expires_at)}}
        scheduled.save()
        return entry(scheduled)
