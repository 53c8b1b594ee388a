"""Prometheus metrics: what people asked for, how runs ended, and how Slack and Nautobot behaved.

Every metric lives in the registry of one :class:`Metrics` instance rather than in
``prometheus_client``'s global one, so each bot (and each test) counts on its own. Label values
are closed sets wherever the bot chooses them, which keeps the number of series bounded.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger("bot.metrics")

NAMESPACE = "meraki_chatops"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text exposition format, which is what ``generate_latest`` writes."""

REQUEST_OUTCOMES = (
    "submitted",
    "awaiting_approval",
    "refused",
    "invalid",
    "duplicate",
    "unsent",
    "unrecorded",
    "denied",
)
RUN_STATUSES = ("succeeded", "failed", "cancelled", "timed_out")
GRANT_OUTCOMES = ("removed", "restored", "changed", "gone", "failed")
RETRY_REASONS = ("429", "5xx", "connection")
EVENT_UNUSABLE_REASONS = ("too_large", "too_deep", "not_json", "no_id", "error")

TIME_TO_RESULT_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, float("inf"))
"""Most runs end in seconds; approvals and slow Meraki organizations take minutes to hours."""

SOCKET_PROBE_TIMEOUT = 1.0
UNKNOWN_METHOD = "other"
_API_METHOD = re.compile(r"/api/([A-Za-z0-9_.]+)$")

SocketProbe = Callable[[], Awaitable[bool]]


