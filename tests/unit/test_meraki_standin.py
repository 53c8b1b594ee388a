"""The Meraki stand-in must behave like the dashboard for the SDK calls our Job makes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import meraki
import pytest
from meraki.exceptions import APIError

from testbed.meraki_standin import (
    ADMIN_NOT_FOUND,
    API_DISABLED,
    BAD_JSON,
    EMAIL_TAKEN,
    FORBIDDEN,
    INVALID_API_KEY,
    ORG_NOT_FOUND,
    RATE_LIMITED,
    SERVER_ERROR,
    MerakiStandIn,
)

ORG = "100"
NET = "N_100"


@pytest.fixture(scope="module")
def server() -> Iterator[MerakiStandIn]:
    with MerakiStandIn(api_key="test-key") as standin:
        yield standin


@pytest.fixture
def standin(server: MerakiStandIn) -> MerakiStandIn:
    server.reset()
    server.api_key = "test-key"
    server.add_organization(ORG, "Acme")
    server.add_network(ORG, NET, "Branch 1")
    return server


@pytest.fixture
def dashboard(standin: MerakiStandIn) -> meraki.DashboardAPI:
    return sdk(standin)


@pytest.fixture
def http(standin: MerakiStandIn) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {standin.api_key}"}
    with httpx.Client(base_url=standin.base_url, headers=headers, timeout=5) as client:
        yield client


def sdk(standin: MerakiStandIn, api_key: str | None = None) -> meraki.DashboardAPI:
    return meraki.DashboardAPI(
        api_key=api_key or standin.api_key,
        base_url=standin.base_url,
        output_log=False,
        print_console=False,
        suppress_logging=True,
        caller="MerakiChatopsTests/1.0 MerakiChatops",
        maximum_retries=3,
        wait_on_rate_limit=True,
        smart_flow_enabled=False,
        single_request_timeout=5,
    )


def new_admin(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"email": "ana@example.com", "name": "Ana", "orgAccess": "read-only"}
    body.update(overrides)
    return body


def post_admin(http: httpx.Client, body: Any) -> httpx.Response:
    return http.post(f"/organizations/{ORG}/admins", json=body)


# reads


def test_organizations_list_and_one_org(dashboard: meraki.DashboardAPI) -> None:
    orgs = dashboard.organizations.getOrganizations()
    assert [org["id"] for org in orgs] == [ORG]
    org = dashboard.organizations.getOrganization(ORG)
    assert org == orgs[0]
    assert org["name"] == "Acme"
    assert org["api"] == {"enabled": True}
    assert org["licensing"] == {"model": "co-term"}
    assert org["cloud"] == {"region": {"name": "North America"}}
    assert org["management"] == {"details": []}
    assert org["url"].startswith("https://")


def test_unknown_org_is_404_with_errors_body(dashboard: meraki.DashboardAPI, http: httpx.Client) -> None:
    with pytest.raises(APIError) as caught:
        dashboard.organizations.getOrganization("999")
    assert caught.value.status == 404
    assert caught.value.message == {"errors": [ORG_NOT_FOUND]}
    response = http.get("/organizations/999/admins")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


def test_networks(dashboard: meraki.DashboardAPI) -> None:
    [network] = dashboard.organizations.getOrganizationNetworks(ORG)
    assert network["id"] == NET
    assert network["organizationId"] == ORG
    assert network["name"] == "Branch 1"
    assert network["productTypes"] == ["appliance", "switch", "wireless"]
    assert network["enrollmentString"] is None
    assert network["isBoundToConfigTemplate"] is False


def test_unknown_path_and_wrong_method(http: httpx.Client) -> None:
    missing = http.get("/devices")
    assert (missing.status_code, missing.json()) == (404, {"errors": ["Not found"]})
    wrong = http.delete(f"/organizations/{ORG}/admins")
    assert wrong.status_code == 405
    assert wrong.json()["errors"]
    assert wrong.headers["allow"] == "GET, POST"


def test_api_disabled_org_is_404_everywhere(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.add_organization("200", "Locked", api_enabled=False)
    for path in ("/organizations/200", "/organizations/200/networks", "/organizations/200/admins"):
        response = http.get(path)
        assert (response.status_code, response.json()) == (404, {"errors": [API_DISABLED]})
    assert post_admin(http, new_admin()).status_code == 201  # other orgs are unaffected
    listed = {org["id"]: org for org in http.get("/organizations").json()}
    assert listed["200"]["api"] == {"enabled": False}


def test_forbidden_org_is_403_and_not_listed(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    standin.add_organization("300", "Elsewhere", forbidden=True)
    with pytest.raises(APIError) as caught:
        dashboard.organizations.createOrganizationAdmin("300", "a@example.com", "A", "full")
    assert caught.value.status == 403
    assert caught.value.message == {"errors": [FORBIDDEN]}
    assert [org["id"] for org in dashboard.organizations.getOrganizations()] == [ORG]


# admins


def test_create_admin_with_networks_via_sdk(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    created = dashboard.organizations.createOrganizationAdmin(
        ORG,
        "ana@example.com",
        "Ana",
        "none",
        networks=[{"id": NET, "access": "read-only"}],
        tags=[{"tag": "west", "access": "monitor-only"}],
        authenticationMethod="Email",
    )
    assert created["id"].isdigit()
    assert created["email"] == "ana@example.com"
    assert created["orgAccess"] == "none"
    assert created["accountStatus"] == "pending"
    assert created["networks"] == [{"id": NET, "access": "read-only"}]
    assert created["tags"] == [{"tag": "west", "access": "monitor-only"}]
    assert created["authenticationMethod"] == "Email"
    assert dashboard.organizations.getOrganizationAdmins(ORG) == [created]
    assert standin.admins(ORG) == [created]


def test_created_admin_answers_201(http: httpx.Client) -> None:
    response = post_admin(http, new_admin())
    assert response.status_code == 201
    assert response.json()["twoFactorAuthEnabled"] is False


def test_admins_filter_by_network(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    standin.add_admin(ORG, "net@example.com", "Net", "none", [{"id": NET, "access": "full"}])
    standin.add_admin(ORG, "org@example.com", "Org", "full")
    everyone = dashboard.organizations.getOrganizationAdmins(ORG)
    assert {admin["email"] for admin in everyone} == {"net@example.com", "org@example.com"}
    filtered = dashboard.organizations.getOrganizationAdmins(ORG, networkIds=[NET])
    assert [admin["email"] for admin in filtered] == ["net@example.com"]


def test_admins_returns_copies(standin: MerakiStandIn) -> None:
    standin.add_admin(ORG, "a@example.com", "A")
    standin.admins(ORG)[0]["name"] = "changed"
    assert standin.admins(ORG)[0]["name"] == "A"


def test_missing_fields_are_listed_together(http: httpx.Client) -> None:
    response = post_admin(http, {})
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            "'email' must be specified",
            "'name' must be specified",
            "'orgAccess' must be specified",
        ]
    }


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"orgAccess": "admin"}, "'orgAccess' must be one of"),
        ({"email": "not-an-email"}, "'email' must be a valid email address"),
        ({"name": ""}, "'name' must not be blank"),
        ({"networks": [{"id": NET, "access": "owner"}]}, "'networks[0].access' must be one of"),
        ({"networks": [{"id": "N_404", "access": "full"}]}, "Network 'N_404' does not exist"),
        ({"networks": {"id": NET}}, "'networks' must be an array"),
        ({"tags": [{"tag": "x", "access": "enterprise"}]}, "'tags[0].access' must be one of"),
        ({"tags": [{"access": "full"}]}, "'tags[0].tag' must be specified"),
        ({"authenticationMethod": "SecureX"}, "'authenticationMethod' must be 'Email'"),
        ({"role": "boss"}, "Unrecognized parameter 'role'"),
    ],
)
def test_invalid_admin_is_rejected(
    standin: MerakiStandIn, http: httpx.Client, overrides: dict[str, Any], fragment: str
) -> None:
    response = post_admin(http, new_admin(**overrides))
    assert response.status_code == 400
    [message] = response.json()["errors"]
    assert fragment in message
    assert standin.admins(ORG) == []


def test_all_problems_reported_at_once(http: httpx.Client) -> None:
    body = new_admin(orgAccess="boss", networks=[{"id": "N_9", "access": "full"}], extra=1)
    errors = post_admin(http, body).json()["errors"]
    assert len(errors) == 3


def test_network_of_another_org_is_unknown(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.add_organization("400", "Other")
    standin.add_network("400", "N_400", "Theirs")
    response = post_admin(http, new_admin(networks=[{"id": "N_400", "access": "full"}]))
    assert response.status_code == 400
    assert "N_400" in response.json()["errors"][0]


def test_duplicate_email_is_case_insensitive(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    standin.add_admin(ORG, "Ana@Example.com", "Ana")
    with pytest.raises(APIError) as caught:
        dashboard.organizations.createOrganizationAdmin(ORG, "ana@example.COM", "Ana", "full")
    assert caught.value.status == 400
    assert caught.value.message == {"errors": [EMAIL_TAKEN]}
    assert len(standin.admins(ORG)) == 1


def test_same_email_in_another_org_is_fine(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.add_organization("500", "Second")
    standin.add_admin("500", "ana@example.com", "Ana")
    assert post_admin(http, new_admin()).status_code == 201


def test_bad_json_body(http: httpx.Client) -> None:
    response = http.post(
        f"/organizations/{ORG}/admins",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()) == (400, {"errors": [BAD_JSON]})
    array = post_admin(http, [new_admin()])
    assert array.status_code == 400


# authentication


def test_bad_key_is_401_via_sdk(standin: MerakiStandIn) -> None:
    with pytest.raises(APIError) as caught:
        sdk(standin, api_key="wrong-key").organizations.getOrganizations()
    assert caught.value.status == 401
    assert caught.value.message == {"errors": [INVALID_API_KEY]}


def test_missing_key_and_legacy_header(standin: MerakiStandIn) -> None:
    with httpx.Client(base_url=standin.base_url) as client:
        missing = client.get("/organizations")
        legacy = client.get("/organizations", headers={"X-Cisco-Meraki-API-Key": "test-key"})
    assert (missing.status_code, missing.json()) == (401, {"errors": [INVALID_API_KEY]})
    assert legacy.status_code == 200


def test_key_can_be_revoked_at_runtime(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    dashboard.organizations.getOrganizations()
    standin.api_key = "rotated"
    with pytest.raises(APIError) as caught:
        dashboard.organizations.getOrganizations()
    assert caught.value.status == 401


# faults


def test_rate_limit_then_success_honours_retry_after(
    standin: MerakiStandIn, dashboard: meraki.DashboardAPI, http: httpx.Client
) -> None:
    standin.fail_with(429, retry_after=1)
    started = time.monotonic()
    assert dashboard.organizations.getOrganizations()
    assert time.monotonic() - started >= 1
    assert [r.status for r in standin.requests_to("GET", "/organizations")] == [429, 200]

    standin.fail_with(429)
    limited = http.get("/organizations")
    assert limited.headers["retry-after"] == "1"
    assert limited.json() == {"errors": [RATE_LIMITED]}


def test_server_error_once_then_success(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    standin.fail_with(502, times=1, match=r"^POST /organizations/[^/]+/admins$")
    created = dashboard.organizations.createOrganizationAdmin(ORG, "b@example.com", "B", "full")
    assert created["email"] == "b@example.com"
    statuses = [r.status for r in standin.requests_to("POST", f"/organizations/{ORG}/admins")]
    assert statuses == [502, 201]
    assert len(standin.admins(ORG)) == 1


def test_server_error_default_and_custom_body(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.fail_with(500, times=2)
    standin.fail_with(503, body={"errors": ["Service unavailable"]})
    assert http.get("/organizations").json() == {"errors": [SERVER_ERROR]}
    assert http.get("/organizations").status_code == 500
    custom = http.get("/organizations")
    assert (custom.status_code, custom.json()) == (503, {"errors": ["Service unavailable"]})
    assert http.get("/organizations").status_code == 200


def test_match_limits_faults_and_clear(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.fail_with(500, times=None, match="admins")
    assert http.get("/organizations").status_code == 200
    assert http.get(f"/organizations/{ORG}/networks").status_code == 200
    assert http.get(f"/organizations/{ORG}/admins").status_code == 500
    assert post_admin(http, new_admin()).status_code == 500
    standin.clear_faults()
    assert post_admin(http, new_admin()).status_code == 201


def test_faults_precede_authentication(standin: MerakiStandIn) -> None:
    standin.fail_with(503)
    with httpx.Client(base_url=standin.base_url) as client:
        assert client.get("/organizations").status_code == 503


def test_delay_slows_matching_requests_only(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.delay(0.3, times=1, match="^GET /organizations$")
    started = time.monotonic()
    assert http.get(f"/organizations/{ORG}").status_code == 200
    assert time.monotonic() - started < 0.25
    assert http.get("/organizations").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_delay_and_failure_apply_to_the_same_request(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.delay(0.3, times=1)
    standin.fail_with(503)
    started = time.monotonic()
    assert http.get("/organizations").status_code == 503
    assert time.monotonic() - started >= 0.3
    assert http.get("/organizations").status_code == 200


def test_hanging_request_times_out_and_is_recorded(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.delay(1, times=1)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/organizations", timeout=0.2)
    [pending] = standin.requests_to("GET", "/organizations")
    assert pending.status is None


def test_stop_releases_delayed_requests() -> None:
    standin = MerakiStandIn().start()
    standin.add_organization(ORG, "Acme")
    standin.delay(30)
    with httpx.Client(base_url=standin.base_url, timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        client.get("/organizations")
    started = time.monotonic()
    standin.stop()
    standin.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{standin.base_url}/organizations", timeout=1)


# pagination


def test_organizations_pagination_with_link_header(
    standin: MerakiStandIn, http: httpx.Client, dashboard: meraki.DashboardAPI
) -> None:
    for number in range(1, 5):
        standin.add_organization(f"10{number}", f"Org {number}")
    first = http.get("/organizations", params={"perPage": 3})
    assert [org["id"] for org in first.json()] == ["100", "101", "102"]
    next_url = first.links["next"]["url"]
    assert next_url.startswith(standin.base_url + "/organizations?")
    assert "startingAfter=102" in next_url
    second = http.get(next_url)
    assert [org["id"] for org in second.json()] == ["103", "104"]
    assert "link" not in second.headers
    assert "link" not in http.get("/organizations").headers
    assert len(dashboard.organizations.getOrganizations(perPage=3)) == 3


@pytest.mark.parametrize("per_page", ["2", "9001", "lots"])
def test_organizations_per_page_bounds(http: httpx.Client, per_page: str) -> None:
    response = http.get("/organizations", params={"perPage": per_page})
    assert response.status_code == 400
    assert response.json()["errors"][0].startswith("'perPage' must be")


def test_networks_pagination(standin: MerakiStandIn, http: httpx.Client) -> None:
    for number in range(2, 6):
        standin.add_network(ORG, f"N_10{number}", f"Branch {number}")
    assert http.get(f"/organizations/{ORG}/networks", params={"perPage": 100000}).status_code == 200
    assert http.get(f"/organizations/{ORG}/networks", params={"perPage": 100001}).status_code == 400
    page = http.get(f"/organizations/{ORG}/networks", params={"perPage": 3})
    assert len(page.json()) == 3
    rest = http.get(page.links["next"]["url"])
    assert [n["id"] for n in rest.json()] == ["N_104", "N_105"]


# request log


def test_request_log_records_what_was_sent(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    dashboard.organizations.createOrganizationAdmin(
        ORG, "c@example.com", "C", "read-only", networks=[{"id": NET, "access": "full"}]
    )
    dashboard.organizations.getOrganizationAdmins(ORG, networkIds=[NET])
    post, get = standin.requests
    assert (post.method, post.path, post.status) == ("POST", f"/organizations/{ORG}/admins", 201)
    assert post.headers["authorization"] == "Bearer test-key"
    assert "MerakiChatopsTests/1.0 MerakiChatops" in post.headers["user-agent"]
    assert post.json == {
        "email": "c@example.com",
        "name": "C",
        "orgAccess": "read-only",
        "networks": [{"id": NET, "access": "full"}],
    }
    assert get.query == {"networkIds[]": [NET]}
    assert get.json is None
    assert standin.requests_to("get", f"/organizations/{ORG}/admins") == [get]
    assert standin.requests_to("GET", "/organizations") == []


def test_reset_keeps_key_and_clears_everything(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.api_key = "kept"
    standin.fail_with(500, times=None)
    http.get("/organizations")
    standin.reset()
    assert standin.requests == []
    assert standin.api_key == "kept"
    with pytest.raises(KeyError):
        standin.admins(ORG)
    response = http.get("/organizations", headers={"Authorization": "Bearer kept"})
    assert (response.status_code, response.json()) == (200, [])


def test_base_url_needs_start() -> None:
    with pytest.raises(RuntimeError):
        _ = MerakiStandIn().base_url


def test_restart_keeps_base_url_and_state() -> None:
    standin = MerakiStandIn(api_key="k").start()
    standin.add_organization(ORG, "Acme")
    url = standin.base_url
    standin.stop()
    with standin:
        assert standin.base_url == url
        response = httpx.get(f"{url}/organizations", headers={"Authorization": "Bearer k"})
        assert [org["id"] for org in response.json()] == [ORG]


# the administrator lifecycle: update, delete, the key's identity, per-organization limits


def test_update_admin_changes_access_but_never_the_email(
    standin: MerakiStandIn, dashboard: meraki.DashboardAPI, http: httpx.Client
) -> None:
    admin = standin.add_admin(ORG, "ana@example.com", "Ana", "read-only")
    updated = dashboard.organizations.updateOrganizationAdmin(
        ORG, admin["id"], name="Ana B", orgAccess="none", networks=[{"id": NET, "access": "monitor-only"}]
    )
    assert (updated["name"], updated["orgAccess"]) == ("Ana B", "none")
    assert updated["networks"] == [{"id": NET, "access": "monitor-only"}]
    assert standin.admins(ORG) == [updated]
    refused = http.put(f"/organizations/{ORG}/admins/{admin['id']}", json={"email": "x@example.com", "orgAccess": "x"})
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        "'orgAccess' must be one of: 'full', 'read-only', 'enterprise' or 'none'",
        "Unrecognized parameter 'email'",
    ]
    assert standin.admins(ORG)[0]["email"] == "ana@example.com"


def test_delete_admin_answers_204_then_404(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    kept = standin.add_admin(ORG, "kept@example.com", "Kept")
    gone = standin.add_admin(ORG, "gone@example.com", "Gone")
    assert dashboard.organizations.deleteOrganizationAdmin(ORG, gone["id"]) is None
    assert standin.admins(ORG) == [kept]
    assert standin.requests_to("DELETE", rf"/organizations/{ORG}/admins/{gone['id']}")[0].status == 204
    with pytest.raises(APIError) as caught:
        dashboard.organizations.deleteOrganizationAdmin(ORG, gone["id"])
    assert (caught.value.status, caught.value.message) == (404, {"errors": [ADMIN_NOT_FOUND]})


def test_admins_of_a_refusing_org_cannot_be_changed(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.add_organization("300", "Elsewhere", forbidden=True, listed=True)
    admin = standin.add_admin("300", "ana@example.com", "Ana")
    assert http.delete(f"/organizations/300/admins/{admin['id']}").status_code == 403
    assert len(standin.admins("300")) == 1
    assert "300" in [org["id"] for org in http.get("/organizations").json()]  # listed, yet refusing


def test_identity_of_the_api_key(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    standin.set_identity("owner@example.com", "Owner")
    me = dashboard.administered.getAdministeredIdentitiesMe()
    assert (me["email"], me["name"]) == ("owner@example.com", "Owner")
    assert me["authentication"]["api"] == {"key": {"created": True}}
    with pytest.raises(APIError) as caught:
        sdk(standin, api_key="wrong").administered.getAdministeredIdentitiesMe()
    assert caught.value.status == 401


def test_rate_limit_is_per_organization(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.add_organization("200", "Other")
    standin.rate_limit(ORG, times=2, retry_after=3)
    assert http.get("/organizations/200/admins").status_code == 200
    assert http.get("/organizations").status_code == 200  # not a request about one organization
    limited = http.get(f"/organizations/{ORG}/admins")
    assert (limited.status_code, limited.headers["retry-after"], limited.json()) == (
        429,
        "3",
        {"errors": [RATE_LIMITED]},
    )
    assert http.delete(f"/organizations/{ORG}/admins/1").status_code == 429
    assert http.get(f"/organizations/{ORG}/admins").status_code == 200


def test_sdk_waits_out_retry_after(standin: MerakiStandIn, dashboard: meraki.DashboardAPI) -> None:
    standin.rate_limit(ORG, times=1, retry_after=1)
    dashboard.organizations.getOrganizationAdmins(ORG)
    first, second = standin.requests_to("GET", rf"/organizations/{ORG}/admins")
    assert (first.status, second.status) == (429, 200)
    assert second.received_at - first.received_at >= 0.95
