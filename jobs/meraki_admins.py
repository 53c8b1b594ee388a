"""Talking to Meraki about its administrators, with every Meraki failure turned into a plain sentence.

Only the requests and their errors: what the Jobs do with the answers is in admin_creation.py (add),
admin_grants.py (time-bound grants), admin_expiry.py (their revoke), admin_search.py (find) and
admin_removal.py (remove), each a subclass of :class:`MerakiAdmins`. Kept free of
Nautobot imports, so each Job is a thin form around one of them.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from typing import Self

import meraki
from meraki.exceptions import APIError, APIKeyError, APIResponseError

from .admin_report import API_ACCESS_OFF, Organization, Skipped, plain

API_KEY_ENV = "MERAKI_DASHBOARD_API_KEY"
BASE_URL_ENV = "MERAKI_BASE_URL"
DEFAULT_BASE_URL = "https://api.meraki.com/api/v1"
CALLER = "MerakiChatops/0.1 MerakiChatops"
SUCCESS = 25  # the level Nautobot records as a job log line of level "success"
LIST_NETWORKS = "list the organization's networks"
LIST_ADMINS = "list the organization's administrators"
ALL_ORGANIZATIONS = "all"
"""The organization choice that means every organization the API key can see (Meraki's IDs are digits)."""

ORG_ACCESS_CHOICES = (
    ("full", "Full"),
    ("read-only", "Read Only"),
    ("enterprise", "Enterprise"),
    ("none", "None"),
)
NETWORK_ACCESS_CHOICES = (
    ("full", "Full"),
    ("read-only", "Read Only"),
    ("guest-ambassador", "Guest Ambassador"),
    ("monitor-only", "Monitor Only"),
)


@dataclass(frozen=True)
class DashboardSettings:
    """Where the Dashboard API is and the key to it, read from the worker's environment."""

    api_key: str
    base_url: str

    @property
    def configured(self) -> bool:
        return bool(self.api_key)


def dashboard_settings() -> DashboardSettings:
    return DashboardSettings(
        api_key=os.environ.get(API_KEY_ENV, "").strip(),
        base_url=(os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/"),
    )


def dashboard(settings: DashboardSettings, *, timeout: float = 30, retries: int = 5) -> meraki.DashboardAPI:
    """A Dashboard API client that writes no files and waits out rate limits."""
    if not settings.configured:
        raise MerakiProblem(
            "setup",
            f"{API_KEY_ENV} is not set in the Nautobot worker's environment: "
            "set it to a Meraki Dashboard API key and restart the worker.",
        )
    try:
        return meraki.DashboardAPI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            caller=CALLER,
            output_log=False,
            print_console=False,
            suppress_logging=True,
            single_request_timeout=timeout,
            maximum_retries=retries,
            wait_on_rate_limit=True,
            smart_flow_cache_path="",
        )
    except APIKeyError as exc:  # the SDK refuses an empty key before any request
        raise MerakiProblem("setup", f"{API_KEY_ENV} is empty: set it on the worker. ({exc})") from exc


class MerakiProblem(Exception):
    """A failure a person can act on: ``str()`` says what went wrong and what to do next."""

    def __init__(self, step: str, message: str):
        super().__init__(message)
        self.step = step


class OrganizationRefused(Exception):
    """Meraki refused a request about one organization; other organizations may still answer."""


def meraki_errors(exc: APIError) -> str:
    message = exc.message
    if isinstance(message, dict) and message.get("errors"):
        return "; ".join(str(e) for e in message["errors"])
    return str(message or exc.reason or "no details").strip()


def explain(exc: APIError, *, action: str, org_id: str, base_url: str) -> str:
    """One line for a failed Meraki call: what happened and what to do about it."""
    detail = meraki_errors(exc)
    if isinstance(exc.response, APIResponseError):  # no HTTP answer at all: timeout, refused, DNS, TLS
        return (
            f"Could not reach the Meraki Dashboard API at {base_url} while trying to {action} ({exc.reason}). "
            f"Check the worker's network access, proxy and {BASE_URL_ENV}, then run the Job again."
        )
    status = exc.status
    if status == 401:
        return (
            f"Meraki rejected the API key (401: {detail}) while trying to {action}. "
            f"Set a valid {API_KEY_ENV} on the Nautobot worker and restart it."
        )
    if status == 403:
        return (
            f"The API key may not {action} in organization {org_id} (403: {detail}). "
            "Use a key of an administrator with full access to that organization."
        )
    if status == 404:
        return (
            f"Meraki found no organization {org_id} for this key, or its API access is off (404: {detail}). "
            "Pick an organization from the list, or enable API access under Organization > Settings."
        )
    if status == 429:
        return (
            f"Meraki kept rate-limiting requests while trying to {action} (429: {detail}). "
            "Other tools are using this organization's request budget; run the Job again in a minute."
        )
    if status is not None and status >= 500:
        return (
            f"Meraki had a server error while trying to {action} ({status}: {detail}). "
            "Nothing more was done; check status.meraki.net and run the Job again later."
        )
    return f"Meraki refused to {action} ({status}: {detail}). Correct the input and run the Job again."


@dataclass(frozen=True)
class Network:
    id: str
    name: str


class MerakiAdmins:
    """Requests about administrators: an organization, its networks and administrators; create one."""

    def __init__(self, api: meraki.DashboardAPI, base_url: str, logger: logging.Logger | logging.LoggerAdapter):
        self.api = api
        self.base_url = base_url
        self.logger = logger

    @classmethod
    def connect(cls, settings: DashboardSettings, logger, **options) -> Self:
        return cls(dashboard(settings), settings.base_url, logger, **options)

    def _call(self, step: str, action: str, org_id: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except APIError as exc:
            raise MerakiProblem(step, explain(exc, action=action, org_id=org_id, base_url=self.base_url)) from exc

    def _log(self, level: int, step: str, message: str, *args) -> None:
        self.logger.log(level, message, *args, extra={"grouping": step})

    def _in_organization(self, step: str, action: str, org_id: str, fn, *args, **kwargs):
        """Call Meraki about one organization of many.

        A rejected key or an unreachable Meraki is the same for every organization, so it stops the
        run; anything else (API access off, forbidden, rate limit never lifted, server errors) only
        rules out this organization.
        """
        try:
            return fn(*args, **kwargs)
        except APIError as exc:
            message = explain(exc, action=action, org_id=org_id, base_url=self.base_url)
            if exc.status == 401 or isinstance(exc.response, APIResponseError):
                raise MerakiProblem(step, message) from exc
            raise OrganizationRefused(message) from exc

    def organization(self, org_id: str) -> dict:
        org = self._call(
            "organization", "read the organization", org_id, self.api.organizations.getOrganization, org_id
        )
        self._log(logging.INFO, "organization", "Organization %s (%s) is reachable.", org.get("name", "?"), org_id)
        return org

    def network(self, org_id: str, wanted: str) -> Network:
        """Find a network by ID, else by exact name, else by name ignoring case."""
        networks = self._call("network", LIST_NETWORKS, org_id, self._network_list, org_id)
        for match in (
            [n for n in networks if n.id == wanted],
            [n for n in networks if n.name == wanted],
            [n for n in networks if n.name.casefold() == wanted.casefold()],
        ):
            if len(match) == 1:
                self._log(logging.INFO, "network", "Network %s (%s) found.", match[0].name, match[0].id)
                return match[0]
            if len(match) > 1:
                ids = ", ".join(f"{n.name} ({n.id})" for n in match)
                raise MerakiProblem(
                    "network", f"More than one network is named '{wanted}': {ids}. Give the network ID instead."
                )
        closest = difflib.get_close_matches(wanted, [n.name for n in networks], n=5, cutoff=0.3)
        hint = f"Closest names: {', '.join(closest)}." if closest else f"The organization has {len(networks)} networks."
        raise MerakiProblem(
            "network",
            f"No network '{wanted}' in organization {org_id}. {hint} Give an exact network name or ID.",
        )

    def _network_list(self, org_id: str) -> list[Network]:
        found = self.api.organizations.getOrganizationNetworks(org_id, perPage=100000)
        return [Network(n["id"], n.get("name", "")) for n in found]

    def existing_admin(self, org_id: str, email: str) -> dict | None:
        admins = self._call(
            "lookup",
            LIST_ADMINS,
            org_id,
            self.api.organizations.getOrganizationAdmins,
            org_id,
        )
        wanted = email.casefold()
        return next((a for a in admins if str(a.get("email", "")).casefold() == wanted), None)

    def create_admin(self, org_id: str, *, email: str, name: str, org_access: str, networks: list[dict]) -> dict:
        """Create the administrator in Meraki (Meraki emails the invitation); Meraki's answer."""
        return self._call(
            "create",
            "create the administrator",
            org_id,
            self.api.organizations.createOrganizationAdmin,
            org_id,
            email=email,
            name=name,
            orgAccess=org_access,
            **({"networks": networks} if networks else {}),
        )

    def update_admin(self, org_id: str, admin_id: str, **access) -> dict:
        """Set an administrator's ``orgAccess``/``networks``/``tags`` (each list given replaces theirs); Meraki's
        answer."""
        return self._call(
            "update",
            "change the administrator's access",
            org_id,
            self.api.organizations.updateOrganizationAdmin,
            org_id,
            admin_id,
            **access,
        )

    def delete_admin(self, org_id: str, admin_id: str) -> None:
        self._call(
            "remove",
            "remove the administrator",
            org_id,
            self.api.organizations.deleteOrganizationAdmin,
            org_id,
            admin_id,
        )

    def admin_by_id(self, org_id: str, admin_id: str) -> dict | None:
        """The administrator with this id in the organization (Meraki has no request for one), None if gone."""
        admins = self._call("lookup", LIST_ADMINS, org_id, self.api.organizations.getOrganizationAdmins, org_id)
        return next((a for a in admins if str(a.get("id")) == str(admin_id)), None)

    # -- across organizations: finding and removing ------------------------------------------------

    def organizations_in_scope(self, choice: str) -> tuple[list[Organization], list[Skipped]]:
        """The organizations to work on (every one the key sees, or the one chosen) and those ruled out already."""
        if choice == ALL_ORGANIZATIONS:
            listed = self._call(
                "organizations",
                "list the organizations this API key can see",
                ALL_ORGANIZATIONS,
                self.api.organizations.getOrganizations,
            )
        else:
            try:
                listed = [
                    self._in_organization(
                        "organization", "read the organization", choice, self.api.organizations.getOrganization, choice
                    )
                ]
            except OrganizationRefused as refused:
                return [], [Skipped(Organization(choice, choice), str(refused))]
        usable: list[Organization] = []
        skipped: list[Skipped] = []
        for found in listed:
            organization = Organization(plain(found["id"]), plain(found.get("name") or found["id"]))
            # The list says which organizations have API access off: no request to each to find out.
            if (found.get("api") or {}).get("enabled") is False:
                skipped.append(Skipped(organization, API_ACCESS_OFF))
            else:
                usable.append(organization)
        usable.sort(key=lambda organization: organization.name.casefold())
        return usable, skipped

    def _admins_of(self, organization: Organization) -> list[dict]:
        return self._in_organization(
            "lookup", LIST_ADMINS, organization.id, self.api.organizations.getOrganizationAdmins, organization.id
        )

    def _network_names(self, organization: Organization, admins: list[dict]) -> dict[str, str]:
        """Names of the networks these admins hold, when any do; one request, and only IDs if Meraki refuses it."""
        if not any(admin.get("networks") for admin in admins):
            return {}
        try:
            networks = self._in_organization(
                "network", LIST_NETWORKS, organization.id, self._network_list, organization.id
            )
        except OrganizationRefused as refused:
            self._log(logging.DEBUG, "network", "Network names of %s unknown: %s", organization, refused)
            return {}
        return {network.id: plain(network.name) for network in networks}

    def _not_searched(self, skipped: Skipped, verb: str) -> None:
        self._log(logging.WARNING, "organization", "%s %s: %s", verb, skipped.organization, skipped.reason)
