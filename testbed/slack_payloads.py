"""What a Slack client puts into an interaction: a submission's state values, refused where the
client would refuse them, and the one button a click names; and the Events API wrapper of an event."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Mapping
from typing import Any

from testbed.block_kit import _EMAIL
from testbed.slack_constants import APP_ID, BOT_USER_ID, TEAM_ID, VERIFICATION_TOKEN
from testbed.slack_workspace import interactive_elements, random_id


def _find_input(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    for block in view.get("blocks", []):
        if block.get("block_id") == block_id:
            if block.get("type") != "input":
                raise ValueError(f"block {block_id!r} is not an input block")
            return block
    raise ValueError(f"view {view['id']} has no block {block_id!r}")


_URL = re.compile(r"^https?://\S+\Z")


def _check_entered_value(element: dict[str, Any], value: dict[str, Any], where: str) -> None:
    """What the Slack client itself refuses to submit."""
    kind = element["type"]
    text = value.get("value")
    if kind == "email_text_input" and text is not None and not _EMAIL.match(str(text)):
        raise ValueError(f"{where}: Slack refuses to submit an invalid email address {text!r}")
    if kind == "url_text_input" and text is not None and not _URL.match(str(text)):
        raise ValueError(f"{where}: Slack refuses to submit an invalid URL {text!r}")
    if kind == "plain_text_input" and text is not None:
        low, high = element.get("min_length", 0), element.get("max_length", 3000)
        if not low <= len(str(text)) <= high:
            raise ValueError(f"{where}: length must be within {low}..{high}")
    selected = value.get("selected_option")
    if kind == "static_select" and selected is not None and selected not in _all_options(element):
        raise ValueError(f"{where}: selected_option is not one of the options")


def _all_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    if "options" in element:
        return list(element["options"])
    return [o for group in element.get("option_groups", []) for o in group.get("options", [])]


def _is_empty(value: dict[str, Any]) -> bool:
    keys = (
        "value",
        "selected_option",
        "selected_options",
        "selected_user",
        "selected_users",
        "selected_conversation",
        "selected_channel",
        "selected_date",
        "selected_time",
        "selected_date_time",
        "files",
    )
    return all(value.get(k) in (None, "", []) for k in keys)


def build_state_values(
    view: dict[str, Any], values: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """``state.values`` for a submission, refusing anything the Slack client would not send."""
    state: dict[str, dict[str, dict[str, Any]]] = {}
    for block_id, actions in values.items():
        element = _find_input(view, block_id)["element"]
        for action_id, value in actions.items():
            if action_id != element.get("action_id"):
                raise ValueError(f"block {block_id!r} has no action {action_id!r}")
            entered = {"type": element["type"], **copy.deepcopy(dict(value))}
            if entered["type"] != element["type"]:
                raise ValueError(f"{block_id}/{action_id} is a {element['type']}")
            _check_entered_value(element, entered, f"{block_id}/{action_id}")
            state.setdefault(block_id, {})[action_id] = entered
    for block in view.get("blocks", []):
        if block.get("type") != "input" or block.get("optional"):
            continue
        entered = state.get(block["block_id"], {}).get(block["element"]["action_id"])
        if entered is None or _is_empty(entered):
            raise ValueError(f"required input {block['block_id']!r} is empty; Slack would not submit")
    return state


def find_button(message: dict[str, Any], action_id: str, value: str | None) -> tuple[dict[str, Any], str]:
    candidates = []
    for block in message.get("blocks") or []:
        for element in interactive_elements(block):
            if element.get("type") == "button" and element.get("action_id") == action_id:
                candidates.append((element, block["block_id"]))
    if value is not None:
        candidates = [c for c in candidates if c[0].get("value") == value]
    if len(candidates) != 1:
        raise ValueError(
            f"expected exactly one button {action_id!r} (value={value!r}) in message "
            f"{message['ts']}, found {len(candidates)}"
        )
    return candidates[0]


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    """The Events API ``event_callback`` that carries ``event`` (with an event_id of its own)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": copy.deepcopy(event),
        "type": "event_callback",
        "event_id": random_id("Ev"),
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
    }
