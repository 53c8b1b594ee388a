"""``doctor``'s access expiry check: when a command's Job offers a duration, the Revoke Meraki Access Job must be
there and enabled, and Nautobot must not hold its scheduled runs for approval (2.4: the Job's approval_required;
3.x: an approval workflow definition whose constraints match them)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.doctor import Status
from bot.nautobot.client import JobInfo
from bot.nautobot.revoke_approval import constraints_match, revoke_facts
from testbed.fake_nautobot import (
    APPROVAL_DEFINITIONS_PATH,
    JOBS_PATH,
    REVOKE_JOB,
    REVOKE_JOB_ID,
    VARIABLES,
    VARIABLES_PATH,
    FakeNautobot,
    ok,
)
from tests.unit.test_doctor import (
    STATUS,
    STATUS_PATH,
    assert_only_failure,
    diagnose,
    env,  # noqa: F401 - the doctor's fixture, used by every test here
    forbidden,
    nautobot,
    page,
    scoped,  # noqa: F401 - a fixture env needs
    slack,  # noqa: F401 - a fixture env needs
    statuses,
)

pytestmark = pytest.mark.usefixtures("env")

CHECK = "access expiry"
LTM = {STATUS_PATH: ok({**STATUS, "nautobot-version": "2.4.44"})}


def definition(name: str, constraints: dict[str, Any], *, model: str = "extras.scheduledjob", weight: int = 0):
    return {
        "id": f"00000000-0000-4000-8000-{weight:012d}",
        "name": name,
        "model_content_type": model,
        "model_constraints": constraints,
        "weight": weight,
    }


def definitions(*items: dict[str, Any]) -> dict[str, httpx.Response]:
    return {APPROVAL_DEFINITIONS_PATH: ok(page(*items))}


def revoke_lookups(fake: FakeNautobot) -> int:
    return sum(1 for r in fake.requests if r.url.path == JOBS_PATH and r.url.params.get("name") == REVOKE_JOB["name"])


# -- when it applies -----------------------------------------------------------------------------


async def test_an_enabled_revoke_job_no_definition_holds_passes() -> None:
    fake = nautobot()

    check = (await diagnose(fake))[CHECK]

    assert check.status is Status.OK, check
    assert f"'Revoke Meraki Access' ({REVOKE_JOB_ID}) is enabled" in check.detail
    assert "no approval workflow definition matches its scheduled runs" in check.detail
    assert "time-bound grants of /meraki-add-user" in check.detail and "are revoked at their expiry" in check.detail
    assert revoke_lookups(fake) == 1 and fake.count("GET", APPROVAL_DEFINITIONS_PATH) == 1


async def test_a_job_without_a_duration_skips_the_check_and_asks_nothing() -> None:
    fake = nautobot(**{VARIABLES_PATH: ok([var for var in VARIABLES if var["name"] != "duration"])})

    report = await diagnose(fake)

    assert report[CHECK].status is Status.SKIP
    assert report[CHECK].detail.startswith("skipped: no time-bound grants")
    assert revoke_lookups(fake) == 0 and fake.count("GET", APPROVAL_DEFINITIONS_PATH) == 0


# -- the Revoke Job ------------------------------------------------------------------------------


async def test_a_missing_revoke_job_fails_with_sync_and_enable() -> None:
    failed = assert_only_failure(await diagnose(nautobot(revoke=ok(page()))), CHECK)

    assert "no Job named 'Revoke Meraki Access' is visible to the token" in failed.detail
    assert "without it time-bound grants of /meraki-add-user" in failed.detail
    assert "are refused, since nothing would revoke them" in failed.detail
    assert "Git Repositories → Sync" in failed.fix
    assert "filter the Jobs list by hidden, then Edit → Enabled" in failed.fix


async def test_a_job_of_a_similar_name_is_not_the_revoke_job() -> None:
    similar = {**REVOKE_JOB, "name": "Revoke Meraki Access (old)"}

    failed = assert_only_failure(await diagnose(nautobot(revoke=ok(page(similar)))), CHECK)

    assert "no Job named 'Revoke Meraki Access'" in failed.detail


@pytest.mark.parametrize(
    ("changes", "state", "fix"),
    [
        ({"enabled": False}, "disabled", "it is hidden, so filter the Jobs list by hidden, then Edit → Enabled"),
        ({"installed": False}, "not installed", "Git Repositories → Sync"),
    ],
)
async def test_an_unusable_revoke_job_fails_saying_what_to_do(changes: dict[str, Any], state: str, fix: str) -> None:
    failed = assert_only_failure(await diagnose(nautobot(revoke=ok(page({**REVOKE_JOB, **changes})))), CHECK)

    assert f"'Revoke Meraki Access' ({REVOKE_JOB_ID}) is {state}, so time-bound grants of /meraki-add-user" in (
        failed.detail
    )
    assert failed.detail.endswith("are refused")
    assert fix in failed.fix


# -- Nautobot 2.4: the Job's flag ----------------------------------------------------------------


async def test_on_2_4_a_revoke_job_requiring_approval_fails() -> None:
    fake = nautobot(revoke=ok(page({**REVOKE_JOB, "approval_required": True})), **LTM)

    failed = assert_only_failure(await diagnose(fake), CHECK)

    assert "'Revoke Meraki Access' has approval required" in failed.detail
    assert "the access does not expire until someone approves it" in failed.detail
    assert "Untick Approval required on Revoke Meraki Access (it is hidden" in failed.fix
    assert fake.count("GET", APPROVAL_DEFINITIONS_PATH) == 0


async def test_on_2_4_a_revoke_job_without_approval_passes() -> None:
    fake = nautobot(revoke=ok(page({**REVOKE_JOB, "approval_required": False})), **LTM)

    check = (await diagnose(fake))[CHECK]

    assert check.status is Status.OK, check
    assert "its approval_required is off" in check.detail
    assert fake.count("GET", APPROVAL_DEFINITIONS_PATH) == 0


# -- Nautobot 3.x: approval workflow definitions -------------------------------------------------


@pytest.mark.parametrize(
    "constraints",
    [
        {},
        {"job_model__name": "Revoke Meraki Access"},
        {"job_model__name__in": ["Create Meraki User", "Revoke Meraki Access"]},
        {"job_model__grouping": "Meraki"},
        {"job_model": REVOKE_JOB_ID.upper()},
        {"task__startswith": "meraki_chatops.jobs.meraki_expiry"},
        {"job_model__hidden": True, "interval": "future"},
    ],
)
async def test_on_3_x_a_definition_matching_the_revoke_fails_naming_it(constraints: dict[str, Any]) -> None:
    fake = nautobot(**definitions(definition("Network changes", constraints, weight=10)))

    failed = assert_only_failure(await diagnose(fake), CHECK)

    assert "the approval workflow definition 'Network changes' (weight 10, model constraints" in failed.detail
    assert "match the scheduled runs of 'Revoke Meraki Access'" in failed.detail.replace("matches", "match")
    assert "the access does not expire until someone approves it" in failed.detail
    assert "Constrain the approval workflow definition 'Network changes'" in failed.fix
    assert '{"job_model__name": "Create Meraki User"}' in failed.fix


@pytest.mark.parametrize(
    "item",
    [
        definition("Create only", {"job_model__name": "Create Meraki User"}),
        definition("Grant Jobs", {"job_model__name__in": ["Create Meraki User", "Remove Meraki User"]}),
        definition("Visible Jobs", {"job_model__hidden": False}),
        definition("Devices", {}, model="dcim.device"),
        definition("Another grouping, unknown user", {"job_model__grouping": "Other", "user__username": "x"}),
    ],
)
async def test_on_3_x_definitions_that_leave_the_revoke_out_pass(item: dict[str, Any]) -> None:
    check = (await diagnose(nautobot(**definitions(item))))[CHECK]

    assert check.status is Status.OK, check


async def test_on_3_x_every_matching_definition_is_named_highest_weight_first() -> None:
    items = [definition("Everything", {}, weight=1), definition("Meraki", {"job_model__grouping": "Meraki"}, weight=5)]

    failed = assert_only_failure(await diagnose(nautobot(**definitions(*items))), CHECK)

    assert "definitions 'Meraki' (weight 5" in failed.detail
    assert failed.detail.index("'Meraki'") < failed.detail.index("'Everything'")
    assert "Constrain the approval workflow definition 'Meraki'" in failed.fix


async def test_on_3_x_constraints_the_bot_cannot_evaluate_warn_naming_them() -> None:
    item = definition("Night shift", {"user__username": "chatops-bot", "job_model__grouping": "Meraki"})

    report = await diagnose(nautobot(**definitions(item)))

    check = report[CHECK]
    assert check.status is Status.WARN
    assert "'Night shift'" in check.detail and "(user__username)" in check.detail
    assert "cannot evaluate" in check.detail
    assert "leave out Revoke Meraki Access" in check.fix
    assert {status for name, status in statuses(report).items() if name != CHECK} == {Status.OK}


async def test_on_3_x_a_token_that_may_not_read_definitions_warns_naming_the_permission() -> None:
    report = await diagnose(nautobot(**{APPROVAL_DEFINITIONS_PATH: forbidden()}))

    check = report[CHECK]
    assert check.status is Status.WARN
    assert "cannot tell whether Nautobot would hold the scheduled runs" in check.detail
    assert "HTTP 403" in check.detail
    assert "view on extras.approvalworkflowdefinition" in check.fix


async def test_on_3_x_definitions_nautobot_cannot_list_warn() -> None:
    check = (await diagnose(nautobot(**{APPROVAL_DEFINITIONS_PATH: ok({"detail": "boom"}, 500)})))[CHECK]

    assert check.status is Status.WARN
    assert "cannot read the approval workflow definitions" in check.detail


# -- the constraints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraints", "expected"),
    [
        ({"job_model__name__iexact": "revoke meraki access"}, True),
        ({"job_model__name__icontains": "REVOKE"}, True),
        ({"job_model__name__endswith": "Access"}, True),
        ({"job_model__name__exact": "revoke meraki access"}, False),
        ({"job_model__hidden": "true"}, True),
        ({"job_model__hidden": "0"}, False),
        ({"job_model__name__in": "Revoke Meraki Access"}, False),  # not a list: Django would refuse it
        ({"interval": "daily"}, False),
    ],
)
def test_lookups_are_evaluated_as_django_would(constraints: dict[str, Any], expected: bool) -> None:
    facts = revoke_facts(JobInfo.from_api(REVOKE_JOB))

    assert constraints_match(constraints, facts) == (expected, [])


def test_a_constraint_that_fails_decides_even_beside_one_the_bot_cannot_evaluate() -> None:
    facts = revoke_facts(JobInfo.from_api(REVOKE_JOB))

    assert constraints_match({"kwargs__grant__email": "x", "job_model__name": "Other"}, facts) == (False, [])
    assert constraints_match({"kwargs__grant__email": "x", "job_model__name": "Revoke Meraki Access"}, facts) == (
        None,
        ["kwargs__grant__email"],
    )
