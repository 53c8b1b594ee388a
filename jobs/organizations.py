"""The Meraki organizations offered in the Job's form, without making loading wait on Meraki.

Nautobot imports the Job module in the web server on every Job API request and in the worker
before every run, and a ChoiceVar's choices are whatever they were at import. Asking Meraki at
import would make the Job as slow or as broken as Meraki is. So the list comes from Nautobot's
cache, which the web server and the workers share: a stale list is refreshed in a background
thread, and only an empty cache waits for Meraki, for at most ``WAIT_WHEN_EMPTY`` seconds.
When Meraki cannot be reached the last list stays in use and a retry follows a minute later.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from django.core.cache import cache
from meraki.exceptions import APIError

from .meraki_admins import ALL_ORGANIZATIONS, API_KEY_ENV, BASE_URL_ENV, DashboardSettings, MerakiProblem, dashboard

FRESH_FOR = 300
RETRY_AFTER_FAILURE = 60
WAIT_WHEN_EMPTY = 2.0
FETCH_TIMEOUT = 10


@dataclass(frozen=True)
class OrganizationList:
    choices: list[tuple[str, str]]
    help_text: str


def cache_key(settings: DashboardSettings) -> str:
    # Per key and cloud, so changing either never shows another key's organizations.
    digest = hashlib.sha256(f"{settings.base_url}\n{settings.api_key}".encode()).hexdigest()[:16]
    return f"meraki_chatops:organizations:{digest}"


def organization_choices(settings: DashboardSettings) -> OrganizationList:
    if not settings.configured:
        return OrganizationList(
            [], f"No organizations: {API_KEY_ENV} is not set on the Nautobot web server and worker."
        )
    key = cache_key(settings)
    entry = cache.get(key)
    if entry is None or entry["refresh_at"] <= time.time():
        refresher = _refresh_in_background(settings, key)
        if entry is None and refresher is not None:
            refresher.join(WAIT_WHEN_EMPTY)
            entry = cache.get(key)
    return _describe(entry)


def with_all_organizations(organizations: OrganizationList) -> OrganizationList:
    """The same list led by a choice for every organization; it works even when the list could not be loaded."""
    return OrganizationList(
        [(ALL_ORGANIZATIONS, "All organizations"), *organizations.choices],
        "'All organizations' means every organization the API key can see when the Job runs. "
        + organizations.help_text,
    )


def _describe(entry: dict | None) -> OrganizationList:
    if entry is None:
        return OrganizationList([], "Loading the organizations from Meraki; reload this form in a few seconds.")
    choices = [tuple(choice) for choice in entry["choices"]]
    error = entry.get("error")
    if error and not choices:
        help_text = (
            f"No organizations could be loaded from Meraki ({error}). Check {API_KEY_ENV} and {BASE_URL_ENV} "
            "on the Nautobot web server and worker; the list is retried every minute."
        )
    elif error:
        help_text = (
            f"Meraki could not be reached ({error}); showing the list last loaded at {_clock(entry['fetched_at'])}."
        )
    else:
        help_text = f"The organizations this API key can manage (loaded at {_clock(entry['fetched_at'])})."
    return OrganizationList(choices, help_text)


def _clock(timestamp: float | None) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(timestamp)) if timestamp else "never"


def _refresh_in_background(settings: DashboardSettings, key: str) -> threading.Thread | None:
    """Start one refresh across all processes; None if another one is already under way."""
    lock = f"{key}:refreshing"
    if not cache.add(lock, 1, timeout=FETCH_TIMEOUT * 3):
        return None
    thread = threading.Thread(target=_refresh, args=(settings, key, lock), name="meraki-organizations", daemon=True)
    thread.start()
    return thread


def _refresh(settings: DashboardSettings, key: str, lock: str) -> None:
    now = time.time()
    try:
        organizations = dashboard(settings, timeout=FETCH_TIMEOUT, retries=1).organizations.getOrganizations()
        choices = sorted(
            ((str(org["id"]), f"{org.get('name', '')} ({org['id']})") for org in organizations),
            key=lambda choice: choice[1].casefold(),
        )
        entry = {"choices": choices, "fetched_at": now, "refresh_at": now + FRESH_FOR, "error": None}
    except Exception as exc:
        previous = cache.get(key) or {"choices": [], "fetched_at": None}
        entry = {**previous, "refresh_at": now + RETRY_AFTER_FAILURE, "error": _short(exc)}
    # Kept well past freshness so an outage still shows the last list.
    cache.set(key, entry, timeout=7 * 24 * 3600)
    cache.delete(lock)


def _short(exc: Exception) -> str:
    if isinstance(exc, APIError):
        return f"{exc.status} {exc.reason}"
    if isinstance(exc, MerakiProblem):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
