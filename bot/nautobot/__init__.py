"""Nautobot as the bot sees it: the REST client and its errors, nautobot-chatops' API, results, the form cache.

The rest of the bot imports from here, so the modules inside may move.
"""

from bot.nautobot.capabilities import Capabilities, reported_version
from bot.nautobot.chatops import AccessGrant, ChatOpsApp, CommandLogEntry, CommandStatus, GrantType, LinkedUser
from bot.nautobot.client import JobInfo, NautobotClient, Submission
from bot.nautobot.errors import (
    JobDisabled,
    JobFieldErrors,
    JobNotFound,
    NautobotAuthError,
    NautobotError,
    NautobotServerError,
    NautobotUnreachable,
    NoWorker,
    flatten,
)
from bot.nautobot.form_cache import FormCache, FormCaches
from bot.nautobot.objects import ObjectSearch
from bot.nautobot.result_reader import ResultReader

__all__ = [
    "AccessGrant",
    "Capabilities",
    "ChatOpsApp",
    "CommandLogEntry",
    "CommandStatus",
    "FormCache",
    "FormCaches",
    "GrantType",
    "JobDisabled",
    "JobFieldErrors",
    "JobInfo",
    "JobNotFound",
    "LinkedUser",
    "NautobotAuthError",
    "NautobotClient",
    "NautobotError",
    "NautobotServerError",
    "NautobotUnreachable",
    "NoWorker",
    "ObjectSearch",
    "ResultReader",
    "Submission",
    "flatten",
    "reported_version",
]
