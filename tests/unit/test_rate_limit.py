"""The rate limit's count, on a clock the test moves."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from bot.access.rate import Limited, RateLimit
from tests.support.virtual_time import VirtualClock


def limit(count: int = 3, window: float = 60.0, clock: VirtualClock | None = None) -> RateLimit:
    return RateLimit(count, window, clock=clock or VirtualClock())


def test_at_most_the_limit_in_any_window_counted_per_person_and_command():
    clock = VirtualClock()
    rate = limit(clock=clock)

    assert [rate.check("U1", "/find") for _ in range(3)] == [None, None, None]
    refused = rate.check("U1", "/find")
    assert refused == Limited(retry_after=60.0, first=True)
    assert rate.check("U2", "/find") is None  # another person
    assert rate.check("U1", "/add") is None  # another command

    clock.now += 59.5
    assert rate.check("U1", "/find") == Limited(retry_after=0.5, first=False)
    clock.now += 0.5  # the three left the window together: three more go through
    assert [rate.check("U1", "/find") for _ in range(3)] == [None, None, None]
    assert rate.check("U1", "/find") == Limited(retry_after=60.0, first=True)  # a new window, recorded again


def test_a_sliding_window_lets_no_burst_through_at_a_boundary():
    clock = VirtualClock()
    rate = limit(clock=clock)
    rate.check("U1", "/find")
    clock.now += 50
    rate.check("U1", "/find")
    rate.check("U1", "/find")
    clock.now += 10  # the first is out, the other two are in: one more
    assert rate.check("U1", "/find") is None
    assert rate.check("U1", "/find") == Limited(retry_after=50.0, first=True)


def test_refusals_do_not_count_so_a_person_who_waits_gets_through():
    clock = VirtualClock()
    rate = limit(count=1, clock=clock)
    rate.check("U1", "/find")
    for _ in range(100):  # a script hammering for 50 s
        clock.now += 0.5
        assert rate.check("U1", "/find") is not None
    clock.now = 60.0  # 60 s after the one that went through
    assert rate.check("U1", "/find") is None


def test_one_refusal_per_window_is_the_first():
    clock = VirtualClock()
    rate = limit(count=1, clock=clock)
    rate.check("U1", "/find")
    firsts = []
    for _ in range(300):  # five windows of refusals and admissions
        clock.now += 1
        refused = rate.check("U1", "/find")
        firsts.append(refused is not None and refused.first)
    assert sum(firsts) == 5


def test_idle_people_are_forgotten_so_memory_stays_bounded():
    clock = VirtualClock()
    rate = limit(clock=clock)
    for n in range(1000):
        rate.check(f"U{n}", "/find")
    clock.now += 61
    rate.check("U-last", "/find")
    assert len(rate._logs) == 1


def test_zero_is_no_limit_and_bad_values_are_refused():
    rate = limit(count=0)
    assert all(rate.check("U1", "/find") is None for _ in range(1000))
    with pytest.raises(ValueError):
        RateLimit(-1, 60)
    with pytest.raises(ValueError):
        RateLimit(5, 0)


def test_every_refusal_is_counted_by_command():
    registry = CollectorRegistry()
    rate = RateLimit(1, 60, registry=registry, clock=VirtualClock())
    for _ in range(4):
        rate.check("U1", "/find")
    assert registry.get_sample_value("meraki_chatops_rate_limited_total", {"command": "/find"}) == 3


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.2, "1 second"), (1.0, "1 second"), (41.3, "42 seconds"), (119, "119 seconds"), (600, "10 minutes")],
)
def test_the_wait_is_rounded_up(seconds: float, said: str):
    assert Limited(retry_after=seconds, first=True).wait_text == said
