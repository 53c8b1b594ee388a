"""Edits of a parent message: stale waiting ones are dropped, the newest always goes, in order, paced per workspace."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.models import RunRequest, RunStatus
from bot.slack.edits import LatestEdits
from bot.slack.messages import STATUS_TEXT
from bot.slack.pacing import ChannelPacer, WorkspacePacer
from bot.slack.thread import SlackThreads, Thread
from testbed.fake_slack import DM_CHANNEL, FakeSlack
from tests.support.virtual_time import VirtualClock, settle


class Turns:
    """A ``turn`` that lets a delivery go only when the test hands out a turn."""

    def __init__(self) -> None:
        self._free = asyncio.Semaphore(0)
        self.waiting = 0

    async def __call__(self) -> None:
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1

    def give(self, count: int = 1) -> None:
        for _ in range(count):
            self._free.release()


async def always() -> None:
    """Every delivery may go at once."""


class Deliveries:
    """Records what was delivered; contents in ``slow`` are held until :meth:`finish`."""

    def __init__(self, *slow: str) -> None:
        self.log: list[tuple[str, str]] = []
        self.slow = set(slow)
        self._finish = asyncio.Event()

    async def __call__(self, content: str) -> str:
        self.log.append(("start", content))
        if content in self.slow:
            await self._finish.wait()
        self.log.append(("end", content))
        return f"shown {content}"

    def finish(self) -> None:
        self._finish.set()

    @property
    def sent(self) -> list[str]:
        return [content for step, content in self.log if step == "start"]


def editing(edits: LatestEdits[str, str], key: str, content: str, deliver: Any, turn: Any) -> asyncio.Task[str]:
    return asyncio.create_task(edits.edit(key, content, deliver, turn=turn))


async def test_stale_waiting_edits_are_dropped_and_everyone_is_answered_by_the_newest():
    edits: LatestEdits[str, str] = LatestEdits()
    deliver, turns = Deliveries(), Turns()
    callers = [editing(edits, "C1/1.1", status, deliver, turns) for status in ("submitted", "running", "completed")]
    await settle()

    turns.give()

    assert await asyncio.gather(*callers) == ["shown completed"] * 3
    assert deliver.sent == ["completed"]
    assert len(edits) == 0


async def test_a_newer_edit_waits_for_the_one_being_sent_and_never_overtakes_it():
    edits: LatestEdits[str, str] = LatestEdits()
    deliver = Deliveries("running")
    running = editing(edits, "C1/1.1", "running", deliver, always)
    await settle()
    completed = editing(edits, "C1/1.1", "completed", deliver, always)
    await settle()

    assert deliver.log == [("start", "running")]  # the newer one is not sent alongside it
    deliver.finish()

    assert await running == "shown running"
    assert await completed == "shown completed"
    assert deliver.log == [("start", "running"), ("end", "running"), ("start", "completed"), ("end", "completed")]


async def test_while_one_is_sent_the_intermediate_states_are_dropped_and_the_final_one_goes_last():
    edits: LatestEdits[str, str] = LatestEdits()
    deliver = Deliveries("submitted")
    first = editing(edits, "C1/1.1", "submitted", deliver, always)
    await settle()
    later = [editing(edits, "C1/1.1", status, deliver, always) for status in ("pending", "running", "completed")]
    await settle()
    deliver.finish()

    assert await first == "shown submitted"
    assert await asyncio.gather(*later) == ["shown completed"] * 3
    assert deliver.sent == ["submitted", "completed"]


async def test_edits_of_other_messages_are_not_held_up():
    edits: LatestEdits[str, str] = LatestEdits()
    deliver = Deliveries("running")
    stuck = editing(edits, "C1/1.1", "running", deliver, always)
    await settle()

    assert await edits.edit("C1/2.2", "completed", deliver, turn=always) == "shown completed"
    assert not stuck.done()
    deliver.finish()
    await stuck


async def test_a_cancelled_caller_takes_nothing_from_another_waiting_for_the_same_message():
    edits: LatestEdits[str, str] = LatestEdits()
    deliver, turns = Deliveries(), Turns()
    running = editing(edits, "C1/1.1", "running", deliver, turns)
    completed = editing(edits, "C1/1.1", "completed", deliver, turns)
    await settle()

    running.cancel()
    await settle()
    turns.give()

    assert await completed == "shown completed"
    assert running.cancelled()
    assert deliver.sent == ["completed"]


async def test_the_newest_content_stays_for_the_caller_left_waiting_when_its_author_is_cancelled():
    edits: LatestEdits[str, str] = LatestEdits()
    deliver, turns = Deliveries(), Turns()
    running = editing(edits, "C1/1.1", "running", deliver, turns)
    completed = editing(edits, "C1/1.1", "completed", deliver, turns)
    await settle()

    completed.cancel()
    await settle()
    turns.give()

    assert await running == "shown completed"  # the newest content, not an older one sent after it
    assert deliver.sent == ["completed"]


async def test_an_edit_nobody_waits_for_is_dropped_and_its_turn_is_not_taken():
    edits: LatestEdits[str, str] = LatestEdits()
    deliver, turns = Deliveries(), Turns()
    abandoned = editing(edits, "C1/1.1", "running", deliver, turns)
    await settle()
    assert turns.waiting == 1

    abandoned.cancel()
    await settle()

    assert deliver.sent == []
    assert turns.waiting == 0  # the worker stopped waiting for a turn it would not use
    assert len(edits) == 0
    later = editing(edits, "C1/1.1", "completed", deliver, turns)
    await settle()
    turns.give()  # one turn is enough: the abandoned edit took none
    assert await later == "shown completed"
    assert deliver.sent == ["completed"]


async def test_an_edit_being_sent_is_finished_for_the_others_when_its_caller_is_cancelled():
    edits: LatestEdits[str, str] = LatestEdits()
    deliver = Deliveries("running")
    running = editing(edits, "C1/1.1", "running", deliver, always)
    await settle()
    completed = editing(edits, "C1/1.1", "completed", deliver, always)
    await settle()

    running.cancel()
    await settle()
    deliver.finish()

    assert await completed == "shown completed"
    assert deliver.log == [("start", "running"), ("end", "running"), ("start", "completed"), ("end", "completed")]
    assert len(edits) == 0


async def test_a_failed_delivery_is_raised_to_the_callers_it_covered_and_the_next_edit_goes():
    edits: LatestEdits[str, str] = LatestEdits()
    turns = Turns()

    async def deliver(content: str) -> str:
        if content == "broken":
            raise RuntimeError("no")
        return content

    callers = [editing(edits, "C1/1.1", status, deliver, turns) for status in ("running", "broken")]
    await settle()
    turns.give()
    results = await asyncio.gather(*callers, return_exceptions=True)

    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    turns.give()
    assert await edits.edit("C1/1.1", "completed", deliver, turn=turns) == "completed"


async def test_a_worker_cancelled_from_outside_leaves_nobody_waiting_forever():
    edits: LatestEdits[str, str] = LatestEdits()
    deliver, turns = Deliveries(), Turns()
    caller = editing(edits, "C1/1.1", "running", deliver, turns)
    await settle()
    for task in asyncio.all_tasks():
        if task not in (caller, asyncio.current_task()):
            task.cancel()  # what the end of the event loop does to every task left

    with pytest.raises(asyncio.CancelledError):
        await caller
    assert len(edits) == 0


# -- through SlackThreads: the parent message of a request ---------------------------------------

REQUEST = RunRequest(request_id="V0FORM0001", requester_id="U0456ABC", channel_id="C0123CHAN", job_name="Add user")
THREAD = Thread("C0123CHAN", "1730542502.000100")


class TimedSlack(FakeSlack):
    """FakeSlack noting the virtual time of each chat.update; ``refuse_next`` answers the next ones with 429."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.update_times: list[float] = []
        self.refuse_next = 0

    async def chat_update(self, **kwargs: Any) -> dict[str, Any]:
        self.update_times.append(self.clock.now)
        if self.refuse_next:
            self.refuse_next -= 1
            self._record("chat_update", kwargs)
            raise SlackApiError("ratelimited", response=_rate_limited(retry_after=7))
        return await super().chat_update(**kwargs)


