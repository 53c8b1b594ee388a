"""The access policy as configured (``ACCESS_POLICY`` or ``ACCESS_POLICY_FILE``): plain values, read and checked.

The settings read it at start, so it imports no service (no Slack, no Nautobot client); :mod:`bot.access`
applies it to each request, and the approval flow waits on its ``approvals``.
"""

from bot.policy.approvals import ApprovalRule
from bot.policy.durations import Duration, describe_duration, parse_duration
from bot.policy.rules import AccessPolicy, Audience, CommandPolicy, Rule, old_shape, policy_problems
from bot.policy.source import policy_file, policy_text

__all__ = [
    "AccessPolicy",
    "ApprovalRule",
    "Audience",
    "CommandPolicy",
    "Duration",
    "Rule",
    "describe_duration",
    "old_shape",
    "parse_duration",
    "policy_file",
    "policy_problems",
    "policy_text",
]
