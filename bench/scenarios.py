"""The benchmark's scenarios, each run the same way for every design.

*Wave*: N people arrive on a fixed schedule and submit; every Job is held running, so after the
arrivals N runs are in flight. Once every run's parent message is up (the bot has nothing left to
do but follow them), a plateau begins: more people arrive at a steady pace (the probes: their
command and submission latencies are the ones reported "at N in flight") while the bot's memory and
CPU are sampled. Then the Jobs are released and each ends after a duration drawn from a seeded
lognormal; the wave ends when every run's log is in its thread, or at a deadline.

*Burst*: n runs in ONE channel, held until every parent message is up, then all ended at the same
instant, so n logs are due in one channel at once.

The designs: ``ours`` is the bot with Nautobot's events (NAUTOBOT_EVENTS_URL), ``ours-polling`` the
same bot without them, ``baseline`` the naive design (``bench/baseline.py``). The Nautobot stand-in
publishes its events in every scenario, as a team's Nautobot would whoever listens.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.durations import Durations
from bench.figures import final_statuses
from bench.machine import Machine, ScenarioWatch
from bench.nautobot_standin import TOKEN, NautobotStandIn
from bench.processes import BOT_DESIGNS, BotProcess
from bench.records import Records
from bench.resources import pin
from bench.users import Crowd, FormWatcher, Person, people, workspace
from testbed.slack_standin import SlackStandIn

DESIGNS = ("ours", "ours-polling", "baseline")
EVENTS_DESIGN = "ours"
"""The design whose bot is given NAUTOBOT_EVENTS_URL."""
EDITS_PER_MINUTE = 50
"""Slack's Tier 3 for chat.update in a workspace: the final statuses of N runs need about N * 1.2 s."""
FINAL_PATIENCE = 15.0
"""Seconds without one more final status after which the rest will not come (a design whose edits got 429s
and were not sent again); at Tier 3's pace one comes every 1.2 s."""
NOT_WAITED = "not waited for"
"""How a figure of the final statuses reads where the scenario ended with the logs."""
SETTLE_PATIENCE = 3.0
"""Seconds without a new run or parent message after which, every run's parent up, the parents are as up as
they will get (the baseline's five threads take no more submissions while they poll)."""


