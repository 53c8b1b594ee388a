"""Nautobot 3.2 behind ``httpx.MockTransport``: the Create Meraki User Job, its runs, results and logs.

The JSON shapes are those Nautobot 3.2.7 answers with (see ``tests/unit/test_nautobot_client.py``).
Every request is recorded in the shared :class:`~testbed.fake_slack.Events` before it is answered.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bot.nautobot import NautobotClient
from testbed.fake_slack import Events

BASE = "https://nautobot.example.com"
TOKEN = "0123456789abcdef0123456789abcdef01234567"
JOB_ID = "4c1e7b36-3f55-4c8e-9d0b-2b8f3a1d9e10"
RESULT_ID = "62a5b0d4-8e1f-4a7c-9b3e-5d6f7a8b9c0d"
SCHEDULED_ID = "9f0e8d7c-6b5a-4938-8271-605f4e3d2c1b"
JOB_NAME = "Create Meraki User"
EMAIL_REGEX = r"^[A-Za-z0-9._%+-]+@example\.(com|org)$"
ACME_ORG = "111111"

JOBS_PATH = "/api/extras/jobs/"
VARIABLES_PATH = f"/api/extras/jobs/{JOB_ID}/variables/"
RUN_PATH = f"/api/extras/jobs/{JOB_ID}/run/"
RESULT_PATH = f"/api/extras/job-results/{RESULT_ID}/"
LOGS_PATH = f"/api/extras/job-results/{RESULT_ID}/logs/"

JOB: dict[str, Any] = {
    "id": JOB_ID,
    "object_type": "extras.job",
    "display": "Meraki: Create Meraki User",
    "url": f"{BASE}/api/extras/jobs/{JOB_ID}/",
    "natural_slug": "create-meraki-user_4c1e",
    "module_name": "meraki_chatops.jobs.meraki_users",
    "job_class_name": "CreateMerakiUser",
    "grouping": "Meraki",
    "name": JOB_NAME,
    "description": "Add a Meraki dashboard administrator.",
    "installed": True,
    "enabled": True,
    "has_sensitive_variables": False,
    "dryrun_default": False,
    "hidden": False,
    "read_only": False,
    "soft_time_limit": 0,
    "time_limit": 0,
    "supports_dryrun": True,
}
JOB_LIST: dict[str, Any] = {"count": 1, "next": None, "previous": None, "results": [JOB]}
REVOKE_JOB_ID = "7d3b9a51-2c64-4f0e-8a1b-93c5d7e2f406"
REVOKE_JOB: dict[str, Any] = {
    **JOB,
    "id": REVOKE_JOB_ID,
    "display": "Meraki: Revoke Meraki Access",
    "url": f"{BASE}/api/extras/jobs/{REVOKE_JOB_ID}/",
    "natural_slug": "revoke-meraki-access_7d3b",
    "module_name": "meraki_chatops.jobs.meraki_expiry",
    "job_class_name": "RevokeMerakiAccess",
    "name": "Revoke Meraki Access",
    "description": "Take back a time-bound grant at its expiry.",
    "hidden": True,
}
"""The hidden Job the Create Job schedules at a grant's expiry, as 3.x lists it (2.4 adds approval_required)."""
APPROVAL_DEFINITIONS_PATH = "/api/extras/approval-workflow-definitions/"
VARIABLES: list[dict[str, Any]] = [
    {
        "name": "user_email",
        "type": "StringVar",
        "label": f"User Email, regex: {EMAIL_REGEX}",
        "help_text": "Email address of the new administrator; Meraki sends the invitation there.",
        "required": True,
        "max_length": 254,
    },
    {
        "name": "user_name",
        "type": "StringVar",
        "label": "User Name",
        "help_text": "Full name of the new administrator.",
        "required": True,
        "max_length": 255,
    },
    {
        "name": "meraki_org_id",
        "type": "ChoiceVar",
        "label": "Meraki Organization",
        "help_text": "The organizations this API key can manage (loaded at 20:15 UTC).",
        "required": True,
        "choices": [[ACME_ORG, "Acme Corp (111111)"], ["222222", "Globex (222222)"]],
    },
    {
        "name": "meraki_access_level",
        "type": "ChoiceVar",
        "label": "Organization Access",
        "help_text": "Access to the whole organization.",
        "required": True,
        "choices": [["full", "Full"], ["read-only", "Read Only"], ["enterprise", "Enterprise"], ["none", "None"]],
        "default": "read-only",
    },
    {
        "name": "meraki_network",
        "type": "StringVar",
        "label": "Meraki Network",
        "help_text": "Optional: a network name or ID to grant access to.",
        "required": False,
        "max_length": 255,
    },
    {
        "name": "meraki_network_access",
        "type": "ChoiceVar",
        "label": "Network Access",
        "help_text": "Access to that network.",
        "required": False,
        "choices": [
            ["full", "Full"],
            ["read-only", "Read Only"],
            ["guest-ambassador", "Guest Ambassador"],
            ["monitor-only", "Monitor Only"],
        ],
        "default": "read-only",
    },
    {
        "name": "dryrun",
        "type": "DryRunVar",
        "help_text": "Check everything and log what would be created, without creating it.",
        "required": False,
        "default": False,
    },
    {
        "name": "duration",
        "type": "ChoiceVar",
        "label": "For how long",
        "help_text": "'Until removed', or a time after which Nautobot takes the access back.",
        "required": False,
        "choices": [
            ["", "Until removed"],
            ["1h", "1 hour"],
            ["2h", "2 hours"],
            ["4h", "4 hours"],
            ["8h", "8 hours"],
            ["1d", "1 day"],
            ["7d", "7 days"],
            ["30d", "30 days"],
        ],
        "default": "",
    },
]
VARIABLE_NAMES = [var["name"] for var in VARIABLES]
REQUESTED_BY: dict[str, Any] = {
    "name": "requested_by",
    "type": "StringVar",
    "label": "Requested by",
    "help_text": "Who asked for this run. The Slack bot fills it in.",
    "required": False,
    "max_length": 255,
}
"""The variable the bot fills itself; the Job has it from the version that records who asked."""
APPROVED_BY: dict[str, Any] = {
    "name": "approved_by",
    "type": "StringVar",
    "label": "Approved by",
    "help_text": "Who approved this run in Slack. The Slack bot fills it in; leave it empty in Nautobot.",
    "required": False,
    "max_length": 1000,
}
"""The variable the bot fills itself with who approved in Slack; the Jobs declare it after ``requested_by``."""
REQUEST_ID: dict[str, Any] = {
    "name": "request_id",
    "type": "StringVar",
    "label": "Request ID",
    "help_text": "The Slack bot's key for this request; leave it empty in Nautobot.",
    "required": False,
    "max_length": 255,
}
"""The variable the bot fills with the request's key, so a restarted bot finds the run exactly."""

