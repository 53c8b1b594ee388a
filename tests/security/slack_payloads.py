"""What Slack would render from the bot's payloads, and what must never be in it.

Slack parses ``<...>`` in ``mrkdwn`` (and in a message's notification ``text``) as a mention, a
channel, a special mention such as ``<!channel>``, or a link; ``&amp;``, ``&lt;`` and ``&gt;`` are
its only entities. So in everything the bot writes, a ``<...>`` sequence must be one the bot wrote
itself for an ordinary request, no ``<`` or ``>`` may be left outside one, and every ``&`` must
start one of the three entities.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

CONTROL_SEQUENCE = re.compile(r"<[^<>]*>")
BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt);)")
MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
VIEW_METHODS = frozenset({"views.open", "views.update", "views.push"})
BOT_SHAPES = (
    re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|\d{4}-\d\d-\d\d \d\d:\d\d UTC>"),
    re.compile(r"<https://standin\.slack\.com/archives/[CDG][A-Z0-9]+/p\d+\|thread>"),
)
"""Sequences the bot writes that differ from request to request, so that no ordinary request shows them all: a
time (Slack's own date formatting of a time the bot read), and a link to a request's thread (the App Home's, made
of Slack's own channel id and ts, its label fixed). Nobody's text can make one: escaping leaves no ``<``."""


def mrkdwn_objects(payload: Any) -> Iterator[Mapping[str, Any]]:
    """Every ``{"type": "mrkdwn", ...}`` text object, however deeply nested."""
    if isinstance(payload, Mapping):
        if payload.get("type") == "mrkdwn":
            yield payload
        for value in payload.values():
            yield from mrkdwn_objects(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from mrkdwn_objects(value)


def rendered_texts(method: str, args: Mapping[str, Any]) -> list[str]:
    """The texts Slack parses as ``mrkdwn`` in one Web API call (or one view in an ack)."""
    texts = []
    if method in MESSAGE_METHODS and isinstance(args.get("text"), str):
        texts.append(args["text"])
    for key in ("blocks", "view", "attachments"):
        texts += [item["text"] for item in mrkdwn_objects(args.get(key)) if isinstance(item.get("text"), str)]
    return texts


def sent_texts(method: str, args: Mapping[str, Any]) -> list[str]:
    """Every text in one Web API call that Slack parses or shows as the bot's words: a message's ``text`` and
    ``mrkdwn`` (:func:`rendered_texts`), and an upload's comment and file titles."""
    texts = rendered_texts(method, args)
    if method.startswith("files."):
        texts += [str(args[key]) for key in ("initial_comment", "title") if args.get(key)]
        entries = args.get("files") if isinstance(args.get("files"), list) else []
        texts += [str(entry["title"]) for entry in entries if isinstance(entry, Mapping) and entry.get("title")]
    return texts


def control_sequences(texts: Iterable[str]) -> set[str]:
    return {match for text in texts for match in CONTROL_SEQUENCE.findall(text)}


def injection_problems(texts: Iterable[str], allowed: set[str]) -> list[str]:
    """Sequences the bot did not write itself, stray angle brackets, and ``&`` outside an entity."""
    problems = []
    for text in texts:
        foreign = [seq for seq in CONTROL_SEQUENCE.findall(text) if seq not in allowed and not _bot_shaped(seq)]
        if foreign:
            problems.append(f"control sequence(s) {foreign[:3]!r} in {text[:200]!r}")
        rest = CONTROL_SEQUENCE.sub("", text)
        if "<" in rest or ">" in rest:
            problems.append(f"unescaped angle bracket in {text[:200]!r}")
        if BARE_AMPERSAND.search(rest):
            problems.append(f"'&' outside an entity in {text[:200]!r}")
    return problems


def _bot_shaped(sequence: str) -> bool:
    return any(shape.fullmatch(sequence) for shape in BOT_SHAPES)


def unverbatim(payload: Any) -> list[str]:
    """``mrkdwn`` objects Slack would auto-link (URLs, ``@here``, channel names): the bot writes links itself."""
    return [str(item.get("text", ""))[:200] for item in mrkdwn_objects(payload) if item.get("verbatim") is not True]