@dataclass(frozen=True)
class Wave:
    runs: int
    rate: float = 25.0
    """People arriving per second."""
    probes: int = 20
    probe_rate: float = 5.0
    runs_per_channel: int = 5
    plateau: float = 5.0
    """Seconds of sampling with all runs in flight, at least as long as the probes take to arrive."""
    durations: Durations = field(default_factory=Durations)
    drain: float = 30.0
    """Seconds after the last drawn Job end (and the channel's posts) to wait for logs still missing."""

    @property
    def probe_count(self) -> int:
        """A fifth of the runs, at most ``probes``: enough to time, too few to change what is measured."""
        return max(1, min(self.probes, self.runs // 5)) if self.probes else 0

    @property
    def settle(self) -> float:
        """At most this long for the parents (paced at one a second per channel) before the plateau."""
        return self.runs_per_channel + 2 * SETTLE_PATIENCE


@dataclass(frozen=True)
class Burst:
    runs: int
    rate: float = 25.0
    settle: float = 60.0
    """Seconds to wait for every parent message (paced at one a second per channel) before the release."""
    drain: float = 30.0
    """Seconds past the bound of one message a second to wait for the logs."""


# Everyone, everywhere: the access decision is measured, but nobody in the crowd is refused.
ACCESS_POLICY = {"allow": [{"users": ["*"], "channels": ["*"]}]}


def bot_env(design: str, slack: SlackStandIn, nautobot: NautobotStandIn, events_url: str) -> dict[str, str]:
    env = {
        "ACCESS_POLICY": json.dumps(ACCESS_POLICY),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "NAUTOBOT_URL": nautobot.url,
        "NAUTOBOT_TOKEN": TOKEN,
    }
    if design == EVENTS_DESIGN:
        env["NAUTOBOT_EVENTS_URL"] = events_url
    return env


@dataclass
class Scenario:
    """One scenario's records, how busy the machine was meanwhile, and what shaped it."""

    records: Records
    machine: dict[str, Any]
    setup: dict[str, Any]


def _ready(design: str, slack: SlackStandIn, nautobot: NautobotStandIn, bot: BotProcess) -> None:
    """Connected to Slack and, for the bot, holding the Job's form (it reads it at start)."""
    try:
        slack.wait_connected(timeout=60)
        if design in BOT_DESIGNS:
            slack.wait_for(lambda: any("variables" in key for key in nautobot.shared_requests), timeout=30)
    except TimeoutError:
        raise RuntimeError(f"the {design} bot did not get ready:\n{bot.output()}") from None


def reported_threads(slack: SlackStandIn) -> int:
    """How many threads got a reply so far (each run has one thread)."""
    return len(
        {c.args.get("thread_ts") for c in slack.calls_to("chat.postMessage") if c.ok and c.args.get("thread_ts")}
    )


def parent_messages(slack: SlackStandIn) -> int:
    """How many runs have their parent message up."""
    return sum(1 for c in slack.calls_to("chat.postMessage") if c.ok and not c.args.get("thread_ts"))


def enforced_limit(slack: SlackStandIn, method: str) -> dict[str, Any] | None:
    """The rate limit the Slack stand-in applies to ``method``, if any.

    SlackStandIn has no public accessor for its limits, so this reads its limiter; a stand-in that
    limits some other way shows up as ``None`` here and by its 429s in the records.
    """
    limits = getattr(getattr(slack, "_limiter", None), "_limits", {})
    limit = limits.get(method)
    if limit is None:
        return None
    return {"per_second": limit.per_second, "burst": limit.burst, "per": limit.per}


def _wait(condition: Callable[[], bool], deadline: float, every: float = 0.25) -> bool:
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def _until_still(count: Callable[[], int], wanted: int, deadline: float) -> None:
    """Wait until ``count()`` reaches ``wanted``, stays still for :data:`FINAL_PATIENCE` s, or the deadline."""
    last, since = count(), time.monotonic()
    while last < wanted and time.monotonic() < deadline and time.monotonic() - since < FINAL_PATIENCE:
        time.sleep(0.25)
        now = count()
        if now != last:
            last, since = now, time.monotonic()


def _settle(parents: Callable[[], int], nautobot: NautobotStandIn, wanted: int, deadline: float) -> None:
    """Wait until ``wanted`` parent messages are up, or the parents are as up as they will get, or the deadline.

    As up as they will get: every run started in Nautobot has its parent and nothing has changed for
    :data:`SETTLE_PATIENCE` s, or nothing at all has changed for twice that (a design whose parent posts
    failed: the baseline's draw 429s and are not retried).
    """
    last, since = (len(nautobot.runs), parents()), time.monotonic()
    while time.monotonic() < deadline:
        runs, posted = state = (len(nautobot.runs), parents())
        if posted >= wanted:
            return
        if state != last:
            last, since = state, time.monotonic()
        quiet = time.monotonic() - since
        if (posted >= runs and quiet >= SETTLE_PATIENCE) or quiet >= 2 * SETTLE_PATIENCE:
            return
        time.sleep(0.1)


def _records(slack, nautobot, bot, people_count, bot_cpu_seconds, **windows) -> Records:
    return Records(
        calls=slack.calls,
        envelopes=slack.envelopes,
        runs=nautobot.snapshot(),
        shared_requests=nautobot.shared_requests.copy(),
        samples=list(bot.samples),
        people=people_count,
        bot_cpu_seconds=bot_cpu_seconds,
        events_published=nautobot.events.published if nautobot.events else None,
        **windows,
    )


def _await_final_statuses(slack: SlackStandIn, runs: int, drain: float) -> None:
    """Each parent's final status follows its log, at Slack's pace for edits: waited for, so that "every parent
    shows its final status" is measured, not cut short."""
    _until_still(lambda: final_statuses(slack.calls), runs, time.monotonic() + runs * 60 / EDITS_PER_MINUTE + drain)


def run_wave(
    design: str,
    wave: Wave,
    workdir: Path,
    seed: int,
    events_url: str,
    machine: Machine,
    *,
    final_statuses_awaited: bool = True,
    cores: frozenset[int] | None = None,
) -> Scenario:
    """One wave for one design. ``final_statuses_awaited``: after the logs, wait for every parent's final status
    (at Tier 3's pace, N * 1.2 s); otherwise the scenario ends with the logs and that figure is not taken.
    ``cores``: the bot process (only) runs on these cores."""
    crowd = people(wave.runs, wave.runs_per_channel)
    channels = sorted({person.channel_id for person in crowd})
    probes = [Person(f"P{index:05d}", channels[index % len(channels)]) for index in range(wave.probe_count)]
    # Slack lets a channel take one message a second: a channel's logs need that long at least.
    busiest = max(Counter(person.channel_id for person in crowd + probes).values())
    watch = ScenarioWatch(machine, f"wave {wave.runs} {design}" + (f" on cores {sorted(cores)}" if cores else ""))
    with (
        NautobotStandIn(wave.durations, seed=seed, events_url=events_url) as nautobot,
        workspace(crowd + probes) as slack,
    ):
        bot = BotProcess(design, workdir, bot_env(design, slack, nautobot, events_url)).start()
        try:
            _pinned(bot, cores)
            _ready(design, slack, nautobot, bot)
            _pinned(bot, cores)  # and every thread it started meanwhile
            cpu_at_ready = bot.cpu_seconds()
            nautobot.hold()
            with FormWatcher(slack) as watcher:
                users = Crowd(slack, watcher)
                arrivals_began = time.monotonic()
                wait(users.arrive(crowd, wave.rate))
                arrivals_ended = time.monotonic()
                _settle(lambda: parent_messages(slack), nautobot, len(crowd), arrivals_ended + wave.settle)
                begin = time.monotonic()
                wait(users.arrive(probes, wave.probe_rate))
                probed = time.monotonic()
                time.sleep(max(0.0, begin + wave.plateau - time.monotonic()))
                end = time.monotonic()
                released = nautobot.release()
                longest = max((run.duration for run in nautobot.snapshot()), default=0.0)
                _wait(
                    lambda: nautobot.in_flight() == 0 and reported_threads(slack) >= len(nautobot.runs),
                    released + longest + busiest + wave.drain,
                )
                # Up to the logs, so that every design is measured over the same span whether or not its
                # scenario then waits for the final statuses.
                bot_cpu = bot.cpu_seconds() - cpu_at_ready
                if final_statuses_awaited:
                    _await_final_statuses(slack, len(nautobot.runs), wave.drain)
                users.close()
            # Without probes, the arrivals' own latencies are the ones reported.
            window = (begin, probed) if probes else None
            records = _records(
                slack,
                nautobot,
                bot,
                len(crowd) + len(probes),
                bot_cpu,
                plateau=(begin, end),
                probes=window,
                arrivals=(arrivals_began, arrivals_ended),
                final_statuses_awaited=final_statuses_awaited,
            )
            limit = enforced_limit(slack, "chat.update")
        finally:
            bot.stop()
    setup = {
        "runs": wave.runs,
        "arrivals_per_second": wave.rate,
        "runs_per_channel": wave.runs_per_channel,
        "busiest_channel": busiest,
        "probes": len(probes),
        "settle_s": round(begin - arrivals_ended, 2),
        "plateau_s": round(end - begin, 2),
        "chat_update_limit": limit,
        "bot_cores": sorted(cores) if cores else None,
    }
    return Scenario(records, watch.stop(), setup)


def _pinned(bot: BotProcess, cores: frozenset[int] | None) -> None:
    if cores and bot.popen is not None:
        pin(bot.popen.pid, cores)


@dataclass
class BurstRecords:
    records: Records
    released: float
    channel: str
    machine: dict[str, Any]


def run_burst(
    design: str,
    burst: Burst,
    workdir: Path,
    seed: int,
    events_url: str,
    machine: Machine,
    *,
    final_statuses_awaited: bool = True,
) -> BurstRecords:
    crowd = people(burst.runs, burst.runs)
    channel = crowd[0].channel_id
    watch = ScenarioWatch(machine, f"burst {burst.runs} {design}")
    with NautobotStandIn(Durations(), seed=seed, events_url=events_url) as nautobot, workspace(crowd) as slack:
        bot = BotProcess(design, workdir, bot_env(design, slack, nautobot, events_url)).start()
        try:
            _ready(design, slack, nautobot, bot)
            cpu_at_ready = bot.cpu_seconds()
            nautobot.hold()
            with FormWatcher(slack) as watcher:
                users = Crowd(slack, watcher)
                wait(users.arrive(crowd, burst.rate))
                _settle(lambda: len(slack.messages(channel)), nautobot, burst.runs, time.monotonic() + burst.settle)
                released = nautobot.release(at_once=True)
                _wait(
                    lambda: reported_threads(slack) >= len(nautobot.runs),
                    released + burst.runs * 1.2 + burst.drain,
                )
                bot_cpu = bot.cpu_seconds() - cpu_at_ready  # up to the logs, as in a wave
                if final_statuses_awaited:
                    _await_final_statuses(slack, len(nautobot.runs), burst.drain)
                users.close()
            records = _records(
                slack,
                nautobot,
                bot,
                len(crowd),
                bot_cpu,
                final_statuses_awaited=final_statuses_awaited,
            )
        finally:
            bot.stop()
    return BurstRecords(records, released, channel, watch.stop())
