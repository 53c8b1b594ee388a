"""Approval rules in the access policy: how they are written and read, which requests they hold for whom, and
their check against the Job's live form (a rule that names no real choice switches its command off)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.access import Access, Actor, SlackGroups
from bot.models import JobForm
from bot.policy import (
    AccessPolicy,
    ApprovalRule,
    ApproverAudience,
    CommandPolicy,
    describe_duration,
    parse_duration,
    policy_problems,
)
from bot.settings import SettingsError
from testbed.fake_nautobot import JOB_ID, JOB_NAME, VARIABLES
from testbed.fake_slack import FakeSlack
from tests.unit.test_commands import settings

ADD, FIND, REMOVE = "/meraki-add-user", "/meraki-find-user", "/meraki-remove-user"
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
LEADS, ONCALL = "S0LEADS", "S0ONCALL"
TEAM, CHANNEL = "T0TEAM0001", "C0NETOPS"
EVERYONE = [{"users": ["*"], "channels": ["*"], "commands": ["*"]}]
FULL_ACCESS = {
    "commands": [ADD],
    "when": {"meraki_access_level": ["full", "enterprise"]},
    "approvers": {"users": [ALICE, BOB], "groups": [LEADS]},
    "count": 2,
}


def rule(**changes: Any) -> ApprovalRule:
    return ApprovalRule.model_validate({"commands": [ADD], "approvers": {"users": [ALICE]}, **changes})


def policy(*approvals: dict[str, Any], **more: Any) -> AccessPolicy:
    return AccessPolicy.model_validate({"allow": EVERYONE, "approvals": list(approvals), **more})


def job_form(variables: list[dict[str, Any]] = VARIABLES) -> JobForm:
    return JobForm.from_api({"id": JOB_ID, "name": JOB_NAME}, variables)


# -- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "span"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("1 d 2 h 3 m 4 s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(minutes=5), timedelta(minutes=5)),
    ],
)
def test_a_duration_is_read_from_seconds_a_timedelta_or_text(written: object, span: timedelta) -> None:
    assert parse_duration(written) == span


@pytest.mark.parametrize(
    "written",
    ["0s", 0, -5, timedelta(0), "abc", "90", "1m1h", "1h1h", "h", "", "2 weeks", True, None, [1], float("nan"), 10**20],
)
def test_anything_else_is_refused_saying_what_is_accepted(written: object) -> None:
    with pytest.raises(ValueError, match=r"duration: write a number of seconds \(e.g. 90\), or a number with a unit"):
        parse_duration(written)


def test_long_text_is_refused_before_any_matching() -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError) as caught:
        parse_duration("1" * 100_000 + "x")
    assert time.perf_counter() - started < 0.5
    assert len(str(caught.value)) < 300  # the text is not echoed whole

    assert parse_duration("000001d 1h 000000001m 000000001s") == timedelta(days=1, hours=1, minutes=1, seconds=1)
    with pytest.raises(ValueError, match="is not a duration"):  # the same, longer than 32 characters
        parse_duration("000001d 0000001h 000000001m 00000000001s")


@pytest.mark.parametrize(
    ("span", "said"),
    [
        (timedelta(minutes=30), "30 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=1, minutes=30), "1 h 30 min"),
        (timedelta(days=1), "1 day"),
        (timedelta(days=2, hours=4), "2 days 4 h"),
        (timedelta(seconds=90), "1 min 30 s"),
    ],
)
def test_a_duration_is_described_for_people(span: timedelta, said: str) -> None:
    assert describe_duration(span) == said


def test_durations_are_written_out_as_a_policy_writes_them_and_read_back_the_same() -> None:
    written = rule(remind_after=5400, expire_after="1d", escalate_after=0.5, escalate_to={"users": [BOB]})

    dumped = json.loads(written.model_dump_json())

    assert (dumped["remind_after"], dumped["expire_after"], dumped["escalate_after"]) == ("1h30m", "1d", 0.5)
    assert ApprovalRule.model_validate(dumped) == written
    assert ApprovalRule.model_validate(written.model_dump()) == written


# -- reading the policy --------------------------------------------------------------------------


def test_a_policy_without_approvals_asks_for_none() -> None:
    read = AccessPolicy.model_validate({"allow": EVERYONE})

    assert read.approvals == ()
    assert read.approval_for(ADD, {"meraki_access_level": "full"}, dryrun=False) is None


def test_an_approval_rule_is_read_with_its_defaults() -> None:
    [read] = policy(FULL_ACCESS).approvals

    assert read.commands == (ADD,)
    assert read.when == {"meraki_access_level": ("full", "enterprise")}
    assert read.approvers == ApproverAudience(users=(ALICE, BOB), groups=(LEADS,))
    assert (read.count, read.notify, read.dry_runs, read.require_account_link) == (2, "dm", False, False)
    assert (read.remind_after, read.escalate_after, read.escalate_to) == (None, None, None)
    assert read.expire_after == timedelta(hours=24)


def test_approvals_are_read_from_access_policy_json(monkeypatch: pytest.MonkeyPatch) -> None:
    escalating = {**FULL_ACCESS, "escalate_after": "2h", "escalate_to": {"groups": [ONCALL]}, "notify": "C0APPROVE"}

    loaded = settings(monkeypatch, ACCESS_POLICY=json.dumps({"allow": EVERYONE, "approvals": [escalating]}))

    assert loaded.policy is not None
    [read] = loaded.policy.approvals
    assert read.escalate_after == timedelta(hours=2) and read.escalate_to == ApproverAudience(groups=(ONCALL,))
    assert read.notify == "C0APPROVE"


def test_approvals_are_read_from_an_access_policy_yaml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text(
        """
