"""No mistake in configuration weakens a check, and no key reaches a log or a probe.

- /readyz asks Nautobot (which pings Celery) and writes to the ledger: however often and however many
  at once ask it, each check runs once per cache period, one run at a time.
- The probes can live on their own (loopback by default) address, away from Slack's /slack/events.
- An empty or blank token or signing secret is refused at start, by name, instead of failing every request.
- STORE_URL's password shows neither in ``repr(settings)`` nor in a log line.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.doctor import Status, run_checks
from bot.metrics import Metrics
from bot.settings import Settings, SettingsError, load_settings
from bot.web import build_web, combine_checks

pytestmark = pytest.mark.security

# Built from pieces so that no scanner mistakes these fakes for real credentials.
BOT_TOKEN = "xox" + "b-1111-2222-configBotSecretValue"
APP_TOKEN = "xa" + "pp-1-A0CONFIG-3333-configAppSecretValue"
NAUTOBOT_TOKEN = "0123456789abcdef" * 2 + "01234567"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PASSWORD = "s3cretLedgerPw"
STORE_URL = f"postgresql+asyncpg://bot:{PASSWORD}@db.example.com:5432/chatops"

BASE = {
    "SLACK_BOT_TOKEN": BOT_TOKEN,
    "SLACK_APP_TOKEN": APP_TOKEN,
    "NAUTOBOT_URL": "https://nautobot.example.com",
    "NAUTOBOT_TOKEN": NAUTOBOT_TOKEN,
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[pytest.MonkeyPatch]:
    """Only the settings a test sets: no .env, nothing from the shell."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in BASE.items():
        monkeypatch.setenv(name, value)
    yield monkeypatch


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- readiness: cached, one check at a time -------------------------------------------------------


class Counting:
    """A check that counts its runs and takes a moment, so that concurrent probes overlap it."""

    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> bool:
        self.runs += 1
        await asyncio.sleep(0.05)
        return True


@pytest.fixture
async def counted() -> AsyncIterator[tuple[TestClient, dict[str, Counting]]]:
    checks = {"slack": Counting(), "nautobot": Counting(), "ledger": Counting()}
    app = build_web(bolt_app=None, readiness=combine_checks(checks), metrics=Metrics())
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, checks
    await client.close()


async def test_concurrent_readyz_run_each_check_once(counted: tuple[TestClient, dict[str, Counting]]) -> None:
    """Reproduction: 200 GETs of /readyz made 200 Nautobot status calls and 200 ledger write transactions."""
    client, checks = counted

    async def ask() -> tuple[int, dict[str, Any]]:
        response = await client.get("/readyz")
        return response.status, await response.json()

    answers = await asyncio.gather(*(ask() for _ in range(50)))

    assert {status for status, _ in answers} == {200}
    assert all(body == {"status": "ready", "checks": dict.fromkeys(checks, True)} for _, body in answers)
    assert {name: check.runs for name, check in checks.items()} == dict.fromkeys(checks, 1)


async def test_sequential_readyz_within_the_cache_time_run_each_check_once(
    counted: tuple[TestClient, dict[str, Counting]],
) -> None:
    client, checks = counted

    for _ in range(20):
        response = await client.get("/readyz")
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"

    assert {name: check.runs for name, check in checks.items()} == dict.fromkeys(checks, 1)


async def test_readiness_is_asked_again_once_the_cached_answer_is_old() -> None:
    check = Counting()
    app = build_web(bolt_app=None, readiness=combine_checks({"ledger": check}), metrics=Metrics(), readiness_cache=0.2)
    async with TestClient(TestServer(app)) as client:
        await client.get("/readyz")
        await client.get("/readyz")
        await asyncio.sleep(0.3)
        await client.get("/readyz")

    assert check.runs == 2


# -- probes on their own address ------------------------------------------------------------------


