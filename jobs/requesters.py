"""Who asked for a Job run: shared by every Job the Slack bot runs.

``NAUTOBOT_JOB_MERAKI_BOT_USERS`` names the Nautobot users of the Slack bot (comma-separated). Only when
one of them runs a Job is its ``requested_by`` taken as who asked; from anyone else it is shown as a claim.
"""

from __future__ import annotations

import logging
import os

from nautobot.apps.jobs import StringVar

BOT_USERS_ENV = "NAUTOBOT_JOB_MERAKI_BOT_USERS"


def bot_users() -> frozenset[str]:
    """The Nautobot usernames of the Slack bot, from the worker's environment (none: nobody's claim is trusted)."""
    return frozenset(name.strip() for name in os.environ.get(BOT_USERS_ENV, "").split(",") if name.strip())


def _filled_in_by_the_bot(label: str, description: str) -> StringVar:
    return StringVar(label=label, description=description, required=False, max_length=255)


def requested_by_var() -> StringVar:
    """The ``requested_by`` variable, the same in every Job (declare it after the Job's own variables)."""
    return _filled_in_by_the_bot(
        "Requested by",
        "Who asked for this run. The Slack bot fills it in; leave it empty in Nautobot, which records "
        "you as the user who ran the Job.",
    )


def request_id_var() -> StringVar:
    """The ``request_id`` variable, the same in every Job (declare it last)."""
    return _filled_in_by_the_bot(
        "Request ID",
        "The Slack bot's key for this request, so that it finds the run again after a restart; "
        "leave it empty in Nautobot.",
    )


class RequesterMixin:
    """For a Job with ``requested_by`` and ``request_id`` variables; needs the Job's ``user`` and ``logger``."""

    logger: logging.Logger | logging.LoggerAdapter

    def username(self) -> str:
        return getattr(getattr(self, "user", None), "username", None) or "unknown"

    def requester(self, requested_by: str) -> str:
        """Who asked: what the Slack bot filled in, if the bot's Nautobot user ran the Job; else that user.

        Anyone who may run the Job can fill ``requested_by``: from a user who is not the bot it is a claim,
        and shown as one.
        """
        claimed = requested_by.strip()
        user = f"Nautobot user {self.username()}"
        if not claimed:
            return user
        if self.username() in bot_users():
            return claimed
        return f"{user} (claimed: {claimed})"

    def log_request(self, requested_by: str, request_id: str) -> str:
        """Log who ran the Job and who asked for it; returns who asked."""
        requester = self.requester(requested_by)
        self.logger.info("Run by Nautobot user %s", self.username(), extra={"grouping": "request"})
        self.logger.info("Requested by %s", requester, extra={"grouping": "request"})
        if request_id:
            self.logger.debug("Request %s", request_id, extra={"grouping": "request"})
        return requester