def _rate_limited(retry_after: int) -> SlackResponse:
    return SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.update",
        req_args={},
        data={"ok": False, "error": "ratelimited"},
        headers={"Retry-After": str(retry_after)},
        status_code=429,
    )


def threads_for(slack: FakeSlack, clock: VirtualClock, *, burst: int = 10, sleep: Any = None) -> SlackThreads:
    pacer = WorkspacePacer(per_minute=50, burst=burst, clock=clock, sleep=clock.sleep)
    return SlackThreads(slack, ChannelPacer(0), sleep=sleep or clock.sleep, update_pacer=pacer)  # type: ignore[arg-type]


def says(call: dict[str, Any], status: RunStatus) -> bool:
    return call["text"].endswith(STATUS_TEXT[status])


async def test_parent_edits_of_many_requests_keep_to_the_workspace_budget():
    clock = VirtualClock()
    slack = TimedSlack(clock)
    threads = threads_for(slack, clock)

    shown = await asyncio.gather(
        *(
            threads.show(Thread("C0123CHAN", f"1730542502.{n:06d}"), REQUEST, None, None, RunStatus.RUNNING)
            for n in range(25)
        )
    )

    assert len(shown) == len(slack.calls_to("chat_update")) == 25
    assert slack.update_times[:10] == [0.0] * 10
    assert slack.update_times[-1] == pytest.approx(15 * 1.2)  # the rest at Tier 3's rate, none refused


