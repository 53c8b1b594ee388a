"""The bot under test as its own process, started the way it is deployed, and sampled for memory and CPU."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench import ROOT

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Sample:
    at: float
    rss: int
    cpu_seconds: float


@dataclass
class BotProcess:
    """``ours`` runs ``meraki-chatops serve``; ``baseline`` runs ``python -m bench.baseline``."""

    design: str
    workdir: Path
    env: dict[str, str]
    popen: subprocess.Popen | None = None
    samples: list[Sample] = field(default_factory=list)
    _sampling: threading.Event = field(default_factory=threading.Event)

    @property
    def argv(self) -> list[str]:
        if self.design == "ours":
            return [str(VENV_BIN / "meraki-chatops"), "serve"]
        return [sys.executable, "-m", "bench.baseline"]

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.design}.log"

    def start(self) -> BotProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NAUTOBOT_"))}
        env.update(self.env, PYTHONPATH=str(ROOT), WEB_HOST="127.0.0.1", WEB_PORT=str(free_port()))
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, cwd=self.workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        threading.Thread(target=self._sample, name=f"sample-{self.design}", daemon=True).start()
        return self

    def _sample(self, every: float = 0.25) -> None:
        process = psutil.Process(self.popen.pid)
        while not self._sampling.is_set():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                self.samples.append(Sample(time.monotonic(), process.memory_info().rss, times.user + times.system))
            self._sampling.wait(every)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        self._sampling.set()
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:] if self.log.exists() else ""
