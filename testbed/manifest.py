"""What the Slack app manifest grants, and what the bot's code asks of Slack."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from slack_sdk.web.async_client import AsyncWebClient

ROOT = Path(__file__).resolve().parents[1]
"""The repository root, where manifest.yml and bot/ are."""
# Client methods that stand for more than one Web API method.
COMPOSITE = {"files_upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal")}


def manifest(path: Path = ROOT / "manifest.yml") -> dict:
    return yaml.safe_load(path.read_text())


def bot_scopes() -> set[str]:
    return set(manifest()["oauth_config"]["scopes"]["bot"])


def app_home(app: dict | None = None) -> dict:
    """The manifest's ``features.app_home`` (empty when it declares none), of ``app`` or of manifest.yml."""
    app = manifest() if app is None else app
    return dict((app.get("features") or {}).get("app_home") or {})


def home_tab_enabled(app: dict | None = None) -> bool:
    """Whether the app has a Home tab to publish to (Slack's ``views.publish`` is ``not_enabled`` otherwise)."""
    return app_home(app).get("home_tab_enabled") is True


def functions(app: dict | None = None) -> dict:
    """The manifest's ``functions`` (Workflow Builder custom steps) by callback_id; empty when it declares none."""
    app = manifest() if app is None else app
    return dict(app.get("functions") or {})


def web_api_methods() -> set[str]:
    """Every Slack Web API method the bot's code calls through a slack_sdk client."""
    found: set[str] = set()
    for source in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                if name in COMPOSITE:
                    found.update(COMPOSITE[name])
                elif "_" in name and callable(getattr(AsyncWebClient, name, None)) and name[0].islower():
                    family, _, method = name.partition("_")
                    if family in {
                        "chat",
                        "views",
                        "conversations",
                        "files",
                        "users",
                        "usergroups",
                        "auth",
                        "reactions",
                        "functions",
                    }:
                        found.add(f"{family}.{method.replace('_', '.')}")  # usergroups_users_list
    return found