class Metrics:
    """The bot's metrics, with one small method per thing worth counting."""

    def __init__(self, namespace: str = NAMESPACE) -> None:
        self.registry = CollectorRegistry()
        self._socket_probe: SocketProbe | None = None
        self.requests = Counter(
            "requests_total",
            "Modal submissions by outcome: submitted (Nautobot accepted the run), refused (Nautobot refused it), "
            "invalid (the form had errors), duplicate (a resubmission), unsent (Nautobot could not be reached), "
            "unrecorded (the ledger failed while it was being sent), "
            "denied (the access policy said no).",
            ["outcome"],
            namespace=namespace,
            registry=self.registry,
        )
        self.runs_in_flight = Gauge(
            "runs_in_flight", "Runs the bot is following right now.", namespace=namespace, registry=self.registry
        )
        self.time_to_result = Histogram(
            "time_to_result_seconds",
            "From the submission to the result in the Slack thread, for runs that reached a result.",
            buckets=TIME_TO_RESULT_BUCKETS,
            namespace=namespace,
            registry=self.registry,
        )
        self.run_outcomes = Counter(
            "run_outcomes_total",
            "Followed runs by final status.",
            ["status"],
            namespace=namespace,
            registry=self.registry,
        )
        self.slack_errors = Counter(
            "slack_api_errors_total",
            "Slack Web API calls that failed, by method and error.",
            ["method", "error"],
            namespace=namespace,
            registry=self.registry,
        )
        self.slack_retries = Counter(
            "slack_api_retries_total",
            "Slack Web API calls retried, by method and reason (429, 5xx, connection).",
            ["method", "reason"],
            namespace=namespace,
            registry=self.registry,
        )
        self.nautobot_errors = Counter(
            "nautobot_errors_total",
            "Failed Nautobot API calls, by error class.",
            ["kind"],
            namespace=namespace,
            registry=self.registry,
        )
        self.nautobot_retries = Counter(
            "nautobot_retries_total", "Nautobot API calls retried.", namespace=namespace, registry=self.registry
        )
        self.requests_owned = Gauge(
            "requests_owned",
            "Requests this replica works on now, under a lease it renews.",
            namespace=namespace,
            registry=self.registry,
        )
        self.requests_taken_over = Counter(
            "requests_taken_over_total",
            "Requests this replica took up because nobody held them (an owner that stopped, or a restart).",
            namespace=namespace,
            registry=self.registry,
        )
        self.socket_mode_connected = Gauge(
            "socket_mode_connected",
            "1 while the Socket Mode connection to Slack is up.",
            namespace=namespace,
            registry=self.registry,
        )
        self.nautobot_events = Counter(
            "nautobot_events_total",
            "Job and approval events received from Nautobot (NAUTOBOT_EVENTS_URL).",
            namespace=namespace,
            registry=self.registry,
        )
        self.nautobot_events_missed = Counter(
            "nautobot_events_missed_total",
            "Runs a poll found ended while no event had said so (each slows nothing: polling takes over a while).",
            namespace=namespace,
            registry=self.registry,
        )
        self.nautobot_events_up = Gauge(
            "nautobot_events_subscribed",
            "1 while the subscription to Nautobot's events is up; 0 while down or not configured.",
            namespace=namespace,
            registry=self.registry,
        )
        self.nautobot_events_unusable = Counter(
            "nautobot_events_unusable_total",
            "Events from Nautobot's Redis the bot could not use, by reason: too_large (every follow looked instead), "
            "too_deep, not_json, no_id (no id the bot could use), error (handling it failed). Each is ignored.",
            ["reason"],
            namespace=namespace,
            registry=self.registry,
        )
        self.nautobot_events_restarts = Counter(
            "nautobot_events_restarts_total",
            "Times the subscription to Nautobot's events stopped by a fault of the bot's own and was started again.",
            namespace=namespace,
            registry=self.registry,
        )
        self.grants_ended = Counter(
            "grants_ended_total",
            "Time-bound grants whose revoke ended, by the revoke's outcome (removed, restored, changed, gone, failed).",
            ["outcome"],
            namespace=namespace,
            registry=self.registry,
        )
        self.grant_revokes_late = Counter(
            "grant_revokes_late_total",
            "Revokes Nautobot had not run some minutes after their time, which the bot then ran itself.",
            namespace=namespace,
            registry=self.registry,
        )
        _zero(self.requests, "outcome", REQUEST_OUTCOMES)
        _zero(self.grants_ended, "outcome", GRANT_OUTCOMES)
        _zero(self.nautobot_events_unusable, "reason", EVENT_UNUSABLE_REASONS)
        _zero(self.run_outcomes, "status", RUN_STATUSES)

    # -- requests and runs -----------------------------------------------------------------------

    def grant_ended(self, outcome: str) -> None:
        self.grants_ended.labels(outcome=_known("outcome", outcome, GRANT_OUTCOMES)).inc()

    def grant_revoke_late(self) -> None:
        self.grant_revokes_late.inc()

    def request(self, outcome: str) -> None:
        self.requests.labels(outcome=_known("outcome", outcome, REQUEST_OUTCOMES)).inc()

    def run_started(self) -> None:
        """Call once per followed run, also for runs resumed after a restart."""
        self.runs_in_flight.inc()

    def run_finished(self, status: str, seconds: float | None) -> None:
        """A followed run ended; ``seconds`` since its submission, or None when that is not known.

        A time-out is no result, so it is counted by status but left out of the histogram.
        """
        status = _known("status", status, RUN_STATUSES)
        self.runs_in_flight.dec()
        self.run_outcomes.labels(status=status).inc()
        if seconds is not None and status != "timed_out":
            self.time_to_result.observe(max(seconds, 0.0))

    def owned(self, count: int) -> None:
        self.requests_owned.set(count)

    def taken_over(self, count: int) -> None:
        self.requests_taken_over.inc(count)

    # -- Slack -----------------------------------------------------------------------------------

    def slack_error(self, method: str, error: str) -> None:
        self.slack_errors.labels(method=method, error=error).inc()

    def slack_api_error(self, exc: SlackApiError, method: str | None = None) -> None:
        """Count a ``SlackApiError`` under the method it came from (read from it unless given) and Slack's error."""
        response = exc.response
        data = getattr(response, "data", None)
        error = data.get("error") if isinstance(data, dict) else None
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        url = getattr(response, "api_url", None) or str(getattr(response, "url", ""))
        self.slack_error(method or slack_method(url), error or f"http_{status}")

    def slack_retry(self, method: str, reason: str) -> None:
        self.slack_retries.labels(method=method, reason=_known("reason", reason, RETRY_REASONS)).inc()

    def socket_connected(self, connected: bool) -> None:
        self.socket_mode_connected.set(1 if connected else 0)

    def watch_socket(self, probe: SocketProbe) -> None:
        """Have :meth:`refresh` set ``socket_mode_connected`` from ``probe``, e.g. the client's ``is_connected``."""
        self._socket_probe = probe

    async def refresh(self) -> None:
        """Bring gauges that are read rather than pushed up to date; called before each scrape."""
        if self._socket_probe is None:
            return
        try:
            connected = await asyncio.wait_for(self._socket_probe(), SOCKET_PROBE_TIMEOUT)
        except Exception as exc:
            log.debug("socket mode probe failed: %s", type(exc).__name__)
            connected = False
        self.socket_connected(bool(connected))

    # -- Nautobot --------------------------------------------------------------------------------

    def nautobot_error(self, exc: BaseException) -> None:
        self.nautobot_errors.labels(kind=type(exc).__name__).inc()

    def nautobot_retry(self) -> None:
        self.nautobot_retries.inc()

    def nautobot_event(self) -> None:
        self.nautobot_events.inc()

    def nautobot_event_missed(self) -> None:
        self.nautobot_events_missed.inc()

    def nautobot_event_unusable(self, reason: str) -> None:
        self.nautobot_events_unusable.labels(reason=_known("reason", reason, EVENT_UNUSABLE_REASONS)).inc()

    def nautobot_events_restart(self) -> None:
        self.nautobot_events_restarts.inc()

    def nautobot_events_subscribed(self, subscribed: bool) -> None:
        self.nautobot_events_up.set(1 if subscribed else 0)

    # -- exposition ------------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The registry in Prometheus' text format, and the Content-Type to serve it with."""
        return generate_latest(self.registry), CONTENT_TYPE


