"""What one benchmark scenario left in the stand-ins and the sampler, read by every figure.

Both stand-ins stamp events with ``time.monotonic()`` in the benchmark process, so one clock times
the command's delivery, Slack's receipt of ``views.open``, the Job's end in Nautobot and the post
in the thread.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from bench.nautobot_standin import Run
from bench.processes import Sample
from testbed.slack_replies import Call
from testbed.slack_state import Envelope

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Records:
    """What one scenario left in the stand-ins and the sampler."""

    calls: list[Call]
    envelopes: list[Envelope]
    runs: list[Run]
    shared_requests: Counter
    samples: list[Sample]
    people: int
    plateau: tuple[float, float] | None = None
    probes: tuple[float, float] | None = None  # when set, interaction latencies count only envelopes sent here
    arrivals: tuple[float, float] | None = None  # when the N people arrived, at the wave's rate
    bot_cpu_seconds: float | None = None  # CPU the bot used from ready until every log was in
    events_published: int | None = None  # Nautobot events the stand-in published to Redis
    parents: dict[str, str] = field(default_factory=dict)  # parent message ts → result id
    final_statuses_awaited: bool = True  # False: the scenario ended with the logs, before the last edits

    def __post_init__(self) -> None:
        self.by_id = {run.result_id: run for run in self.runs}
        for call in self.calls:
            if call.method == "chat.postMessage" and call.ok and not call.args.get("thread_ts"):
                result_id = self._result_named(call)
                if result_id:
                    self.parents[call.response["ts"]] = result_id

    def _result_named(self, call: Call) -> str | None:
        text = json.dumps(call.args, default=str)
        return next((found for found in _UUID.findall(text) if found in self.by_id), None)

    def interactions(self, kind: str, window: tuple[float, float] | None = None) -> list[Envelope]:
        """Envelopes of ``kind`` sent within ``window`` (default: the probes' window, when there is one)."""
        window = window or self.probes
        chosen = [e for e in self.envelopes if e.type == kind]
        if window is not None:
            chosen = [e for e in chosen if window[0] <= e.sent_at <= window[1]]
        return chosen

    def run_of(self, call: Call) -> str | None:
        """The run a chat call belongs to: by its thread or message ts, else by the link it carries."""
        ts = call.args.get("thread_ts") or call.args.get("ts")
        if ts and str(ts) in self.parents:
            return self.parents[str(ts)]
        return self._result_named(call)
