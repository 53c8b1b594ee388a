"""The Slack Web API client the bot uses: Slack's own retries (429 with Retry-After, 5xx, dropped
connections), each retry and each failed call counted in the metrics."""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.metrics import Metrics, counting


class CountingWebClient(AsyncWebClient):
    """Every Web API method goes through :meth:`api_call`: a call Slack refuses is counted there, then raised."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            self.metrics.slack_api_error(exc, api_method)
            raise


def slack_client(
    token: str, base_url: str, metrics: Metrics, *, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """``session``: one connection pool for every call (without it, each call opens its own connection)."""
    return CountingWebClient(
        token=token,
        base_url=base_url,
        metrics=metrics,
        session=session,
        retry_handlers=[
            counting(AsyncConnectionErrorRetryHandler(max_retry_count=3), metrics, "connection"),
            counting(AsyncRateLimitErrorRetryHandler(max_retry_count=5), metrics, "429"),
            counting(AsyncServerErrorRetryHandler(max_retry_count=3), metrics, "5xx"),
        ],
    )
