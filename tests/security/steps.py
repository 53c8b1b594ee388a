"""Work counted without a clock: every Python line run and every call into C, while a call runs.

A backtracking regex does its work inside one C call, so the C functions called are named too: a test can
say that no regex of Python's ``re`` (whose methods are ``Pattern.*``) ran, where text is walked in Python
or by RE2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class Steps:
    """Python lines run and C functions called, counted while a call runs."""

    def __init__(self) -> None:
        self.lines = 0
        self.c_calls: list[str] = []

    def _trace(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        if event == "line":
            self.lines += 1
        return self._trace

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            self.c_calls.append(getattr(arg, "__qualname__", repr(arg)))

    @property
    def total(self) -> int:
        return self.lines + len(self.c_calls)


@contextmanager
def counting() -> Iterator[Steps]:
    steps = Steps()
    sys.settrace(steps._trace)
    sys.setprofile(steps._profile)
    try:
        yield steps
    finally:
        sys.setprofile(None)
        sys.settrace(None)


def steps_of(call: Callable[[], Any]) -> Steps:
    with counting() as steps:
        call()
    return steps


def regex_calls(steps: Steps) -> list[str]:
    return [name for name in steps.c_calls if name.startswith("Pattern.")]
