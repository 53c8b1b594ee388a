"""The seeded fault schedule: every fault of a chaos run, when it comes and what it does, drawn before the run.

Each kind of fault draws from a generator of its own (seeded with the run's seed and the kind's name), so the
same seed gives the same schedule, and a plan that changes one kind leaves the others' times as they were.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.chaos.plan import ChaosPlan


@dataclass(frozen=True)
class Fault:
    """One fault of the schedule; which fields matter depends on its ``kind`` (see :meth:`describe`)."""

    at: float
    """Seconds after the arrivals began."""
    kind: str
    target: str = ""
    seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    status: int = 0

    def describe(self) -> str:
        if self.kind == "sigkill":
            return f"SIGKILL {self.target}, started again after {self.seconds:.1f} s"
        if self.kind == "slack_5xx":
            counts = ", ".join(f"{n} {method}" for method, n in self.calls.items())
            return f"Slack answers {self.status} to the next {counts}"
        return {
            "rolling_restart": "rolling restart: SIGTERM each replica in turn, started again once stopped",
            "redis_restart": f"Redis stopped, started again after {self.seconds:.0f} s (events gone meanwhile)",
            "nautobot_down": f"Nautobot down (connections refused) for {self.seconds:.0f} s",
            "nautobot_503": f"Nautobot answers 503 for {self.seconds:.1f} s",
            "socket_drop": "every Socket Mode connection dropped",
            "pg_kill": "pg_terminate_backend on every bot connection to the ledger",
        }[self.kind]

    def to_json(self) -> dict[str, Any]:
        found = {key: value for key, value in asdict(self).items() if value not in ("", 0.0, 0, {})}
        return {**found, "at": round(self.at, 2), "what": self.describe()}


SLACK_METHODS = ("chat.postMessage", "chat.update", "views.update", "views.open")
"""The Web API methods a 5xx burst answers: the bot's posts and edits, and the person's modal."""
SLACK_STATUSES = (500, 502, 503)
START = 5.0
"""Seconds into the arrivals before the first fault, so the first requests see a settled bot."""


def _rng(seed: int, kind: str) -> random.Random:
    return random.Random(f"{seed}:{kind}")


def _every(rng: random.Random, span: float, gap: tuple[float, float]) -> list[float]:
    """Moments from :data:`START` to ``span``, ``gap`` (drawn each time) apart."""
    moments, at = [], START + rng.uniform(0.0, gap[0])
    while at < span:
        moments.append(at)
        at += rng.uniform(*gap)
    return moments


def _kills(plan: ChaosPlan, seed: int, replicas: list[str]) -> list[Fault]:
    rng = _rng(seed, "sigkill")
    return [
        Fault(at, "sigkill", target=rng.choice(replicas), seconds=rng.uniform(*plan.kill_down))
        for at in _every(rng, plan.seconds, plan.kill_every)
    ]


def _once(plan: ChaosPlan, seed: int, kind: str, within: tuple[float, float], seconds: float = 0.0) -> list[Fault]:
    """One fault somewhere in ``within`` (fractions of the arrivals), over before they end."""
    rng = _rng(seed, kind)
    latest = max(START, plan.seconds - seconds - START)
    at = max(START, min(latest, rng.uniform(*within) * plan.seconds))
    return [Fault(at, kind, seconds=seconds)]


def _slack_bursts(plan: ChaosPlan, seed: int) -> list[Fault]:
    rng = _rng(seed, "slack_5xx")
    return [
        Fault(
            at,
            "slack_5xx",
            calls={method: rng.randint(*plan.slack_5xx_calls) for method in SLACK_METHODS},
            status=rng.choice(SLACK_STATUSES),
        )
        for at in _every(rng, plan.seconds, plan.slack_5xx_every)
    ]


def build(plan: ChaosPlan, seed: int, replicas: list[str]) -> list[Fault]:
    """The whole schedule, in time order."""
    faults = _kills(plan, seed, replicas) + _slack_bursts(plan, seed)
    rng = _rng(seed, "nautobot_503")
    faults += [
        Fault(at, "nautobot_503", seconds=rng.uniform(*plan.nautobot_503_for))
        for at in _every(rng, plan.seconds, plan.nautobot_503_every)
    ]
    rng = _rng(seed, "socket_drop")
    faults += [Fault(at, "socket_drop") for at in _every(rng, plan.seconds, plan.socket_drop_every)]
    rng = _rng(seed, "pg_kill")
    faults += [Fault(at, "pg_kill") for at in _every(rng, plan.seconds, plan.pg_kill_every)]
    if plan.rolling_restart:
        faults += _once(plan, seed, "rolling_restart", (0.4, 0.5))
    if plan.redis_down:
        faults += _once(plan, seed, "redis_restart", (0.15, 0.3), plan.redis_down)
    if plan.nautobot_down:
        faults += _once(plan, seed, "nautobot_down", (0.6, 0.75), plan.nautobot_down)
    return sorted(faults, key=lambda fault: fault.at)
