"""``doctor``'s ledger check: open it as ``serve`` would (creating or upgrading the schema), then write."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from bot.doctor.report import Context, Status, Verdict


def _display_url(url: str) -> tuple[str, str | None]:
    """The URL with any password masked, and that password (so error texts can be scrubbed too)."""
    parts = urlsplit(url)
    if not parts.password:
        return url, None
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urlunsplit(parts._replace(netloc=netloc)), parts.password


async def _resolved(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def check_ledger(context: Context) -> Verdict:
    raw = getattr(context.settings, "store_url", None)
    url = raw.get_secret_value() if isinstance(raw, SecretStr) else str(raw or "")
    if not url:
        return Verdict(Status.SKIP, "no ledger configured (STORE_URL is empty)")
    try:
        module = importlib.import_module("bot.ledger")
    except ImportError:
        return Verdict(Status.SKIP, "no ledger configured: this version of the bot has no ledger")
    opener = getattr(getattr(module, "Ledger", None), "open", None)
    if not callable(opener):
        return Verdict(Status.SKIP, "no ledger configured: this version of the bot cannot open one")
    shown, password = _display_url(url)
    if password:
        context.extra_secrets.append(password)
    return await _ledger_verdict(opener, url, shown)


async def _ledger_verdict(opener: Callable[[str], Any], url: str, shown: str) -> Verdict:
    """Opening creates or upgrades the schema, exactly as ``serve`` would at start."""
    fix = (
        f"Check STORE_URL ({shown}): the database must be reachable, and the bot's user must be able to create "
        "its tables and write to it."
    )
    ledger = None
    try:
        ledger = await _resolved(opener(url))
        writable = bool(await _resolved(ledger.writable()))
        size = await _size(ledger) if writable else ""
    except Exception as exc:
        return Verdict(Status.FAIL, f"cannot use the ledger: {type(exc).__name__}: {exc}", fix)
    finally:
        await _close(ledger)
    if not writable:
        return Verdict(Status.FAIL, f"the ledger at {shown} opened, but a test write failed", fix)
    return Verdict(Status.OK, f"the ledger at {shown} is writable{size}")


async def _size(ledger: Any) -> str:
    """``"; it holds 12 requests, 345 audit entries, 1.2 MiB"``, for a ledger of this bot (its size is told, not
    judged: the sweep keeps it to LEDGER_KEEP_REQUESTS_DAYS and LEDGER_KEEP_AUDIT_DAYS)."""
    try:
        from bot.ledger.retention import ledger_size
        from bot.ledger.store import Ledger
    except ImportError:  # a bot without them: nothing to tell
        return ""
    if not isinstance(ledger, Ledger):
        return ""
    return f"; it holds {(await ledger_size(ledger)).describe()}"


async def _close(resource: Any) -> None:
    closer = getattr(resource, "aclose", None) or getattr(resource, "close", None)
    if callable(closer):
        await _resolved(closer())
