"""Who asked for a Job run, and who approved it: shared by every Job the Slack bot runs.

``NAUTOBOT_JOB_MERAKI_BOT_USERS`` names the Nautobot users of the Slack bot (comma-separated). Only when
one of them runs a Job are its ``requested_by`` and ``approved_by`` believed; from anyone else they are
shown as claims.
"""

from __future__ import annotations

import logging
import os

from nautobot.apps.jobs import StringVar

BOT_USERS_ENV = "NAUTOBOT_JOB_MERAKI_BOT_USERS"


def bot_users() -> frozenset[str]:
    """The Nautobot usernames of the Slack bot, from the worker's environment (none: nobody's claim is trusted)."""
    return frozenset(name.strip() for name in os.environ.get(BOT_USERS_ENV, "").split(",") if name.strip())


def _filled_in_by_the_bot(label: str, description: str, max_length: int = 255) -> StringVar:
    return StringVar(label=label, description=description, required=False, max_length=max_length)


def requested_by_var() -> StringVar:
    """The ``requested_by`` variable, the same in every Job (declare it after the Job's own variables)."""
    return _filled_in_by_the_bot(
        "Requested by",
        "Who asked for this run. The Slack bot fills it in; leave it empty in Nautobot, which records "
        "you as the user who ran the Job.",
    )


def approved_by_var() -> StringVar:
    """The ``approved_by`` variable, the same in every Job (declare it after ``requested_by``).

    Room for a few approvers, each named by Slack id and handle.
    """
    return _filled_in_by_the_bot(
        "Approved by",
        "Who approved this run in Slack. The Slack bot fills it in; leave it empty in Nautobot.",
        max_length=1000,
    )


def request_id_var() -> StringVar:
    """The ``request_id`` variable, the same in every Job (declare it last)."""
    return _filled_in_by_the_bot(
        "Request ID",
        "The Slack bot's key for this request, so that it finds the run again after a restart; "
        "leave it empty in Nautobot.",
    )


class RequesterMixin:
    """For a Job with the ``requested_by``, ``approved_by`` and ``request_id`` variables; needs ``user``, ``logger``."""

    logger: logging.Logger | logging.LoggerAdapter

    def username(self) -> str:
        return getattr(getattr(self, "user", None), "username", None) or "unknown"

    def run_by_the_bot(self) -> bool:
        """Whether one of the Slack bot's Nautobot users ran the Job: only then is what it filled in believed."""
        return self.username() in bot_users()

    def believed(self, filled_in: str) -> str:
        """``filled_in`` as given if the bot ran the Job; else marked as the running user's claim.

        Anyone who may run the Job can fill the bot's variables: from a user who is not the bot they are claims,
        and shown as such.
        """
        if self.run_by_the_bot():
            return filled_in
        return f"Nautobot user {self.username()} (claimed: {filled_in})"

    def requester(self, requested_by: str) -> str:
        """Who asked: what the Slack bot filled in, if the bot's Nautobot user ran the Job; else that user."""
        claimed = requested_by.strip()
        return self.believed(claimed) if claimed else f"Nautobot user {self.username()}"

    def approval(self, approved_by: str) -> str | None:
        """Who approved in Slack, believed or shown as a claim like :meth:`requester`; None if nobody did."""
        claimed = approved_by.strip()
        return self.believed(claimed) if claimed else None

    def log_request(self, requested_by: str, request_id: str, approved_by: str = "") -> str:
        """Log who ran the Job, who asked for it and who approved it, if anyone; returns who asked."""
        requester = self.requester(requested_by)
        self.logger.info("Run by Nautobot user %s", self.username(), extra={"grouping": "request"})
        self.logger.info("Requested by %s", requester, extra={"grouping": "request"})
        approved = approved_by.strip()
        if approved and self.run_by_the_bot():
            self.logger.info("Approved in Slack by %s", approved, extra={"grouping": "request"})
        elif approved:
            self.logger.info(
                "Approval claimed by Nautobot user %s: %s", self.username(), approved, extra={"grouping": "request"}
            )
        if request_id:
            self.logger.debug("Request %s", request_id, extra={"grouping": "request"})
        return requester
