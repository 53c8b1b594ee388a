"""Metrics: each recorder moves its series, the exposition names them, Slack retries are counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

import bot.nautobot.rest as nautobot_rest
from bot.metrics import CONTENT_TYPE, REQUEST_OUTCOMES, RUN_STATUSES, Metrics, counting, slack_method
from bot.models import RunStatus
from bot.nautobot import NautobotClient
from bot.slack.client import slack_client
from testbed.slack_standin import SlackStandIn

P = "meraki_chatops_"
POST_MESSAGE = HttpRequest(method="POST", url="https://slack.com/api/chat.postMessage", headers={})
NO_WAIT = FixedValueRetryIntervalCalculator(fixed_internal=0)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(P + name, labels)


# -- recorders ------------------------------------------------------------------------------------


def test_every_known_outcome_and_status_is_exported_at_zero(metrics: Metrics) -> None:
    for outcome in REQUEST_OUTCOMES:
        assert value(metrics, "requests_total", outcome=outcome) == 0
    for status in RUN_STATUSES:
        assert value(metrics, "run_outcomes_total", status=status) == 0


def test_request_counts_by_outcome(metrics: Metrics) -> None:
    metrics.request("submitted")
    metrics.request("submitted")
    metrics.request("denied")

    assert value(metrics, "requests_total", outcome="submitted") == 2
    assert value(metrics, "requests_total", outcome="denied") == 1
    assert value(metrics, "requests_total", outcome="invalid") == 0


def test_unknown_label_values_are_refused(metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="unknown outcome 'sumbitted'"):
        metrics.request("sumbitted")
    with pytest.raises(ValueError, match="unknown status"):
        metrics.run_finished("running", 1.0)
    with pytest.raises(ValueError, match="unknown reason"):
        metrics.slack_retry("chat.postMessage", "503")


def test_a_run_is_in_flight_until_it_finishes(metrics: Metrics) -> None:
    metrics.run_started()
    metrics.run_started()
    assert value(metrics, "runs_in_flight") == 2

    metrics.run_finished(RunStatus.SUCCEEDED, 42.0)

    assert value(metrics, "runs_in_flight") == 1
    assert value(metrics, "run_outcomes_total", status="succeeded") == 1
    assert value(metrics, "time_to_result_seconds_count") == 1
    assert value(metrics, "time_to_result_seconds_sum") == 42.0
    assert value(metrics, "time_to_result_seconds_bucket", le="60.0") == 1
    assert value(metrics, "time_to_result_seconds_bucket", le="30.0") == 0


def test_histogram_spans_seconds_to_hours(metrics: Metrics) -> None:
    metrics.run_started()
    metrics.run_finished("failed", 2 * 3600.0)

    assert value(metrics, "time_to_result_seconds_bucket", le="1.0") == 0
    assert value(metrics, "time_to_result_seconds_bucket", le="7200.0") == 1
    assert value(metrics, "time_to_result_seconds_bucket", le="14400.0") == 1


def test_a_timeout_is_counted_but_is_no_time_to_result(metrics: Metrics) -> None:
    metrics.run_started()
    metrics.run_finished(RunStatus.TIMED_OUT, 3600.0)

    assert value(metrics, "run_outcomes_total", status="timed_out") == 1
    assert value(metrics, "time_to_result_seconds_count") == 0
    assert value(metrics, "runs_in_flight") == 0


def test_slack_errors_by_method_and_error(metrics: Metrics) -> None:
    metrics.slack_error("chat.postMessage", "not_in_channel")

    assert value(metrics, "slack_api_errors_total", method="chat.postMessage", error="not_in_channel") == 1


def test_slack_api_error_is_read_from_the_exception(metrics: Metrics) -> None:
    response = _slack_response("https://slack.com/api/views.open", 200, {"ok": False, "error": "expired_trigger_id"})

    metrics.slack_api_error(SlackApiError("views.open failed", response))

    assert value(metrics, "slack_api_errors_total", method="views.open", error="expired_trigger_id") == 1


def test_slack_api_error_without_an_error_code_counts_the_http_status(metrics: Metrics) -> None:
    response = _slack_response("https://slack.com/api/chat.update", 502, "<html>bad gateway</html>")

    metrics.slack_api_error(SlackApiError("chat.update failed", response))

    assert value(metrics, "slack_api_errors_total", method="chat.update", error="http_502") == 1


def test_nautobot_errors_by_class_and_retries(metrics: Metrics) -> None:
    class NautobotUnreachable(Exception):
        pass

    metrics.nautobot_error(NautobotUnreachable("https://nautobot.example.com did not answer"))
    metrics.nautobot_retry()
    metrics.nautobot_retry()

    assert value(metrics, "nautobot_errors_total", kind="NautobotUnreachable") == 1
    assert value(metrics, "nautobot_retries_total") == 2


def test_socket_connected_is_zero_or_one(metrics: Metrics) -> None:
    metrics.socket_connected(True)
    assert value(metrics, "socket_mode_connected") == 1
    metrics.socket_connected(False)
    assert value(metrics, "socket_mode_connected") == 0


async def test_refresh_reads_the_socket_probe(metrics: Metrics) -> None:
    async def up() -> bool:
        return True

    async def broken() -> bool:
        raise ConnectionError("gone")

    metrics.watch_socket(up)
    await metrics.refresh()
    assert value(metrics, "socket_mode_connected") == 1

    metrics.watch_socket(broken)
    await metrics.refresh()
    assert value(metrics, "socket_mode_connected") == 0


async def test_refresh_without_a_probe_changes_nothing(metrics: Metrics) -> None:
    metrics.socket_connected(True)

    await metrics.refresh()

    assert value(metrics, "socket_mode_connected") == 1


def test_instances_do_not_share_counts() -> None:
    first, second = Metrics(), Metrics()

    first.request("refused")

    assert value(first, "requests_total", outcome="refused") == 1
    assert value(second, "requests_total", outcome="refused") == 0


def test_render_names_every_metric(metrics: Metrics) -> None:
    metrics.request("unsent")
    metrics.run_started()
    metrics.run_finished("cancelled", 5.0)
    metrics.slack_error("chat.update", "ratelimited")
    metrics.slack_retry("chat.update", "429")
    metrics.nautobot_error(TimeoutError())
    metrics.nautobot_retry()
    metrics.socket_connected(True)

    body, content_type = metrics.render()

    text = body.decode()
    assert content_type == CONTENT_TYPE
    for name in (
        'requests_total{outcome="unsent"} 1.0',
        "runs_in_flight 0.0",
        'time_to_result_seconds_bucket{le="10.0"} 1.0',
        'run_outcomes_total{status="cancelled"} 1.0',
        'slack_api_errors_total{error="ratelimited",method="chat.update"} 1.0',
        'slack_api_retries_total{method="chat.update",reason="429"} 1.0',
        'nautobot_errors_total{kind="TimeoutError"} 1.0',
        "nautobot_retries_total 1.0",
        "socket_mode_connected 1.0",
    ):
        assert P + name in text


@pytest.mark.parametrize(
    ("url", "method"),
    [
        ("https://slack.com/api/chat.postMessage", "chat.postMessage"),
        ("http://127.0.0.1:8080/api/views.open?x=1", "views.open"),
        ("https://files.slack.com/upload/v1/ABC123DEF", "other"),
        ("", "other"),
    ],
)
def test_slack_method(url: str, method: str) -> None:
    assert slack_method(url) == method


# -- counting retries -----------------------------------------------------------------------------


async def test_counting_counts_a_rate_limit_retry(metrics: Metrics) -> None:
    handler = counting(AsyncRateLimitErrorRetryHandler(max_retry_count=1), metrics, "429")
    limited = HttpResponse(status_code=429, headers={"Retry-After": "1"})

    assert await handler.can_retry_async(state=RetryState(), request=POST_MESSAGE, response=limited)
    assert not await handler.can_retry_async(
        state=RetryState(current_attempt=1), request=POST_MESSAGE, response=limited
    )

    assert value(metrics, "slack_api_retries_total", method="chat.postMessage", reason="429") == 1


async def test_counting_ignores_what_the_handler_does_not_retry(metrics: Metrics) -> None:
    handler = counting(AsyncRateLimitErrorRetryHandler(max_retry_count=3), metrics, "429")
    ok = HttpResponse(status_code=200, headers={})

    assert not await handler.can_retry_async(state=RetryState(), request=POST_MESSAGE, response=ok)

    assert value(metrics, "slack_api_retries_total", method="chat.postMessage", reason="429") is None


async def test_counting_counts_connection_retries(metrics: Metrics) -> None:
    from aiohttp import ServerDisconnectedError

    handler = counting(AsyncConnectionErrorRetryHandler(max_retry_count=2), metrics, "connection")

    retry = await handler.can_retry_async(state=RetryState(), request=POST_MESSAGE, error=ServerDisconnectedError())

    assert retry
    assert value(metrics, "slack_api_retries_total", method="chat.postMessage", reason="connection") == 1


def test_counting_keeps_the_handlers_limits(metrics: Metrics) -> None:
    inner = AsyncServerErrorRetryHandler(max_retry_count=3, interval_calculator=NO_WAIT)

    handler = counting(inner, metrics, "5xx")

    assert (handler.max_retry_count, handler.interval_calculator) == (3, NO_WAIT)
    with pytest.raises(ValueError, match="unknown reason"):
        counting(inner, metrics, "server")


@pytest.fixture
async def flaky_slack() -> AsyncIterator[TestServer]:
    """Answers chat.postMessage with a 503 twice, then succeeds."""
    calls: list[str] = []

    async def post_message(_request: web.Request) -> web.Response:
        calls.append("chat.postMessage")
        if len(calls) <= 2:
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        return web.json_response({"ok": True, "channel": "C0123CHAN", "ts": "1730542510.000100"})

    app = web.Application()
    app.router.add_post("/api/chat.postMessage", post_message)
    server = TestServer(app)
    await server.start_server()
    yield server
    await server.close()


async def test_a_real_client_counts_its_server_error_retries(metrics: Metrics, flaky_slack: TestServer) -> None:
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=str(flaky_slack.make_url("/api/")),
        retry_handlers=[
            counting(AsyncServerErrorRetryHandler(max_retry_count=3, interval_calculator=NO_WAIT), metrics, "5xx")
        ],
    )

    response = await asyncio.wait_for(client.chat_postMessage(channel="C0123CHAN", text="hello"), 5.0)

    assert response["ok"]
    assert value(metrics, "slack_api_retries_total", method="chat.postMessage", reason="5xx") == 2


def _slack_response(url: str, status: int, data: dict | str):
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

    return AsyncSlackResponse(
        client=None, http_verb="POST", api_url=url, req_args={}, data=data, headers={}, status_code=status
    )


async def test_a_call_slack_refuses_is_counted_by_method_and_error() -> None:
    metrics = Metrics()
    with SlackStandIn() as slack:
        slack.add_channel("C0OUTSIDE", name="outside", members=set(), bot_member=False)
        client = slack_client(slack.bot_token, slack.api_url, metrics)
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel="C0OUTSIDE", text="hello")
        await client.auth_test()  # a call Slack accepts counts nothing
    assert value(metrics, "slack_api_errors_total", method="chat.postMessage", error="not_in_channel") == 1
    assert value(metrics, "slack_api_errors_total", method="auth.test", error="not_in_channel") is None


async def test_a_nautobot_read_sent_again_after_a_dropped_connection_is_counted(monkeypatch) -> None:
    monkeypatch.setattr(nautobot_rest, "RETRY_DELAY", 0)
    metrics = Metrics()
    attempts: list[httpx.Request] = []

    def drop_first(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(200, json={"nautobot-version": "3.2.7"})

    transport = httpx.MockTransport(drop_first)
    async with NautobotClient(
        "https://nautobot.example.com", "t" * 40, transport=transport, on_retry=metrics.nautobot_retry
    ) as client:
        await client.status()
    assert len(attempts) == 2
    assert value(metrics, "nautobot_retries_total") == 1
