"""The dashboard behind the Meraki stand-in: organizations, networks, admins and the key's identity,
and the API v1 endpoints over them, with the dashboard's routing, pagination and validation."""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode

from testbed.meraki_replies import (
    ADMIN_NOT_FOUND,
    API_DISABLED,
    EMAIL_TAKEN,
    FORBIDDEN,
    ORG_NOT_FOUND,
    Problem,
    RecordedRequest,
    Reply,
    json_object,
)
from testbed.meraki_validation import (
    ADMIN_FIELDS,
    ORG_ACCESS_LEVELS,
    UPDATABLE_ADMIN_FIELDS,
    access_list_problems,
    email_problems,
    one_of,
    string_problems,
)

_FIRST_ADMIN_ID = 646829496481090000


@dataclass
class Org:
    id: str
    name: str
    api_enabled: bool
    forbidden: bool
    listed: bool


@dataclass
class _Call:
    record: RecordedRequest
    body: bytes
    params: dict[str, str]


class DashboardApi:
    """The dashboard's state and endpoints; :class:`~testbed.meraki_standin.MerakiStandIn` serves them.

    Every method expects the stand-in's lock to be held.
    """

    def __init__(self) -> None:
        self._admin_ids = itertools.count(_FIRST_ADMIN_ID)
        self._clear_state()

    @property
    def base_url(self) -> str:
        """Where the API is served, for the absolute links of paginated answers (known once serving)."""
        raise NotImplementedError

    # routing

    def _route(self, record: RecordedRequest, body: bytes) -> Reply:
        for pattern, handlers in self._routes():
            found = pattern.fullmatch(record.path)
            if found is None:
                continue
            handler = handlers.get(record.method)
            if handler is None:
                allowed = ", ".join(handlers)
                raise Problem(405, "Method not allowed", headers={"Allow": allowed})
            params = {name: unquote(value) for name, value in found.groupdict().items()}
            return handler(_Call(record, body, params))
        raise Problem(404, "Not found")

    def _routes(self) -> list[tuple[re.Pattern[str], dict[str, Callable[[_Call], Reply]]]]:
        org = r"/organizations/(?P<org_id>[^/]+)"
        return [
            (re.compile(r"/organizations"), {"GET": self._list_organizations}),
            (re.compile(org), {"GET": self._get_organization}),
            (re.compile(org + "/networks"), {"GET": self._list_networks}),
            (re.compile(org + "/admins"), {"GET": self._list_admins, "POST": self._create_admin}),
            (
                re.compile(org + r"/admins/(?P<admin_id>[^/]+)"),
                {"PUT": self._update_admin, "DELETE": self._delete_admin},
            ),
            (re.compile(r"/administered/identities/me"), {"GET": self._identity_me}),
        ]

    # endpoints

    def _list_organizations(self, call: _Call) -> Reply:
        visible = [self._org_json(org) for org in self._orgs.values() if org.listed]
        return self._paginate(visible, call, default=9000, maximum=9000)

    def _get_organization(self, call: _Call) -> Reply:
        return Reply(200, self._org_json(self._accessible_org(call.params["org_id"])))

    def _list_networks(self, call: _Call) -> Reply:
        org = self._accessible_org(call.params["org_id"])
        networks = [n for n in self._networks.values() if n["organizationId"] == org.id]
        return self._paginate(copy.deepcopy(networks), call, default=1000, maximum=100000)

    def _list_admins(self, call: _Call) -> Reply:
        org = self._accessible_org(call.params["org_id"])
        wanted = set(call.record.query.get("networkIds[]", []))
        admins = [
            admin
            for admin in self._admins[org.id]
            if not wanted or wanted & {network["id"] for network in admin["networks"]}
        ]
        return Reply(200, copy.deepcopy(admins))

    def _create_admin(self, call: _Call) -> Reply:
        org = self._accessible_org(call.params["org_id"])
        payload = json_object(call.body)
        problems = self._admin_problems(org.id, payload)
        if problems:
            raise Problem(400, *problems)
        admin = self._new_admin(
            payload["email"],
            payload["name"],
            payload["orgAccess"],
            payload.get("tags", []),
            payload.get("networks", []),
        )
        self._admins[org.id].append(admin)
        return Reply(201, copy.deepcopy(admin))

    def _update_admin(self, call: _Call) -> Reply:
        org = self._accessible_org(call.params["org_id"])
        admin = self._find_admin(org.id, call.params["admin_id"])
        payload = json_object(call.body)
        problems = string_problems(payload, "name")
        if "orgAccess" in payload and payload["orgAccess"] not in ORG_ACCESS_LEVELS:
            problems.append(f"'orgAccess' must be one of: {one_of(ORG_ACCESS_LEVELS)}")
        problems += access_list_problems(payload, "tags", "tag")
        problems += access_list_problems(payload, "networks", "id")
        problems += self._unknown_network_problems(org.id, payload.get("networks"))
        problems += [f"Unrecognized parameter '{k}'" for k in payload if k not in UPDATABLE_ADMIN_FIELDS]
        if problems:
            raise Problem(400, *problems)
        admin.update(copy.deepcopy(payload))
        return Reply(200, copy.deepcopy(admin))

    def _delete_admin(self, call: _Call) -> Reply:
        org = self._accessible_org(call.params["org_id"])
        admin = self._find_admin(org.id, call.params["admin_id"])
        self._admins[org.id].remove(admin)
        return Reply(204)

    def _identity_me(self, call: _Call) -> Reply:
        return Reply(
            200,
            {
                **self._identity,
                "lastUsedDashboardAt": "2026-11-01T09:30:00.000000Z",
                "authentication": {
                    "mode": "email",
                    "api": {"key": {"created": True}},
                    "twoFactor": {"enabled": False},
                    "saml": {"enabled": False},
                },
            },
        )

    def _find_admin(self, org_id: str, admin_id: str) -> dict[str, Any]:
        admin = next((a for a in self._admins[org_id] if a["id"] == admin_id), None)
        if admin is None:
            raise Problem(404, ADMIN_NOT_FOUND)
        return admin

    # validation

    def _admin_problems(self, org_id: str, payload: dict[str, Any]) -> list[str]:
        """Every reason the dashboard would refuse this admin, so one call shows them all."""
        required = ("email", "name", "orgAccess")
        problems = [f"'{key}' must be specified" for key in required if key not in payload]
        problems += email_problems(payload)
        problems += string_problems(payload, "name")
        if "orgAccess" in payload and payload["orgAccess"] not in ORG_ACCESS_LEVELS:
            problems.append(f"'orgAccess' must be one of: {one_of(ORG_ACCESS_LEVELS)}")
        problems += access_list_problems(payload, "tags", "tag")
        problems += access_list_problems(payload, "networks", "id")
        problems += self._unknown_network_problems(org_id, payload.get("networks"))
        if "authenticationMethod" in payload and payload["authenticationMethod"] != "Email":
            problems.append("'authenticationMethod' must be 'Email'")
        problems += [f"Unrecognized parameter '{k}'" for k in payload if k not in ADMIN_FIELDS]
        if not problems and self._email_taken(org_id, payload["email"]):
            problems.append(EMAIL_TAKEN)
        return problems

    def _unknown_network_problems(self, org_id: str, networks: Any) -> list[str]:
        if not isinstance(networks, list):
            return []
        ids = [item.get("id") for item in networks if isinstance(item, dict)]
        return [
            f"Network '{net_id}' does not exist in organization '{org_id}'"
            for net_id in ids
            if isinstance(net_id, str) and net_id.strip() and not self._in_org(net_id, org_id)
        ]

    def _in_org(self, net_id: str, org_id: str) -> bool:
        return self._networks.get(net_id, {}).get("organizationId") == org_id

    def _email_taken(self, org_id: str, email: str) -> bool:
        wanted = email.casefold()
        return any(admin["email"].casefold() == wanted for admin in self._admins[org_id])

    # helpers

    def _clear_state(self) -> None:
        self._orgs: dict[str, Org] = {}
        self._networks: dict[str, dict[str, Any]] = {}
        self._admins: dict[str, list[dict[str, Any]]] = {}
        self._identity: dict[str, str] = {"email": "api.owner@example.com", "name": "API Key Owner"}

    def _require_org(self, org_id: str) -> None:
        if org_id not in self._orgs:
            raise KeyError(f"unknown organization {org_id!r}; call add_organization first")

    def _accessible_org(self, org_id: str) -> Org:
        org = self._orgs.get(org_id)
        if org is None:
            raise Problem(404, ORG_NOT_FOUND)
        if org.forbidden:
            raise Problem(403, FORBIDDEN)
        if not org.api_enabled:
            raise Problem(404, API_DISABLED)
        return org

    def _new_admin(
        self, email: str, name: str, org_access: str, tags: list[Any], networks: list[Any]
    ) -> dict[str, Any]:
        return {
            "id": str(next(self._admin_ids)),
            "name": name,
            "email": email,
            "orgAccess": org_access,
            "accountStatus": "pending",
            "twoFactorAuthEnabled": False,
            "hasApiKey": False,
            "lastActive": "",
            "tags": copy.deepcopy(tags),
            "networks": copy.deepcopy(networks),
            "authenticationMethod": "Email",
        }

    @staticmethod
    def _org_json(org: Org) -> dict[str, Any]:
        return {
            "id": org.id,
            "name": org.name,
            "url": f"https://n1.meraki.com/o/{org.id}/manage/organization/overview",
            "api": {"enabled": org.api_enabled},
            "licensing": {"model": "co-term"},
            "cloud": {"region": {"name": "North America"}},
            "management": {"details": []},
        }

    @staticmethod
    def _network_json(org_id: str, net_id: str, name: str) -> dict[str, Any]:
        return {
            "id": net_id,
            "organizationId": org_id,
            "name": name,
            "productTypes": ["appliance", "switch", "wireless"],
            "timeZone": "America/Los_Angeles",
            "tags": [],
            "enrollmentString": None,
            "url": f"https://n1.meraki.com/n/{net_id}/manage/usage/list",
            "notes": "",
            "isBoundToConfigTemplate": False,
        }

    def _paginate(self, items: list[dict[str, Any]], call: _Call, *, default: int, maximum: int) -> Reply:
        """Serve one page and, like the dashboard, point at the next one with an absolute Link."""
        query = call.record.query
        per_page = _per_page(query, default, maximum)
        start = _start_index(items, query)
        page = items[start : start + per_page]
        reply = Reply(200, page)
        if start + per_page < len(items):
            reply.headers["Link"] = self._link_header(call, per_page, page[-1]["id"])
        return reply

    def _link_header(self, call: _Call, per_page: int, last_id: str) -> str:
        cursors = ("startingAfter", "endingBefore")
        base = {k: v[-1] for k, v in call.record.query.items() if k not in cursors}
        base["perPage"] = str(per_page)
        url = f"{self.base_url}{call.record.path}?"
        first = url + urlencode(base)
        following = url + urlencode({**base, "startingAfter": last_id})
        return f"<{first}>; rel=first, <{following}>; rel=next"


def _per_page(query: dict[str, list[str]], default: int, maximum: int) -> int:
    raw = query.get("perPage", [str(default)])[-1]
    if not raw.isdigit() or not 3 <= int(raw) <= maximum:
        raise Problem(400, f"'perPage' must be an integer between 3 and {maximum}")
    return int(raw)


def _start_index(items: list[dict[str, Any]], query: dict[str, list[str]]) -> int:
    if "startingAfter" not in query:
        return 0
    token = query["startingAfter"][-1]
    for index, item in enumerate(items):
        if item["id"] == token:
            return index + 1
    raise Problem(400, f"'startingAfter' {token!r} is not a valid page token")
