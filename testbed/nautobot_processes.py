"""The processes of a test Nautobot, and the checkout it syncs, served as a Git repository over HTTP."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class GitRemote:
    """This checkout's files, committed into a bare repository served over git's dumb HTTP protocol.

    The working tree is snapshotted (committed and uncommitted files, minus ignored ones), so the
    tests exercise the code as it is on disk, not only what has been committed.
    """

    def __init__(self, checkout: Path, workdir: Path, name: str = "meraki-chatops"):
        self.checkout = checkout
        self.workdir = workdir
        self.name = name
        self.server: ThreadingHTTPServer | None = None

    def _git(self, *args: str, cwd: Path) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "tests",
            "GIT_AUTHOR_EMAIL": "tests@example.com",
            "GIT_COMMITTER_NAME": "tests",
            "GIT_COMMITTER_EMAIL": "tests@example.com",
        }
        return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout

    def publish(self) -> str:
        snapshot = self.workdir / "snapshot"
        served = self.workdir / "served"
        for folder in (snapshot, served):
            shutil.rmtree(folder, ignore_errors=True)
        snapshot.mkdir(parents=True)
        files = self._git("ls-files", "-co", "--exclude-standard", "-z", cwd=self.checkout).split("\0")
        for relative in filter(None, files):
            source = self.checkout / relative
            if source.is_file():
                target = snapshot / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        self._git("init", "-q", "-b", "main", cwd=snapshot)
        self._git("add", "-A", cwd=snapshot)
        self._git("commit", "-q", "-m", "checkout snapshot", cwd=snapshot)
        served.mkdir()
        bare = served / f"{self.name}.git"
        self._git("clone", "-q", "--bare", str(snapshot), str(bare), cwd=self.workdir)
        self._git("update-server-info", cwd=bare)
        if self.server is None:
            handler = partial(_QuietHandler, directory=str(served))
            self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=self.server.serve_forever, daemon=True, name="git-remote").start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/{self.name}.git"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    # The dev server exits on Ctrl-C; Celery's cold shutdown does not wait out its warm-shutdown grace.
    stop_signal: int = signal.SIGINT
    popen: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, self.stop_signal)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        self.popen = None
