"""The messages of a run Nautobot holds for approval: what its approvers (and the approvers' channel) are told,
the reminder, each rewritten once Nautobot decided; and the requester's replies saying who was told, or that
nobody could be, and who decided.

Nautobot decides, never these messages: they carry a link to decide there and no Approve or Deny button, since
Nautobot's approval API acts as the bot's own user and the bot cannot approve for a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import Block

from bot.models import JobForm, RunRequest
from bot.slack.messages import input_rows, input_sections
from bot.slack.text import channel_link, context, escape, fallback, link, mention, section

Message = tuple[str, list[Block]]

DECIDE = "Decide in Nautobot"
WHO_MAX = 10
"""Names listed in a line before the rest are counted."""


@dataclass(frozen=True)
class Decision:
    """How Nautobot ended the wait, and who decided when Nautobot says so."""

    outcome: str
    """``approved``, ``denied``, ``cancelled`` (withdrawn or deleted in Nautobot) or ``failed`` (not started)."""
    deciders: tuple[str, ...] = ()
    """Nautobot usernames, as Nautobot names them."""

    def line(self) -> str:
        """The outcome in a line of ``mrkdwn``: e.g. "✅ Approved in Nautobot by *alice*."."""
        return self._line(f" by {_names(self.deciders)}" if self.deciders else "")

    def plain(self) -> str:
        """The outcome as a notification's plain text (escaped where it is posted)."""
        return self._line(f" by {', '.join(self.deciders)}" if self.deciders else "")

    def _line(self, by: str) -> str:
        if self.outcome == "approved":
            return f"✅ Approved in Nautobot{by}."
        if self.outcome == "denied":
            return f"❌ Denied in Nautobot{by}. Nothing was run."
        if self.outcome == "failed":
            return "⚠️ Nautobot's scheduler could not start it. Nothing was run."
        return "⏹️ No longer waiting in Nautobot (withdrawn or deleted there). Nothing was run."


def approvers_message(
    request: RunRequest,
    form: JobForm | None,
    url: str,
    *,
    reminder: bool = False,
    told: Sequence[str] | None = None,
    decision: Decision | None = None,
) -> Message:
    """What an approver (or the approvers' channel) gets: who asked, which Job, the inputs as the summary shows
    them, and a link to decide in Nautobot; once decided, the decision leads and the link only opens Nautobot.

    ``told``: for the channel's message, the approvers told directly (an empty sequence: none could be found).
    """
    job = escape(request.job_name, limit=200)
    dry = " (dry run)" if request.dryrun else ""
    lead = "🔔 Reminder: " if reminder and decision is None else ""
    asks = (
        f"{lead}{mention(request.requester_id)} asks to run *{job}*{dry} in {channel_link(request.channel_id)}; "
        "Nautobot holds it for approval."
    )
    blocks: list[Block] = [
        section(asks if decision is None else f"{decision.line()}\n{asks}"),
        *input_sections(input_rows(request.inputs, form)),
    ]
    small = [link(url, "Open in Nautobot" if decision else DECIDE)]
    if decision is None:
        small.append("Approve or deny it there; the bot follows the decision.")
    if told is not None:
        small.append(f"Told directly: {_mentions(told)}." if told else "No approver could be told directly.")
    blocks.append(context(" · ".join(small)))
    if decision is not None:
        plain = decision.plain()
    else:
        plain = f"{'Reminder: ' if reminder else ''}approval asked in Nautobot for {request.job_name}{dry}"
    return fallback(plain), blocks


def told_reply(people: Sequence[str], channel: str | None) -> Message:
    """The requester's thread: who was told of the wait."""
    where = [_mentions(people)] if people else []
    if channel:
        where.append(channel_link(channel))
    return fallback("The approvers in Nautobot were told."), [
        context(f"Nautobot's approvers were told: {' and '.join(where)}.")
    ]


def nobody_told_reply(requester_id: str, url: str) -> Message:
    """The requester's thread: nobody could be told, so they know to ask someone."""
    text = (
        f"{mention(requester_id)} The bot could not tell anyone that this run waits for approval: it found no "
        "approver in Nautobot with a linked Slack account, and no approvers' channel is set. Ask an approver to "
        f"decide it in Nautobot: {link(url, 'the scheduled job')}."
    )
    return fallback("Nobody could be told that this run waits for approval."), [section(text)]


def decided_reply(requester_id: str, decision: Decision) -> Message:
    """The requester's thread: who decided, as Nautobot names them."""
    return fallback(decision.plain()), [section(f"{mention(requester_id)} {decision.line()}")]


def _mentions(people: Sequence[str]) -> str:
    shown = [mention(person) for person in people[:WHO_MAX]]
    more = len(people) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _names(names: Sequence[str]) -> str:
    shown = [f"*{escape(name, limit=100)}*" for name in names[:WHO_MAX]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
