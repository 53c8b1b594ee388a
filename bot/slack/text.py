"""Untrusted text made safe for Slack's ``mrkdwn``, and the few blocks every message is made of.

Text typed by people or returned by Nautobot goes through :func:`escape` before it reaches a
``mrkdwn`` field, so nobody can make the bot ping ``<!channel>``, mention someone or hide a link. A
message's notification ``text`` is plain text until :func:`outgoing` escapes it where it is sent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

SECTION_MAX = 3000
CONTEXT_MAX = 2000
FALLBACK_MAX = 3000
INFO_ICON = "\u2139\ufe0f"
READER_TIME = "{date_short_pretty} {time}"
"""How Slack's date formatting shows a time: in each reader's own time zone (``tomorrow 4:00 PM``)."""

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}\Z")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}\Z")
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
ENTITY_MAX = len("&amp;")
URL = re.compile(r"^https?://[^\s<>|]+\Z")


def clean(text: str) -> str:
    """Replace lone surrogates, drop control and bidi-override characters (keep ``\\n`` and ``\\t``)."""
    text = str(text).encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _UNSAFE_CHARS.sub("", text.replace("\r\n", "\n"))


def truncate(text: str, limit: int) -> str:
    """Cut to ``limit`` characters, marking the cut with ``…``."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def entity_safe_cut(text: str, cut: int) -> int:
    """Move ``cut`` back so it does not split ``&amp;``/``&lt;``/``&gt;``."""
    partial = _PARTIAL_ENTITY.search(text, 0, cut)
    return partial.start() if partial else cut


def cap(text: str, limit: int) -> str:
    """Cut already-escaped ``mrkdwn`` to ``limit`` characters without splitting an entity."""
    if len(text) <= limit:
        return text
    return text[: entity_safe_cut(text, limit - 1)].rstrip() + "…"


def escape(text: str, *, limit: int | None = None) -> str:
    """Make untrusted text inert in ``mrkdwn``: clean it, escape ``&``, ``<``, ``>``, cap its length.

    Not idempotent, on purpose: it escapes text, not ``mrkdwn``, so ``&amp;`` typed by someone is shown
    as typed. Escape each piece of text exactly once, where it is put into ``mrkdwn``.
    """
    escaped = clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if limit is None:
        return escaped
    return cap(escaped, limit) if limit > 0 else ""


def mention(user_id: str) -> str:
    """``<@U123>`` for a real Slack user id; anything else is shown as escaped text."""
    return f"<@{user_id}>" if _USER_ID.match(user_id or "") else escape(user_id or "someone", limit=100)


def channel_link(channel_id: str) -> str:
    return f"<#{channel_id}>" if _CHANNEL_ID.match(channel_id or "") else escape(channel_id or "?", limit=100)


def link(url: str | None, text: str) -> str:
    """A ``<url|text>`` link for an http(s) URL; without a usable URL only the escaped text."""
    label = escape(text, limit=200).replace("|", "¦")
    if not url or not URL.match(url):
        return label
    return f"<{url.replace('&', '&amp;')}|{label}>"


# -- blocks --------------------------------------------------------------------------------------


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=cap(text, SECTION_MAX) or " ", verbatim=True))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=cap(text, CONTEXT_MAX) or " ", verbatim=True)])


def fallback(text: str) -> str:
    """A message's notification text, as plain text: unescaped, whatever it echoes.

    Slack parses a message's ``text`` like ``mrkdwn``; :func:`outgoing` escapes it on its way out, in the one
    place that posts (``bot/slack/thread.py``), so no message can carry a raw mention in it.
    """
    return truncate(clean(text), FALLBACK_MAX)


def outgoing(text: str) -> str:
    """The ``text`` of a message as Slack gets it: escaped once, here (never by the message's builder)."""
    return escape(text, limit=FALLBACK_MAX) or " "


def when(moment: datetime) -> str:
    """A time as each reader sees it in their own time zone (Slack's date formatting), with a UTC fallback."""
    stamp = int(moment.timestamp())
    utc = moment.astimezone(UTC)
    return f"<!date^{stamp}^{READER_TIME}|{utc:%Y-%m-%d %H:%M} UTC>"
