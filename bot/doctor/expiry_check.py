"""``doctor``'s check that time-bound access expires: the Revoke Meraki Access Job is there, enabled, and Nautobot
would not hold its scheduled runs for approval (a revoke waiting for approval is not a revoke).

It applies when a command's Job offers a duration (a ``duration`` variable, or the one the policy's ``durations``
names for that command); the Nautobot queries are :mod:`bot.nautobot.revoke_approval`'s.
"""

from __future__ import annotations

import json

from bot.doctor.nautobot_checks import error_detail
from bot.doctor.report import Context, Status, Verdict
from bot.models import JobForm
from bot.nautobot import JobInfo, NautobotAuthError, NautobotError
from bot.nautobot.revoke_approval import (
    DEFINITION_PERMISSION,
    REVOKE_JOB,
    Definition,
    find_revoke_job,
    holding_definitions,
)

DURATION = "duration"
HELD = "each scheduled revoke would wait for approval, and the access does not expire until someone approves it"
ENABLE_FIX = f"Enable {REVOKE_JOB} in Nautobot: it is hidden, so filter the Jobs list by hidden, then Edit → Enabled."
MISSING_FIX = (
    "Sync the Git repository that holds the Jobs (Extensibility → Git Repositories → Sync), then enable "
    f"{REVOKE_JOB}: it is hidden, so filter the Jobs list by hidden, then Edit → Enabled. If the bot's "
    "ObjectPermission on extras.job has constraints, include this Job."
)
FLAG_FIX = f"Untick Approval required on {REVOKE_JOB} (it is hidden: filter the Jobs list by hidden, then Edit)."


async def check_expiry(context: Context) -> Verdict:
    if not context.jobs:
        return Verdict(Status.SKIP, "not checked: no command's Job was found")
    try:
        bound = await _time_bound(context)
    except NautobotError as exc:
        return Verdict(Status.SKIP, f"not checked: cannot read a command's form ({error_detail(exc)})")
    if not bound:
        return Verdict(Status.SKIP, "skipped: no time-bound grants (no command's Job has a duration variable)")
    grants = f"time-bound grants of {', '.join(bound)}"
    try:
        revoke = await find_revoke_job(context.client)
    except NautobotError as exc:
        return Verdict(Status.FAIL, f"cannot look up the {REVOKE_JOB} Job ({error_detail(exc)})", str(exc))
    if revoke is None or not (revoke.installed and revoke.enabled):
        return _unusable(revoke, grants)
    if _by_workflows(context, revoke):
        return await _workflows_verdict(context, revoke, grants)
    if revoke.raw.get("approval_required"):
        return Verdict(Status.FAIL, f"{REVOKE_JOB!r} has approval required: {HELD}", FLAG_FIX)
    return _expires(revoke, grants, "its approval_required is off")


def _unusable(revoke: JobInfo | None, grants: str) -> Verdict:
    """Missing, not installed or disabled: the Create Job refuses time-bound grants, as nothing would revoke them."""
    if revoke is None:
        return Verdict(
            Status.FAIL,
            f"no Job named {REVOKE_JOB!r} is visible to the token: without it {grants} are refused, since nothing "
            "would revoke them",
            MISSING_FIX,
        )
    state, fix = ("disabled", ENABLE_FIX) if revoke.installed else ("not installed", MISSING_FIX)
    return Verdict(Status.FAIL, f"{REVOKE_JOB!r} ({revoke.id}) is {state}, so {grants} are refused", fix)


async def _time_bound(context: Context) -> list[str]:
    """The commands whose Job's form offers a duration."""
    policy = context.s.policy
    bound = []
    for slash, binding in context.s.commands.items():
        if slash not in context.jobs:
            continue
        form = context.forms.get(slash) or await context.client.job_form(binding.job)
        rule = policy.durations.get(slash) if policy is not None else None
        if _offers(form, rule.variable if rule is not None else DURATION):
            bound.append(slash)
    return bound


def _offers(form: JobForm, variable: str) -> bool:
    return form.variable(variable) is not None


def _by_workflows(context: Context, revoke: JobInfo) -> bool:
    """Nautobot 3.x holds runs by approval workflows; 2.4 by the Job's flag (which 3.x's Job records lack)."""
    version = context.client.capabilities.version
    if version is None:
        return "approval_required" not in revoke.raw
    return version >= (3, 0)


async def _workflows_verdict(context: Context, revoke: JobInfo, grants: str) -> Verdict:
    try:
        found = await holding_definitions(context.client, revoke)
    except NautobotAuthError as exc:
        return Verdict(
            Status.WARN,
            f"cannot tell whether Nautobot would hold the scheduled runs of {REVOKE_JOB!r} for approval: the token "
            f"may not list approval workflow definitions ({error_detail(exc)})",
            f"Give the bot's Nautobot user the action {DEFINITION_PERMISSION} (see the README, Least privilege), or "
            f"check in Nautobot that no approval workflow definition for scheduled jobs matches {REVOKE_JOB}.",
        )
    except NautobotError as exc:
        return Verdict(Status.WARN, f"cannot read the approval workflow definitions ({error_detail(exc)})", str(exc))
    example = _example(context)
    matching = [d for d in found if d.matches]
    if matching:
        return Verdict(
            Status.FAIL,
            f"{_names(matching)} for scheduled jobs {_verb(matching, 'matches', 'match')} the scheduled runs of "
            f"{REVOKE_JOB!r}: {HELD}",
            f"Constrain {_names(matching[:1], short=True)} to the Jobs that grant access, e.g. model constraints "
            f"{example}, or delete it; no approval workflow definition may match {REVOKE_JOB}.",
        )
    if found:
        return Verdict(
            Status.WARN,
            f"{_names(found)} for scheduled jobs {_verb(found, 'has', 'have')} constraints the bot cannot evaluate "
            f"({'; '.join(', '.join(d.unknown) for d in found)}): if they match the scheduled runs of "
            f"{REVOKE_JOB!r}, {HELD}",
            f"Check that those constraints leave out {REVOKE_JOB}, or write them as e.g. {example}.",
        )
    return _expires(revoke, grants, "no approval workflow definition matches its scheduled runs")


def _example(context: Context) -> str:
    """Constraints that keep a definition to the main command's Job, as an operator would paste them."""
    return json.dumps({"job_model__name": context.s.main_job})


def _names(definitions: list[Definition], *, short: bool = False) -> str:
    """``the approval workflow definition 'Changes' (weight 10, constraints {})`` and the like."""
    if short:
        return f"the approval workflow definition {definitions[0].name!r}"
    described = [
        f"{d.name!r} (weight {d.weight}, model constraints {json.dumps(dict(d.constraints))})" for d in definitions
    ]
    noun = "definition" if len(described) == 1 else "definitions"
    return f"the approval workflow {noun} {', '.join(described)}"


def _verb(definitions: list[Definition], one: str, many: str) -> str:
    return one if len(definitions) == 1 else many


def _expires(revoke: JobInfo, grants: str, why: str) -> Verdict:
    return Verdict(
        Status.OK,
        f"{REVOKE_JOB!r} ({revoke.id}) is enabled and {why}: {grants} are revoked at their expiry (while Celery "
        "beat runs)",
    )
