"""The access policy's text, as ACCESS_POLICY (JSON) or ACCESS_POLICY_FILE (a YAML or JSON file) gives it.

Each problem is said where it is (the line and column, the file that cannot be read), rather than as
pydantic-settings' generic error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def policy_text(value: Any) -> Any:
    """ACCESS_POLICY arrives as JSON text; say where it is broken rather than pydantic-settings' generic error."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


def policy_file(value: Any) -> Any:
    """ACCESS_POLICY_FILE names a YAML (.yaml, .yml) or JSON file; its content becomes the policy."""
    if not isinstance(value, str | Path):
        return value
    if not str(value).strip():
        return None
    path = Path(value)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml(path, text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


def _yaml(path: Path, text: str) -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with the bot
        raise ValueError(
            f"{path} is YAML, but PyYAML is not installed: install it, or write the policy as JSON"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path} is not valid YAML{where}") from None
