"""The App Home tab as Slack keeps it: whether the app has it enabled, the view each person sees there and
every publish, ``views.publish`` with the checks and error codes Slack documents for it, and the
``app_home_opened`` event a person's visit sends."""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from testbed.block_kit import MAX_VIEW_BYTES, _Checker, view_size
from testbed.slack_constants import APP_ID, BOT_ID, MAX_HOME_BLOCKS, TEAM_ID
from testbed.slack_replies import SlackError
from testbed.slack_workspace import Workspace, assign_ids, random_id


def validate_home_view(view: Any, pointer: str = "/view") -> list[str]:
    """Problems Slack would report for a Home tab view: a ``home`` type and its blocks; unlike a modal it has no
    title, submit or close to require."""
    checker = _Checker("home")
    if not checker.obj(view, pointer):
        return checker.messages
    if view.get("type") != "home":
        checker.fail(f"{pointer}/type", "must be home")
    for key in ("callback_id", "external_id"):
        checker.string(view.get(key), f"{pointer}/{key}", max_len=255)
    checker.string(view.get("private_metadata"), f"{pointer}/private_metadata", max_len=3000)
    if view.get("blocks") is None:
        checker.fail(f"{pointer}/blocks", "missing required field")
    else:
        checker.blocks(view["blocks"], f"{pointer}/blocks", max_blocks=MAX_HOME_BLOCKS)
    return checker.messages


@dataclass
class HomeTabs:
    """Each person's Home tab. ``enabled`` is the manifest's ``features.app_home.home_tab_enabled``."""

    enabled: bool
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The view each person sees now, by user id."""
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Every view published to each person, oldest first, with ``published_at`` (``time.time()``)."""

    def external_id_taken(self, external_id: str, user_id: str) -> bool:
        return any(v["external_id"] == external_id for owner, v in self.views.items() if owner != user_id)


def _invalid(message: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": [message]})


class HomeMethods:
    """``views.publish``, called with the stand-in's lock held."""

    def __init__(self, home: HomeTabs, space: Workspace) -> None:
        self.home = home
        self.space = space

    def views_publish(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        user_id = args.get("user_id")
        if not user_id:
            raise _invalid("[ERROR] missing required field: user_id")
        # Slack's documented answer for a user it does not know, "before getting to any validation errors".
        if user_id not in self.space.users:
            raise _invalid("invalid `user_id`")
        view = self._checked_view(args.get("view"))
        if not self.home.enabled:
            raise SlackError("not_enabled")
        current = self.home.views.get(user_id)
        expected_hash = args.get("hash")
        if expected_hash and (current is None or expected_hash != current["hash"]):
            raise SlackError("hash_conflict")
        self._check_external_id(view, user_id)
        stored = self._store(view, user_id, current)
        return {"view": copy.deepcopy(stored)}

    @staticmethod
    def _checked_view(view: Any) -> dict[str, Any]:
        if view is None:
            raise _invalid("[ERROR] missing required field: view")
        if not isinstance(view, dict):
            raise _invalid("[ERROR] must provide an object [json-pointer:/view]")
        if view_size(view) > MAX_VIEW_BYTES:
            raise SlackError("view_too_large")
        problems = validate_home_view(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        return view

    def _check_external_id(self, view: dict[str, Any], user_id: str) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        if self.home.external_id_taken(external_id, user_id):
            raise SlackError("duplicate_external_id")
        self.space.check_external_id(view)  # the open modals' external ids are the workspace's too

    def _store(self, view: dict[str, Any], user_id: str, current: dict[str, Any] | None) -> dict[str, Any]:
        """The view as Slack answers it; a person's Home keeps its id across publishes, with a new hash each."""
        blocks = copy.deepcopy(view["blocks"])
        assign_ids(blocks)
        view_id = current["id"] if current else random_id("V")
        stored = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "home",
            "close": None,
            "submit": None,
            "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        self.home.views[user_id] = stored
        self.home.history.setdefault(user_id, []).append({**copy.deepcopy(stored), "published_at": time.time()})
        return stored


def app_home_opened(user_id: str, channel_id: str, tab: str, view: dict[str, Any] | None) -> dict[str, Any]:
    """The event a visit to the app's Home sends; the Home tab's carries its view once one was published."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": channel_id,
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if tab == "home" and view is not None:
        event["view"] = copy.deepcopy(view)
    return event
