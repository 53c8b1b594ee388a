"""How the bot reaches Nautobot over HTTP: one place for the base URL, the token header, TLS and request logs."""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Generator

import httpx
from pydantic import SecretStr

from bot.nautobot.errors import NautobotError

logger = logging.getLogger("bot.nautobot")


def http_client(
    base_url: str,
    token: SecretStr,
    *,
    verify: bool | str | os.PathLike[str],
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The HTTP client every Nautobot request goes through; ``transport`` replaces the network in tests."""
    return httpx.AsyncClient(
        base_url=base_url,
        auth=_TokenAuth(token),
        headers={"Accept": "application/json", "User-Agent": "meraki-chatops"},
        timeout=httpx.Timeout(timeout),
        verify=_tls(verify) if transport is None else True,
        transport=transport,
        follow_redirects=False,
    )


class _TokenAuth(httpx.Auth):
    """Adds ``Authorization: Token <key>`` at send time, so no header dict holds the key beforehand."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Token {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_TokenAuth(token=**********)"


def normalise_base(base_url: str) -> str:
    base = str(base_url).strip().rstrip("/")
    return base.removesuffix("/api") if base.endswith("/api") else base


def _tls(verify: bool | str | os.PathLike[str]) -> bool | ssl.SSLContext:
    """What httpx's ``verify`` takes: a context trusting the CA bundle at ``verify``, else whether to verify.

    httpx 0.28 wants an ``SSLContext`` for a CA bundle; a path string is deprecated there.
    """
    if isinstance(verify, bool):
        return verify
    try:
        return ssl.create_default_context(cafile=os.fspath(verify))
    except (OSError, ssl.SSLError) as exc:
        raise NautobotError(
            f"Cannot load the CA bundle {os.fspath(verify)} ({exc}). Set NAUTOBOT_CA_BUNDLE to a readable PEM file "
            "holding the CA that signed Nautobot's certificate, then restart the bot.",
            detail=str(exc),
        ) from None


def log_request(method: str, path: str, status: int | str, started: float) -> None:
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    logger.debug(
        "nautobot request method=%s path=%s status=%s elapsed_ms=%s",
        method,
        path,
        status,
        elapsed_ms,
        extra={"method": method, "path": path, "status": status, "elapsed_ms": elapsed_ms},
    )
