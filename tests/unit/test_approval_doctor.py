"""``doctor`` on a policy with approval rules: each rule checked against its commands' live forms, a line per rule
saying what waits for whose approval, the scope to read the approvers' user groups, and the approvers named through
Nautobot (their groups, their account links, the permissions to read them)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.doctor import Status
from bot.doctor.policy_check import describe_rule
from bot.policy import ApprovalRule
from testbed.fake_nautobot import VARIABLES, VARIABLES_PATH, ok
from testbed.slack_standin import SlackStandIn
from tests.unit.test_doctor import (
    assert_only_failure,
    diagnose,
    env,  # noqa: F401 - the doctor's fixture, used by every test here
    nautobot,
    scoped,  # noqa: F401 - a fixture env needs
    slack,  # noqa: F401 - a fixture env needs
    statuses,
)
from tests.unit.test_nautobot_approvers import link_change, page, user

pytestmark = pytest.mark.usefixtures("env", "leads")


@pytest.fixture
def leads(slack: SlackStandIn) -> None:  # noqa: F811 - the fixture imported above
    """The approvers' group the rules name, with two people in it."""
    slack.add_usergroup("S0LEADS", ["U0CAROL", "U0DAVE"])


ADD = "/meraki-add-user"
EVERYONE = [{"users": ["*"], "channels": ["*"], "commands": ["*"]}]
FULL_ACCESS = {
    "commands": [ADD],
    "when": {"meraki_access_level": ["full", "enterprise"]},
    "approvers": {"users": ["U0ALICE", "U0BOB"], "groups": ["S0LEADS"]},
    "count": 2,
}


def set_policy(monkeypatch: pytest.MonkeyPatch, *approvals: dict[str, Any], **more: Any) -> None:
    monkeypatch.setenv("ACCESS_POLICY", json.dumps({"allow": EVERYONE, "approvals": list(approvals), **more}))


async def test_a_fitting_approval_rule_passes_and_is_described(monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(monkeypatch, FULL_ACCESS)

    report = await diagnose(nautobot())

    check = report["access policy"]
    assert check.status is Status.OK, check
    assert "ACCESS_POLICY restricts no choice and has 1 approval rule(s), all in their Jobs' forms" in check.detail
    assert (
        "approvals[0]: /meraki-add-user when meraki_access_level is full or enterprise → 2 of U0ALICE, U0BOB, "
        "S0LEADS; notify dm; expire 1 day"
    ) in check.detail.splitlines()


async def test_an_approval_rule_that_names_no_real_choice_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(monkeypatch, {**FULL_ACCESS, "when": {"meraki_access_level": ["Full"]}})

    failed = assert_only_failure(await diagnose(nautobot()), "access policy")

    assert "ACCESS_POLICY for /meraki-add-user does not fit the Job 'Create Meraki User'" in failed.detail
    assert "approvals[0].when names Full for meraki_access_level" in failed.detail
    assert "(Full is a label: use its value, full)" in failed.detail
    assert "approvals[0]: " not in failed.detail  # no description of a rule the bot refuses to apply
    assert "refuses every request of /meraki-add-user" in failed.fix


async def test_dry_runs_of_a_job_without_one_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(monkeypatch, {**FULL_ACCESS, "dry_runs": True})
    without_dry_run = [var for var in VARIABLES if var["type"] != "DryRunVar"]

    report = await diagnose(nautobot(**{VARIABLES_PATH: ok(without_dry_run)}))

    assert report["access policy"].status is Status.FAIL
    assert "approvals[0] has dry_runs: true, but the Job 'Create Meraki User' has no dry run variable" in (
        report["access policy"].detail
    )


async def test_restrict_and_approvals_are_both_checked_and_each_rule_gets_its_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admins = {"groups": ["S0ADMINS"]}
    restrict = {ADD: {"meraki_access_level": {"full": admins}, "meraki_network_access": {"full": admins}}}
    everything = {
        "commands": [ADD],
        "dry_runs": True,
        "approvers": {"users": ["U0CAROL"]},
        "notify": "C0APPROVE",
        "remind_after": "30m",
        "escalate_after": "2h",
        "escalate_to": {"groups": ["S0ONCALL"]},
        "expire_after": "8h",
    }
    set_policy(monkeypatch, FULL_ACCESS, everything, restrict=restrict)

    check = (await diagnose(nautobot()))["access policy"]

    assert check.status is Status.OK, check
    assert "restricts 2 choice(s) of /meraki-add-user and has 2 approval rule(s)" in check.detail
    assert check.detail.splitlines()[2] == (
        "approvals[1]: /meraki-add-user, every request (dry runs too) → 1 of U0CAROL; notify C0APPROVE; remind "
        "after 30 min; escalate after 2 h to S0ONCALL; expire 8 h"
    )


async def test_the_approval_lines_follow_a_warning_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ACCESS_POLICY",
        json.dumps({"allow": [{"users": ["*"], "channels": ["*"]}], "approvals": [FULL_ACCESS]}),
    )

    check = (await diagnose(nautobot()))["access policy"]

    assert check.status is Status.WARN
    assert "nobody may use them" in check.detail.splitlines()[0]
    assert check.detail.splitlines()[1].startswith("approvals[0]: /meraki-add-user when")


