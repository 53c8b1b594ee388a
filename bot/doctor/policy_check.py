"""``doctor``'s check of the access policy against the live forms: what each command's ``restrict`` and approval
rules name must be there.

A ``restrict`` entry that names no real choice (a label instead of a value, a misspelt variable, a
variable that is not a choice) would keep nothing back, and an approval rule's ``when`` that does would ask
nobody's approval; the running bot refuses every request of that command while one exists, so doctor FAILs
on it (so too on ``dry_runs`` for a Job without a dry run). It WARNs when organization access is kept to some
people but the same access to a network is open to everyone. It ends with a line per approval rule: what
waits for whose approval.
"""

from __future__ import annotations

from bot.doctor.report import Context, Status, Verdict
from bot.models import JobForm
from bot.nautobot import NautobotError
from bot.policy import AccessPolicy, ApprovalRule, ApproverAudience, CommandPolicy, describe_duration, policy_problems
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
    """Each command's ``restrict`` and approval rules against its Job's form first (a misfit refuses that command);
    then the commands nobody may use; then what needs approval."""
    verdict = _uncovered(context.s, await _check_forms(context))
    policy = context.s.policy
    if verdict.status is Status.FAIL or policy is None or not policy.approvals:
        return verdict
    lines = [f"approvals[{index}]: {describe_rule(rule)}" for index, rule in enumerate(policy.approvals)]
    return verdict._replace(detail="\n".join([verdict.detail, *lines]))


def describe_rule(rule: ApprovalRule) -> str:
    """What waits for whose approval, e.g. ``/meraki-add-user when meraki_access_level is full or enterprise → 2 of
    U…, S…; notify dm; expire 24 h``."""
    commands = ", ".join("every command" if slash == "*" else slash for slash in rule.commands)
    when = " or ".join(f"{name} is {' or '.join(values)}" for name, values in rule.when.items())
    which = f" when {when}" if when else ", every request"
    dry_runs = " (dry runs too)" if rule.dry_runs else ""
    steps = [f"notify {rule.notify}"]
    if rule.remind_after is not None:
        steps.append(f"remind after {describe_duration(rule.remind_after)}")
    if rule.escalate_after is not None and rule.escalate_to is not None:
        steps.append(f"escalate after {describe_duration(rule.escalate_after)} to {_people(rule.escalate_to)}")
    steps.append(f"expire {describe_duration(rule.expire_after)}")
    linked = " (linked to Nautobot)" if rule.require_account_link else ""
    return f"{commands}{which}{dry_runs} → {rule.count} of {_people(rule.approvers)}{linked}; {'; '.join(steps)}"


def _people(audience: ApproverAudience) -> str:
    nautobot = [f"Nautobot group {name}" for name in audience.nautobot_groups]
    return ", ".join([*audience.users, *audience.groups, *nautobot])


def _uncovered(settings: Settings, verdict: Verdict) -> Verdict:
    """A WARN naming the commands no ``allow`` rule covers, when the forms fit; else ``verdict``."""
    policy = settings.policy
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


async def _check_forms(context: Context) -> Verdict:
    settings = context.s
    policy, setting = settings.policy, settings.policy_setting
    if policy is None:
        decides = "nautobot-chatops' Access Grants decide" if settings.nautobot_chatops else "nobody may use it"
        return Verdict(Status.OK, f"no access policy: {decides}, and no choice is restricted")
    teams = ", ".join(policy.teams) if policy.teams else "only the workspace the app is installed in"
    checked = _commands_to_check(settings, policy)
    if not checked:
        return Verdict(Status.OK, f"{setting} restricts no choice; workspaces: {teams}")
    if context.nautobot is None:
        return Verdict(Status.SKIP, "not checked: the Jobs' forms cannot be read without Nautobot")
    worst = _worst([await _check_command(context, slash) for slash in checked])
    if worst is not None:
        return worst
    return Verdict(Status.OK, f"{setting} {_what_fits(policy)}, all in their Jobs' forms; workspaces: {teams}")


def _what_fits(policy: AccessPolicy) -> str:
    count = sum(len(choices) for part in policy.restrict.values() for choices in part.values())
    restricts = f"restricts {count} choice(s) of {', '.join(policy.restrict)}" if count else "restricts no choice"
    if policy.durations:
        restricts += f", limits durations of {', '.join(policy.durations)}"
    return f"{restricts} and has {len(policy.approvals)} approval rule(s)" if policy.approvals else restricts


def _commands_to_check(settings: Settings, policy: AccessPolicy) -> list[str]:
    """The commands with a ``restrict`` or ``durations`` of their own or an approval rule covering them: those whose
    Jobs' forms the policy names choices of."""
    approved = [slash for slash in settings.commands if any(rule.covers(slash) for rule in policy.approvals)]
    return list(dict.fromkeys([*policy.restrict, *approved, *policy.durations]))


def _worst(verdicts: list[Verdict]) -> Verdict | None:
    """The commands' verdicts that are not OK, the worst kind together; None when every one is OK."""
    for status in (Status.FAIL, Status.WARN, Status.SKIP):
        found = [verdict for verdict in verdicts if verdict.status is status]
        if found:
            return Verdict(status, "; ".join(v.detail for v in found), " ".join(dict.fromkeys(v.fix for v in found)))
    return None


async def _check_command(context: Context, slash: str) -> Verdict:
    """One command's ``restrict`` and approval rules against its own Job's live form."""
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
            f"{setting} for {slash} does not fit the Job {form.job_name!r}: {'; '.join(problems)}",
            f"Correct restrict and approvals in {setting}: name the Job's variables and their choice values (not "
            "labels), and ask approval of dry runs only for a Job that has them. Until then the bot refuses every "
            f"request of {slash}.",
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
