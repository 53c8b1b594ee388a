"""The Nautobot REST client against Nautobot 3.2.7's observed answers, transport failures and real TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

import bot.nautobot.responses as responses_module
from bot.models import JobForm, RunStatus
from bot.nautobot import (
    JobDisabled,
    JobFieldErrors,
    JobInfo,
    JobNotFound,
    NautobotAuthError,
    NautobotClient,
    NautobotError,
    NautobotServerError,
    NautobotUnreachable,
    NoWorker,
    ObjectSearch,
    Submission,
)
from testbed.fake_nautobot import (
    BASE,
    JOB,
    JOB_ID,
    JOB_LIST,
    JOB_NAME,
    LOGS_PATH,
    RESULT_ID,
    RESULT_PATH,
    RUN_PATH,
    SCHEDULED_ID,
    TOKEN,
    VARIABLES_PATH,
)

VARIABLES: list[dict[str, Any]] = [
    {"name": "user_email", "type": "StringVar", "help_text": "Email of requester", "required": True, "max_length": 100},
    {
        "name": "color",
        "type": "ChoiceVar",
        "label": "Colour",
        "required": True,
        "choices": [["r", "Red"], ["g", "Green"]],
        "default": "g",
    },
    {"name": "count", "type": "IntegerVar", "required": False, "min_value": 1, "max_value": 5, "default": 2},
    {
        "name": "dryrun",
        "type": "DryRunVar",
        "help_text": "Check to run job in dryrun mode.",
        "required": False,
        "default": False,
    },
]
JOB_RESULT: dict[str, Any] = {
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
    "task_kwargs": {"user_email": "a@example.com", "color": "r", "count": 2, "dryrun": False},
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
FINISHED_RESULT = {
    **JOB_RESULT,
    "status": {"value": "SUCCESS", "label": "SUCCESS"},
    "date_started": "2026-11-02T10:15:02.450000Z",
    "date_done": "2026-11-02T10:15:03.910000Z",
    "result": {"n": 2, "greeted": "a@example.com"},
    "worker": "celery@vm",
    "info_log_count": 3,
    "warning_log_count": 1,
    "success_log_count": 1,
}
RUN_QUEUED = {"scheduled_job": None, "job_result": JOB_RESULT}
SCHEDULED_JOB: dict[str, Any] = {
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
    "job_model": {"id": JOB_ID, "object_type": "extras.job", "url": f"{BASE}/api/extras/jobs/{JOB_ID}/"},
}
RUN_AWAITING_APPROVAL = {"job_result": None, "scheduled_job": SCHEDULED_JOB}

pytestmark = pytest.mark.usefixtures("no_retry_delay")


def log_entry(created: str, level: str, grouping: str, message: str) -> dict[str, Any]:
    return {
        "id": f"log-{created}",
        "url": f"{BASE}/api/extras/job-logs/log-{created}/",
        "display": message,
        "log_level": level,
        "grouping": grouping,
        "message": message,
        "log_object": None,
        "absolute_url": None,
        "job_result": {"id": RESULT_ID, "object_type": "extras.jobresult", "url": JOB_RESULT["url"]},
        "created": created,
    }


LOGS = [
    log_entry("2026-11-02T10:15:02.500000Z", "info", "initialization", "Running job (source version: 1a2b3c4)"),
    log_entry("2026-11-02T10:15:03.100000Z", "info", "run", "Data pushed in: (redacted)@example.com"),
    log_entry("2026-11-02T10:15:03.400000Z", "warning", "run", "Organization has 2FA off"),
    log_entry("2026-11-02T10:15:03.900000Z", "success", "run", "Job completed"),
]

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeNautobot:
    """Answers by (method, path); a list of replies is consumed one per request, the last one repeats."""

    routes: dict[tuple[str, str], Reply | list[Reply]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, *replies: Reply) -> FakeNautobot:
        self.routes[(method, path)] = list(replies)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        replies = self.routes.get((request.method, request.url.path))
        if replies is None:
            return httpx.Response(404, json={"detail": "Not found."})
        reply = replies.pop(0) if isinstance(replies, list) and len(replies) > 1 else _last(replies)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)


def _last(replies: Reply | list[Reply]) -> Reply:
    return replies[-1] if isinstance(replies, list) else replies


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def html(status: int, text: str) -> httpx.Response:
    return httpx.Response(status, text=text, headers={"Content-Type": "text/html"})


JOBS = "/api/extras/jobs/"
CANCEL_PATH = f"/api/extras/job-results/{RESULT_ID}/cancel/"


@pytest.fixture
def fake() -> FakeNautobot:
    return FakeNautobot()


@pytest.fixture
async def client(fake: FakeNautobot) -> AsyncIterator[NautobotClient]:
    async with NautobotClient(f"{BASE}/", TOKEN, transport=httpx.MockTransport(fake)) as nb:
        yield nb


def assert_no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text)
        assert TOKEN not in repr(text)


# Happy paths


async def test_find_job_sends_token_json_accept_and_an_encoded_name(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", JOBS, ok(JOB_LIST))

    job = await client.find_job(JOB_NAME)

    assert job == JobInfo(
        id=JOB_ID, name=JOB_NAME, enabled=True, installed=True, description=JOB["description"], raw=JOB
    )
    request = fake.requests[0]
    assert request.url.raw_path == b"/api/extras/jobs/?name=Create+Meraki+User"
    assert request.url.params["name"] == JOB_NAME
    assert request.headers["Authorization"] == f"Token {TOKEN}"
    assert request.headers["Accept"] == "application/json"


async def test_find_job_encodes_reserved_characters_in_the_name(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", JOBS, ok({**JOB_LIST, "results": [{**JOB, "name": "A&B = C/D?"}]}))

    job = await client.find_job("A&B = C/D?")

    assert job.name == "A&B = C/D?"
    assert fake.requests[0].url.query == b"name=A%26B+%3D+C%2FD%3F"


async def test_find_job_prefers_the_exact_name(fake: FakeNautobot, client: NautobotClient) -> None:
    other = {**JOB, "id": "other", "name": "Create Meraki User (old)"}
    fake.on("GET", JOBS, ok({**JOB_LIST, "count": 2, "results": [other, JOB]}))

    assert (await client.find_job(JOB_NAME)).id == JOB_ID


async def test_job_form_reads_the_variables_in_field_order(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", JOBS, ok(JOB_LIST)).on("GET", VARIABLES_PATH, ok(VARIABLES))

    form = await client.job_form(JOB_NAME)

    assert form == JobForm.from_api(JOB, VARIABLES)
    assert [var.name for var in form.variables] == ["user_email", "color", "count", "dryrun"]
    assert form.job_id == JOB_ID
    assert form.variable("color") is not None
    assert form.variable("color").choices == [("r", "Red"), ("g", "Green")]


async def test_run_job_posts_the_data_and_returns_the_queued_run(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("POST", RUN_PATH, ok(RUN_QUEUED, 201))
    data = {"user_email": "a@example.com", "color": "r", "count": 2, "dryrun": False}

    submission = await client.run_job(JOB_ID, data)

    assert json.loads(fake.requests[0].content) == {"data": data}
    assert fake.requests[0].headers["Content-Type"] == "application/json"
    assert isinstance(submission, Submission)
    assert submission.run is not None
    assert submission.run.result_id == RESULT_ID
    assert submission.run.status is RunStatus.QUEUED
    assert submission.run.url == f"{BASE}/extras/job-results/{RESULT_ID}/"
    assert (submission.scheduled_job_id, submission.scheduled_url) == (None, None)
    assert submission.awaiting_approval is False
    assert submission.raw == RUN_QUEUED


async def test_run_job_reads_the_scheduled_job_awaiting_approval(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("POST", RUN_PATH, ok(RUN_AWAITING_APPROVAL, 201))

    submission = await client.run_job(JOB_ID, {"user_email": "a@example.com"})

    assert submission.run is None
    assert submission.scheduled_job_id == SCHEDULED_ID
    assert submission.scheduled_url == f"{BASE}/extras/scheduled-jobs/{SCHEDULED_ID}/"
    assert submission.awaiting_approval is True


async def test_run_job_rejects_a_201_without_result_or_schedule(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("POST", RUN_PATH, ok({"scheduled_job": None, "job_result": None}, 201))

    with pytest.raises(NautobotError, match="unexpected shape"):
        await client.run_job(JOB_ID, {})


async def test_job_result_maps_status_counts_and_web_url(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", RESULT_PATH, ok(FINISHED_RESULT))

    run = await client.job_result(RESULT_ID)

    assert run.status is RunStatus.SUCCEEDED
    assert run.url == client.result_url(RESULT_ID)
    assert run.log_counts == {"info": 3, "warning": 1, "success": 1}
    assert run.result == {"n": 2, "greeted": "a@example.com"}
    assert run.duration == dt.timedelta(seconds=1.46)


async def test_job_logs_are_a_plain_list_returned_oldest_first(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", LOGS_PATH, ok(list(reversed(LOGS))))

    entries = await client.job_logs(RESULT_ID)

    assert [entry.grouping for entry in entries] == ["initialization", "run", "run", "run"]
    assert entries[0].message.startswith("Running job (source version:")
    assert [entry.log_level for entry in entries] == ["info", "info", "warning", "success"]
    assert entries[-1].message == "Job completed"


async def test_scheduled_job_returns_the_record(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", f"/api/extras/scheduled-jobs/{SCHEDULED_ID}/", ok(SCHEDULED_JOB))

    assert await client.scheduled_job(SCHEDULED_ID) == SCHEDULED_JOB


async def test_cancel_returns_the_revoked_run(fake: FakeNautobot, client: NautobotClient) -> None:
    revoked = {**JOB_RESULT, "status": {"value": "REVOKED", "label": "REVOKED"}, "cancel_type": "graceful"}
    fake.on("POST", CANCEL_PATH, ok(revoked))

    run = await client.cancel(RESULT_ID)

    assert run.status is RunStatus.CANCELLED


async def test_cancel_of_a_finished_run_returns_its_state(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("POST", CANCEL_PATH, ok({"detail": "Job is already finished. Nothing to do."}, 409))
    fake.on("GET", RESULT_PATH, ok(FINISHED_RESULT))

    run = await client.cancel(RESULT_ID)

    assert run.status is RunStatus.SUCCEEDED


async def test_cancel_on_a_nautobot_without_the_endpoint(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("POST", CANCEL_PATH, html(404, "<h1>Page Not Found</h1>"))

    with pytest.raises(NautobotError, match=r"3\.2 or later") as caught:
        await client.cancel(RESULT_ID)

    assert caught.value.status == 404
    assert client.result_url(RESULT_ID) in str(caught.value)


async def test_status_adds_the_api_version_header(fake: FakeNautobot, client: NautobotClient) -> None:
    body = {"nautobot-version": "3.2.7", "python-version": "3.11.7", "celery-workers-running": 1}
    fake.on("GET", "/api/status/", ok(body, headers={"API-Version": "3.2"}))

    status = await client.status()

    assert status == {**body, "api-version": "3.2"}
    assert "version=" not in fake.requests[0].headers["Accept"]


async def test_what_nautobot_can_do_follows_the_version_it_reports(fake: FakeNautobot, client: NautobotClient) -> None:
    assert not client.capabilities.known and not client.capabilities.cancel  # unknown counts as absent
    fake.on("GET", "/api/status/", ok({"nautobot-version": "2.4.44"}), ok({"nautobot-version": "3.2.7"}))

    await client.status()
    assert client.capabilities.version == (2, 4)
    assert not client.capabilities.cancel and client.capabilities.events

    await client.status()  # upgraded under the running bot
    assert client.capabilities.cancel


async def test_an_object_search_finds_the_endpoint_of_an_apps_model_and_of_a_plugins(
    fake: FakeNautobot, client: NautobotClient
) -> None:
    fake.on("GET", "/api/ipam/", ok({"prefixes": f"{BASE}/api/ipam/prefixes/", "ip-addresses": "x"}))
    fake.on("GET", "/api/plugins/", ok({"chatops": f"{BASE}/api/plugins/chatops/"}))
    fake.on("GET", "/api/plugins/chatops/", ok({"access-grants": f"{BASE}/api/plugins/chatops/access-grants/"}))
    fake.on("GET", "/api/ipam/ip-addresses/", ok({"results": [{"id": "a1", "display": "192.0.2.10/24"}]}))
    fake.on("GET", "/api/plugins/chatops/access-grants/", ok({"results": [{"id": "g1", "display": "meraki *"}]}))
    search = ObjectSearch(client)

    assert await search.search("ipam.ipaddress", "192.0.2") == [("a1", "192.0.2.10/24")]
    assert await search.search("nautobot_chatops.accessgrant", "") == [("g1", "meraki *")]
    assert await search.search("nautobot_chatops.nosuchmodel", "") == []
    assert await search.search("nautobot_chatops.nosuchmodel", "again") == []  # not looked for twice

    assert fake.count("GET", "/api/plugins/chatops/") == 2  # once for each model found or not found there


# Addresses


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://nautobot.example.com/", "https://nautobot.example.com"),
        ("https://nautobot.example.com/api/", "https://nautobot.example.com"),
        ("https://example.com/nautobot", "https://example.com/nautobot"),
    ],
)
async def test_base_url_and_result_url(given: str, expected: str) -> None:
    async with NautobotClient(given, TOKEN, transport=httpx.MockTransport(FakeNautobot())) as nb:
        assert nb.base_url == expected
        assert nb.result_url(RESULT_ID) == f"{expected}/extras/job-results/{RESULT_ID}/"


async def test_a_path_prefix_is_kept_in_api_calls(fake: FakeNautobot) -> None:
    fake.on("GET", "/nautobot/api/status/", ok({"nautobot-version": "3.2.7"}))
    async with NautobotClient("https://example.com/nautobot", TOKEN, transport=httpx.MockTransport(fake)) as nb:
        await nb.status()

    assert fake.requests[0].url.path == "/nautobot/api/status/"


# Nautobot's error answers


async def test_an_empty_search_is_job_not_found(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", JOBS, ok({"count": 0, "next": None, "previous": None, "results": []}))

    with pytest.raises(JobNotFound) as caught:
        await client.find_job(JOB_NAME)

    message = str(caught.value)
    assert repr(JOB_NAME) in message
    assert "COMMANDS" in message
    assert "repository" in message
    assert caught.value.job == JOB_NAME


async def test_variables_404_is_job_not_found(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", JOBS, ok(JOB_LIST)).on("GET", VARIABLES_PATH, ok({"detail": "No Job matches the given query."}, 404))

    with pytest.raises(JobNotFound) as caught:
        await client.job_form(JOB_NAME)

    assert caught.value.status == 404
    assert caught.value.detail == "No Job matches the given query."


async def test_run_of_a_disabled_job(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("POST", RUN_PATH, ok({"detail": "This job is not enabled to be run."}, 403))

    with pytest.raises(JobDisabled) as caught:
        await client.run_job(JOB_ID, {})

    assert "Jobs → Edit → Enabled" in str(caught.value)
    assert (caught.value.status, caught.value.installed, caught.value.retryable) == (403, True, False)


async def test_run_of_a_job_that_is_not_installed(fake: FakeNautobot, client: NautobotClient) -> None:
    detail = "This job is not presently installed and cannot be run"
    fake.on("POST", RUN_PATH, ok({"detail": detail}, 405))

    with pytest.raises(JobDisabled) as caught:
        await client.run_job(JOB_ID, {})

    assert caught.value.installed is False
    assert caught.value.detail == detail
    assert "Sync the Git repository" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"errors": {"user_email": ["This field is required."]}}, {"user_email": ["This field is required."]}),
        (
            {"errors": {"bogus": ["Job data contained an unknown property"]}},
            {"bogus": ["Job data contained an unknown property"]},
        ),
        ({"errors": ["Job data needs to be a dict"]}, ["Job data needs to be a dict"]),
        ({"task_queue": ['"x" is not a valid choice.']}, {"task_queue": ['"x" is not a valid choice.']}),
        (
            {
                "errors": {
                    "user_email": ["Invalid value. Must match regex: ^[^@]+@example\\.com$"],
                    "access": ["Select a valid choice. superuser is not one of the available choices."],
                }
            },
            {
                "user_email": ["Invalid value. Must match regex: ^[^@]+@example\\.com$"],
                "access": ["Select a valid choice. superuser is not one of the available choices."],
            },
        ),
    ],
)
async def test_run_field_errors_keep_nautobots_errors(
    fake: FakeNautobot, client: NautobotClient, body: dict[str, Any], errors: Any
) -> None:
    fake.on("POST", RUN_PATH, ok(body, 400))

    with pytest.raises(JobFieldErrors) as caught:
        await client.run_job(JOB_ID, {"user_email": "x"})

    assert caught.value.errors == errors
    assert caught.value.status == 400
    assert "nothing ran" in str(caught.value)
    first = next(iter(errors.values()))[0] if isinstance(errors, dict) else errors[0]
    assert first in str(caught.value)


async def test_run_without_a_celery_worker(fake: FakeNautobot, client: NautobotClient) -> None:
    detail = "Unable to process request: No celery workers running on queue default."
    fake.on("POST", RUN_PATH, ok({"detail": detail}, 503))

    with pytest.raises(NoWorker) as caught:
        await client.run_job(JOB_ID, {})

    assert caught.value.retryable is True
    assert caught.value.queue == "default"
    assert caught.value.detail == detail
    assert "Celery worker" in str(caught.value)
    assert "start a nautobot celery worker" in str(caught.value).casefold()


async def test_run_404_for_an_unknown_job(fake: FakeNautobot, client: NautobotClient) -> None:
    missing = ok({"detail": "No Job matches the given query."}, 404)
    fake.on("POST", RUN_PATH, missing).on("GET", f"/api/extras/jobs/{JOB_ID}/", missing)

    with pytest.raises(JobNotFound):
        await client.run_job(JOB_ID, {})


async def test_run_404_for_a_visible_job_means_no_run_permission(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("POST", RUN_PATH, ok({"detail": "No Job matches the given query."}, 404))
    fake.on("GET", f"/api/extras/jobs/{JOB_ID}/", ok(JOB))

    with pytest.raises(NautobotAuthError) as caught:
        await client.run_job(JOB_ID, {})

    assert caught.value.status == 404
    assert "run action" in str(caught.value)
    assert "extras.job" in str(caught.value)
    assert fake.count("POST", RUN_PATH) == 1


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize(
    ("detail", "advice"),
    [
        ("Authentication credentials were not provided.", "NAUTOBOT_TOKEN"),
        ("Invalid token", "NAUTOBOT_TOKEN"),
        ("Token expired", "NAUTOBOT_TOKEN"),
        ("User inactive", "NAUTOBOT_TOKEN"),
        ("You do not have permission to perform this action.", "extras.joblogentry"),
        ("This user does not have permission to run jobs.", "extras.jobresult"),
    ],
)
async def test_auth_errors_say_what_to_fix(
    fake: FakeNautobot, client: NautobotClient, status: int, detail: str, advice: str
) -> None:
    fake.on("GET", JOBS, ok({"detail": detail}, status))

    with pytest.raises(NautobotAuthError) as caught:
        await client.find_job(JOB_NAME)

    assert caught.value.status == status
    assert caught.value.detail == detail
    assert advice in str(caught.value)
    assert caught.value.retryable is False


async def test_permission_error_lists_every_needed_permission(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", LOGS_PATH, ok({"detail": "You do not have permission to perform this action."}, 403))

    with pytest.raises(NautobotAuthError) as caught:
        await client.job_logs(RESULT_ID)

    message = str(caught.value)
    for needed in ("view and run on extras.job", "extras.jobresult", "extras.joblogentry", "Write enabled"):
        assert needed in message


async def test_job_result_404(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", RESULT_PATH, ok({"detail": "No JobResult matches the given query."}, 404))

    with pytest.raises(NautobotError) as caught:
        await client.job_result(RESULT_ID)

    assert type(caught.value) is NautobotError
    assert caught.value.status == 404
    assert client.result_url(RESULT_ID) in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (ok({"detail": "Internal error."}, 500), 500),
        (html(500, "<html><title>Server Error (500)</title></html>"), 500),
        (ok({"detail": "Database is in maintenance."}, 503), 503),
    ],
)
async def test_nautobot_server_errors(
    fake: FakeNautobot, client: NautobotClient, reply: httpx.Response, status: int
) -> None:
    fake.on("GET", RESULT_PATH, reply)

    with pytest.raises(NautobotServerError) as caught:
        await client.job_result(RESULT_ID)

    assert caught.value.status == status
    assert caught.value.retryable is True
    assert "Nautobot server logs" in str(caught.value)


async def test_unexpected_status_is_a_plain_error_with_an_excerpt(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", "/api/status/", html(418, "<p>I'm a teapot " + "x" * 500 + "</p>"))

    with pytest.raises(NautobotError) as caught:
        await client.status()

    assert type(caught.value) is NautobotError
    assert caught.value.status == 418
    assert caught.value.detail.startswith("I'm a teapot")
    assert len(caught.value.detail) <= responses_module.EXCERPT_MAX
    assert "<p>" not in str(caught.value)


async def test_a_login_page_instead_of_json(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", JOBS, html(200, "<html><body><form>Sign in to SSO</form></body></html>"))

    with pytest.raises(NautobotError, match="NAUTOBOT_URL") as caught:
        await client.find_job(JOB_NAME)

    assert "Sign in to SSO" in caught.value.detail


async def test_a_redirect_asks_for_the_right_url(fake: FakeNautobot, client: NautobotClient) -> None:
    location = "https://nautobot.example.com:8443/api/extras/jobs/"
    fake.on("GET", JOBS, httpx.Response(301, headers={"Location": location}))

    with pytest.raises(NautobotError, match="NAUTOBOT_URL") as caught:
        await client.find_job(JOB_NAME)

    assert caught.value.status == 301
    assert location in str(caught.value)


# Proxies and transport


@pytest.mark.parametrize(
    "reply",
    [
        html(502, "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"),
        html(503, "<html><body>Service Temporarily Unavailable</body></html>"),
        httpx.Response(504),
    ],
)
async def test_a_proxy_error_page_is_unreachable(
    fake: FakeNautobot, client: NautobotClient, reply: httpx.Response
) -> None:
    fake.on("GET", RESULT_PATH, reply)

    with pytest.raises(NautobotUnreachable) as caught:
        await client.job_result(RESULT_ID)

    assert caught.value.status == reply.status_code
    assert caught.value.retryable is True
    assert "try again" in str(caught.value)
    assert "<" not in str(caught.value)


async def test_a_proxy_timeout_on_run_may_have_run_the_job(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("POST", RUN_PATH, html(504, "<html><title>504 Gateway Time-out</title></html>"))

    with pytest.raises(NautobotUnreachable) as caught:
        await client.run_job(JOB_ID, {})

    assert (caught.value.request_sent, caught.value.retryable) == (True, False)
    assert "may still have been carried out" in str(caught.value)


async def test_connect_error_is_unreachable_and_a_get_is_retried_once(
    fake: FakeNautobot, client: NautobotClient
) -> None:
    fake.on("GET", RESULT_PATH, httpx.ConnectError("[Errno 111] Connection refused"))

    with pytest.raises(NautobotUnreachable) as caught:
        await client.job_result(RESULT_ID)

    assert fake.count("GET", RESULT_PATH) == 2
    assert caught.value.retryable is True
    assert caught.value.request_sent is False
    assert caught.value.status is None
    assert "Connection refused" in caught.value.detail
    assert "NAUTOBOT_URL" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_get_succeeds_on_its_retry(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("GET", RESULT_PATH, httpx.ReadError("connection reset"), ok(FINISHED_RESULT))

    run = await client.job_result(RESULT_ID)

    assert run.status is RunStatus.SUCCEEDED
    assert fake.count("GET", RESULT_PATH) == 2


async def test_a_timeout_is_unreachable(fake: FakeNautobot) -> None:
    fake.on("GET", LOGS_PATH, httpx.ReadTimeout("timed out"))
    async with NautobotClient(BASE, TOKEN, timeout=7.5, transport=httpx.MockTransport(fake)) as nb:
        with pytest.raises(NautobotUnreachable) as caught:
            await nb.job_logs(RESULT_ID)

    assert "within 7.5 s" in str(caught.value)
    assert fake.count("GET", LOGS_PATH) == 2


async def test_a_post_is_never_retried(fake: FakeNautobot, client: NautobotClient) -> None:
    fake.on("POST", RUN_PATH, httpx.ConnectError("[Errno 111] Connection refused"), ok(RUN_QUEUED, 201))

    with pytest.raises(NautobotUnreachable) as caught:
        await client.run_job(JOB_ID, {})

    assert fake.count("POST", RUN_PATH) == 1
    assert (caught.value.request_sent, caught.value.retryable) == (False, True)
    assert "nothing was sent" in str(caught.value)


@pytest.mark.parametrize("error", [httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("peer closed")])
async def test_a_post_without_answer_may_have_run_the_job(
    fake: FakeNautobot, client: NautobotClient, error: Exception
) -> None:
    fake.on("POST", RUN_PATH, error)

    with pytest.raises(NautobotUnreachable) as caught:
        await client.run_job(JOB_ID, {})

    assert fake.count("POST", RUN_PATH) == 1
    assert (caught.value.request_sent, caught.value.retryable) == (True, False)
    assert f"{BASE}/extras/job-results/" in str(caught.value)
    assert "before trying again" in str(caught.value)


def tls_error() -> httpx.ConnectError:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    try:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed") from cause
    except httpx.ConnectError as exc:
        return exc


async def test_a_tls_failure_names_the_ca_settings_and_is_not_retried(
    fake: FakeNautobot, client: NautobotClient
) -> None:
    fake.on("GET", JOBS, tls_error())

    with pytest.raises(NautobotUnreachable) as caught:
        await client.find_job(JOB_NAME)

    message = str(caught.value)
    assert "TLS" in message
    assert "NAUTOBOT_CA_BUNDLE" in message
    assert "NAUTOBOT_VERIFY_TLS" in message
    assert fake.count("GET", JOBS) == 1


async def test_a_dns_failure_names_the_host(fake: FakeNautobot, client: NautobotClient) -> None:
    try:
        raise httpx.ConnectError("[Errno -2] Name or service not known") from socket.gaierror(-2, "Name unknown")
    except httpx.ConnectError as exc:
        fake.on("GET", JOBS, exc)

    with pytest.raises(NautobotUnreachable) as caught:
        await client.find_job(JOB_NAME)

    assert "Cannot resolve nautobot.example.com" in str(caught.value)
    assert "NAUTOBOT_URL" in str(caught.value)


async def test_an_unreadable_ca_bundle(tmp_path: Path) -> None:
    with pytest.raises(NautobotError, match="NAUTOBOT_CA_BUNDLE"):
        NautobotClient(BASE, TOKEN, verify=str(tmp_path / "missing.pem"))


# Real TLS and sockets


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(cert=folder / "cert.pem", key=folder / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


@pytest.fixture
async def tls_server(tls_files: TlsFiles) -> AsyncIterator[str]:
    """A one-route HTTPS server answering ``/api/status/`` like Nautobot."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.cert, tls_files.key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"nautobot-version": "3.2.7"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAPI-Version: 3.2\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"https://127.0.0.1:{port}"


