"""The bot under test as its own process, started the way it is deployed, and sampled for memory and CPU."""

from __future__ import annotations

import contextlib
import json
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


BOT_DESIGNS = ("ours", "ours-polling")
"""Designs that run the bot itself (``meraki-chatops serve``); they differ only in their settings."""

_WHICH_BOT = """
import json, bot, bot.settings
fields = bot.settings.Settings.model_fields
print(json.dumps({"package": bot.__file__, "events_setting": "nautobot_events_url" in fields}))
"""


def bot_code() -> dict[str, object]:
    """Which ``bot`` package the bot process imports, and whether its settings know NAUTOBOT_EVENTS_URL.

    Asked of the venv's interpreter with the environment :meth:`BotProcess.start` gives the bot, so the
    answer is the one ``meraki-chatops`` (installed editable from another checkout) gets.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    found = subprocess.run(
        [str(VENV_BIN / "python"), "-c", _WHICH_BOT], env=env, cwd="/", capture_output=True, text=True, check=True
    )
    answer = json.loads(found.stdout)
    package = Path(answer["package"]).resolve()
    if not package.is_relative_to(ROOT):
        raise RuntimeError(f"the bot process would import {package}, not this checkout's bot/ ({ROOT})")
    return {"package": str(package), "events_setting": answer["events_setting"]}


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


@dataclass
class BotProcess:
    """``ours`` and ``ours-polling`` run ``meraki-chatops serve``; ``baseline`` runs ``python -m bench.baseline``."""

    design: str
    workdir: Path
    env: dict[str, str]
    popen: subprocess.Popen | None = None
    samples: list[Sample] = field(default_factory=list)
    _sampling: threading.Event = field(default_factory=threading.Event)
    _process: psutil.Process | None = None

    @property
    def argv(self) -> list[str]:
        if self.design in BOT_DESIGNS:
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
        self._process = psutil.Process(self.popen.pid)
        threading.Thread(target=self._sample, name=f"sample-{self.design}", daemon=True).start()
        return self

    def cpu_seconds(self) -> float:
        """CPU time the bot has used so far, read now (more exact than the nearest sample)."""
        return cpu_seconds(self._process)

    def _sample(self, every: float = 0.25) -> None:
        while not self._sampling.is_set():
            with contextlib.suppress(psutil.Error):
                self.samples.append(Sample(time.monotonic(), self._process.memory_info().rss, self.cpu_seconds()))
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
