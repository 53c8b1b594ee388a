"""A person's Home as Block Kit: their requests, what waits for their approval, their access that expires, and
what they may do.

Every text a person typed or Nautobot returned is escaped where it is put in (:func:`bot.slack.text.escape`).
The buttons are those of the messages, with the same action ids and values, so the same handlers and checks serve
a click on the Home (:mod:`bot.home.buttons`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from slack_sdk.models.blocks import ActionsBlock, Block
from slack_sdk.models.views import View

from bot.home import buttons
from bot.home.abilities import Ability
from bot.home.fit import Part, home_view
from bot.home.reading import Shown
from bot.home.states import status_line
from bot.ledger import Record
from bot.ledger.grant import Grant
from bot.models import RunStatus
from bot.slack.messages import input_rows
from bot.slack.text import channel_link, context, escape, link, mention, section, when

SUMMARY_MAX = 400
"""Characters of a request's inputs shown in its line (escaped); the thread has them all."""

ThreadUrl = Callable[[str, str], str | None]
"""A link to a message (its channel and ts); None when none can be made."""


@dataclass(frozen=True)
class Drawing:
    """Everything a person's Home is drawn from."""

    person: str
    shown: Shown
    finals: dict[str, RunStatus] = field(default_factory=dict)
    """How each ended run ended, by result id (those Nautobot told)."""
    abilities: tuple[Ability, ...] = ()
    can_cancel: bool = False
    thread_url: ThreadUrl = lambda _channel, _ts: None
    at: datetime | None = None


def render(drawing: Drawing) -> View:
    shown = drawing.shown
    top: list[Block] = [
        context(
            f"Your Meraki access requests, as of {when(drawing.at or datetime.now(UTC))}. Buttons here do "
            "what the same buttons in the messages do."
        )
    ]
    parts = [
        Part(
            "My requests",
            [_request(record, drawing) for record in shown.requests],
            more=shown.requests_more,
            more_text=lambda count: f"…and {count} older request{'s' * (count != 1)}, in their channels' threads.",
            empty="You have not asked for anything yet. Use a command from *What I may do* below.",
        ),
        Part(
            "Waiting for my approval",
            [_approval(record, drawing) for record in shown.approvals],
            more=shown.approvals_more,
            more_text=lambda count: f"…and {count} more waiting for you: see the messages that asked you.",
            empty="Nothing waits for your approval.",
            intro=[context("…and perhaps more: many requests wait.")] if shown.approvals_unread else [],
        ),
        Part(
            "Access that expires",
            [_grant(grant, drawing) for grant in shown.grants],
            more=shown.grants_more,
            more_text=lambda count: f"…and {count} more, each in its grant's thread.",
            empty="None of the access you asked for or hold runs out.",
        ),
        Part("What I may do", [[section(_abilities(drawing.abilities))]], empty=""),
    ]
    return home_view(parts, top=top)


def _request(record: Record, drawing: Drawing) -> list[Block]:
    final = drawing.finals.get(record.result_id or "")
    dry = " (dry run)" if record.dryrun else ""
    lines = [
        f"{status_line(record, final)}",
        f"*{escape(record.job_name, limit=200)}*{dry} · asked {when(record.created_at)} · {_thread(record, drawing)}",
    ]
    summary = _summary(record)
    if summary:
        lines.append(summary)
    blocks: list[Block] = [section("\n".join(lines))]
    shown = buttons.for_request(record, final, can_cancel=drawing.can_cancel)
    if shown:
        blocks.append(ActionsBlock(elements=shown))
    return blocks


def _approval(record: Record, drawing: Drawing) -> list[Block]:
    approval = record.approval
    dry = " (dry run)" if record.dryrun else ""
    job = escape(record.job_name, limit=200)
    lines = [f"🕒 *{job}*{dry} asked by {mention(record.requester_id)} · {_thread(record, drawing)}"]
    if approval is not None:
        lines.append(
            f"Needs {approval.count} approval{'s' * (approval.count != 1)} ({len(approval.approvals)} so far) · "
            f"expires {when(approval.expire_at)}"
        )
    summary = _summary(record)
    if summary:
        lines.append(summary)
    return [section("\n".join(lines)), ActionsBlock(elements=buttons.for_approver(record))]


def _grant(grant: Grant, drawing: Drawing) -> list[Block]:
    whose = f"{escape(grant.email, limit=254)} in {escape(grant.organization, limit=200)}"
    where = _link(grant.channel, grant.ts, drawing)
    if grant.rescued_at is not None:  # Revoke now, or the safety net: its result follows in the thread
        return [section(f"⏳ *{whose}*: being revoked now · {where}")]
    text = f"⏰ *{whose}* until {when(grant.expires_at)} · {where}"
    if grant.requester_id != drawing.person:  # granted to them, asked by someone else: theirs to extend or revoke
        return [section(f"{text}\nAsked for by {mention(grant.requester_id)}, who can extend it or revoke it early.")]
    return [section(text), ActionsBlock(elements=buttons.for_grant(grant))]


def _abilities(abilities: tuple[Ability, ...]) -> str:
    if not abilities:
        return "The bot's access policy lets you use none of its commands. Its administrator can change that."
    lines = []
    for ability in abilities:
        if ability.anywhere:
            where = "in any channel"
        else:
            where = "in " + ", ".join(channel_link(channel) for channel in ability.channels)
            where += " and more channels" if ability.more else ""
        lines.append(f"• `{escape(ability.command, limit=100)}` {where}")
    return "\n".join(lines)


def _summary(record: Record) -> str:
    rows = input_rows(record.inputs, None)
    text = " · ".join(f"{label}: {value}" for label, value in rows)
    return escape(text, limit=SUMMARY_MAX)


def _thread(record: Record, drawing: Drawing) -> str:
    if record.approval is not None and record.approval.link:
        return link(record.approval.link, "thread")
    if not record.message_ts:  # never announced (refused, not sent): no thread, the form said why
        return "no thread"
    return _link(record.message_channel or record.channel_id, record.message_ts, drawing)


def _link(channel: str, ts: str | None, drawing: Drawing) -> str:
    url = drawing.thread_url(channel, ts) if ts else None
    return link(url, "thread") if url else f"in {channel_link(channel)}"
