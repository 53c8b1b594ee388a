"""An in-process Slack Web API client and ``ack`` for unit tests, and one ordered record of what happened.

:class:`Events` is shared by the fake Slack client, the fake ``ack`` and the fake Nautobot, so a
test can assert the order of acknowledgements, Slack calls and Nautobot requests across all three.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from testbed.block_kit import MAX_VIEW_BYTES, validate_message_blocks, validate_view, view_size

DM_CHANNEL = "D0DM000001"
OPENED_VIEW_ID = "V0OPENED01"
OPENED_VIEW_HASH = "1730542502.AbCdEf12"


@dataclass(frozen=True)
class Event:
    """One thing that happened: ``source`` is ``ack``, ``slack`` or ``nautobot``."""

    source: str
    name: str
    data: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return f"{self.source} {self.name}".rstrip()


class Events(list[Event]):
    """Everything the fakes saw, in the order it happened."""

    def add(self, source: str, name: str, data: Mapping[str, Any] | None = None) -> None:
        self.append(Event(source, name, dict(data or {})))

    def labels(self) -> list[str]:
        return [event.label for event in self]

    def of(self, source: str) -> list[Event]:
        return [event for event in self if event.source == source]


@dataclass(frozen=True)
class SlackCall:
    method: str
    kwargs: dict[str, Any]


class FakeSlack:
    """Async stand-ins for the Web API methods the bot uses, answering like Slack does.

    ``calls`` holds every call in order; ``posted`` the answers of the messages that were posted.
    ``not_in`` lists channels the bot is not a member of: ``chat.postMessage`` and ``chat.postEphemeral``
    there fail with ``not_in_channel``, after being recorded. Channels added to ``archived`` (at any time) refuse posts
    and updates with ``is_archived``.

    Views and message blocks go through Slack's Block Kit checks (:mod:`testbed.block_kit`), as in
    the Slack stand-in: a view Slack would refuse fails with ``view_too_large`` or
    ``invalid_arguments``, message blocks with ``invalid_blocks_format`` or ``invalid_blocks``; the
    problems are listed in ``response_metadata.messages``. Refused calls are recorded too.
    """

    def __init__(
        self,
        events: Events | None = None,
        *,
        not_in: Iterable[str] = (),
        usergroups: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.events = events if events is not None else Events()
        self.calls: list[SlackCall] = []
        self.posted: list[dict[str, Any]] = []
        self.not_in = frozenset(not_in)
        self.archived: set[str] = set()
        self.closed_views: set[str] = set()
        """Views the person closed (or replaced by opening another): ``views.update`` answers ``not_found``."""
        self.usergroups = {group: list(users) for group, users in (usergroups or {}).items()}
        self._ts = itertools.count(101)

    def _record(self, method: str, kwargs: dict[str, Any]) -> None:
        self.calls.append(SlackCall(method, kwargs))
        self.events.add("slack", method, kwargs)

    def _next_ts(self) -> str:
        return f"1730542502.{next(self._ts):06d}"

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [call.kwargs for call in self.calls if call.method == method]

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    async def views_open(self, **kwargs: Any) -> dict[str, Any]:
        self._record("views_open", kwargs)
        view = _checked_view("views.open", kwargs["view"])
        return {"ok": True, "view": {**view, "id": OPENED_VIEW_ID, "hash": OPENED_VIEW_HASH}}

    async def views_update(self, **kwargs: Any) -> dict[str, Any]:
        self._record("views_update", kwargs)
        view = _checked_view("views.update", kwargs["view"])
        view_id = kwargs.get("view_id") or OPENED_VIEW_ID
        if view_id in self.closed_views:
            _refuse("views.update", "not_found")
        return {"ok": True, "view": {**view, "id": view_id, "hash": "1730542503.ZyXwVu98"}}

    async def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        self._record("chat_postMessage", kwargs)
        channel = kwargs["channel"]
        if channel in self.not_in:
            _refuse("chat.postMessage", "not_in_channel")
        if channel in self.archived:
            _refuse("chat.postMessage", "is_archived")
        _check_blocks("chat.postMessage", kwargs)
        answer = {
            "ok": True,
            "channel": channel,
            "ts": self._next_ts(),
            "message": {"type": "message", "text": kwargs["text"]},
        }
        self.posted.append(answer)
        return answer

    async def chat_update(self, **kwargs: Any) -> dict[str, Any]:
        self._record("chat_update", kwargs)
        if kwargs["channel"] in self.archived:
            _refuse("chat.update", "is_archived")
        _check_blocks("chat.update", kwargs)
        return {"ok": True, "channel": kwargs["channel"], "ts": kwargs["ts"], "text": kwargs["text"]}

    async def chat_getPermalink(self, **kwargs: Any) -> dict[str, Any]:
        self._record("chat_getPermalink", kwargs)
        ts = str(kwargs["message_ts"]).replace(".", "")
        return {
            "ok": True,
            "channel": kwargs["channel"],
            "permalink": f"https://fake.slack.com/archives/{kwargs['channel']}/p{ts}",
        }

    async def conversations_open(self, **kwargs: Any) -> dict[str, Any]:
        self._record("conversations_open", kwargs)
        return {"ok": True, "channel": {"id": DM_CHANNEL}}

    async def chat_postEphemeral(self, **kwargs: Any) -> dict[str, Any]:
        self._record("chat_postEphemeral", kwargs)
        _check_blocks("chat.postEphemeral", kwargs)
        if kwargs.get("channel") in self.not_in:
            _refuse("chat.postEphemeral", "not_in_channel")
        return {"ok": True, "message_ts": self._next_ts()}

    async def usergroups_users_list(self, **kwargs: Any) -> dict[str, Any]:
        """Slack's answer: the group's member ids, or ``no_such_subteam``."""
        self._record("usergroups_users_list", kwargs)
        group = kwargs.get("usergroup")
        if group not in self.usergroups:
            _refuse("usergroups.users.list", "no_such_subteam")
        return {"ok": True, "users": list(self.usergroups[group])}

    async def files_upload_v2(self, **kwargs: Any) -> dict[str, Any]:
        self._record("files_upload_v2", kwargs)
        file = {"id": "F0FILE0001", "name": kwargs.get("filename"), "title": kwargs.get("title")}
        return {"ok": True, "file": file, "files": [file]}


class FakeAck:
    """Bolt's ``ack``: records each call's keyword arguments.

    A view sent with ``response_action`` ``update`` or ``push`` goes through the same Block Kit checks as
    ``views.update`` (Slack shows the person an error for a view it refuses): a refused one raises here, so
    the test fails where Slack would have.
    """

    def __init__(self, events: Events | None = None) -> None:
        self.events = events if events is not None else Events()
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        self.events.add("ack", kwargs.get("response_action", ""), kwargs)
        if kwargs.get("response_action") in ("update", "push"):
            _checked_view("view_submission ack", kwargs["view"])


def view_dict(view: View | Mapping[str, Any]) -> dict[str, Any]:
    """A view as Slack receives it (``to_dict()`` also runs slack_sdk's checks)."""
    return view.to_dict() if isinstance(view, View) else dict(view)


def _refuse(method: str, error: str, messages: list[str] | None = None) -> NoReturn:
    """Raise what slack_sdk raises when Slack answers ``{"ok": false, "error": error}``."""
    response: dict[str, Any] = {"ok": False, "error": error}
    if messages:
        response["response_metadata"] = {"messages": messages}
    raise SlackApiError(
        f"The request to the Slack API failed. (url: https://slack.com/api/{method})", response=response
    )


def _as_sent(value: Any) -> Any:
    """``value`` as Slack reads it: sent as JSON (as slack_sdk does) and read back."""
    return json.loads(json.dumps(value))


def _checked_view(method: str, view: View | Mapping[str, Any]) -> dict[str, Any]:
    """The view as Slack receives it, refused as Slack refuses a view over its limits."""
    body = view_dict(view)
    sent = _as_sent(body)
    if view_size(sent) > MAX_VIEW_BYTES:
        _refuse(method, "view_too_large")
    problems = validate_view(sent)
    if problems:
        _refuse(method, "invalid_arguments", problems)
    return body


def _check_blocks(method: str, kwargs: Mapping[str, Any]) -> None:
    """Refuse a message's ``blocks`` as Slack does when they break Block Kit's rules."""
    blocks = kwargs.get("blocks")
    if blocks is None:
        return
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            _refuse(method, "invalid_blocks_format")
    if not isinstance(blocks, list | tuple):
        _refuse(method, "invalid_blocks_format")
    problems = validate_message_blocks(
        _as_sent([block.to_dict() if isinstance(block, Block) else block for block in blocks])
    )
    if problems:
        _refuse(method, "invalid_blocks", problems)


def _texts(item: Any) -> Iterable[str]:
    if isinstance(item, Mapping):
        if isinstance(item.get("text"), str):
            yield item["text"]
        for value in item.values():
            if not isinstance(value, str):
                yield from _texts(value)
    elif isinstance(item, list):
        for value in item:
            yield from _texts(value)


def blocks_text(blocks: Iterable[Block | Mapping[str, Any]]) -> str:
    """Every text of the blocks, one per line."""
    rendered = [block.to_dict() if isinstance(block, Block) else block for block in blocks]
    return "\n".join(_texts(rendered))


def view_text(view: View | Mapping[str, Any]) -> str:
    return blocks_text(view_dict(view).get("blocks", []))
