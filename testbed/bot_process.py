"""The bot started exactly as the README says, ``meraki-chatops serve``, as a separate process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MERAKI_CHATOPS = str(Path(sys.executable).parent / "meraki-chatops")


@dataclass
class BotProcess:
    workdir: Path
    env: dict[str, str]
    args: tuple[str, ...] = ("serve",)
    log: Path = field(init=False)
    popen: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.log = self.workdir / "bot.log"

    def start(self, **overrides: str | None) -> BotProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NAUTOBOT_", "MERAKI_"))}
        env.update(self.env)
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [MERAKI_CHATOPS, *self.args],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.popen is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        try:
            code = self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            code = self.popen.wait(timeout=5)
        self.popen = None
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
