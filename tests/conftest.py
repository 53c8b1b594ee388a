"""Fixtures for the tests that run against a real Nautobot, the Meraki stand-in and the Slack stand-in."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testbed.meraki_standin import MerakiStandIn
from testbed.nautobot_releases import RELEASES, SELECTOR, NautobotRelease, ReleaseError, release
from testbed.nautobot_stack import (
    BOT_USERNAME,
    EMAIL_REGEX,
    NautobotStack,
    StackError,
    machine_lock,
    services_reachable,
)
from testbed.seed import ACME, seed
from tests.support import job_runs
from tests.support.fixtures import ack, events, no_retry_delay, redis_url, service_missing  # noqa: F401 - shared fixtures
from tests.support.job_runs import Run

CHECKOUT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--nautobot",
        choices=sorted(RELEASES),
        default=None,
        help=f"the Nautobot release the tests marked nautobot run against (default: ${SELECTOR}, else 3.2)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"real Nautobot for the nautobot-marked tests: {nautobot_release(config).name}"


def nautobot_release(config: pytest.Config) -> NautobotRelease:
    try:
        return release(config.getoption("nautobot"))
    except ReleaseError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def nautobot_version(pytestconfig: pytest.Config) -> NautobotRelease:
    """The Nautobot release under test: what it can do differs between 2.4 and 3.x."""
    return nautobot_release(pytestconfig)


@pytest.fixture(scope="session")
def meraki() -> Iterator[MerakiStandIn]:
    with MerakiStandIn(api_key=f"standin-{secrets.token_hex(16)}") as standin:  # a secret scans can tell apart
        yield standin


@pytest.fixture(scope="session")
def nautobot(
    meraki: MerakiStandIn, tmp_path_factory: pytest.TempPathFactory, nautobot_version: NautobotRelease
) -> Iterator[NautobotStack]:
    missing = services_reachable()
    if missing:
        service_missing(f"not reachable: {', '.join(missing)}; start them as the README says")
    stack = NautobotStack(
        workdir=tmp_path_factory.mktemp("nautobot"),
        checkout=CHECKOUT,
        meraki_env={
            "MERAKI_BASE_URL": meraki.base_url,
            "MERAKI_DASHBOARD_API_KEY": meraki.api_key,
            "NAUTOBOT_JOB_MERAKI_EMAIL_VALIDATION_REGEX": EMAIL_REGEX,
            "NAUTOBOT_JOB_MERAKI_BOT_USERS": BOT_USERNAME,
        },
        release=nautobot_version,
    )
    with machine_lock():
        seed(meraki)
        try:
            yield stack.start()
        except StackError as exc:
            pytest.fail(f"the test Nautobot did not start: {exc}")
        finally:
            stack.stop()


@pytest.fixture
def stack(nautobot: NautobotStack, meraki: MerakiStandIn) -> Iterator[NautobotStack]:
    """The stack with the stand-in back to its seeded state and no cached organization list."""
    seed(meraki)
    nautobot.flush_cache()
    yield nautobot
    meraki.clear_faults()


@pytest.fixture
def bot(stack: NautobotStack) -> Iterator[httpx.Client]:
    """Nautobot as the bot sees it: a token with only the permissions the README lists."""
    with stack.client() as client:
        yield client


@pytest.fixture
def run_job(stack: NautobotStack, bot: httpx.Client):
    def run(wait: bool = True, **data) -> Run:
        payload = {
            "user_email": "new.admin@example.com",
            "user_name": "New Admin",
            "meraki_org_id": ACME,
            "meraki_access_level": "read-only",
            **data,
        }
        return job_runs.run_job(stack, bot, stack.job_id, payload, wait=wait)

    return run
