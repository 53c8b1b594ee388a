"""People using /meraki-add-user against the Slack stand-in: a workspace, and a crowd arriving on a schedule.

Each person types the command, waits for the modal, fills it in and presses Submit, each from a
thread of their own, since the stand-in's actions block until the app acknowledges. Arrivals follow
a fixed schedule whatever the bot does (an open workload), so a slow bot cannot slow the crowd down
and hide its own latency.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from testbed.manifest import bot_scopes
from testbed.seed import ACME
from testbed.slack_flow import FORM, entered
from testbed.slack_standin import SlackStandIn

MODAL_PATIENCE = 4.0
"""Seconds a person waits for the modal before giving up (a trigger_id dies after 3 s)."""
LATE_MODAL = 0.5
"""Seconds left for a views.open already under way when Slack gave up on the command's ack."""


@dataclass(frozen=True)
class Person:
    user_id: str
    channel_id: str

    @property
    def email(self) -> str:
        return f"{self.user_id.lower()}@example.com"


@dataclass
class Outcome:
    person: Person
    command_acked: bool = False
    modal_opened: bool = False
    submission_acked: bool = False


def people(count: int, runs_per_channel: int, prefix: str = "U") -> list[Person]:
    """``count`` people, ``runs_per_channel`` to a channel, so channels fill the way teams share them."""
    return [Person(f"{prefix}{index:05d}", f"C{index // runs_per_channel:05d}") for index in range(count)]


@contextlib.contextmanager
def workspace(crowd: list[Person]) -> Iterator[SlackStandIn]:
    """A Slack workspace granting the bot exactly what manifest.yml asks for, with everyone in their channel."""
    with SlackStandIn(scopes=bot_scopes()) as slack:
        members: dict[str, set[str]] = {}
        for person in crowd:
            slack.add_user(person.user_id, name=person.user_id.lower())
            members.setdefault(person.channel_id, set()).add(person.user_id)
        for channel_id, users in members.items():
            slack.add_channel(channel_id, name=channel_id.lower(), members=users, bot_member=True)
        yield slack


class FormWatcher:
    """Tells each waiting person when the modal is in front of them, from one thread reading Slack's records.

    One reader instead of a poll per person keeps the load generator light next to the bot.
    """

    def __init__(self, slack: SlackStandIn, every: float = 0.02):
        self.slack = slack
        self.every = every
        self.forms: dict[str, dict] = {}
        self.waiting: dict[str, tuple[threading.Event, list]] = {}
        self._cursor = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="form-watcher", daemon=True)

    def __enter__(self) -> FormWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def expect(self, user_id: str) -> tuple[threading.Event, list]:
        found: tuple[threading.Event, list] = (threading.Event(), [])
        with self._lock:
            self.waiting[user_id] = found
        return found

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            calls = self.slack.calls
            for call in calls[self._cursor :]:
                if call.method in ("views.open", "views.update") and call.ok:
                    view = call.response["view"]
                    if view.get("callback_id") == FORM:
                        self.forms[view["id"]] = view
            self._cursor = len(calls)
            with self._lock:
                waiting = list(self.waiting.items())
            for user_id, (event, box) in waiting:
                stack = self.slack.view_stack(user_id)
                if stack and stack[-1] in self.forms:
                    box.append(self.forms[stack[-1]])
                    event.set()
                    with self._lock:
                        self.waiting.pop(user_id, None)


class Crowd:
    """Acts out one person's request at a time per thread; :meth:`arrive` schedules many."""

    def __init__(self, slack: SlackStandIn, watcher: FormWatcher, threads: int = 200):
        self.slack = slack
        self.watcher = watcher
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="person")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def open_form(self, person: Person, outcome: Outcome) -> dict | None:
        """Type the command and wait for the modal; the form's view, or None when none came in time."""
        ready, box = self.watcher.expect(person.user_id)
        try:
            self.slack.slash_command(
                text=f"{person.email} read-only", user_id=person.user_id, channel_id=person.channel_id
            )
            outcome.command_acked = True
        except TimeoutError:
            pass  # Slack showed the person an error; the trigger_id is dead, so no modal can open any more
        if not ready.wait(MODAL_PATIENCE if outcome.command_acked else LATE_MODAL):
            return None
        outcome.modal_opened = True
        return box[0]

    def request(self, person: Person) -> Outcome:
        outcome = Outcome(person)
        view = self.open_form(person, outcome)
        if view is None:
            return outcome
        values = entered(view, person.email, name=f"Person {person.user_id}", org=ACME, access="read-only")
        try:
            self.slack.submit_view(view["id"], values, user_id=person.user_id)
            outcome.submission_acked = True
        except (TimeoutError, ValueError):
            pass
        return outcome

    def arrive(self, crowd: list[Person], rate: float) -> list[Future]:
        """Start each person's request at ``rate`` per second, on schedule; returns their futures."""
        futures = []
        start = time.monotonic()
        for index, person in enumerate(crowd):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(self.pool.submit(self.request, person))
        return futures
