"""The access policy as configured (``ACCESS_POLICY`` or ``ACCESS_POLICY_FILE``): plain values, read and checked.

The settings read it at start, so it imports no service (no Slack, no Nautobot client); :mod:`bot.access`
applies it to each request, and the approval flow waits on its ``approvals``.
"""

from bot.policy.approvals import ApprovalRule
from bot.policy.audience import ApproverAudience
from bot.policy.durations import Duration, describe_duration, parse_duration
from bot.policy.grant_durations import DurationRule, describe_length, parse_length
from bot.policy.rules import AccessPolicy, Audience, CommandPolicy, Rule, old_shape, policy_problems
from bot.policy.source import policy_file, policy_text

__all__ = [
    "AccessPolicy",
    "ApprovalRule",
    "ApproverAudience",
    "Audience",
    "CommandPolicy",
    "Duration",
    "DurationRule",
    "Rule",
    "describe_duration",
    "describe_length",
    "old_shape",
    "parse_duration",
    "parse_length",
    "policy_file",
    "policy_problems",
    "policy_text",
]
