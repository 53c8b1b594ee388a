"""Deciding: who asks and the answer, by the bot's policy or by nautobot-chatops' grants, and choices kept back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.models import JobForm, JobVariable
from bot.nautobot import AccessGrant, GrantType
from bot.policy import CommandPolicy

GRANTS_SETTING = "NAUTOBOT_CHATOPS"


@dataclass(frozen=True)
class Actor:
    """A person doing something in Slack, and where."""

    user_id: str
    user_name: str = ""
    channel_id: str = ""
    team_id: str = ""
    home_team_id: str = ""
    """The person's own workspace where Slack names it apart from ``team_id`` (in Slack Connect channels)."""

    @classmethod
    def from_command(cls, body: Mapping[str, Any]) -> Actor:
        return cls(
            user_id=str(body.get("user_id") or ""),
            user_name=str(body.get("user_name") or ""),
            channel_id=str(body.get("channel_id") or ""),
            team_id=str(body.get("team_id") or ""),
            home_team_id=str(body.get("user_team_id") or ""),
        )

    @classmethod
    def from_interaction(cls, body: Mapping[str, Any], channel_id: str) -> Actor:
        """A view submission or a button; the channel is the request's, which these payloads may lack."""
        user = body.get("user") or {}
        team = body.get("team") or {}
        return cls(
            user_id=str(user.get("id") or ""),
            user_name=str(user.get("username") or user.get("name") or ""),
            channel_id=channel_id,
            team_id=str(team.get("id") or user.get("team_id") or ""),
            home_team_id=str(user.get("team_id") or ""),
        )

    @property
    def label(self) -> str:
        return f"{self.user_id} ({self.user_name})" if self.user_name else self.user_id


@dataclass(frozen=True)
class Decision:
    """Whether an actor may go on, why (for the person and the audit), and which choices they may not pick."""

    allowed: bool
    reason: str
    remedy: str = ""
    source: str = ""
    denied_choices: Mapping[str, frozenset[str]] = field(default_factory=dict)
    unavailable: bool = False
    """True when access could not be checked (Slack or Nautobot failed); the refusal says to try again."""


def policy_decision(
    policy: CommandPolicy | None,
    actor: Actor,
    members: Callable[[str], frozenset[str]],
    *,
    command: str,
    setting: str = "ACCESS_POLICY",
) -> Decision:
    """The bot's own policy: allowed when one ``allow`` rule names the actor (or a group of theirs) and the channel."""
    if policy is not None and not policy.allow:
        return Decision(
            allowed=False,
            reason=f"Nobody may use {command} yet: no rule of the bot's access policy ({setting}) covers it (a rule "
            "without commands covers only the main command).",
            remedy=f'An administrator grants it with a rule that names it, e.g. "commands": ["{command}"], in '
            f"{setting}; the README's section on access shows how.",
            source=setting,
        )
    if policy is None:
        return Decision(
            allowed=False,
            reason=f"Nobody may use {command} yet: the bot has no access policy, and without one it refuses everyone.",
            remedy="An administrator grants access by setting ACCESS_POLICY (or ACCESS_POLICY_FILE) for the bot; "
            "the README's section on access shows how.",
            source=setting,
        )
    rules = [rule for rule in policy.allow if rule.includes(actor.user_id, members)]
    if any(rule.in_channel(actor.channel_id) for rule in rules):
        return Decision(
            allowed=True,
            reason=f"{setting} allows {actor.label} in {actor.channel_id}",
            source=setting,
            denied_choices=denied_choices(policy, actor, members),
        )
    if rules:
        channels = sorted({channel for rule in rules for channel in rule.channels})
        return Decision(
            allowed=False,
            reason=f"You may use {command}, but not in this channel ({actor.channel_id}).",
            remedy=f"Use it in a channel {setting} allows you: {', '.join(channels)}.",
            source=setting,
        )
    return Decision(
        allowed=False,
        reason=f"You ({actor.label}) may not use {command}: no rule of the bot's access policy names you "
        "or a user group you are in.",
        remedy=f"Ask an administrator to add you, or a Slack user group you are in, to {setting}.",
        source=setting,
    )


