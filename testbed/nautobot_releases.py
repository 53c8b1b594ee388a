"""The Nautobot releases the tests run against, each installed from its own pinned requirements.

3.2 is the project's own: pyproject.toml's ``test`` extra pins it, so it lives in the venv the tests
run in (the type checker reads jobs/ against it too). 2.4, the long-term-maintenance release, gets a
venv of its own, built once from ``nautobot-2.4.txt`` into a cache outside the checkout and reused by
every clone on the machine until the pins change. ``--nautobot=2.4`` (or ``TEST_NAUTOBOT=2.4``) picks it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TESTBED = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meraki-chatops"
SELECTOR = "TEST_NAUTOBOT"
"""The environment variable that picks the release when ``--nautobot`` is not given."""


class ReleaseError(RuntimeError):
    """A release that is not known, or whose venv could not be built."""


@dataclass(frozen=True)
class NautobotRelease:
    name: str
    """The release line, as the tests and the README name it: ``3.2``, ``2.4``."""
    requirements: Path | None
    """Pinned requirements for a venv of its own; None: the venv the tests run in."""

    @property
    def api_version(self) -> str:
        """The REST API version the harness asks for (``Accept: application/json; version=...``)."""
        return self.name

    @property
    def is_lts(self) -> bool:
        return self.name.startswith("2.")

    @property
    def cancels(self) -> bool:
        """Nautobot 3.2 added the API that cancels a queued or running Job."""
        return tuple(int(part) for part in self.name.split(".")) >= (3, 2)

    @property
    def venv(self) -> Path:
        if self.requirements is None:
            return Path(sys.executable).parent.parent
        digest = hashlib.sha256(self.requirements.read_bytes() + sys.version.encode()).hexdigest()[:10]
        return CACHE / f"nautobot-{self.name}-{digest}"

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def server(self) -> str:
        return str(self.bin / "nautobot-server")

    def install(self, log: Path) -> None:
        """Build this release's venv unless it is there; a half-built one is never taken for done.

        Console scripts name their venv's path, so the venv is built where it lives (under the
        machine lock) and marked complete only once pip has finished.
        """
        if self.requirements is None or (self.venv / "installed").exists():
            return
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"building the Nautobot {self.name} venv in {self.venv} (once per machine)", file=sys.stderr)
        with log.open("ab") as out:
            steps = (
                ["rm", "-rf", str(self.venv)],
                [sys.executable, "-m", "venv", str(self.venv)],
                [str(self.bin / "python"), "-m", "pip", "install", "--quiet", "-r", str(self.requirements)],
            )
            for step in steps:
                if subprocess.run(step, stdout=out, stderr=out).returncode != 0:
                    raise ReleaseError(f"building the Nautobot {self.name} venv failed ({' '.join(step)}); see {log}")
        (self.venv / "installed").touch()

    def versions(self) -> str:
        """``nautobot=X|nautobot-chatops=Y`` as installed in this release's venv (names the template)."""
        code = (
            "from importlib.metadata import version;"
            "print('|'.join(f'{d}={version(d)}' for d in ('nautobot', 'nautobot-chatops')))"
        )
        return subprocess.run(
            [str(self.bin / "python"), "-c", code], check=True, capture_output=True, text=True
        ).stdout.strip()


RELEASES = {
    "3.2": NautobotRelease("3.2", None),
    "2.4": NautobotRelease("2.4", TESTBED / "nautobot-2.4.txt"),
}
DEFAULT = "3.2"


def release(name: str | None = None) -> NautobotRelease:
    """The release named (or picked by ``TEST_NAUTOBOT``, else 3.2); an unknown name is refused."""
    chosen = name or os.environ.get(SELECTOR) or DEFAULT
    try:
        return RELEASES[chosen]
    except KeyError:
        known = ", ".join(RELEASES)
        raise ReleaseError(f"no Nautobot release {chosen!r} to test against; choose one of {known}") from None
