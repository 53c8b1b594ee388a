"""The web server: probes, metrics, and Slack's signed requests through a real Bolt AsyncApp."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics
from bot.web import ReadinessResult, build_web, combine_checks, scrub, start_web

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
COMMAND = "/meraki-add-user"
CALLBACK_ID = "meraki_add_user"
EMAIL_BLOCK = "user_email"
TOKEN = "xoxb-0000000000-1111111111-secretsecretsecret"

Client = Callable[..., Awaitable[TestClient]]


# -- a Slack Web API stand-in for Bolt's one auth.test call ---------------------------------------


@pytest.fixture
async def slack_api() -> AsyncIterator[TestServer]:
    async def method(request: web.Request) -> web.Response:
        if request.match_info["method"] == "auth.test":
            return web.json_response(
                {"ok": True, "team_id": "T0TEAM0001", "user_id": "U0BOT0001", "bot_id": "B0BOT0001"}
            )
        return web.json_response({"ok": False, "error": "unknown_method"})

    app = web.Application()
    app.router.add_post("/api/{method}", method)
    server = TestServer(app)
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
def received() -> asyncio.Queue[dict[str, Any]]:
    return asyncio.Queue()


@pytest.fixture
def bolt_app(slack_api: TestServer, received: asyncio.Queue[dict[str, Any]]) -> AsyncApp:
    client = AsyncWebClient(token="xoxb-test", base_url=str(slack_api.make_url("/api/")))
    app = AsyncApp(signing_secret=SECRET, client=client)

    @app.command(COMMAND)
    async def command(ack, body: dict[str, Any]) -> None:
        await ack()
        await received.put(body)

    @app.view(CALLBACK_ID)
    async def submission(ack, view: dict[str, Any]) -> None:
        email = view["state"]["values"][EMAIL_BLOCK]["value"]["value"]
        if "@" not in email:
            await ack(response_action="errors", errors={EMAIL_BLOCK: "Enter an email address, like bob@example.com."})
            return
        await ack()
        await received.put(view)

    return app


async def healthy() -> ReadinessResult:
    return {"slack": True, "nautobot": True, "ledger": True}


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def client(serve: Client, bolt_app: AsyncApp, metrics: Metrics) -> TestClient:
    return await serve(build_web(bolt_app=bolt_app, readiness=healthy, metrics=metrics))


@pytest.fixture
async def serve() -> AsyncIterator[Client]:
    clients: list[TestClient] = []

    async def make(app: web.Application) -> TestClient:
        test_client = TestClient(TestServer(app))
        await test_client.start_server()
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        await test_client.close()


# -- signed Slack requests ------------------------------------------------------------------------


def signed(body: str, content_type: str, *, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def command_body(text: str = "") -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0TEAM0001",
            "team_domain": "acme",
            "channel_id": "C0123CHAN",
            "channel_name": "netops",
            "user_id": "U0456ABC",
            "user_name": "bob",
            "command": COMMAND,
            "text": text,
            "api_app_id": "A0APP00001",
            "response_url": "https://hooks.slack.com/commands/T0TEAM0001/1/abc",
            "trigger_id": "1730542502123.4567890123.0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        }
    )


def submission_body(email: str) -> str:
    payload = {
        "type": "view_submission",
        "team": {"id": "T0TEAM0001", "domain": "acme"},
        "user": {"id": "U0456ABC", "username": "bob", "team_id": "T0TEAM0001"},
        "api_app_id": "A0APP00001",
        "view": {
            "id": "V0FORM0001",
            "team_id": "T0TEAM0001",
            "type": "modal",
            "callback_id": CALLBACK_ID,
            "hash": "1730542510.QwErTy12",
            "private_metadata": "",
            "state": {"values": {EMAIL_BLOCK: {"value": {"type": "email_text_input", "value": email}}}},
        },
    }
    return "payload=" + quote(json.dumps(payload))


FORM = "application/x-www-form-urlencoded"


async def post_command(client: TestClient, **signing: Any) -> aiohttp.ClientResponse:
    body = command_body("bob@example.com")
    return await client.post("/slack/events", data=body, headers=signed(body, FORM, **signing))


# -- Slack requests through Bolt ------------------------------------------------------------------


async def test_signed_slash_command_is_acknowledged_and_reaches_the_listener(
    client: TestClient, received: asyncio.Queue[dict[str, Any]]
) -> None:
    response = await post_command(client)

    assert response.status == 200
    body = await asyncio.wait_for(received.get(), 1.0)
    assert (body["command"], body["text"], body["user_id"]) == (COMMAND, "bob@example.com", "U0456ABC")


async def test_bad_signature_is_refused(client: TestClient, received: asyncio.Queue[dict[str, Any]]) -> None:
    response = await post_command(client, secret="not-the-signing-secret")

    assert response.status == 401
    assert received.empty()


async def test_unsigned_request_is_refused(client: TestClient) -> None:
    response = await client.post("/slack/events", data=command_body(), headers={"Content-Type": FORM})

    assert response.status == 401


async def test_request_older_than_five_minutes_is_refused(
    client: TestClient, received: asyncio.Queue[dict[str, Any]]
) -> None:
    response = await post_command(client, timestamp=int(time.time()) - 5 * 60 - 30)

    assert response.status == 401
    assert received.empty()


async def test_view_submission_with_field_errors_returns_them(client: TestClient) -> None:
    body = submission_body("not-an-email")

    response = await client.post("/slack/events", data=body, headers=signed(body, FORM))

    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == {
        "response_action": "errors",
        "errors": {EMAIL_BLOCK: "Enter an email address, like bob@example.com."},
    }


async def test_valid_view_submission_closes_the_modal(
    client: TestClient, received: asyncio.Queue[dict[str, Any]]
) -> None:
    body = submission_body("bob@example.com")

    response = await client.post("/slack/events", data=body, headers=signed(body, FORM))

    assert response.status == 200
    assert await response.text() == ""
    view = await asyncio.wait_for(received.get(), 1.0)
    assert view["id"] == "V0FORM0001"


async def test_url_verification_answers_the_challenge(client: TestClient) -> None:
    body = json.dumps(
        {
            "token": "legacy",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )

    response = await client.post("/slack/events", data=body, headers=signed(body, "application/json"))

    assert response.status == 200
    assert await response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


async def test_ssl_check_is_answered(client: TestClient) -> None:
    body = urlencode({"ssl_check": "1", "token": "legacy-verification-token"})

    response = await client.post("/slack/events", data=body, headers=signed(body, FORM))

    assert response.status == 200
    assert await response.text() == ""


async def test_events_path_is_configurable(serve: Client, bolt_app: AsyncApp) -> None:
    app = build_web(bolt_app=bolt_app, readiness=healthy, metrics=Metrics(), events_path="/slack/in")
    client = await serve(app)
    body = command_body()

    moved = await client.post("/slack/in", data=body, headers=signed(body, FORM))
    old = await client.post("/slack/events", data=body, headers=signed(body, FORM))

    assert (moved.status, old.status) == (200, 404)


async def test_without_bolt_app_there_is_no_events_route(serve: Client) -> None:
    client = await serve(build_web(bolt_app=None, readiness=healthy, metrics=Metrics()))
    body = command_body()

    response = await client.post("/slack/events", data=body, headers=signed(body, FORM))

    assert response.status == 404
    assert (await client.get("/healthz")).status == 200


# -- liveness and readiness -----------------------------------------------------------------------


async def probe(
    factory: Client, readiness: Callable[[], Awaitable[ReadinessResult]], **options: Any
) -> tuple[int, dict[str, Any]]:
    client = await factory(build_web(bolt_app=None, readiness=readiness, metrics=Metrics(), **options))
    response = await client.get("/readyz")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status, await response.json()


async def test_healthz_is_ok_even_when_not_ready(serve: Client) -> None:
    async def broken() -> ReadinessResult:
        raise RuntimeError("nautobot down")

    client = await serve(build_web(bolt_app=None, readiness=broken, metrics=Metrics()))

    response = await client.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_ready_when_every_check_passes(serve: Client) -> None:
    status, body = await probe(serve, healthy)

    assert status == 200
    assert body == {"status": "ready", "checks": {"slack": True, "nautobot": True, "ledger": True}}


async def test_not_ready_when_one_check_fails(serve: Client) -> None:
    async def nautobot_down() -> ReadinessResult:
        return {"slack": True, "nautobot": False, "ledger": True, "nautobot_detail": "NautobotUnreachable"}

    status, body = await probe(serve, nautobot_down)

    assert status == 503
    assert body == {
        "status": "not ready",
        "checks": {"slack": True, "nautobot": False, "ledger": True},
        "details": {"nautobot_detail": "NautobotUnreachable"},
    }


async def test_a_check_that_raises_or_hangs_is_false(serve: Client) -> None:
    async def ok() -> bool:
        return True

    async def raises() -> bool:
        raise ConnectionError(f"https://nautobot.example.com refused Token {'a' * 40}")

    async def hangs() -> bool:
        await asyncio.sleep(10)
        return True

    readiness = combine_checks({"slack": hangs, "nautobot": raises, "ledger": ok}, timeout=0.05)

    status, body = await probe(serve, readiness)

    assert status == 503
    assert body["checks"] == {"slack": False, "nautobot": False, "ledger": True}
    assert body["details"] == {"slack_detail": "timed out after 0.05 s", "nautobot_detail": "ConnectionError"}


async def test_readiness_that_raises_is_not_ready(serve: Client) -> None:
    async def broken() -> ReadinessResult:
        raise RuntimeError(f"token {TOKEN}")

    status, body = await probe(serve, broken)

    assert status == 503
    assert body == {"status": "not ready", "checks": {"readiness": False}, "details": {"readiness": "RuntimeError"}}


async def test_readiness_that_hangs_is_not_ready(serve: Client) -> None:
    async def hangs() -> ReadinessResult:
        await asyncio.sleep(10)
        return {"slack": True}

    status, body = await probe(serve, hangs, readiness_timeout=0.05)

    assert status == 503
    assert body["checks"] == {"readiness": False}
    assert body["details"] == {"readiness": "timed out after 0.05 s"}


async def test_no_checks_is_not_ready(serve: Client) -> None:
    async def nothing() -> ReadinessResult:
        return {}

    status, body = await probe(serve, nothing)

    assert status == 503
    assert body["status"] == "not ready"


async def test_secrets_never_leave_in_details(serve: Client) -> None:
    async def leaky() -> ReadinessResult:
        return {"slack": False, "slack_detail": f"auth failed for {TOKEN} and xapp-1-A0APP-123-abc"}

    status, body = await probe(serve, leaky)

    assert status == 503
    assert "secret" not in json.dumps(body)
    assert "xapp-1" not in json.dumps(body)
    assert body["details"]["slack_detail"] == "auth failed for [redacted] and [redacted]"


def test_scrub_shortens_long_details() -> None:
    assert len(scrub("x" * 1000)) == 200
    assert scrub(f"Authorization: Token {'0123456789' * 4}") == "Authorization: Token [redacted]"


# -- metrics --------------------------------------------------------------------------------------


async def test_metrics_are_exposed(client: TestClient, metrics: Metrics) -> None:
    metrics.request("submitted")
    metrics.run_started()

    response = await client.get("/metrics")

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    assert 'meraki_chatops_requests_total{outcome="submitted"} 1.0' in text
    assert "meraki_chatops_runs_in_flight 1.0" in text


async def test_metrics_scrape_refreshes_the_socket_gauge(serve: Client, metrics: Metrics) -> None:
    connected = True

    async def is_connected() -> bool:
        return connected

    metrics.watch_socket(is_connected)
    client = await serve(build_web(bolt_app=None, readiness=healthy, metrics=metrics))

    up = await (await client.get("/metrics")).text()
    connected = False
    down = await (await client.get("/metrics")).text()

    assert "meraki_chatops_socket_mode_connected 1.0" in up
    assert "meraki_chatops_socket_mode_connected 0.0" in down


# -- the real server ------------------------------------------------------------------------------


async def test_start_web_serves_and_logs_one_debug_line_per_request(
    metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    runner = await start_web(build_web(bolt_app=None, readiness=healthy, metrics=metrics), "127.0.0.1", 0)
    try:
        host, port = runner.addresses[0][:2]
        with caplog.at_level(logging.DEBUG, logger="bot.web.access"):
            async with aiohttp.ClientSession() as session:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                async with session.get(f"http://{host}:{port}/healthz?probe=1", headers=headers) as response:
                    assert response.status == 200
                    await response.read()
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()

    lines = [record for record in caplog.records if record.name == "bot.web.access"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.DEBUG
    assert lines[0].getMessage().startswith("GET /healthz 200 ")
    assert TOKEN not in caplog.text
    assert "probe=1" not in caplog.text


async def test_start_web_access_log_is_silent_at_info(metrics: Metrics, caplog: pytest.LogCaptureFixture) -> None:
    runner = await start_web(build_web(bolt_app=None, readiness=healthy, metrics=metrics), "127.0.0.1", 0)
    try:
        host, port = runner.addresses[0][:2]
        with caplog.at_level(logging.INFO):
            async with aiohttp.ClientSession() as session, session.get(f"http://{host}:{port}/healthz") as response:
                await response.read()
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()

    assert not [record for record in caplog.records if record.name.startswith(("bot.web.access", "aiohttp.access"))]


async def test_start_web_releases_the_runner_when_the_port_is_taken(metrics: Metrics) -> None:
    first = await start_web(build_web(bolt_app=None, readiness=healthy, metrics=metrics), "127.0.0.1", 0)
    try:
        port = first.addresses[0][1]
        with pytest.raises(OSError):
            await start_web(build_web(bolt_app=None, readiness=healthy, metrics=metrics), "127.0.0.1", port)
    finally:
        await first.cleanup()