def team_decision(
    policy: CommandPolicy | None, actor: Actor, installed_team: str | None, *, command: str, setting: str
) -> Decision | None:
    """A refusal when the actor belongs to another Slack workspace than the policy allows, else None.

    The policy's ``teams``, else the workspace the app is installed in; while neither is known, everyone is
    refused (nobody can be told apart), and so is an actor whose workspace Slack did not name: Slack names it on
    every command and interaction, so a request without it did not come from Slack as Slack sends them.
    """
    teams = (policy.teams if policy is not None else ()) or ((installed_team,) if installed_team else ())
    if not teams:
        return Decision(
            allowed=False,
            reason=f"The bot cannot yet tell which Slack workspace it serves (Slack has not answered its auth.test "
            f"call since the bot started), so it lets nobody use {command} until it can.",
            remedy=f"Nothing was done. Try again in a minute; if it keeps happening, tell the bot's administrator "
            f"(naming the workspaces in teams in {setting} lets the bot decide without asking Slack).",
            source=setting,
            unavailable=True,
        )
    named = {team for team in (actor.team_id, actor.home_team_id) if team}
    if not named:  # Slack names it on every command and interaction: a request without one is not Slack's
        return Decision(
            allowed=False,
            reason=f"Slack did not say which workspace you ({actor.label}) are from, so {command} cannot be allowed.",
            remedy="Nothing was done. Use the command from Slack itself; if this keeps happening, tell the bot's "
            "administrator.",
            source=setting,
        )
    outside = sorted(named - set(teams))
    if not outside:
        return None
    where = "the workspace the bot is installed in" if not (policy and policy.teams) else f"{setting}'s teams"
    return Decision(
        allowed=False,
        reason=f"You ({actor.label}) are from another Slack workspace ({', '.join(outside)}): {command} is only for "
        f"people of {', '.join(teams)} ({where}).",
        remedy=f"Ask an administrator of the bot to add your workspace to teams in {setting}, if people of it "
        "should use the bot.",
        source=setting,
    )


_GRANT_PHRASES = {
    GrantType.ORGANIZATION: "in organization",
    GrantType.CHANNEL: "in channel",
    GrantType.USER: "by user",
}


def grants_decision(
    grants: Iterable[AccessGrant],
    actor: Actor,
    *,
    command: str,
    subcommand: str,
    slash_command: str,
) -> Decision:
    """nautobot-chatops' own rule (``check_and_enqueue_command``): a matching grant of every type, checked in order."""
    relevant = [grant for grant in grants if grant.covers(command, subcommand)]
    values = {GrantType.ORGANIZATION: actor.team_id, GrantType.CHANNEL: actor.channel_id, GrantType.USER: actor.user_id}
    for kind, value in values.items():
        if not any(grant.grant_type == kind and grant.permits(value) for grant in relevant):
            label = value or "unspecified"
            if kind is GrantType.USER and actor.user_name:
                label += f" ({actor.user_name})"
            return Decision(
                allowed=False,
                reason=f"Access to {slash_command} is not permitted {_GRANT_PHRASES[kind]} {label}.",
                remedy=f"Ask your Nautobot administrator to define an Access Grant in Nautobot's ChatOps app for "
                f"command '{command}', subcommand '{subcommand}' (or *), type {kind.value}, value {value or '*'}.",
                source=GRANTS_SETTING,
            )
    return Decision(
        allowed=True,
        reason=f"nautobot-chatops access grants allow {actor.label} in {actor.channel_id} ({command} {subcommand})",
        source=GRANTS_SETTING,
    )


def denied_choices(
    policy: CommandPolicy | None, actor: Actor, members: Callable[[str], frozenset[str]]
) -> dict[str, frozenset[str]]:
    """Per variable, the restricted choice values this actor may not pick."""
    if policy is None:
        return {}
    denied = {
        name: frozenset(value for value, audience in choices.items() if not audience.includes(actor.user_id, members))
        for name, choices in policy.restrict.items()
    }
    return {name: values for name, values in denied.items() if values}


def restricted_form(form: JobForm, decision: Decision) -> JobForm:
    """The form with the choices this person may not pick taken out (a default among them is dropped too)."""
    if not decision.denied_choices:
        return form
    variables = [_without(var, decision.denied_choices.get(var.name, frozenset())) for var in form.variables]
    return form.model_copy(update={"variables": variables})


def _without(var: JobVariable, denied: frozenset[str]) -> JobVariable:
    if not denied:
        return var
    choices = [(value, label) for value, label in var.choices if value not in denied]
    default = None if isinstance(var.default, str) and var.default in denied else var.default
    return var.model_copy(update={"choices": choices, "default": default})


def refused_choices(
    values: Mapping[str, Any], form: JobForm | None, decision: Decision, *, setting: str
) -> dict[str, str]:
    """Field errors for restricted choices in a submission (a form opened before access changed, or forged).

    The form only names the choices: without one, the values are named as they are, and still refused.
    """
    errors = {}
    for name, denied in decision.denied_choices.items():
        picked = values.get(name)
        chosen = {str(value) for value in picked} if isinstance(picked, list) else {str(picked)}
        refused = sorted(chosen & denied)
        if refused:
            var = form.variable(name) if form is not None else None
            labels = ", ".join((var.choice_label(value) if var else None) or value for value in refused)
            errors[name] = f"You may not choose {labels}: {setting} keeps it to some people. Pick another option."
    return errors


def choice_notice(form: JobForm, decision: Decision) -> str | None:
    """A line for the form: which choices it leaves out for this person, and why."""
    parts = []
    for name, denied in decision.denied_choices.items():
        var = form.variable(name)
        if var is None:
            continue
        labels = [label for value, label in var.choices if value in denied]
        if labels:
            parts.append(f"{var.display_label}: {', '.join(labels)}")
    if not parts:
        return None
    return "Not offered to you by the access policy: " + "; ".join(parts) + "."
