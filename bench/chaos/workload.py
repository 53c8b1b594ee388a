"""People arriving at a steady pace, each asking for one run, whatever the bot is going through.

Each person types the command, waits for the modal, fills it in and submits, as in the benchmark's waves
(:mod:`bench.users`); here what the submission's acknowledgement said is kept, with the modal's id, so the
checker can tell a request that was acknowledged and then told "Not run" from one that was lost.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from bench.users import Crowd, Outcome, Person
from testbed.seed import ACME
from testbed.slack_flow import entered

TOLD_NOT_RUN = ("Not run", "Not sent")
"""Modal titles that tell the person their request did not run."""


@dataclass
class Submission:
    person: Person
    arrived: float
    view_id: str = ""
    ack: dict[str, Any] | None = None
    """What the app acknowledged the submission with; None: no modal, or Slack showed the person an error."""

    @property
    def acknowledged(self) -> bool:
        return self.ack is not None

    def told_not_run(self, views: dict[str, dict[str, Any]]) -> bool:
        """The modal said the request did not run, in the submission's ack or in a later update of its view
        (``views``: the stand-in's views at the end, read once)."""
        shown = [(self.ack or {}).get("view"), views.get(self.view_id) if self.view_id else None]
        return any(view and any(told in str(view.get("title")) for told in TOLD_NOT_RUN) for view in shown)


def taking_turns(count: int, runs_per_channel: int) -> list[Person]:
    """``count`` people, ``runs_per_channel`` to a channel, one after another in different channels: Slack's one post
    a second per channel then queues no run behind the one before it, and the log's latency is the bot's."""
    channels = max(1, count // runs_per_channel)
    return [Person(f"U{index:05d}", f"C{index % channels:05d}") for index in range(count)]


class Arrivals(Crowd):
    """People arriving at a steady pace, each from a thread of their own (an open workload), keeping what the
    submission's acknowledgement said."""

    def request(self, person: Person) -> Submission:  # type: ignore[override]
        submission = Submission(person, time.monotonic())
        view = self.open_form(person, Outcome(person))
        if view is None:
            return submission
        submission.view_id = view["id"]
        values = entered(view, person.email, name=f"Person {person.user_id}", org=ACME, access="read-only")
        # Not acknowledged: the person saw Slack's error and knows it did not go through.
        with contextlib.suppress(TimeoutError, ValueError):
            submission.ack = self.slack.submit_view(view["id"], values, user_id=person.user_id)
        return submission
