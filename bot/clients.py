"""The clients the settings describe: the one place NAUTOBOT_URL, the token and TLS are put together.

:mod:`bot.nautobot` takes plain values and knows nothing of the settings; the wiring (``serve``, ``preview``,
``run``, ``doctor``) builds its client here, so the dependency points from the settings' readers to Nautobot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from bot.nautobot import NautobotClient
from bot.settings import NautobotSettings


def nautobot_client(
    settings: NautobotSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_retry: Callable[[], None] | None = None,
) -> NautobotClient:
    """The Nautobot client of NAUTOBOT_URL and NAUTOBOT_TOKEN, checking TLS with NAUTOBOT_CA_BUNDLE when it is set,
    else as NAUTOBOT_VERIFY_TLS says; ``transport`` replaces the network in tests, ``on_retry`` counts retries."""
    verify: bool | Path = settings.nautobot_ca_bundle or settings.nautobot_verify_tls
    return NautobotClient(
        settings.nautobot_base, settings.nautobot_token, verify=verify, transport=transport, on_retry=on_retry
    )