async def test_real_tls_with_an_untrusted_certificate(tls_server: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="asyncio")
    async with NautobotClient(tls_server, TOKEN) as nb:
        with pytest.raises(NautobotUnreachable) as caught:
            await nb.status()

    assert "TLS verification failed" in str(caught.value)
    assert "NAUTOBOT_CA_BUNDLE" in str(caught.value)


async def test_real_tls_trusting_the_ca_bundle(tls_server: str, tls_files: TlsFiles) -> None:
    async with NautobotClient(tls_server, TOKEN, verify=str(tls_files.cert)) as nb:
        status = await nb.status()

    assert status == {"nautobot-version": "3.2.7", "api-version": "3.2"}


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


async def test_real_connection_refused(closed_port: int) -> None:
    async with NautobotClient(f"http://127.0.0.1:{closed_port}", TOKEN, timeout=5) as nb:
        with pytest.raises(NautobotUnreachable, match="Cannot connect to Nautobot") as caught:
            await nb.status()

    assert caught.value.request_sent is False


# Secrets and logs


def echo_headers(request: httpx.Request) -> httpx.Response:
    return html(500, f"<pre>HTTP_AUTHORIZATION = {request.headers['Authorization']}</pre>")


async def test_the_token_never_shows_in_repr_errors_or_logs(
    fake: FakeNautobot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.on("GET", JOBS, ok({"detail": "Invalid token"}, 403))
    fake.on("POST", RUN_PATH, ok({"errors": {"user_email": ["This field is required."]}}, 400))
    fake.on("GET", RESULT_PATH, echo_headers)
    fake.on("GET", LOGS_PATH, httpx.ConnectError("refused"))
    fake.on(
        "GET",
        "/api/status/",
        ok({"detail": "Unable to process request: No celery workers running on queue default."}, 503),
    )
    fake.on("POST", CANCEL_PATH, html(502, "bad gateway"))
    calls: list[Callable[[NautobotClient], Any]] = [
        lambda nb: nb.find_job(JOB_NAME),
        lambda nb: nb.run_job(JOB_ID, {}),
        lambda nb: nb.job_result(RESULT_ID),
        lambda nb: nb.job_logs(RESULT_ID),
        lambda nb: nb.status(),
        lambda nb: nb.cancel(RESULT_ID),
    ]
    errors: list[NautobotError] = []
    async with NautobotClient(BASE, SecretStr(TOKEN), transport=httpx.MockTransport(fake)) as nb:
        assert_no_token(nb, vars(nb))
        for call in calls:
            with pytest.raises(NautobotError) as caught:
                await call(nb)
            errors.append(caught.value)

    assert {type(error) for error in errors} == {
        NautobotAuthError,
        JobFieldErrors,
        NautobotServerError,
        NautobotUnreachable,
        NoWorker,
    }
    assert "**********" in errors[2].detail
    for error in errors:
        assert_no_token(error, error.detail, error.args, vars(error))
    assert_no_token(caplog.text, *(record.__dict__ for record in caplog.records))
    assert fake.requests[0].headers["Authorization"] == f"Token {TOKEN}"


async def test_one_debug_line_per_request(
    fake: FakeNautobot, client: NautobotClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.nautobot")
    fake.on("GET", JOBS, ok(JOB_LIST)).on("GET", VARIABLES_PATH, ok(VARIABLES))

    await client.job_form(JOB_NAME)

    records = [record for record in caplog.records if record.name == "bot.nautobot"]
    assert [(r.levelno, r.method, r.path, r.status) for r in records] == [
        (logging.DEBUG, "GET", JOBS, 200),
        (logging.DEBUG, "GET", VARIABLES_PATH, 200),
    ]
    assert all(isinstance(record.elapsed_ms, float) for record in records)
    assert records[0].getMessage().startswith(f"nautobot request method=GET path={JOBS} status=200 elapsed_ms=")
    assert "Create" not in caplog.text
    assert "Authorization" not in caplog.text


async def test_a_failed_attempt_is_logged_with_the_error_class(
    fake: FakeNautobot, client: NautobotClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.nautobot")
    fake.on("GET", RESULT_PATH, httpx.ConnectError("refused"), ok(JOB_RESULT))

    await client.job_result(RESULT_ID)

    assert [record.status for record in caplog.records if record.name == "bot.nautobot"] == ["ConnectError", 200]


# Shape of the public surface


def test_error_hierarchy_and_retry_flags() -> None:
    for kind in (NautobotUnreachable, NautobotAuthError, JobNotFound, JobDisabled, JobFieldErrors, NoWorker):
        assert issubclass(kind, NautobotError)
    assert issubclass(NautobotServerError, NautobotError)
    assert NautobotUnreachable.retryable and NoWorker.retryable and NautobotServerError.retryable
    assert not (NautobotError.retryable or NautobotAuthError.retryable or JobFieldErrors.retryable)
    error = NautobotError("Something failed. Do this next.", status=418, detail="teapot")
    assert (str(error), error.status, error.detail) == ("Something failed. Do this next.", 418, "teapot")


async def test_repr_shows_only_the_address() -> None:
    async with NautobotClient(BASE, TOKEN, transport=httpx.MockTransport(FakeNautobot())) as nb:
        assert repr(nb) == f"NautobotClient(base_url={BASE!r})"


async def test_aclose_closes_the_http_client(fake: FakeNautobot) -> None:
    nb = NautobotClient(BASE, TOKEN, transport=httpx.MockTransport(fake))
    async with nb:
        pass

    with pytest.raises(RuntimeError):
        await nb.status()