def slack_method(url: str) -> str:
    """The Web API method a URL calls (``chat.postMessage``); anything else, like file uploads, is ``other``."""
    match = _API_METHOD.search(urlsplit(url).path)
    return match.group(1) if match else UNKNOWN_METHOD


class CountingRetryHandler(AsyncRetryHandler):
    """A slack_sdk retry handler that counts each retry its wrapped handler decides on.

    Deciding and waiting stay with the wrapped handler, so Retry-After and backoff behave as before.
    """

    def __init__(self, inner: AsyncRetryHandler, metrics: Metrics, reason: str) -> None:
        super().__init__(max_retry_count=inner.max_retry_count, interval_calculator=inner.interval_calculator)
        self.inner = inner
        self.metrics = metrics
        self.reason = _known("reason", reason, RETRY_REASONS)

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        retry = await self.inner.can_retry_async(state=state, request=request, response=response, error=error)
        if retry:
            self.metrics.slack_retry(slack_method(request.url), self.reason)
        return retry

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return await self.inner._can_retry_async(state=state, request=request, response=response, error=error)

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        await self.inner.prepare_for_next_attempt_async(state=state, request=request, response=response, error=error)


def counting(handler: AsyncRetryHandler, metrics: Metrics, reason: str) -> CountingRetryHandler:
    """Wrap a built-in async retry handler so its retries show in ``slack_api_retries_total{reason}``."""
    return CountingRetryHandler(handler, metrics, reason)


def _known(label: str, value: str, allowed: Iterable[str]) -> str:
    """Reject label values outside the documented set, so a typo cannot create a new series."""
    value = str(value)
    if value not in allowed:
        raise ValueError(f"unknown {label} {value!r}; expected one of {', '.join(allowed)}")
    return value


def _zero(counter: Counter, label: str, values: Iterable[str]) -> None:
    """Export every known label value from the start, so rates and alerts see 0 rather than nothing."""
    for value in values:
        counter.labels(**{label: value})
