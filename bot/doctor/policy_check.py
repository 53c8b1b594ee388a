"""``doctor``'s check of the access policy against the live forms: what each command's ``restrict`` names must be there.

A ``restrict`` entry that names no real choice (a label instead of a value, a misspelt variable, a
variable that is not a choice) would keep nothing back; the running bot refuses every request of that
command while one exists, so doctor FAILs on it. It WARNs when organization access is kept to some people
but the same access to a network is open to everyone.
"""

from __future__ import annotations

from bot.doctor.report import Context, Status, Verdict
from bot.models import JobForm
from bot.nautobot import NautobotError
from bot.policy import CommandPolicy, policy_problems
from bot.settings import Settings

ORG_ACCESS = "meraki_access_level"
NETWORK_ACCESS = "meraki_network_access"
NETWORK_FULL = "full"


def open_network_access(policy: CommandPolicy, form: JobForm) -> list[str]:
    """Network access choices anyone may pick although the same organization access is restricted.

    Only for the Meraki Job's variables: nothing when either is absent, or organization access is not restricted.
    """
    org, network = form.variable(ORG_ACCESS), form.variable(NETWORK_ACCESS)
    kept = set(policy.restrict.get(ORG_ACCESS, {}))
    if org is None or network is None or not kept:
        return []
    restricted = set(policy.restrict.get(NETWORK_ACCESS, {}))
    granting = {value for value, _ in network.choices if value in kept or value == NETWORK_FULL}
    return [value for value, _ in network.choices if value in granting and value not in restricted]


def uncovered_commands(settings: Settings) -> list[str]:
    """The commands no ``allow`` rule covers: refused to everyone."""
    policy = settings.policy
    return [
        slash
        for slash in settings.commands
        if policy is None or not any(rule.covers(slash, main=slash == settings.main_command) for rule in policy.allow)
    ]


async def check_policy(context: Context) -> Verdict:
    """Each command's ``restrict`` against its Job's form first (a misfit refuses that command); then the commands
    nobody may use."""
    verdict = await _check_restrict(context)
    settings, policy = context.s, context.s.policy
    if verdict.status is not Status.OK or policy is None or settings.nautobot_chatops:
        return verdict
    uncovered = uncovered_commands(settings)
    if not uncovered:
        return verdict
    return Verdict(
        Status.WARN,
        f"{verdict.detail}; but no rule of {settings.policy_setting} covers {', '.join(uncovered)}: nobody may use "
        f"{'it' if len(uncovered) == 1 else 'them'} (a rule without commands covers only {settings.main_command})",
        f'Add a rule for the people who need them, e.g. "commands": ["{uncovered[0]}"], or remove them from '
        "COMMANDS (and the manifest) if nobody should.",
    )


async def _check_restrict(context: Context) -> Verdict:
    settings = context.s
    policy, setting = settings.policy, settings.policy_setting
    if policy is None:
        decides = "nautobot-chatops' Access Grants decide" if settings.nautobot_chatops else "nobody may use it"
        return Verdict(Status.OK, f"no access policy: {decides}, and no choice is restricted")
    teams = ", ".join(policy.teams) if policy.teams else "only the workspace the app is installed in"
    if not policy.restrict:
        return Verdict(Status.OK, f"{setting} restricts no choice; workspaces: {teams}")
    if context.nautobot is None:
        return Verdict(Status.SKIP, "not checked: the Jobs' forms cannot be read without Nautobot")
    worst = _worst([await _check_command(context, slash) for slash in policy.restrict])
    if worst is not None:
        return worst
    count = sum(len(choices) for part in policy.restrict.values() for choices in part.values())
    where = ", ".join(policy.restrict)
    return Verdict(
        Status.OK, f"{setting} restricts {count} choice(s) of {where}, all in their Jobs' forms; workspaces: {teams}"
    )


def _worst(verdicts: list[Verdict]) -> Verdict | None:
    """The commands' verdicts that are not OK, the worst kind together; None when every one is OK."""
    for status in (Status.FAIL, Status.WARN, Status.SKIP):
        found = [verdict for verdict in verdicts if verdict.status is status]
        if found:
            return Verdict(status, "; ".join(v.detail for v in found), " ".join(dict.fromkeys(v.fix for v in found)))
    return None


async def _check_command(context: Context, slash: str) -> Verdict:
    """One command's ``restrict`` against its own Job's live form."""
    settings = context.s
    setting, job = settings.policy_setting, settings.commands[slash].job
    assert settings.policy is not None
    policy = settings.policy.for_command(slash, main=slash == settings.main_command)
    if slash not in context.jobs:
        return Verdict(Status.SKIP, f"{slash} not checked: its Job {job!r} was not found")
    try:
        form = await context.client.job_form(job)
    except NautobotError as exc:
        return Verdict(
            Status.FAIL, f"cannot read the form of {job!r} ({slash}) to check {setting} against it: {exc}", str(exc)
        )
    problems = policy_problems(policy, form)
    if problems:
        return Verdict(
            Status.FAIL,
            f"{setting} restrict for {slash} does not fit the Job {form.job_name!r}: {'; '.join(problems)}",
            f"Correct restrict in {setting}: under each command, name its Job's variables and their choice values "
            f"(not labels). Until then the bot refuses every request of {slash}.",
        )
    left_open = open_network_access(policy, form)
    if left_open:
        kept = ", ".join(sorted(policy.restrict[ORG_ACCESS]))
        return Verdict(
            Status.WARN,
            f"{setting} keeps organization access {kept} of {slash} to some people, but anyone it allows may pick "
            f"network access {', '.join(left_open)}",
            f'Restrict {NETWORK_ACCESS} {", ".join(left_open)} under {slash} in {setting} too (see the README, "Who '
            'may use it").',
        )
    return Verdict(Status.OK, f"{slash} fits")