def test_probes_default_to_loopback(environment: pytest.MonkeyPatch) -> None:
    """Reproduction: /readyz and /metrics were on 0.0.0.0, in HTTP mode on Slack's own port."""
    socket_mode = load_settings(Settings)
    environment.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    http_mode = load_settings(Settings, slack_mode="http")

    assert socket_mode.probe_address == ("127.0.0.1", 8080)
    assert (http_mode.web_host, http_mode.web_port) == ("0.0.0.0", 8080)
    assert http_mode.probe_address == ("127.0.0.1", 8081)
    assert not http_mode.probes_with_events


def test_probe_port_that_collides_with_slacks_is_refused(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    environment.setenv("PROBE_PORT", "8080")

    with pytest.raises(SettingsError) as refused:
        load_settings(Settings, slack_mode="http")

    assert "PROBE_PORT: is WEB_PORT (8080) on another host" in str(refused.value)


async def test_http_mode_serves_probes_and_slack_on_separate_ports(environment: pytest.MonkeyPatch) -> None:
    """Reproduction: /readyz was served next to /slack/events, to whoever can reach Slack's Request URL."""
    from bot.serve import _start_servers

    web_port, probe_port = free_port(), free_port()
    for name, value in {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(web_port),
        "PROBE_PORT": str(probe_port),
    }.items():
        environment.setenv(name, value)
    settings = load_settings(Settings, slack_mode="http")
    check = Counting()
    client = AsyncWebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/")
    # Its own logger: Bolt sets the level of the one it would take, which other tests read.
    app = AsyncApp(signing_secret=SIGNING_SECRET, client=client, logger=logging.getLogger("tests.config.bolt"))
    bot = SimpleNamespace(app=app)

    runner = await _start_servers(settings, bot, combine_checks({"ledger": check}), Metrics())  # type: ignore[arg-type]
    try:
        async with aiohttp.ClientSession() as session:

            async def status(method: str, port: int, path: str) -> int:
                async with session.request(method, f"http://127.0.0.1:{port}{path}", data="") as response:
                    return response.status

            on_probes = {path: await status("GET", probe_port, path) for path in ("/healthz", "/readyz", "/metrics")}
            events_on_probes = await status("POST", probe_port, "/slack/events")
            on_events = {path: await status("GET", web_port, path) for path in ("/healthz", "/readyz", "/metrics")}
            events = await status("POST", web_port, "/slack/events")
    finally:
        await runner.cleanup()

    assert on_probes == {"/healthz": 200, "/readyz": 200, "/metrics": 200}
    assert events_on_probes == 404
    assert on_events == {"/healthz": 404, "/readyz": 404, "/metrics": 404}
    assert events == 401  # served, and unsigned
    for port in (web_port, probe_port):  # both stopped by the one runner
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0


# -- empty secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "   ", "\t\n"], ids=["empty", "spaces", "whitespace"])
@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("SLACK_BOT_TOKEN", "socket"),
        ("SLACK_APP_TOKEN", "socket"),
        ("SLACK_SIGNING_SECRET", "http"),
        ("SLACK_SIGNING_SECRET", "socket"),
        ("NAUTOBOT_TOKEN", "socket"),
    ],
)
def test_empty_secrets_are_refused_by_name(environment: pytest.MonkeyPatch, name: str, mode: str, value: str) -> None:
    """Reproduction: SLACK_SIGNING_SECRET="" started HTTP mode (a 500 on every request) and doctor said OK."""
    if mode == "http":
        environment.delenv("SLACK_APP_TOKEN")
        environment.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    environment.setenv(name, value)

    with pytest.raises(SettingsError) as refused:
        load_settings(Settings, slack_mode=mode)

    assert f"  {name}: is empty" in str(refused.value)


@pytest.mark.parametrize("name", ["SLACK_SIGNING_SECRET", "NAUTOBOT_TOKEN"])
async def test_doctor_reports_an_empty_secret_by_name(environment: pytest.MonkeyPatch, name: str) -> None:
    environment.setenv(name, " ")

    checks = await run_checks()

    settings = checks[0]
    assert (settings.name, settings.status) == ("settings", Status.FAIL)
    assert f"{name}: is empty" in settings.detail
    assert all(check.status is Status.SKIP for check in checks[1:])