_JOB_RESULT: dict[str, Any] = {
    "id": RESULT_ID,
    "object_type": "extras.jobresult",
    "display": f"Create Meraki User started at 2026-11-02 10:15:02 ({RESULT_ID})",
    "url": f"{BASE}/api/extras/job-results/{RESULT_ID}/",
    "status": {"value": "PENDING", "label": "PENDING"},
    "name": JOB_NAME,
    "date_created": "2026-11-02T10:15:02.118000Z",
    "date_started": None,
    "date_done": None,
    "result": None,
    "traceback": None,
    "worker": None,
    "task_kwargs": {"user_email": "bob@example.com", "meraki_org_id": ACME_ORG, "dryrun": False},
    "celery_kwargs": {"queue": "default", "nautobot_job_profile": False, "nautobot_job_user_id": "7"},
    "info_log_count": 0,
    "warning_log_count": 0,
    "error_log_count": 0,
    "debug_log_count": 0,
    "success_log_count": 0,
    "meta": None,
    "job_model": {"id": JOB_ID, "object_type": "extras.job", "url": f"{BASE}/api/extras/jobs/{JOB_ID}/"},
    "user": {"id": "7", "object_type": "users.user", "url": f"{BASE}/api/users/users/7/"},
    "scheduled_job": None,
    "cancel_type": "",
    "date_canceled": None,
    "canceled_by": None,
    "custom_fields": {},
    "computed_fields": {},
}


def job_result(status: str, **changes: Any) -> dict[str, Any]:
    """A JobResult in ``status`` (PENDING, STARTED, SUCCESS, FAILURE, ...), as ``GET .../job-results/<id>/``."""
    body = {**_JOB_RESULT, "status": {"value": status, "label": status}}
    if status != "PENDING":
        body.update(date_started="2026-11-02T10:15:02.450000Z", worker="celery@worker-1")
    if status in ("SUCCESS", "FAILURE", "REVOKED"):
        body.update(date_done="2026-11-02T10:15:03.910000Z")
    return {**body, **changes}


