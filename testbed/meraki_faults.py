"""Behaviour a test injects into the Meraki stand-in: failures, delays and gatherings, each limited
to the requests its pattern matches and to a number of uses."""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from typing import TypeVar

from testbed.meraki_replies import Reply


@dataclass
class Fault:
    """Base for injected behaviour limited by a regex and a remaining count."""

    times: int | None
    match: re.Pattern[str] | None

    def claim(self, key: str) -> bool:
        """Consume one use if this fault applies to ``key`` ("METHOD /path")."""
        if self.times == 0 or (self.match is not None and not self.match.search(key)):
            return False
        if self.times is not None:
            self.times -= 1
        return True


@dataclass
class Failure(Fault):
    reply: Reply


@dataclass
class Delay(Fault):
    seconds: float


@dataclass
class Gathering(Fault):
    barrier: threading.Barrier

    def wait(self) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):  # timed out, or the stand-in stopped
            self.barrier.wait()


F = TypeVar("F", bound=Fault)


def claim(faults: list[F], key: str) -> F | None:
    """The first fault that applies to ``key``, one of its uses consumed.

    Faults are claimed on arrival, so a held request cannot use up a later fault.
    """
    return next((fault for fault in faults if fault.claim(key)), None)


def compile_match(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern is not None else None


def check_times(times: int | None) -> None:
    if times is not None and times < 1:
        raise ValueError("times must be a positive integer or None")