async def test_a_parent_message_shows_the_newest_status_and_skips_the_stale_one_waiting():
    clock = VirtualClock()
    slack = TimedSlack(clock)
    threads = threads_for(slack, clock, burst=1)
    await threads.update_pacer.turn()  # the workspace's budget is spent: the next edit waits its turn

    shown = await asyncio.gather(
        threads.show(THREAD, REQUEST, None, None, RunStatus.RUNNING),
        threads.show(THREAD, REQUEST, None, None, RunStatus.SUCCEEDED),
    )

    assert shown == [THREAD, THREAD]
    [update] = slack.calls_to("chat_update")
    assert says(update, RunStatus.SUCCEEDED)


async def test_a_parent_gone_moves_to_a_dm_with_the_newest_status_for_every_caller():
    clock = VirtualClock()
    slack = TimedSlack(clock)
    slack.archived.add(THREAD.channel_id)
    threads = threads_for(slack, clock, burst=1)
    await threads.update_pacer.turn()

    shown = await asyncio.gather(
        threads.show(THREAD, REQUEST, None, None, RunStatus.RUNNING),
        threads.show(THREAD, REQUEST, None, None, RunStatus.FAILED),
    )

    assert {thread.channel_id for thread in shown} == {DM_CHANNEL}
    assert len(slack.calls_to("chat_update")) == 1
    copy = slack.calls_to("chat_postMessage")[-1]
    assert copy["channel"] == DM_CHANNEL and says(copy, RunStatus.FAILED)


async def test_a_429_after_slacks_own_retries_is_waited_out_for_its_retry_after_and_paced():
    clock = VirtualClock()
    slack = TimedSlack(clock)
    slack.refuse_next = 1
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        await clock.sleep(seconds)

    threads = threads_for(slack, clock, burst=1, sleep=pause)

    assert await threads.show(THREAD, REQUEST, None, None, RunStatus.RUNNING) == THREAD

    assert pauses == [7.0]  # Slack's Retry-After, not the shorter first pause of the bot's own
    assert len(slack.calls_to("chat_update")) == 2
    await threads.update_pacer.turn()  # the retry used the turn that had come back during the pause
    assert clock.slept == [7.0, pytest.approx(1.2)]
