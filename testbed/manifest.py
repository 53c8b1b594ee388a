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


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def bot_scopes() -> set[str]:
    return set(manifest()["oauth_config"]["scopes"]["bot"])


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
                    }:
                        found.add(f"{family}.{method.replace('_', '.')}")  # usergroups_users_list
    return found