# -- STORE_URL's password -------------------------------------------------------------------------


def test_settings_repr_hides_the_store_url_password(environment: pytest.MonkeyPatch) -> None:
    """Reproduction: repr(settings) printed STORE_URL with its password."""
    environment.setenv("STORE_URL", STORE_URL)

    settings = load_settings(Settings)

    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert settings.store_url.get_secret_value() == STORE_URL


CLEAN_URLS = ("https://nautobot.example.com/api/status/", "postgresql://bot@db/x", "http://127.0.0.1:8081/healthz")


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("postgresql+asyncpg://bot:s3cret@db/x", "postgresql+asyncpg://bot:[redacted]@db/x"),
        (STORE_URL, "postgresql+asyncpg://bot:[redacted]@db.example.com:5432/chatops"),
        ("redis://:pw0rd@cache:6379/0", "redis://:[redacted]@cache:6379/0"),
        ("cannot connect to 'postgresql://u:p%40ss@db/c'.", "cannot connect to 'postgresql://u:[redacted]@db/c'."),
    ],
)
def test_scrub_masks_url_passwords_keeping_user_and_host(text: str, scrubbed: str) -> None:
    """Reproduction: the one scrubber let ``scheme://user:password@host`` through untouched."""
    assert logs.scrub(text) == scrubbed
    for clean in CLEAN_URLS:  # and only the password goes
        assert logs.scrub(f"{clean} {text}") == f"{clean} {scrubbed}"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in logs.QUIET}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, saved in quiet.items():
        logging.getLogger(name).setLevel(saved)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_log_line_holding_a_database_url_loses_its_password(restore_logging: None, fmt: str) -> None:
    stream = io.StringIO()
    logs.configure("INFO", fmt, stream)  # type: ignore[arg-type]
    log = logging.getLogger("bot.ledger")

    log.error("cannot open the ledger at %s", STORE_URL)
    try:
        raise OSError(f"connection to {STORE_URL} refused")
    except OSError:
        log.exception("the ledger failed", extra={"url": STORE_URL})

    output = stream.getvalue()
    assert PASSWORD not in output
    assert "postgresql+asyncpg://bot:[redacted]@db.example.com:5432/chatops" in output
    if fmt == "json":
        assert json.loads(output.splitlines()[-1])["url"].startswith("postgresql+asyncpg://bot:[redacted]@")


# -- Nautobot's events ---------------------------------------------------------------------------

EVENTS_PASSWORD = "r3disEventsPw"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://redis.example.com:6379/0", "must be a Redis URL starting with redis://, rediss://, unix://"),
        (f"redis://:{EVENTS_PASSWORD}@redis.example.com:notaport/0", "is not a valid Redis URL"),
        ("redis.example.com:6379", "must be a Redis URL"),
    ],
)
def test_a_malformed_events_url_is_refused_by_name_without_its_password(
    environment: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    environment.setenv("NAUTOBOT_EVENTS_URL", url)

    with pytest.raises(SettingsError) as caught:
        load_settings(Settings)

    assert f"NAUTOBOT_EVENTS_URL: {problem}" in str(caught.value)
    assert EVENTS_PASSWORD not in str(caught.value)


def test_an_events_url_is_a_secret_and_an_empty_one_means_polling(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("NAUTOBOT_EVENTS_URL", f"rediss://bot:{EVENTS_PASSWORD}@redis.example.com:6380/2")
    settings = load_settings(Settings)
    assert settings.nautobot_events_url is not None
    assert EVENTS_PASSWORD not in repr(settings)

    environment.setenv("NAUTOBOT_EVENTS_URL", "")
    assert load_settings(Settings).nautobot_events_url is None