allow:
  - {users: ["*"], channels: ["*"], commands: ["*"]}
approvals:
  - commands: [/meraki-add-user, /meraki-remove-user]
    when:
      meraki_access_level: [full]
    dry_runs: true
    approvers: {users: [U0ALICE], groups: [S0LEADS]}
    remind_after: 30m
    expire_after: 1h 30m
""",
        encoding="utf-8",
    )

    loaded = settings(monkeypatch, ACCESS_POLICY_FILE=str(file))

    assert loaded.policy is not None
    [read] = loaded.policy.approvals
    assert read.commands == (ADD, REMOVE) and read.dry_runs
    assert (read.remind_after, read.expire_after) == (timedelta(minutes=30), timedelta(hours=1, minutes=30))


def test_an_approval_rule_naming_a_command_nobody_bound_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    typo = {**FULL_ACCESS, "commands": ["*", "/meraki-add-usr"]}

    with pytest.raises(SettingsError) as caught:
        settings(monkeypatch, ACCESS_POLICY=json.dumps({"allow": EVERYONE, "approvals": [FULL_ACCESS, typo]}))

    assert "ACCESS_POLICY approvals[1].commands names /meraki-add-usr, which COMMANDS does not bind" in str(
        caught.value
    )
    assert "did you mean /meraki-add-user?" in str(caught.value)


def test_a_broken_approval_rule_stops_the_start_and_names_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = {**FULL_ACCESS, "count": 3, "approvers": {"users": [ALICE, BOB]}}

    with pytest.raises(SettingsError) as caught:
        settings(monkeypatch, ACCESS_POLICY=json.dumps({"allow": EVERYONE, "approvals": [broken]}))

    assert "ACCESS_POLICY approvals[0]: nobody can satisfy this rule" in str(caught.value)


INVALID = {
    "no commands": ({"commands": []}, "names no command: list the slash commands"),
    "not a slash command": ({"commands": ["meraki-add-user"]}, "'meraki-add-user' is not a slash command"),
    "a variable without values": ({"when": {"meraki_access_level": []}}, "e.g. meraki_access_level: [full]"),
    "a value, not a list": ({"when": {"meraki_access_level": "full"}}, "list the choice values that need approval"),
    "a number as a value": (
        {"when": {"meraki_org_id": [111111]}},
        'choice values are text, write it in quotes ("111111")',
    ),
    "nobody approves": ({"approvers": {}}, "names nobody: give users, groups, nautobot_groups, or several of them"),
    "a misspelt Nautobot groups key": ({"approvers": {"nautobot_group": ["network-leads"]}}, "nautobot_group"),
    "a blank Nautobot group": ({"approvers": {"nautobot_groups": [" "]}}, "' ' is not a Nautobot group's name"),
    "a Nautobot group with spaces around": (
        {"approvers": {"nautobot_groups": ["leads "]}},
        "(1 to 150 characters, no spaces around it)",
    ),
    "a misspelt link requirement": ({"require_link": True}, "require_link"),
    "anyone approves": ({"approvers": {"users": ["*"]}}, "approval by anyone is no approval"),
    "anyone is escalated to": (
        {"escalate_after": "1h", "escalate_to": {"users": ["*"], "groups": [LEADS]}},
        "approval by anyone is no approval",
    ),
    "not a user": ({"approvers": {"users": ["alice"]}}, "'alice' is not a Slack user id"),
    "no approver needed": ({"count": 0}, "is 0: write how many distinct people must approve, from 1 to 10"),
    "too many approvers": ({"count": 11, "approvers": {"groups": [LEADS]}}, "is 11: write how many"),
    "a direct message channel": ({"notify": "D0DIRECT"}, "'D0DIRECT' is neither dm nor a channel id"),
    "a channel name": ({"notify": "#netops"}, "write dm (a direct message to each approver) or the id"),
    "escalation without whom": ({"escalate_after": "1h"}, "escalate_after and escalate_to go together"),
    "escalation without when": ({"escalate_to": {"users": [BOB]}}, "escalate_after and escalate_to go together"),
    "a reminder after expiry": (
        {"remind_after": "2h", "expire_after": "2h"},
        "remind_after (2 h) is not shorter than expire_after (2 h): the request would expire first",
    ),
    "an escalation after expiry": (
        {"escalate_after": "1d", "escalate_to": {"users": [BOB]}},
        "escalate_after (1 day) is not shorter than expire_after (1 day)",
    ),
    "an expiry beyond 30 days": (
        {"expire_after": "31d"},
        "expire_after is 31 days: a request may wait at most 30 days",
    ),
    "a broken duration": ({"remind_after": "soon"}, "'soon' is not a duration"),
    "a zero duration": ({"expire_after": 0}, "0 is not a positive duration"),
    "more approvers than people": (
        {"count": 2},
        "nobody can satisfy this rule: it needs 2 approvers but names only 1 person",
    ),
    "more approvers than people escalated to": (
        {"count": 4, "approvers": {"users": [ALICE, BOB]}, "escalate_after": "1h", "escalate_to": {"users": [CAROL]}},
        "nobody can satisfy this rule: it needs 4 approvers but names only 3 people",
    ),
    "a misspelt field": ({"aprovers": {"users": [BOB]}}, "aprovers"),
}


@pytest.mark.parametrize(("changes", "problem"), INVALID.values(), ids=INVALID.keys())
def test_each_invalid_rule_is_refused_saying_what_to_write(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        policy({"commands": [ADD], "approvers": {"users": [ALICE]}, **changes})

    assert problem in str(caught.value)


def test_nautobot_groups_name_approvers_alone_or_beside_slack_ones_and_escalation_adds_them() -> None:
    alone = rule(count=3, approvers={"nautobot_groups": ["network-leads", "network-leads"]}, require_account_link=True)
    beside = rule(
        approvers={"users": [ALICE], "nautobot_groups": ["network-leads"]},
        escalate_after="1h",
        escalate_to={"nautobot_groups": ["on-call"]},
    )

    assert alone.approvers == ApproverAudience(nautobot_groups=("network-leads",))  # counted once
    assert alone.count == 3 and alone.require_account_link  # a Nautobot group may hold any number of people
    assert beside.deciders(escalated=False) == ApproverAudience(users=(ALICE,), nautobot_groups=("network-leads",))
    assert beside.deciders(escalated=True).nautobot_groups == ("network-leads", "on-call")
    read = AccessPolicy.model_validate({"allow": EVERYONE, "approvals": [alone.model_dump(), beside.model_dump()]})
    assert read.approval_nautobot_groups() == {"network-leads", "on-call"}
    assert read.approval_groups() == frozenset()


def test_approvers_counted_once_and_groups_or_escalation_make_a_count_satisfiable() -> None:
    with pytest.raises(ValidationError, match="names only 1 person"):
        rule(count=2, approvers={"users": [ALICE, ALICE]})
    assert rule(count=5, approvers={"users": [ALICE], "groups": [LEADS]}).count == 5
    assert rule(count=2, escalate_after="1h", escalate_to={"users": [BOB]}).count == 2
    assert rule(count=3, escalate_after="1h", escalate_to={"groups": [ONCALL]}).count == 3


# -- which requests, whose approval --------------------------------------------------------------


def test_a_rule_needs_approval_when_any_listed_variable_holds_a_listed_value() -> None:
    full = rule(when={"meraki_access_level": ["full", "enterprise"], "meraki_network_access": ["full"]})

    assert full.needs({"meraki_access_level": "enterprise"}, dryrun=False)
    assert full.needs({"meraki_access_level": "read-only", "meraki_network_access": "full"}, dryrun=False)
    assert not full.needs({"meraki_access_level": "read-only", "meraki_network_access": "read-only"}, dryrun=False)
    assert not full.needs({"meraki_access_level": "Full"}, dryrun=False)  # values, as Nautobot sends them
    assert not full.needs({}, dryrun=False)


def test_a_list_value_needs_approval_when_any_picked_value_is_listed() -> None:
    orgs = rule(when={"meraki_org_id": ["111111"]})

    assert orgs.needs({"meraki_org_id": ["222222", "111111"]}, dryrun=False)
    assert not orgs.needs({"meraki_org_id": ["222222"]}, dryrun=False)
    assert not orgs.needs({"meraki_org_id": []}, dryrun=False)
    assert orgs.needs({"meraki_org_id": 111111}, dryrun=False)  # compared as text, as choice values are


def test_a_rule_without_when_holds_every_request_but_dry_runs_only_when_it_says_so() -> None:
    every = rule()
    with_dry_runs = rule(dry_runs=True, when={"meraki_access_level": ["full"]})

    assert every.needs({}, dryrun=False)
    assert not every.needs({}, dryrun=True)
    assert with_dry_runs.needs({"meraki_access_level": "full"}, dryrun=True)
    assert not with_dry_runs.needs({"meraki_access_level": "none"}, dryrun=True)


def test_a_rule_covers_the_commands_it_names_or_every_one() -> None:
    named, every = rule(commands=[ADD, REMOVE]), rule(commands=["*"])

    assert named.covers(ADD) and named.covers(REMOVE) and not named.covers(FIND)
    assert every.covers(FIND) and every.covers("/vlan-add")


def test_the_first_rule_in_policy_order_that_needs_approval_decides() -> None:
    removal = {"commands": [REMOVE], "approvers": {"users": [CAROL]}}
    full = FULL_ACCESS
    anything = {"commands": ["*"], "approvers": {"groups": [ONCALL]}}
    read = policy(removal, full, anything)

    assert read.approval_for(ADD, {"meraki_access_level": "full"}, dryrun=False) is read.approvals[1]
    assert read.approval_for(ADD, {"meraki_access_level": "none"}, dryrun=False) is read.approvals[2]
    assert read.approval_for(REMOVE, {"meraki_access_level": "full"}, dryrun=False) is read.approvals[0]
    assert read.approval_for(ADD, {"meraki_access_level": "full"}, dryrun=True) is None

    part = read.for_command(ADD, main=True)
    assert part.approvals == read.approvals[1:] and part.approval_indexes == (1, 2)
    assert part.approval_for({"meraki_access_level": "full"}, dryrun=False) is read.approvals[1]
    assert part.approval_for({"meraki_access_level": "none"}, dryrun=False) is read.approvals[2]
    assert part.approval_for({}, dryrun=True) is None
    assert read.for_command(FIND, main=False).approval_for({}, dryrun=False) is read.approvals[2]


def test_escalation_adds_its_people_to_those_who_may_decide() -> None:
    escalating = rule(
        approvers={"users": [ALICE], "groups": [LEADS]},
        escalate_after="1h",
        escalate_to={"users": [BOB, ALICE], "groups": [ONCALL]},
    )

    assert escalating.deciders(escalated=False) == ApproverAudience(users=(ALICE,), groups=(LEADS,))
    assert escalating.deciders(escalated=True) == ApproverAudience(users=(ALICE, BOB), groups=(LEADS, ONCALL))
    assert rule().deciders(escalated=True) == ApproverAudience(users=(ALICE,))


def test_the_commands_and_groups_approvals_name_are_listed_apart() -> None:
    escalating = {**FULL_ACCESS, "commands": ["*", REMOVE], "escalate_after": "1h", "escalate_to": {"groups": [ONCALL]}}
    read = policy(FULL_ACCESS, escalating, restrict={ADD: {"meraki_access_level": {"full": {"groups": ["S0ADMINS"]}}}})

    assert read.commands_named() == [
        ("restrict", ADD),
        ("approvals[0].commands", ADD),
        ("approvals[1].commands", REMOVE),
    ]
    assert read.groups() == frozenset({"S0ADMINS"})  # deciding access loads no approver's group
    assert read.approval_groups() == frozenset({LEADS, ONCALL})


# -- the check against the Job's form ------------------------------------------------------------


def add_part(*approvals: dict[str, Any]) -> CommandPolicy:
    return policy(*approvals).for_command(ADD, main=True)


MISFITS = {
    "misspelt variable": (
        {"when": {"meraki_acces_level": ["full"]}},
        "approvals[1].when names meraki_acces_level, which the Job has no variable of (did you mean "
        "meraki_access_level?)",
    ),
    "not a choice": (
        {"when": {"user_email": ["a@example.com"]}},
        "approvals[1].when names user_email, which is a StringVar, not a choice",
    ),
    "label": (
        {"when": {"meraki_access_level": ["Full"]}},
        "approvals[1].when names Full for meraki_access_level, whose choices are full, read-only, enterprise, none "
        "(Full is a label: use its value, full)",
    ),
    "other letter case": (
        {"when": {"meraki_access_level": ["FULL"]}},
        "approvals[1].when names FULL for meraki_access_level, whose choices are full, read-only, enterprise, none "
        "(values are case-sensitive: use full)",
    ),
}


@pytest.mark.parametrize(("changes", "problem"), MISFITS.values(), ids=MISFITS.keys())
def test_each_approval_rule_misfit_is_reported_with_its_place_in_the_policy(changes: dict[str, Any], problem: str):
    removal = {"commands": [REMOVE], "approvers": {"users": [CAROL]}, "when": {"not_here": ["x"]}}
    misfit = {"commands": [ADD], "approvers": {"users": [ALICE]}, **changes}

    assert policy_problems(add_part(removal, misfit), job_form()) == [problem]  # the removal rule is not the add's


def test_dry_runs_on_a_job_without_a_dry_run_are_reported() -> None:
    without_dry_run = [var for var in VARIABLES if var["type"] != "DryRunVar"]
    asks = add_part({**FULL_ACCESS, "dry_runs": True})

    assert policy_problems(asks, job_form()) == []
    assert policy_problems(asks, job_form(without_dry_run)) == [
        f"approvals[0] has dry_runs: true, but the Job {JOB_NAME!r} has no dry run variable: remove dry_runs"
    ]
    assert policy_problems(add_part(FULL_ACCESS), job_form(without_dry_run)) == []


def test_a_sound_rule_and_a_multiple_choice_variable_fit() -> None:
    multiple = [{**var, "type": "MultiChoiceVar"} if var["name"] == "meraki_org_id" else var for var in VARIABLES]
    rules = add_part(
        FULL_ACCESS, {"commands": ["*"], "approvers": {"users": [ALICE]}, "when": {"meraki_org_id": ["222222"]}}
    )

    assert policy_problems(rules, job_form(multiple)) == []
    assert policy_problems(add_part({"commands": ["*"], "approvers": {"users": [ALICE]}}), job_form()) == []


def test_restrict_and_approval_problems_are_reported_together() -> None:
    both = AccessPolicy.model_validate(
        {
            "allow": EVERYONE,
            "restrict": {ADD: {"meraki_access_level": {"Full": {"users": [ALICE]}}}},
            "approvals": [{"commands": [ADD], "approvers": {"users": [ALICE]}, "when": {"dryrun": ["true"]}}],
        }
    )

    problems = policy_problems(both.for_command(ADD, main=True), job_form())

    assert [problem.split(" names ")[0] for problem in problems] == ["restrict", "approvals[0].when"]
    assert "dryrun, which is a DryRunVar, not a choice" in problems[1]


# -- the running bot refuses a command whose approval rule does not fit ----------------------------


def access(read: AccessPolicy, slash: str = ADD) -> Access:
    return Access(read, groups=SlackGroups(FakeSlack()), slash_command=slash, main=slash == ADD, installed_team=TEAM)  # type: ignore[arg-type]


async def test_a_misfit_approval_rule_switches_its_command_off_until_the_form_fits() -> None:
    read = policy({**FULL_ACCESS, "when": {"meraki_access_level": ["Full"]}})
    guard, actor = access(read), Actor("U0ANYONE", channel_id=CHANNEL, team_id=TEAM)

    guard.watch_form(job_form())
    refused = await guard.decide(actor)

    assert not refused.allowed
    assert f"{ADD} is switched off" in refused.reason and MISFITS["label"][1].replace("[1]", "[0]") in refused.reason
    assert "correct restrict or approvals in ACCESS_POLICY" in refused.remedy
    assert guard.decide_now(actor) == refused

    renamed = [
        {**var, "choices": [["Full", "Full"], *var["choices"][1:]]} if var["name"] == "meraki_access_level" else var
        for var in VARIABLES
    ]
    guard.form_changed(job_form(renamed))  # the Job now offers that value: the rule fits
    assert (await guard.decide(actor)).allowed


async def test_a_misfit_approval_rule_leaves_commands_it_does_not_cover_alone() -> None:
    read = policy({**FULL_ACCESS, "when": {"meraki_access_level": ["Full"]}})
    find = access(read, FIND)

    find.watch_form(job_form())

    assert (await find.decide(Actor("U0ANYONE", channel_id=CHANNEL, team_id=TEAM))).allowed


async def test_a_policy_with_approvals_only_reads_the_form_before_deciding() -> None:
    guard = access(policy({**FULL_ACCESS, "when": {"meraki_acces_level": ["full"]}}))
    loads: list[JobForm] = []

    async def load() -> JobForm:
        form = job_form()
        loads.append(form)
        guard.form_changed(form)  # as the form cache's listener does
        return form

    guard.watch_form(None, load)

    assert guard.decide_now(Actor("U0ANYONE", channel_id=CHANNEL, team_id=TEAM)) is None  # not without the form
    refused = await guard.decide(Actor("U0ANYONE", channel_id=CHANNEL, team_id=TEAM))
    assert len(loads) == 1
    assert not refused.allowed and "did you mean meraki_access_level?" in refused.reason
