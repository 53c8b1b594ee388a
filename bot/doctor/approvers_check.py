"""``doctor``'s checks of the approvers the access policy names: each user group must exist in Slack, and each
approval rule must be satisfiable by the people it names today (never counting the requester); each Nautobot group
must exist in Nautobot and hold someone with a linked Slack account, and the token must be able to read them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from slack_sdk.errors import SlackApiError

from bot.doctor.report import Context, Status, Verdict
from bot.doctor.slack_checks import SLACK_TRANSPORT_ERRORS, slack_unreachable
from bot.nautobot import NautobotError
from bot.nautobot.approvers import ApproverLookup
from bot.policy import AccessPolicy, ApprovalRule
from bot.slack.errors import slack_error

GROUP_FIX = (
    "Correct the user group ids under approvals in {setting} (a group's id is in its URL, …/usergroups/S…), or "
    "add people to the group in Slack."
)


async def check_approvers(context: Context) -> Verdict:
    policy = context.s.policy
    if policy is None or not policy.approvals:
        return Verdict(Status.OK, "no approval rules: no request waits for approval in Slack")
    token = context.s.slack_bot_token.get_secret_value()
    client = context.slack_client(token, str(context.s.slack_api_url))
    members: dict[str, frozenset[str]] = {}
    unknown: list[str] = []
    for group in sorted(policy.approval_groups()):
        try:
            answer = await client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            unknown.append(f"{group} ({slack_error(exc)})")
            continue
        except SLACK_TRANSPORT_ERRORS as exc:
            return slack_unreachable(context, exc)
        members[group] = frozenset(str(user) for user in answer.get("users") or [])
    setting = context.s.policy_setting
    if unknown:
        return Verdict(
            Status.FAIL,
            f"Slack cannot list these approvers' user groups: {', '.join(unknown)}; their members can approve nothing",
            GROUP_FIX.format(setting=setting),
        )
    short = _short_rules(policy, members)
    if short:
        return Verdict(Status.WARN, "; ".join(short), GROUP_FIX.format(setting=setting))
    sizes = ", ".join(f"{group}: {len(people)}" for group, people in members.items()) or "none"
    return Verdict(Status.OK, f"{len(policy.approvals)} approval rule(s), each satisfiable; groups' members {sizes}")


def _short_rules(policy: AccessPolicy, members: Mapping[str, frozenset[str]]) -> list[str]:
    """Rules too few people could satisfy for a request asked by one of them (the requester never counts)."""
    short = []
    for index, rule in enumerate(policy.approvals):
        people = _people(rule, members)
        if len(people) - 1 < rule.count and not rule.deciders(escalated=True).nautobot_groups:
            short.append(
                f"approvals[{index}] needs {rule.count} approval(s) but names {len(people)} person(s) today: a "
                f"request by one of them cannot be approved"
            )
    return short


def _people(rule: ApprovalRule, members: Mapping[str, frozenset[str]]) -> set[str]:
    deciders = rule.deciders(escalated=True)
    people = set(deciders.users)
    for group in deciders.groups:
        people |= members.get(group, frozenset())
    return people


NAUTOBOT_GROUP_FIX = (
    "Correct the Nautobot group names under approvals in {setting} (as Nautobot shows them under Users → Groups), "
    "or create the group in Nautobot."
)
LINK_FIX = (
    "Each approver links their Slack account to their Nautobot user in Nautobot (Apps → Nautobot ChatOps → Link "
    "ChatOps Account), or a Nautobot admin adds the link; a group also needs active members."
)
NAUTOBOT_VIEW_FIX = (
    "Add the action view on {models} to the ObjectPermissions of the bot's Nautobot user (see Least privilege in the "
    "README); until then nobody may approve through a Nautobot group or account link."
)
GROUPS_PROBE = ("/api/users/groups/", "view groups", "auth | group")
NAUTOBOT_PROBES = (
    ("/api/users/users/", "view users", "users | user"),
    (
        "/api/extras/object-changes/",
        "view account links in the change log",
        "extras | object change (constrained to ChatOps account links)",
    ),
)


async def check_nautobot_approvers(context: Context) -> Verdict:
    """Approvers named through Nautobot: ``nautobot_groups`` and rules with ``require_account_link``."""
    policy = context.s.policy
    if policy is None:
        return Verdict(Status.OK, "no access policy: nobody approves through Nautobot")
    groups = sorted(policy.approval_nautobot_groups())
    linking = [rule for rule in policy.approvals if rule.require_account_link]
    if not groups and not linking:
        return Verdict(Status.OK, "no approval rule names a Nautobot group or requires an account link")
    denied = await _denied(context, (GROUPS_PROBE, *NAUTOBOT_PROBES) if groups else NAUTOBOT_PROBES)
    if denied is not None:
        return denied
    try:
        return await _found(ApproverLookup(context.client), groups, linking, context.s.policy_setting)
    except NautobotError as exc:
        return Verdict(Status.FAIL, f"Nautobot could not be asked about the approvers: {exc}", LINK_FIX)


async def _found(lookup: ApproverLookup, groups: list[str], linking: list[ApprovalRule], setting: str) -> Verdict:
    """What Nautobot says of the groups (each must exist and hold someone linked) and of the Slack users named
    under ``require_account_link`` (each must be linked)."""
    missing = [group for group in groups if not await lookup.group_exists(group)]
    if missing:
        return Verdict(
            Status.FAIL,
            f"Nautobot has no group named {', '.join(missing)}: nobody may approve through it",
            NAUTOBOT_GROUP_FIX.format(setting=setting),
        )
    linked = {group: await lookup.group_links([group]) for group in groups}
    named = sorted({user for rule in linking for user in rule.deciders(escalated=True).users})
    unlinked = sorted(set(named) - set(await lookup.linked_users(named))) if named else []
    return _linked_verdict(linked, unlinked, linking=bool(linking))


async def _denied(context: Context, probes: Iterable[tuple[str, str, str]]) -> Verdict | None:
    """A FAIL naming what the token may not view of ``probes`` (path, what, the object type); None: it may."""
    denied = [(label, model) for path, label, model in probes if await context.client.probe(path) == 403]
    if not denied:
        return None
    return Verdict(
        Status.FAIL,
        f"the token may not {' or '.join(label for label, _ in denied)}: approvers named through Nautobot can "
        "approve nothing",
        NAUTOBOT_VIEW_FIX.format(models=" and ".join(model for _, model in denied)),
    )


def _linked_verdict(linked: Mapping[str, Mapping[str, str]], unlinked: list[str], *, linking: bool) -> Verdict:
    """WARN for a Nautobot group nobody could approve through, or a named approver a rule's link requirement
    refuses; else OK with each group's linked members."""
    warnings = []
    empty = [group for group, people in linked.items() if not people]
    if empty:
        warnings.append(
            f"no active member of Nautobot group(s) {', '.join(empty)} has linked a Slack account: nobody may approve "
            "through them"
        )
    if unlinked:
        warnings.append(
            f"{', '.join(unlinked)} may approve nothing under a rule with require_account_link: no account link to "
            "an active Nautobot user"
        )
    if warnings:
        return Verdict(Status.WARN, "; ".join(warnings), LINK_FIX)
    sizes = ", ".join(f"{group}: {len(people)}" for group, people in linked.items())
    found = [f"Nautobot groups' linked members {sizes}"] if sizes else []
    if linking:
        found.append("every approver named under require_account_link is linked")
    return Verdict(Status.OK, "; ".join(found))