async def test_approvers_groups_need_usergroups_read(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin: SlackStandIn = request.getfixturevalue("slack")
    standin.scopes.discard("usergroups:read")
    set_policy(monkeypatch, {**FULL_ACCESS, "approvers": {"users": ["U0ALICE", "U0BOB"]}})
    assert statuses(await diagnose(nautobot()))["slack scopes"] is Status.OK  # nobody is named by a group

    escalated = {**FULL_ACCESS, "approvers": {"users": ["U0ALICE", "U0BOB"]}}
    set_policy(monkeypatch, {**escalated, "escalate_after": "1h", "escalate_to": {"groups": ["S0ONCALL"]}})
    failed = assert_only_failure(await diagnose(nautobot()), "slack scopes", skipped=["approvers"])
    assert "usergroups:read" in failed.detail


def test_a_rule_for_every_command_says_so() -> None:
    every = ApprovalRule.model_validate(
        {"commands": ["*"], "when": {"a": ["x"], "b": ["y", "z"]}, "approvers": {"groups": ["S0LEADS"]}, "count": 3}
    )

    assert describe_rule(every) == "every command when a is x or b is y or z → 3 of S0LEADS; notify dm; expire 1 day"


async def test_an_approvers_group_slack_does_not_know_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(monkeypatch, {**FULL_ACCESS, "approvers": {"groups": ["S0GONE"]}})

    failed = assert_only_failure(await diagnose(nautobot()), "approvers")

    assert "S0GONE (no_such_subteam)" in failed.detail
    assert "approvals in ACCESS_POLICY" in failed.fix


async def test_a_rule_too_few_people_could_satisfy_today_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(monkeypatch, {**FULL_ACCESS, "approvers": {"groups": ["S0LEADS"]}, "count": 2})

    check = (await diagnose(nautobot()))["approvers"]

    assert check.status is Status.WARN, check
    assert "approvals[0] needs 2 approval(s) but names 2 person(s) today" in check.detail


async def test_approvers_that_can_satisfy_every_rule_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(monkeypatch, FULL_ACCESS)

    check = (await diagnose(nautobot()))["approvers"]

    assert check.status is Status.OK, check
    assert "S0LEADS: 2" in check.detail


async def test_durations_the_jobs_form_does_not_have_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = {"per": "access", "limits": {"full": {"longest": "8h", "default": "2h"}}}
    monkeypatch.setenv("ACCESS_POLICY", json.dumps({"allow": EVERYONE, "durations": {ADD: limits}}))

    failed = assert_only_failure(await diagnose(nautobot()), "access policy")

    assert "durations for /meraki-add-user names access, which the Job has no choice variable of" in failed.detail


# -- approvers named through Nautobot ------------------------------------------------------------

LEADS_GROUP, LEAD_ID, SPARE_ID = "network-leads", "5bc15940-ef90-47fd-80cf-54c0203afa3d", "6ac15940-ef90-47fd"
BY_NAUTOBOT_GROUP = {**FULL_ACCESS, "approvers": {"nautobot_groups": [LEADS_GROUP]}, "count": 1}


def approver_nautobot(*, groups: tuple[str, ...] = (LEADS_GROUP,), linked: bool = True, **routes: Any) -> Any:
    """Nautobot with ``groups``, ``network-leads`` holding the users lead (linked to Slack user U0LEAD when
    ``linked``) and spare (never linked); ``routes`` override single GETs (e.g. a 403)."""

    def group_list(request: httpx.Request) -> httpx.Response:
        wanted = request.url.params.get("name")
        return page([{"id": index, "name": name} for index, name in enumerate(groups) if wanted in (None, name)])

    def users(request: httpx.Request) -> httpx.Response:
        members = [user(LEAD_ID, "lead"), user(SPARE_ID, "spare")]
        named = request.url.params.get("groups")
        ids = request.url.params.get_list("id")
        return page([m for m in members if (named == LEADS_GROUP and named in groups) or m["id"] in ids])

    links = [link_change("create", "L1", LEAD_ID, "U0LEAD", "2026-12-07T06:09:00Z")] if linked else []
    answers = {"/api/users/groups/": group_list, "/api/users/users/": users, "/api/extras/object-changes/": page(links)}
    return nautobot(**(answers | routes))


async def test_a_nautobot_group_with_linked_members_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(monkeypatch, BY_NAUTOBOT_GROUP)

    report = await diagnose(approver_nautobot())

    check = report["nautobot approvers"]
    assert check.status is Status.OK, check
    assert "Nautobot groups' linked members network-leads: 1" in check.detail
    assert report["approvers"].status is Status.OK  # count 1 with no Slack people: the Nautobot group decides
    assert "→ 1 of Nautobot group network-leads;" in report["access policy"].detail


async def test_a_nautobot_group_that_does_not_exist_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(monkeypatch, BY_NAUTOBOT_GROUP)

    failed = assert_only_failure(await diagnose(approver_nautobot(groups=("admins",))), "nautobot approvers")

    assert "Nautobot has no group named network-leads" in failed.detail
    assert "Users → Groups" in failed.fix and "ACCESS_POLICY" in failed.fix


async def test_a_nautobot_group_nobody_linked_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    set_policy(monkeypatch, BY_NAUTOBOT_GROUP)

    check = (await diagnose(approver_nautobot(linked=False)))["nautobot approvers"]

    assert check.status is Status.WARN, check
    assert "no active member of Nautobot group(s) network-leads has linked a Slack account" in check.detail
    assert "Link ChatOps Account" in check.fix


@pytest.mark.parametrize(
    ("path", "label", "model"),
    [
        ("/api/users/users/", "view users", "users | user"),
        ("/api/users/groups/", "view groups", "auth | group"),
        ("/api/extras/object-changes/", "view account links in the change log", "extras | object change"),
    ],
)
async def test_a_token_that_cannot_read_them_fails_naming_the_permission(
    monkeypatch: pytest.MonkeyPatch, path: str, label: str, model: str
) -> None:
    set_policy(monkeypatch, BY_NAUTOBOT_GROUP)

    report = await diagnose(approver_nautobot(**{path: ok({"detail": "no permission"}, 403)}))

    failed = assert_only_failure(report, "nautobot approvers")
    assert f"the token may not {label}" in failed.detail
    assert f"view on {model}" in failed.fix


async def test_a_named_approver_the_link_requirement_refuses_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = {**FULL_ACCESS, "approvers": {"users": ["U0LEAD", "U0ALICE"]}, "count": 1, "require_account_link": True}
    set_policy(monkeypatch, rule)

    report = await diagnose(approver_nautobot())

    check = report["nautobot approvers"]
    assert check.status is Status.WARN, check
    assert "U0ALICE may approve nothing under a rule with require_account_link" in check.detail
    assert "U0LEAD" not in check.detail  # linked to the active Nautobot user lead
    assert "(linked to Nautobot)" in report["access policy"].detail
