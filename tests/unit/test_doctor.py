"""``meraki-chatops doctor`` against the Slack stand-in (real HTTP) and a faked Nautobot.

Every broken setup must fail at its own check, with the fix an operator needs, skip the checks
that depend on it, and never print a token.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web

import bot.nautobot.rest
from bot import doctor
from bot.doctor import REQUIRED_SCOPES, Check, Status, exit_code, render, run_checks
from bot.doctor.slack_checks import OPTIONAL_SCOPES
from bot.settings import Settings
from testbed.fake_nautobot import (
    APPROVAL_DEFINITIONS_PATH,
    BASE,
    JOB,
    JOB_NAME,
    JOBS_PATH,
    REVOKE_JOB,
    TOKEN,
    VARIABLES,
    VARIABLES_PATH,
    FakeNautobot,
    ok,
)
from testbed.manifest import bot_scopes
from testbed.slack_standin import SlackStandIn

BOT_TOKEN = "xoxb-1111-2222-doctorBotSecretValue"
APP_TOKEN = "xapp-1-A0STANDIN-3333-doctorAppSecretValue"
WRONG_BOT_TOKEN = "xoxb-9999-8888-revokedBotSecretValue"
WRONG_APP_TOKEN = "xapp-1-A0STANDIN-7777-revokedAppSecretValue"
SECRETS = (BOT_TOKEN, APP_TOKEN, TOKEN, WRONG_BOT_TOKEN, WRONG_APP_TOKEN)
STATUS_PATH = "/api/status/"
RESULTS_PATH = "/api/extras/job-results/"
JOB_LOGS_PATH = "/api/extras/job-logs/"
STATUS = {"nautobot-version": "3.2.7", "python-version": "3.11.7", "celery-workers-running": 1}
CHECK_NAMES = [
    "settings",
    "slack auth",
    "slack scopes",
    "approvers",
    "socket mode",
    "nautobot reachable",
    "nautobot version",
    "nautobot token",
    "job",
    "job variables",
    "access policy",
    "job permissions",
    "access expiry",
    "nautobot approvers",
    "ledger",
    "nautobot events",
]
NAUTOBOT_DEPENDENTS = [
    "nautobot version",
    "nautobot token",
    "job",
    "job variables",
    "job permissions",
    "access expiry",
    "nautobot approvers",
]


class HeaderlessStandIn(SlackStandIn):
    """A Slack (or a proxy in front of it) that drops the ``x-oauth-scopes`` header."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        answer = self._api.handle

        async def handle(request: web.Request) -> web.StreamResponse:
            response = await answer(request)
            response.headers.popall("x-oauth-scopes", None)
            return response

        self._api.handle = handle  # type: ignore[method-assign]


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scoped() -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token=BOT_TOKEN, app_token=APP_TOKEN, scopes=bot_scopes()) as server:
        yield server


