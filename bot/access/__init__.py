"""Who may use the command, where, and which choices they may pick.

Nobody may, until a policy says otherwise. The policy is either the bot's own (``ACCESS_POLICY``
or ``ACCESS_POLICY_FILE``: Slack users, user groups and channels), or, with ``NAUTOBOT_CHATOPS``
on, nautobot-chatops' Access Grants with that app's own rule: an organization (Slack team), a
channel and a user grant must all match the command. Either way the policy's ``restrict`` part
can keep single choices (e.g. organization access ``full``) to some people.

The decision is taken on the command, again on the submission and on every button, because
access can change while a form is open. Group memberships and grants are cached (with a TTL):
the command must open its modal within Slack's 3-second trigger window.

Unknown or invalid means refused: a ``restrict`` entry that names no choice of the Job's live form
(checked on every form refresh) refuses every request of that command until the policy or the Job is
corrected, and a person from another Slack workspace than the policy's ``teams`` (default: the one the app
is installed in, learned from ``auth.test``) is refused, whichever source decides access. Until the workspace
is known (no ``teams``, and Slack has not answered yet) everyone is refused.
"""

from bot.access.decisions import (
    GRANTS_SETTING,
    Actor,
    Decision,
    choice_notice,
    denied_choices,
    grants_decision,
    policy_decision,
    refused_choices,
    restricted_form,
    team_decision,
)
from bot.access.lookups import ChatOpsGrants, SlackGroups
from bot.access.service import Access
from bot.access.workspace import Workspace
from bot.policy import AccessPolicy, Audience, CommandPolicy, Rule, old_shape, policy_problems

__all__ = [
    "GRANTS_SETTING",
    "Access",
    "AccessPolicy",
    "Actor",
    "Audience",
    "ChatOpsGrants",
    "CommandPolicy",
    "Decision",
    "Rule",
    "SlackGroups",
    "Workspace",
    "choice_notice",
    "denied_choices",
    "grants_decision",
    "old_shape",
    "policy_decision",
    "policy_problems",
    "refused_choices",
    "restricted_form",
    "team_decision",
]
