"""``doctor``'s check of the approvers the access policy names: each user group must exist in Slack, and each
approval rule must be satisfiable by the people it names today (never counting the requester)."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.errors import SlackApiError

from bot.doctor.report import Context, Status, Verdict
from bot.doctor.slack_checks import SLACK_TRANSPORT_ERRORS, slack_unreachable
from bot.policy import AccessPolicy, ApprovalRule

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
            unknown.append(f"{group} ({exc.response.get('error')})")
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
        if len(people) - 1 < rule.count:
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
