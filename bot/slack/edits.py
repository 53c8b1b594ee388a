"""Edits of Slack messages waiting for their turn collapse into the newest one.

A message's edits go out one at a time, in the order they were asked for. An edit still waiting for its
turn when a newer one for the same message comes is replaced by it: the stale content is never sent,
and whoever asked for it is answered when the newer content is delivered, since it supersedes theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

C = TypeVar("C")
R = TypeVar("R")


@dataclass(eq=False)
class _Edit(Generic[C, R]):
    """The newest content for a message, and the answer everyone whose edit it covers waits for."""

    content: C
    deliver: Callable[[C], Awaitable[R]]
    done: asyncio.Future[R]
    waiters: int = 1


@dataclass(eq=False)
class _Message(Generic[C, R]):
    waiting: _Edit[C, R] | None = None
    """The edit waiting for its turn; at most one, the newest."""
    sending: _Edit[C, R] | None = None
    """The edit being delivered; a newer one waits until it is done, so it cannot be overtaken."""
    worker: asyncio.Task[None] | None = None
    """Delivers the message's edits one after the other, while there are any."""


class LatestEdits(Generic[C, R]):
    """One worker per message delivers its edits in order, each after its ``turn``; only the newest waiting one.

    The worker is a task of its own, so a caller that stops waiting (cancelled: shutdown, a lost lease)
    takes nothing from the others whose edits went into the same delivery. An edit nobody waits for any
    more is dropped before it is sent; one already being sent is finished.
    """

    def __init__(self) -> None:
        self._messages: dict[Hashable, _Message[C, R]] = {}

    def __len__(self) -> int:
        """Messages with an edit waiting or being delivered."""
        return len(self._messages)

    def busy(self, message_key: Hashable) -> bool:
        """An edit of the message waits or is being delivered."""
        return message_key in self._messages

    async def edit(
        self,
        message_key: Hashable,
        content: C,
        deliver: Callable[[C], Awaitable[R]],
        *,
        turn: Callable[[], Awaitable[None]],
    ) -> R:
        """Have ``content`` delivered; what ``deliver`` answered for it, or for newer content that replaced it.

        ``turn`` is awaited before each delivery of the message (its pacing: the same for all its edits); the
        content is chosen only once the turn has come. ``deliver`` raising is raised to every caller whose
        edit it covered.
        """
        message = self._messages.setdefault(message_key, _Message())
        edit = self._wait(message, content, deliver)
        if message.worker is None:
            message.worker = asyncio.create_task(self._work(message_key, message, turn))
        try:
            return await asyncio.shield(edit.done)
        except asyncio.CancelledError:
            self._abandon(message_key, message, edit)
            raise

    @staticmethod
    def _wait(message: _Message[C, R], content: C, deliver: Callable[[C], Awaitable[R]]) -> _Edit[C, R]:
        edit = message.waiting
        if edit is None:
            edit = _Edit(content, deliver, asyncio.get_running_loop().create_future())
            message.waiting = edit
        else:  # the older content is stale: it is never sent, its callers are answered with this one
            edit.content, edit.deliver = content, deliver
            edit.waiters += 1
        return edit

    async def _work(self, message_key: Hashable, message: _Message[C, R], turn: Callable[[], Awaitable[None]]) -> None:
        try:
            while message.waiting is not None:
                await turn()
                edit, message.waiting = message.waiting, None
                if edit is None:  # pragma: no cover - a worker whose edit was dropped is cancelled first
                    break
                message.sending = edit
                try:
                    result = await edit.deliver(edit.content)
                except Exception as exc:
                    edit.done.set_exception(exc)
                else:
                    edit.done.set_result(result)
                message.sending = None
        finally:
            if message.worker is asyncio.current_task():
                self._wind_up(message_key, message)

    def _wind_up(self, message_key: Hashable, message: _Message[C, R]) -> None:
        """The worker ended, normally or cancelled from outside: nobody is left waiting for an answer."""
        message.worker = None
        for edit in (message.sending, message.waiting):
            if edit is not None and not edit.done.done():
                edit.done.cancel()
        message.sending = message.waiting = None
        if self._messages.get(message_key) is message:
            del self._messages[message_key]

    def _abandon(self, message_key: Hashable, message: _Message[C, R], edit: _Edit[C, R]) -> None:
        """A caller stopped waiting: an edit nobody waits for is dropped, unless it is already being sent."""
        edit.waiters -= 1
        if edit.waiters > 0 or message.waiting is not edit:
            return
        message.waiting = None
        edit.done.cancel()
        if message.sending is None and message.worker is not None:  # the worker only waits for its turn
            worker, message.worker = message.worker, None
            worker.cancel()
            if self._messages.get(message_key) is message:
                del self._messages[message_key]