SUCCEEDED = job_result(
    "SUCCESS",
    result={"created": "bob@example.com", "organization": ACME_ORG},
    info_log_count=2,
    warning_log_count=1,
    success_log_count=1,
)
FAILURE_MESSAGE = "Meraki refused the administrator: Email has already been taken"
FAILED = job_result(
    "FAILURE",
    result={"exc_type": "RuntimeError", "exc_message": [FAILURE_MESSAGE], "exc_module": "builtins"},
    traceback=(
        "Traceback (most recent call last):\n"
        '  File "/opt/nautobot/jobs/meraki_users.py", line 212, in run\n'
        "    raise RuntimeError(message)\n"
        f"RuntimeError: {FAILURE_MESSAGE}"
    ),
    info_log_count=1,
    error_log_count=2,
)
RUN_QUEUED: dict[str, Any] = {"scheduled_job": None, "job_result": job_result("PENDING")}
RUN_AWAITING_APPROVAL: dict[str, Any] = {
    "job_result": None,
    "scheduled_job": {
        "id": SCHEDULED_ID,
        "object_type": "extras.scheduledjob",
        "display": "Create Meraki User (approval)",
        "url": f"{BASE}/api/extras/scheduled-jobs/{SCHEDULED_ID}/",
        "name": "Create Meraki User (approval)",
        "task": "meraki_chatops.jobs.meraki_users.CreateMerakiUser",
        "interval": "future",
        "one_off": True,
        "enabled": False,
        "start_time": "2026-11-02T10:15:02.118000Z",
        "state": {"value": "pending", "label": "Pending Approval"},
    },
}


def log_entry(second: float, level: str, grouping: str, message: str) -> dict[str, Any]:
    """One line of ``GET .../job-results/<id>/logs/``, ``second`` after 10:15:02."""
    created = f"2026-11-02T10:15:{2 + second:09.6f}Z"
    entry_id = f"log-{second:011.6f}"
    return {
        "id": entry_id,
        "url": f"{BASE}/api/extras/job-logs/{entry_id}/",
        "display": message,
        "log_level": level,
        "grouping": grouping,
        "message": message,
        "log_object": None,
        "absolute_url": None,
        "job_result": {"id": RESULT_ID, "object_type": "extras.jobresult", "url": _JOB_RESULT["url"]},
        "created": created,
    }


LOGS: list[dict[str, Any]] = [
    log_entry(0.5, "info", "initialization", "Running job (source version: 1a2b3c4)"),
    log_entry(1.1, "info", "run", "Organization Acme Corp (111111) found"),
    log_entry(1.4, "warning", "run", "Organization has 2FA off"),
    log_entry(1.9, "success", "run", "Created administrator bob@example.com"),
]
FAILED_LOGS: list[dict[str, Any]] = [
    log_entry(0.5, "info", "initialization", "Running job (source version: 1a2b3c4)"),
    log_entry(1.1, "failure", "run", "Meraki API answered 400: Email has already been taken"),
    log_entry(1.2, "error", "run", "Job failed, all database changes have been rolled back."),
]


def long_log(count: int) -> list[dict[str, Any]]:
    return [log_entry(index * 0.01, "info", "run", f"Checked network N_{index:04d}") for index in range(count)]


def ok(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
Reply = httpx.Response | Exception | Handler


class FakeNautobot:
    """Answers by (method, path); a list of replies is consumed one per request, the last one repeats."""

    def __init__(self, events: Events | None = None) -> None:
        self.events = events if events is not None else Events()
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *replies: Reply) -> FakeNautobot:
        self.routes[(method, path)] = list(replies)
        return self

    def with_job(self) -> FakeNautobot:
        """The Job list and the Job's variables."""
        return self.on("GET", JOBS_PATH, ok(JOB_LIST)).on("GET", VARIABLES_PATH, ok(VARIABLES))

    def with_quick_run(self) -> FakeNautobot:
        """The Job, a run that is queued, and its result already finished with a short log."""
        return (
            self.with_job()
            .on("POST", RUN_PATH, ok(RUN_QUEUED, 201))
            .on("GET", RESULT_PATH, ok(SUCCEEDED))
            .on("GET", LOGS_PATH, ok(LOGS))
        )

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.events.add("nautobot", f"{request.method} {request.url.path}", {"request": request})
        replies = self.routes.get((request.method, request.url.path))
        if not replies:
            return ok({"detail": "Not found."}, 404)
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)
        answer = reply(request)
        return await answer if inspect.isawaitable(answer) else answer

    def count(self, method: str, path: str) -> int:
        return sum(1 for request in self.requests if request.method == method and request.url.path == path)

    def run_bodies(self) -> list[dict[str, Any]]:
        """The JSON of every ``POST .../run/``."""
        return [json.loads(r.content) for r in self.requests if r.method == "POST" and r.url.path == RUN_PATH]

    def client(self) -> NautobotClient:
        return NautobotClient(BASE, TOKEN, transport=httpx.MockTransport(self))
