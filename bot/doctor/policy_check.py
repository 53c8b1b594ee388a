"""``doctor``'s check of the access policy against the Job's live form: what ``restrict`` names must be there.

A ``restrict`` entry that names no real choice (a label instead of a value, a misspelt variable, a
variable that is not a choice) would keep nothing back; the running bot refuses every request while
one exists, so doctor FAILs on it. It WARNs when organization access is kept to some people but the
same access to a network is open to everyone.
"""

from __future__ import annotations

from bot.access import AccessPolicy, policy_problems
from bot.doctor.report import Context, Status, Verdict
from bot.models import JobForm
from bot.nautobot import NautobotError
from bot.settings import Settings

ORG_ACCESS = "meraki_access_level"
NETWORK_ACCESS = "meraki_network_access"
NETWORK_FULL = "full"


def open_network_access(policy: AccessPolicy, form: JobForm) -> list[str]:
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


def uncovered_commands(policy: AccessPolicy, settings: Settings) -> list[str]:
    """The commands no ``allow`` rule covers: refused to everyone."""
    return [
        slash
        for slash in settings.commands
        if not any(rule.covers(slash, main=slash == settings.main_command) for rule in policy.allow)
    ]


async def check_policy(context: Context) -> Verdict:
    """``restrict`` against the Job's form first (a misfit refuses everything); then the commands nobody may use."""
    verdict = await _check_restrict(context)
    settings, policy = context.s, context.s.policy
    if verdict.status is not Status.OK or policy is None or settings.nautobot_chatops:
        return verdict
    uncovered = uncovered_commands(policy, settings)
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
    if context.nautobot is None or context.job is None:
        return Verdict(Status.SKIP, "not checked: the Job's form cannot be read without the Job")
    try:
        form = await context.client.job_form(settings.main_job)
    except NautobotError as exc:
        return Verdict(Status.FAIL, f"cannot read the Job's form to check {setting} against it: {exc}", str(exc))
    problems = policy_problems(policy, form)
    if problems:
        return Verdict(
            Status.FAIL,
            f"{setting} does not fit the Job {form.job_name!r}: {'; '.join(problems)}",
            f"Correct restrict in {setting}: name the Job's variables and their choice values (not labels). Until "
            "then the bot refuses every request.",
        )
    count = sum(len(choices) for choices in policy.restrict.values())
    left_open = open_network_access(policy, form)
    if left_open:
        kept = ", ".join(sorted(policy.restrict[ORG_ACCESS]))
        return Verdict(
            Status.WARN,
            f"{setting} keeps organization access {kept} to some people, but anyone it allows may pick network "
            f"access {', '.join(left_open)}",
            f'Restrict {NETWORK_ACCESS} {", ".join(left_open)} in {setting} too (see the README, "Who may use it").',
        )
    return Verdict(Status.OK, f"{setting} restricts {count} choice(s), all in the Job's form; workspaces: {teams}")
