"""Which way the modules depend on each other: settings are plain values, Nautobot's client knows no settings, and
the benchmarks share the stand-ins with the tests without importing them.

The settings are read first, by every command (``doctor`` and ``preview`` too), and must not pull in Slack or the
services that use them; :mod:`bot.nautobot` is built from plain values by the wiring (:mod:`bot.clients`), so
importing it never imports the settings, not even for a type. Either way round would close the import circle
settings → access → nautobot → settings again.

Outside ``bot``, the layers go one way: ``tests`` may import ``bench`` and ``testbed``, ``bench`` imports
``testbed``, and ``testbed`` imports neither, so the stand-ins have one home and no two packages import each other.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("slack_sdk", "slack_bolt", "bot.access", "bot.nautobot", "bot.clients", "bot.app")
"""What ``import bot.settings`` must not import: Slack's SDK and the services that read the settings."""


def _imported_by(statement: str) -> list[str]:
    """Every module ``statement`` imports, in a fresh interpreter (``-X importtime`` names each once)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]


def _names_imported(path: Path) -> set[str]:
    """The modules a source file imports anywhere (under ``if TYPE_CHECKING:`` and inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def test_settings_import_no_service() -> None:
    imported = _imported_by("import bot.settings")
    assert "bot.settings" in imported  # the check reads this worktree's code, not a stale one
    assert [name for name in imported if any(_within(name, service) for service in SERVICES)] == []


def test_nautobot_imports_no_settings() -> None:
    imported = _imported_by("import bot.nautobot")
    assert "bot.nautobot.client" in imported
    assert "bot.settings" not in imported


@pytest.mark.parametrize(
    "path", sorted((ROOT / "bot" / "nautobot").rglob("*.py")), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_nautobot_module_names_no_settings(path: Path) -> None:
    """Not even for a type: the client is built from plain values, and the settings' readers build it."""
    assert [name for name in _names_imported(path) if _within(name, "bot.settings")] == []


@pytest.mark.parametrize("path", sorted((ROOT / "bot" / "policy").rglob("*.py")), ids=lambda path: path.name)
def test_policy_imports_no_service(path: Path) -> None:
    """The settings read the policy at start: it is plain values, whatever the modules that apply it import."""
    assert [name for name in _names_imported(path) if any(_within(name, service) for service in SERVICES)] == []


def test_access_package_only_exports() -> None:
    """``bot.access`` names what it offers; the service and the decisions live in modules of their own."""
    tree = ast.parse((ROOT / "bot" / "access" / "__init__.py").read_text(encoding="utf-8"))
    kept = [
        type(node).__name__
        for node in tree.body
        if not isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))  # the docstring
        and not (isinstance(node, ast.Assign) and [ast.unparse(target) for target in node.targets] == ["__all__"])
    ]
    assert kept == []


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    "path", _sources("bench") + _sources("testbed"), ids=lambda path: path.relative_to(ROOT).as_posix()
)
def test_bench_and_testbed_import_no_tests(path: Path) -> None:
    """The benchmarks and the stand-ins run without the test suite; it imports them, never the other way."""
    assert [name for name in _names_imported(path) if _within(name, "tests")] == []


@pytest.mark.parametrize("path", _sources("testbed"), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_testbed_imports_no_bench(path: Path) -> None:
    """The stand-ins are the benchmarks' ground, not their part: bench imports testbed, never the other way."""
    assert [name for name in _names_imported(path) if _within(name, "bench")] == []


def test_only_the_bot_is_installed() -> None:
    """The stand-ins (with a test-only Nautobot config and tokens) and the benchmarks stay in the checkout."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert [pattern for pattern in included if not _within(pattern.removesuffix(".*"), "bot")] == []
