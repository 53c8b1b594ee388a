"""Carries a fault schedule out while people arrive, keeps what it did, and times how long each request a killed
replica was working on waited before another replica (or the same one, started again) took it over."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.chaos.schedule import Fault
from bench.chaos.services import LedgerDatabase, RedisServer, Replicas
from bench.nautobot_standin import NautobotStandIn
from testbed.slack_standin import SlackStandIn

TRACK_EVERY = 0.25
"""Seconds between two looks at the ledger for the killed replica's requests."""


@dataclass
class Done:
    """One fault as it was carried out: when it began (seconds after the arrivals began), how long it took."""

    fault: Fault
    began: float
    took: float = 0.0
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**self.fault.to_json(), "began": round(self.began, 2), "took": round(self.took, 2), "note": self.note}


@dataclass
class Takeover:
    request_id: str
    replica: str
    state: str
    waited: float | None
    """Seconds from the SIGKILL to the first change of the request's row (owner, lease, state); None: none came."""


@dataclass
class Injector:
    schedule: list[Fault]
    replicas: Replicas
    slack: SlackStandIn
    nautobot: NautobotStandIn
    redis: RedisServer
    ledger: LedgerDatabase
    lease_seconds: float
    done: list[Done] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)
    """When each SIGKILL landed (``time.monotonic()``)."""
    takeovers: list[Takeover] = field(default_factory=list)
    _began: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _replicas_lock: threading.Lock = field(default_factory=threading.Lock)
    """Replicas are stopped and started one operation at a time, as an orchestrator does."""
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, began: float) -> None:
        self._began = began
        self._spawn(self._run, "chaos-schedule")

    def finish(self, timeout: float = 300.0) -> None:
        """Stop at the next fault due, and wait for those under way (a Nautobot outage runs its course)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.1, deadline - time.monotonic()))

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        for fault in self.schedule:
            if self._stop.wait(max(0.0, self._began + fault.at - time.monotonic())):
                return
            self._spawn(self._carry_out, f"chaos-{fault.kind}", fault)

    def _carry_out(self, fault: Fault) -> None:
        began = time.monotonic()
        done = Done(fault, began - self._began)
        try:
            done.note = getattr(self, f"_{fault.kind}")(fault) or ""
        except Exception as exc:  # a fault that could not be carried out is reported, not fatal
            done.note = f"failed: {type(exc).__name__}: {exc}"
        done.took = time.monotonic() - began
        with self._lock:
            self.done.append(done)

    # -- the faults ------------------------------------------------------------------------------

    def _sigkill(self, fault: Fault) -> str:
        with self._replicas_lock:
            self.replicas.stop(fault.target, signal.SIGKILL)
            killed = time.monotonic()
            with self._lock:
                self.kills.append(killed)
            owned = self.ledger.owned(fault.target)
            self._spawn(self._track, f"track-{fault.target}", fault.target, owned, killed)
            time.sleep(fault.seconds)
            self.replicas.start(fault.target)
        return f"it was working on {len(owned)} requests"

    def _rolling_restart(self, fault: Fault) -> str:
        codes = []
        with self._replicas_lock:
            for name in self.replicas.names:
                codes.append(f"{name} exited {self.replicas.stop(name)}")
                self.replicas.start(name)
        return "; ".join(codes)

    def _redis_restart(self, fault: Fault) -> str:
        self.redis.stop()
        time.sleep(fault.seconds)
        self.redis.start()
        return ""

    def _nautobot_down(self, fault: Fault) -> str:
        self.nautobot.down(fault.seconds)
        return ""

    def _nautobot_503(self, fault: Fault) -> str:
        self.nautobot.unavailable(fault.seconds)
        time.sleep(fault.seconds)
        return ""

    def _slack_5xx(self, fault: Fault) -> str:
        for method, times in fault.calls.items():
            self.slack.fail_next(method, status=fault.status, times=times)
        return ""

    def _socket_drop(self, fault: Fault) -> str:
        self.slack.drop_connections()
        return ""

    def _pg_kill(self, fault: Fault) -> str:
        return f"{self.ledger.kill_bot_connections()} connections killed"

    # -- take-overs ------------------------------------------------------------------------------

    def _track(self, replica: str, owned: dict[str, tuple], killed: float) -> None:
        """Look at the killed replica's requests until each row changed (someone works on it again)."""
        waiting = dict(owned)
        deadline = killed + 3 * self.lease_seconds + 60
        while waiting and time.monotonic() < deadline:
            try:
                now_rows = self.ledger.rows(list(waiting))
            except Exception:  # the ledger's connections may be under a pg_kill right now: look again
                now_rows = {}
            seen = time.monotonic()
            for request_id, row in now_rows.items():
                if row != waiting[request_id]:
                    self._took_over(request_id, replica, waiting.pop(request_id)[2], seen - killed)
            time.sleep(TRACK_EVERY)
        for request_id, row in waiting.items():
            self._took_over(request_id, replica, row[2], None)

    def _took_over(self, request_id: str, replica: str, state: str, waited: float | None) -> None:
        with self._lock:
            self.takeovers.append(Takeover(request_id, replica, state, waited))

    def record(self) -> list[dict[str, Any]]:
        with self._lock:
            return [done.to_json() for done in sorted(self.done, key=lambda done: done.began)]
