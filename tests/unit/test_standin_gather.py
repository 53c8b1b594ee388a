"""The Meraki stand-in's ``gather``: requests held until all have arrived, so two clients' reads overlap surely."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from testbed.meraki_standin import MerakiStandIn

ORG = "100"
ADMINS = f"/organizations/{ORG}/admins"


@pytest.fixture(scope="module")
def standin() -> Iterator[MerakiStandIn]:
    with MerakiStandIn(api_key="test-key") as server:
        yield server


@pytest.fixture
def http(standin: MerakiStandIn) -> Iterator[httpx.Client]:
    standin.reset()
    standin.add_organization(ORG, "Acme")
    with httpx.Client(base_url=standin.base_url, headers={"Authorization": "Bearer test-key"}, timeout=30) as client:
        yield client


def emails(response: httpx.Response) -> list[str]:
    return [admin["email"] for admin in response.json()]


def test_the_first_request_is_answered_only_with_the_second(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.gather(2, match=f"^GET {ADMINS}$", timeout=20)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(http.get, ADMINS)
        while not standin.requests_to("GET", ADMINS):
            time.sleep(0.01)  # until the stand-in holds it
        standin.add_admin(ORG, "late@example.com", "Late")  # after the first arrived, before it is answered
        second = http.get(ADMINS)
        # Both answered from the state when the second arrived: the first was held until then.
        assert emails(first.result()) == emails(second) == ["late@example.com"]
    assert http.get(ADMINS).status_code == 200  # only the next two are held


def test_a_gathering_that_times_out_answers_what_it_holds(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.gather(2, match=f"^GET {ADMINS}$", timeout=0.1)
    assert http.get(ADMINS).status_code == 200
    assert http.get(ADMINS).status_code == 200  # the broken gathering holds nobody any more


def test_clearing_faults_releases_held_requests(standin: MerakiStandIn, http: httpx.Client) -> None:
    standin.gather(2, match=f"^GET {ADMINS}$", timeout=600)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(http.get, ADMINS)
        while not standin.requests_to("GET", ADMINS):
            time.sleep(0.01)
        standin.clear_faults()
        assert held.result().status_code == 200