@pytest.fixture
def slack(scoped: SlackStandIn) -> Iterator[SlackStandIn]:
    yield scoped
    scoped.scopes.clear()
    scoped.scopes.update(bot_scopes())
    scoped.app_scopes.clear()
    scoped.app_scopes.add("connections:write")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, slack: SlackStandIn) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    for name in [*Settings.model_fields]:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setattr(bot.nautobot.rest, "RETRY_DELAY", 0)
    values = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "NAUTOBOT_URL": BASE,
        "NAUTOBOT_TOKEN": TOKEN,
        "STORE_URL": f"sqlite:///{tmp_path}/ledger.sqlite3",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A ``bot.ledger`` with ``Ledger.open(url)`` and ``writable()``; ``state`` steers it."""
    state: dict[str, Any] = {"writable": True, "opened": [], "closed": 0}

    class Ledger:
        @classmethod
        async def open(cls, url: str) -> Ledger:
            state["opened"].append(url)
            if state.get("error"):
                raise state["error"]
            return cls()

        async def writable(self) -> bool:
            return state["writable"]

        async def aclose(self) -> None:
            state["closed"] += 1

    module = types.ModuleType("bot.ledger")
    module.Ledger = Ledger  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.ledger", module)
    return state


def nautobot(*, revoke: httpx.Response | None = None, **routes: httpx.Response | Exception) -> FakeNautobot:
    """A healthy Nautobot 3.2.7 holding the Job and the Revoke Job (``revoke`` answers its look-up by name), no
    approval workflow definition; ``routes`` (path → reply) override single GETs."""
    fake = (
        FakeNautobot()
        .with_job()
        .on("GET", STATUS_PATH, httpx.Response(200, json=STATUS, headers={"API-Version": "3.2"}))
        .on("GET", RESULTS_PATH, ok(page()))
        .on("GET", JOB_LOGS_PATH, ok(page()))
        .on("GET", APPROVAL_DEFINITIONS_PATH, ok(page()))
    )
    for path, reply in routes.items():
        fake.on("GET", path, reply)
    jobs = fake.routes[("GET", JOBS_PATH)][0]
    assert isinstance(jobs, httpx.Response)
    revoke = revoke or ok(page(REVOKE_JOB))

    def by_name(request: httpx.Request) -> httpx.Response:
        """The Revoke Job by its name from a Job list that answers; any other look-up, or a refusal, as routed."""
        reply = revoke if request.url.params.get("name") == REVOKE_JOB["name"] and jobs.status_code == 200 else jobs
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)

    return fake.on("GET", JOBS_PATH, by_name)


def page(*items: dict[str, Any]) -> dict[str, Any]:
    return {"count": len(items), "next": None, "previous": None, "results": list(items)}


def job_list(**changes: Any) -> httpx.Response:
    return ok(page({**JOB, **changes}))


def forbidden(detail: str = "You do not have permission to perform this action.") -> httpx.Response:
    return ok({"detail": detail}, 403)


async def diagnose(fake: FakeNautobot, loader: Callable[[], Settings] = Settings) -> dict[str, Check]:
    checks = await run_checks(loader, nautobot_factory=lambda _settings: httpx.MockTransport(fake))
    assert [check.name for check in checks] == CHECK_NAMES
    assert_secret_free(checks)
    return {check.name: check for check in checks}


def assert_secret_free(checks: list[Check]) -> None:
    text = render(checks, color=False) + render(checks, color=True) + json.dumps(doctor.as_dicts(checks))
    for secret in SECRETS:
        assert secret not in text


def statuses(report: dict[str, Check]) -> dict[str, Status]:
    return {name: check.status for name, check in report.items()}


def assert_only_failure(report: dict[str, Check], failed: str, skipped: list[str] = ()) -> Check:
    """``failed`` is the one FAIL, ``skipped`` are SKIP, the rest OK."""
    expected = {name: Status.OK for name in CHECK_NAMES}
    expected.update({name: Status.SKIP for name in skipped})
    expected[failed] = Status.FAIL
    assert statuses(report) == expected
    assert exit_code(list(report.values())) == 1
    for name in skipped:
        assert report[name].detail.startswith("not checked")
    return report[failed]


# -- the good setup ------------------------------------------------------------------------------


async def test_a_good_setup_passes_every_check(env: dict[str, str], tmp_path: Any) -> None:
    fake = nautobot()

    report = await diagnose(fake)

    assert set(statuses(report).values()) == {Status.OK}, report
    assert exit_code(list(report.values())) == 0
    assert "Stand-in Workspace" in report["slack auth"].detail
    assert "@meraki-admin" in report["slack auth"].detail
    assert "Nautobot 3.2.7" in report["nautobot reachable"].detail
    assert "REST API 3.2" in report["nautobot reachable"].detail
    assert f"{len(VARIABLES)} variable(s), all shown" in report["job variables"].detail
    assert "ledger.sqlite3 is writable" in report["ledger"].detail
    assert (tmp_path / "ledger.sqlite3").is_file()
    assert fake.count("GET", RESULTS_PATH) == fake.count("GET", JOB_LOGS_PATH) == 1
    probe = next(r for r in fake.requests if r.url.path == RESULTS_PATH)
    assert probe.headers["Authorization"] == f"Token {TOKEN}"
    assert probe.url.params["limit"] == "1"


async def test_the_table_fits_100_columns_and_has_colour_only_when_asked(env: dict[str, str]) -> None:
    checks = list((await diagnose(nautobot(**{JOBS_PATH: job_list(enabled=False)}))).values())

    plain = render(checks, color=False)
    coloured = render(checks, color=True)

    assert "\x1b[" not in plain
    assert "\x1b[31mFAIL" in coloured
    assert all(len(line) <= 100 for line in plain.splitlines())
    assert "fix: Enable it: Jobs → Edit → Enabled." in plain
    for name in CHECK_NAMES:
        assert any(line.startswith(name) for line in plain.splitlines())
    assert plain.splitlines()[-1].startswith("16 checks: 15 OK, 1 FAIL; the bot cannot work until every FAIL is fixed")


def test_long_details_wrap_within_the_width() -> None:
    checks = [Check("nautobot reachable", Status.FAIL, "x" * 250 + " " + "word " * 60, "fix " * 80)]

    lines = render(checks, color=False).splitlines()

    assert all(len(line) <= 100 for line in lines)
    assert any(line.strip().startswith("fix: fix") for line in lines)


def test_required_and_optional_scopes_are_the_manifests() -> None:
    assert bot_scopes() == REQUIRED_SCOPES | OPTIONAL_SCOPES and not REQUIRED_SCOPES & OPTIONAL_SCOPES


def test_exit_code_is_one_only_for_a_failure() -> None:
    assert exit_code([Check("a", Status.OK, ""), Check("b", Status.WARN, ""), Check("c", Status.SKIP, "")]) == 0
    assert exit_code([Check("a", Status.OK, ""), Check("b", Status.FAIL, "", "do this")]) == 1


# -- one broken setup per check ------------------------------------------------------------------


async def test_missing_settings_fail_and_skip_everything_else(env: dict[str, str], monkeypatch) -> None:
    monkeypatch.delenv("NAUTOBOT_TOKEN")
    fake = nautobot()

    report = await diagnose(fake)

    assert report["settings"].status is Status.FAIL
    assert "NAUTOBOT_TOKEN: is not set" in report["settings"].detail
    assert "The bot cannot start" in report["settings"].detail
    assert {report[name].status for name in CHECK_NAMES[1:]} == {Status.SKIP}
    assert report["ledger"].detail == "not checked: the settings check failed"
    assert fake.requests == []


async def test_a_bad_bot_token_fails_auth_and_skips_scopes(env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", WRONG_BOT_TOKEN)

    report = await diagnose(nautobot())

    failed = assert_only_failure(report, "slack auth", skipped=["slack scopes", "approvers"])
    assert "invalid_auth" in failed.detail
    assert "SLACK_BOT_TOKEN" in failed.fix


async def test_a_missing_scope_fails_with_reinstall(env: dict[str, str], slack: SlackStandIn) -> None:
    slack.scopes.discard("im:write")

    report = await diagnose(nautobot())

    failed = assert_only_failure(report, "slack scopes", skipped=["approvers"])
    assert "im:write" in failed.detail
    assert "reinstall the app from manifest.yml" in failed.fix.lower()


async def test_usergroups_read_is_required_only_when_the_policy_names_groups(
    env: dict[str, str], slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack.scopes.discard("usergroups:read")
    assert statuses(await diagnose(nautobot()))["slack scopes"] is Status.OK  # no policy names a group

    monkeypatch.setenv("ACCESS_POLICY", '{"allow": [{"groups": ["S0NETOPS"], "channels": ["*"], "commands": ["*"]}]}')
    failed = assert_only_failure(await diagnose(nautobot()), "slack scopes", skipped=["approvers"])
    assert "usergroups:read" in failed.detail


async def test_an_extra_scope_warns(env: dict[str, str], slack: SlackStandIn) -> None:
    slack.scopes.add("channels:history")

    report = await diagnose(nautobot())

    assert report["slack scopes"].status is Status.WARN
    assert "channels:history" in report["slack scopes"].detail
    assert "least privilege" in report["slack scopes"].detail
    assert exit_code(list(report.values())) == 0


async def test_without_the_email_scopes_the_home_shows_less_and_doctor_says_so(
    env: dict[str, str], slack: SlackStandIn
) -> None:
    slack.scopes.difference_update({"users:read", "users:read.email"})

    report = await diagnose(nautobot())

    assert report["slack scopes"].status is Status.WARN
    assert "users:read, users:read.email" in report["slack scopes"].detail
    assert "access they asked for" in report["slack scopes"].detail and exit_code(list(report.values())) == 0


async def test_no_scopes_header_warns(env: dict[str, str], monkeypatch) -> None:
    with HeaderlessStandIn(bot_token=BOT_TOKEN, app_token=APP_TOKEN, scopes=bot_scopes()) as plain:
        monkeypatch.setenv("SLACK_API_URL", plain.api_url)
        report = await diagnose(nautobot())

    assert report["slack auth"].status is Status.OK
    assert report["slack scopes"].status is Status.WARN
    assert "x-oauth-scopes" in report["slack scopes"].detail


@pytest.mark.parametrize("breakage", ["wrong token", "no connections:write"])
async def test_a_bad_app_token_fails_socket_mode(
    env: dict[str, str], slack: SlackStandIn, monkeypatch, breakage: str
) -> None:
    if breakage == "wrong token":
        monkeypatch.setenv("SLACK_APP_TOKEN", WRONG_APP_TOKEN)
    else:
        slack.app_scopes.clear()

    report = await diagnose(nautobot())

    failed = assert_only_failure(report, "socket mode")
    assert ("invalid_auth" if breakage == "wrong token" else "missing_scope") in failed.detail
    assert "connections:write" in failed.fix
    assert "Socket Mode" in failed.fix


async def test_slack_unreachable_fails_auth_and_socket_mode(env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")

    report = await diagnose(nautobot())

    assert report["slack auth"].status is report["socket mode"].status is Status.FAIL
    assert "SLACK_API_URL" in report["slack auth"].fix
    assert report["slack scopes"].status is Status.SKIP


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "Cannot connect to Nautobot"),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] self-signed certificate"), "NAUTOBOT_CA_BUNDLE"),
    ],
)
async def test_nautobot_unreachable_fails_and_skips_its_dependents(
    env: dict[str, str], error: Exception, fix: str
) -> None:
    report = await diagnose(nautobot(**{STATUS_PATH: error}))

    failed = assert_only_failure(report, "nautobot reachable", skipped=NAUTOBOT_DEPENDENTS)
    assert fix in failed.fix
    assert "nautobot.example.com" in failed.detail


async def test_a_refused_nautobot_token_fails_the_token_check(env: dict[str, str]) -> None:
    refused = forbidden("Invalid token")
    fake = nautobot(**{STATUS_PATH: refused, JOBS_PATH: refused, RESULTS_PATH: refused, JOB_LOGS_PATH: refused})

    report = await diagnose(fake)

    failed = assert_only_failure(
        report,
        "nautobot token",
        skipped=["nautobot version", "job", "job variables", "job permissions", "access expiry", "nautobot approvers"],
    )
    assert "HTTP 403: Invalid token" in failed.detail
    assert "NAUTOBOT_TOKEN" in failed.fix
    assert "refused the token" in report["nautobot reachable"].detail
    assert fake.count("GET", RESULTS_PATH) == 0


async def test_a_token_without_view_job_gets_the_permissions_fix(env: dict[str, str]) -> None:
    report = await diagnose(nautobot(**{JOBS_PATH: forbidden()}))

    skipped = ["job", "job variables", "job permissions", "access expiry", "nautobot approvers"]
    failed = assert_only_failure(report, "nautobot token", skipped=skipped)
    assert "view and run on extras.job" in failed.fix


async def test_a_missing_job_fails_and_skips_its_variables(env: dict[str, str]) -> None:
    report = await diagnose(nautobot(**{JOBS_PATH: ok(page())}))

    failed = assert_only_failure(report, "job", skipped=["job variables", "access expiry"])
    assert JOB_NAME in failed.detail
    assert "COMMANDS" in failed.fix


async def test_a_disabled_job_fails_with_how_to_enable_it(env: dict[str, str]) -> None:
    report = await diagnose(nautobot(**{JOBS_PATH: job_list(enabled=False)}))

    failed = assert_only_failure(report, "job")
    assert "disabled" in failed.detail
    assert failed.fix == "Enable it: Jobs → Edit → Enabled."


async def test_an_uninstalled_job_fails_with_how_to_sync_it(env: dict[str, str]) -> None:
    report = await diagnose(nautobot(**{JOBS_PATH: job_list(installed=False)}))

    failed = assert_only_failure(report, "job")
    assert "not installed" in failed.detail
    assert "Git Repositories → Sync" in failed.fix


async def test_sensitive_variables_warn(env: dict[str, str]) -> None:
    report = await diagnose(nautobot(**{JOBS_PATH: job_list(has_sensitive_variables=True)}))

    assert report["job"].status is Status.WARN
    assert "approvals and scheduling" in report["job"].detail
    assert "has_sensitive_variables = False" in report["job"].fix
    assert exit_code(list(report.values())) == 0


async def test_a_variable_slack_cannot_show_warns(env: dict[str, str]) -> None:
    extra = {"name": "attachment", "type": "FileVar", "label": "Attachment", "required": False}

    report = await diagnose(nautobot(**{VARIABLES_PATH: ok([*VARIABLES, extra])}))

    assert report["job variables"].status is Status.WARN
    assert "Attachment (FileVar)" in report["job variables"].detail


async def test_a_required_variable_slack_cannot_fill_fails(env: dict[str, str]) -> None:
    without_orgs = [{**var, "choices": []} if var["name"] == "meraki_org_id" else var for var in VARIABLES]

    report = await diagnose(nautobot(**{VARIABLES_PATH: ok(without_orgs)}))

    failed = assert_only_failure(report, "job variables")
    assert "Meraki Organization (ChoiceVar) can't be set from Slack." in failed.detail


@pytest.mark.parametrize(
    ("forbidden_paths", "labels", "models"),
    [
        ([RESULTS_PATH], ["view jobresult"], ["extras.jobresult"]),
        ([RESULTS_PATH, JOB_LOGS_PATH], ["view jobresult", "view joblogentry"], ["extras.joblogentry"]),
        ([JOB_LOGS_PATH], ["view joblogentry"], ["extras.joblogentry"]),
    ],
)
async def test_missing_view_permissions_fail(
    env: dict[str, str], forbidden_paths: list[str], labels: list[str], models: list[str]
) -> None:
    report = await diagnose(nautobot(**{path: forbidden() for path in forbidden_paths}))

    failed = assert_only_failure(report, "job permissions")
    for label in labels:
        assert label in failed.detail
    for model in models:
        assert model in failed.fix


@pytest.mark.parametrize("missing", ["STORE_URL", "bot.ledger"])
async def test_the_ledger_is_skipped_when_none_is_configured(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    if missing == "STORE_URL":
        monkeypatch.setenv("STORE_URL", "")
    else:
        monkeypatch.setitem(sys.modules, "bot.ledger", None)

    report = await diagnose(nautobot())

    assert report["ledger"].status is Status.SKIP
    assert "no ledger configured" in report["ledger"].detail
    assert exit_code(list(report.values())) == 0


async def test_a_read_only_ledger_fails_without_showing_its_password(
    env: dict[str, str], ledger: dict[str, Any], monkeypatch
) -> None:
    monkeypatch.setenv("STORE_URL", "postgresql://bot:s3cretLedgerPw@db.example.com/chatops")
    ledger["writable"] = False

    report = await diagnose(nautobot())

    failed = assert_only_failure(report, "ledger")
    assert "postgresql://bot:****@db.example.com/chatops" in failed.detail
    assert ledger["opened"] == ["postgresql://bot:s3cretLedgerPw@db.example.com/chatops"]
    assert ledger["closed"] == 1
    assert "s3cretLedgerPw" not in render(list(report.values()), color=False)


async def test_a_ledger_that_cannot_open_fails(env: dict[str, str], ledger: dict[str, Any], monkeypatch) -> None:
    monkeypatch.setenv("STORE_URL", "postgresql://bot:s3cretLedgerPw@db.example.com/chatops")
    ledger["error"] = OSError("could not connect with password s3cretLedgerPw")

    report = await diagnose(nautobot())

    assert report["ledger"].status is Status.FAIL
    assert "OSError: could not connect" in report["ledger"].detail
    assert "STORE_URL (postgresql://bot:****@db.example.com/chatops)" in report["ledger"].fix
    assert "s3cretLedgerPw" not in report["ledger"].detail


# -- Nautobot's version --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "status", "text"),
    [
        ("3.2.7", Status.OK, "Nautobot 3.2.7 is supported: approvals by approval workflows; cancel: yes"),
        ("3.1.6", Status.OK, "approvals by approval workflows; cancel: no (needs 3.2)"),
        ("2.4.44", Status.OK, "approvals by the Job's approval_required flag; cancel: no (needs 3.2); events: can"),
        ("2.3.9", Status.OK, "events: none (needs 2.4)"),
        ("1.6.32", Status.WARN, "not supported"),
        ("", Status.WARN, "did not report a version"),
    ],
)
async def test_the_nautobot_version(env: dict[str, str], version: str, status: Status, text: str) -> None:
    report = await diagnose(nautobot(**{STATUS_PATH: ok({**STATUS, "nautobot-version": version})}))

    assert report["nautobot version"].status is status
    assert text in report["nautobot version"].detail


async def test_no_celery_worker_warns(env: dict[str, str]) -> None:
    report = await diagnose(nautobot(**{STATUS_PATH: ok({**STATUS, "celery-workers-running": 0})}))

    assert report["nautobot reachable"].status is Status.WARN
    assert "celery worker" in report["nautobot reachable"].fix.lower()


# -- the command ---------------------------------------------------------------------------------


async def test_json_output_and_exit_code(env: dict[str, str], monkeypatch, capsys) -> None:
    monkeypatch.delenv("SLACK_APP_TOKEN")

    code = await doctor.doctor(argv_json=True)

    out = capsys.readouterr().out
    items = json.loads(out)
    assert code == 1
    assert [item["check"] for item in items] == CHECK_NAMES
    assert all(set(item) == {"check", "status", "detail", "fix"} for item in items)
    assert items[0]["status"] == "FAIL"
    assert "SLACK_APP_TOKEN" in items[0]["detail"]
    assert {item["status"] for item in items[1:]} == {"SKIP"}
    for secret in SECRETS:
        assert secret not in out


async def test_table_output_without_a_tty(env: dict[str, str], monkeypatch, capsys) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "not-a-bot-token")

    code = await doctor.doctor(argv_json=False)

    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("CHECK")
    assert "\x1b[" not in out
    assert "not-a-bot-token" not in out


async def test_http_mode_needs_no_socket(env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("SLACK_MODE", "http")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    report = await diagnose(nautobot())
    assert report["socket mode"].status is Status.OK
    assert "HTTP mode" in report["socket mode"].detail


# -- Nautobot's events ---------------------------------------------------------------------------


async def test_events_off_says_how_to_turn_them_on(env: dict[str, str]) -> None:
    check = (await diagnose(nautobot()))["nautobot events"]

    assert check.status is Status.OK
    assert "NAUTOBOT_EVENTS_URL is not set" in check.detail
    assert "register_event_broker(RedisEventBroker(" in check.detail


async def test_events_on_a_redis_that_answers_pass_and_name_the_broker_to_register(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("NAUTOBOT_EVENTS_URL", redis_url)

    check = (await diagnose(nautobot()))["nautobot events"]

    assert check.status is Status.OK, check
    assert "a test publish arrived" in check.detail
    assert "RedisEventBroker" in check.detail


async def test_events_on_a_redis_that_does_not_answer_warn_without_its_password(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAUTOBOT_EVENTS_URL", "redis://:s3cr3t-redis-pw@127.0.0.1:1/0")

    report = await diagnose(nautobot())

    check = report["nautobot events"]
    assert check.status is Status.WARN
    assert "cannot use NAUTOBOT_EVENTS_URL" in check.detail
    assert "polling" in check.detail
    assert exit_code(list(report.values())) == 0  # polling still works: a warning, not a failure
    assert "s3cr3t-redis-pw" not in render(list(report.values()), color=False)


async def test_events_with_a_nautobot_older_than_2_4_warn_that_it_publishes_none(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("NAUTOBOT_EVENTS_URL", redis_url)
    fake = nautobot(**{STATUS_PATH: ok({**STATUS, "nautobot-version": "2.3.9"})})

    check = (await diagnose(fake))["nautobot events"]

    assert check.status is Status.WARN
    assert "2.3.9 publishes no events" in check.detail
