"""The benchmark's scenarios, each run the same way for the bot and for the baseline.

*Wave*: N people arrive on a fixed schedule and submit; every Job is held running, so after the
arrivals N runs are in flight. During a plateau more people arrive at a steady pace (the probes:
their command and submission latencies are the ones reported "at N in flight") while the bot's
memory and CPU are sampled. Then the Jobs are released and each ends after a duration drawn from a
seeded lognormal; the wave ends when every run's log is in its thread, or at a deadline.

*Burst*: n runs in ONE channel, held until every parent message is up, then all ended at the same
instant, so n logs are due in one channel at once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import wait
from dataclasses import dataclass, field
from pathlib import Path

from bench.durations import Durations
from bench.figures import Records
from bench.nautobot_standin import TOKEN, NautobotStandIn
from bench.processes import BotProcess
from bench.users import Crowd, FormWatcher, Person, people, workspace
from tests.support.slack_standin import SlackStandIn


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
    """Seconds after the last drawn Job end to wait for logs still missing."""

    @property
    def probe_count(self) -> int:
        """A fifth of the runs, at most ``probes``: enough to time, too few to change what is measured."""
        return max(1, min(self.probes, self.runs // 5)) if self.probes else 0


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


def bot_env(slack: SlackStandIn, nautobot: NautobotStandIn) -> dict[str, str]:
    return {
        "ACCESS_POLICY": json.dumps(ACCESS_POLICY),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "NAUTOBOT_URL": nautobot.url,
        "NAUTOBOT_TOKEN": TOKEN,
    }


def _ready(design: str, slack: SlackStandIn, nautobot: NautobotStandIn, bot: BotProcess) -> None:
    """Connected to Slack and, for the bot, holding the Job's form (it reads it at start)."""
    try:
        slack.wait_connected(timeout=60)
        if design == "ours":
            slack.wait_for(lambda: any("variables" in key for key in nautobot.shared_requests), timeout=30)
    except TimeoutError:
        raise RuntimeError(f"the {design} bot did not get ready:\n{bot.output()}") from None


def reported_threads(slack: SlackStandIn) -> int:
    """How many threads got a reply so far (each run has one thread)."""
    return len(
        {c.args.get("thread_ts") for c in slack.calls_to("chat.postMessage") if c.ok and c.args.get("thread_ts")}
    )


def _wait(condition, deadline: float, every: float = 0.25) -> bool:
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def _records(slack, nautobot, bot, people_count, **windows) -> Records:
    return Records(
        calls=slack.calls,
        envelopes=slack.envelopes,
        runs=nautobot.snapshot(),
        shared_requests=nautobot.shared_requests.copy(),
        samples=list(bot.samples),
        people=people_count,
        **windows,
    )


def run_wave(design: str, wave: Wave, workdir: Path, seed: int) -> Records:
    crowd = people(wave.runs, wave.runs_per_channel)
    channels = sorted({person.channel_id for person in crowd})
    probes = [Person(f"P{index:05d}", channels[index % len(channels)]) for index in range(wave.probe_count)]
    with NautobotStandIn(wave.durations, seed=seed) as nautobot, workspace(crowd + probes) as slack:
        bot = BotProcess(design, workdir, bot_env(slack, nautobot)).start()
        try:
            _ready(design, slack, nautobot, bot)
            nautobot.hold()
            with FormWatcher(slack) as watcher:
                users = Crowd(slack, watcher)
                wait(users.arrive(crowd, wave.rate))
                begin = time.monotonic()
                wait(users.arrive(probes, wave.probe_rate))
                probed = time.monotonic()
                time.sleep(max(0.0, begin + wave.plateau - time.monotonic()))
                end = time.monotonic()
                released = nautobot.release()
                longest = max((run.duration for run in nautobot.snapshot()), default=0.0)
                # Slack lets a channel take one message a second: a channel's logs need that long at least.
                busiest = max(Counter(person.channel_id for person in crowd + probes).values())
                _wait(
                    lambda: nautobot.in_flight() == 0 and reported_threads(slack) >= len(nautobot.runs),
                    released + longest + busiest + wave.drain,
                )
                time.sleep(0.5)  # the final status update follows the log
                users.close()
            # Without probes, the arrivals' own latencies are the ones reported.
            window = (begin, probed) if probes else None
            return _records(slack, nautobot, bot, len(crowd) + len(probes), plateau=(begin, end), probes=window)
        finally:
            bot.stop()


@dataclass
class BurstRecords:
    records: Records
    released: float
    channel: str


def run_burst(design: str, burst: Burst, workdir: Path, seed: int) -> BurstRecords:
    crowd = people(burst.runs, burst.runs)
    channel = crowd[0].channel_id
    with NautobotStandIn(Durations(), seed=seed) as nautobot, workspace(crowd) as slack:
        bot = BotProcess(design, workdir, bot_env(slack, nautobot)).start()
        try:
            _ready(design, slack, nautobot, bot)
            nautobot.hold()
            with FormWatcher(slack) as watcher:
                users = Crowd(slack, watcher)
                wait(users.arrive(crowd, burst.rate))
                _wait(lambda: len(slack.messages(channel)) >= burst.runs, time.monotonic() + burst.settle)
                released = nautobot.release(at_once=True)
                _wait(
                    lambda: reported_threads(slack) >= len(nautobot.runs),
                    released + burst.runs * 1.2 + burst.drain,
                )
                time.sleep(0.5)
                users.close()
            return BurstRecords(_records(slack, nautobot, bot, len(crowd)), released, channel)
        finally:
            bot.stop()
