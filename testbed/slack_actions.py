"""What a person does in Slack, delivered to the app over Socket Mode as Slack delivers it: slash
commands, modal submissions, typing into an external select, button clicks, and Events API events."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping
from typing import Any

from testbed.block_kit import validate_options_response, validate_view
from testbed.slack_constants import (
    APP_ID,
    BOT_ID,
    MAX_VIEW_STACK,
    TEAM_DOMAIN,
    TEAM_ID,
    VERIFICATION_TOKEN,
)
from testbed.slack_payloads import build_state_values, event_callback, find_button
from testbed.slack_server import StandInServer
from testbed.slack_workspace import interactive_elements


class UserActions(StandInServer):
    """A user's actions: each is one envelope, and its ack is returned (a submission's is also applied)."""

    def slash_command(
        self,
        command: str = "/meraki-add-user",
        text: str = "",
        user_id: str = "U123",
        channel_id: str = "C123",
    ) -> dict[str, Any]:
        """Type ``command`` in a channel; returns the ack payload the app sent back."""
        with self._lock:
            payload = self._slash_payload(command, text, user_id, channel_id)
        ack = self._deliver("slash_commands", payload, accepts_response=True)
        if ack:
            with self._lock:
                self._workspace.responses.append(
                    {"source": "ack", "channel_id": channel_id, "user_id": user_id, **copy.deepcopy(ack)}
                )
        return ack

    def _slash_payload(self, command: str, text: str, user_id: str, channel_id: str) -> dict[str, Any]:
        if "commands" not in self.scopes:
            raise PermissionError("the app lacks the 'commands' scope; Slack would not offer the command")
        if not command.startswith("/") or len(command) > 32:
            raise ValueError(f"invalid slash command {command!r}")
        space = self._workspace
        user = self._user(user_id)
        channel = space.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id!r}; add_channel() first")
        if user_id not in channel.members:
            raise ValueError(f"{user_id} is not a member of {channel_id} and cannot type there")
        channel_name = "directmessage" if channel.is_im else channel.name
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": space.issue_response_url(self._base_url, channel_id, user_id),
            "trigger_id": space.issue_trigger(user_id),
        }

    def submit_view(
        self,
        view_id: str,
        values: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        user_id: str = "U123",
    ) -> dict[str, Any]:
        """Press Submit on the user's top modal; applies the ack's ``response_action``.

        ``values`` maps block_id → action_id → the element's value dict, e.g.
        ``{"email_b": {"email_a": {"value": "a@b.c"}}}``; ``type`` is filled in.
        """
        with self._lock:
            payload = self._submission_payload(view_id, values or {}, user_id)
        ack = self._deliver("interactive", payload, accepts_response=True)
        with self._lock:
            self._apply_submission_ack(view_id, user_id, ack)
        return ack

    def submit_view_twice(
        self,
        view_id: str,
        values: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        user_id: str = "U123",
    ) -> list[dict[str, Any]]:
        """One Submit delivered twice at once, each to its own connection (when there are two), as when a
        retried envelope overtakes its first delivery; the first ack to arrive is the one applied."""
        with self._lock:
            payload = self._submission_payload(view_id, values or {}, user_id)

        async def both() -> list[dict[str, Any]]:
            return list(
                await asyncio.gather(
                    *(self._hub.deliver("interactive", copy.deepcopy(payload), True) for _ in range(2))
                )
            )

        acks = self._run(both(), self.ack_timeout + 5)
        with self._lock:
            self._apply_submission_ack(view_id, user_id, acks[0])
        return acks

    def _top_view(self, view_id: str, user_id: str) -> dict[str, Any]:
        """A copy of ``view_id``, which must be the modal ``user_id`` sees on top (the lock held)."""
        stack = self._workspace.stacks.get(user_id) or []
        if not stack or stack[-1] != view_id:
            raise ValueError(f"view {view_id} is not the modal {user_id} currently sees")
        return copy.deepcopy(self._workspace.views[view_id])

    def _submission_payload(self, view_id: str, values: Mapping[str, Any], user_id: str) -> dict[str, Any]:
        space = self._workspace
        view = self._top_view(view_id, user_id)
        if view.get("submit") is None:
            raise ValueError(f"view {view_id} has no submit button")
        view["state"] = {"values": build_state_values(view, values)}
        user = self._user(user_id)
        return {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": space.issue_trigger(user_id),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def _apply_submission_ack(self, view_id: str, user_id: str, ack: dict[str, Any]) -> None:
        """Do what Slack does with a view_submission ack, or record why it would fail."""
        space = self._workspace
        stack = space.stacks.get(user_id) or []
        action = ack.get("response_action")
        problem = None
        if not ack:
            if stack and stack[-1] == view_id:
                stack.pop()
        elif action == "errors":
            problem = self._errors_problem(view_id, ack.get("errors"))
        elif action in ("update", "push"):
            view = ack.get("view")
            problems = validate_view(view, "/view") if isinstance(view, dict) else ["missing view"]
            if problems:
                problem = "; ".join(problems)
            elif action == "update":
                space.replace_view(space.views[view_id], view)
            elif len(stack) >= MAX_VIEW_STACK:
                problem = "push_limit_reached"
            else:
                space.push_view(user_id, view)
        elif action == "clear":
            space.stacks[user_id] = []
        else:
            problem = f"unexpected view_submission ack payload: {ack!r}"
        if problem is not None:
            self._rejected_acks.append({"view_id": view_id, "ack": copy.deepcopy(ack), "problem": problem})

    def _errors_problem(self, view_id: str, errors: Any) -> str | None:
        if not isinstance(errors, dict) or not errors:
            return "response_action=errors needs a non-empty errors object"
        inputs = {b["block_id"] for b in self._workspace.views[view_id]["blocks"] if b.get("type") == "input"}
        unknown = sorted(set(errors) - inputs)
        if unknown:
            return f"errors name blocks that are not input blocks of the view: {unknown}"
        return None

    def suggest(self, view_id: str, block_id: str, value: str = "", user_id: str = "U123") -> list[dict[str, Any]]:
        """Type ``value`` into an external select of the user's top modal: the options the app answers with.

        As Slack, it sends a ``block_suggestion`` and takes only a well-formed answer within the ack time.
        """
        with self._lock:
            view = self._top_view(view_id, user_id)
            selects = [
                element
                for block in view.get("blocks", [])
                if block.get("block_id") == block_id and block.get("type") == "input"
                for element in [block.get("element") or {}]
                if element.get("type") in ("external_select", "multi_external_select")
            ]
            if len(selects) != 1:
                raise ValueError(f"view {view_id} has no external select in block {block_id!r}")
            if len(value) < int(selects[0].get("min_query_length", 3)):
                return []  # Slack does not ask before the minimum query length is typed
            user = self._user(user_id)
            payload = {
                "type": "block_suggestion",
                "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
                "container": {"type": "view", "view_id": view_id},
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "action_id": selects[0]["action_id"],
                "block_id": block_id,
                "value": value,
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "view": view,
            }
        answer = self._deliver("interactive", payload, accepts_response=True)
        problems = validate_options_response(answer)
        if problems:
            raise ValueError(f"Slack would show no options for this answer: {'; '.join(problems)}")
        return list(answer.get("options") or [])

    def click_button(
        self,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        user_id: str = "U123",
    ) -> dict[str, Any]:
        """Click a button in a bot message; ``value`` picks among same-named buttons."""
        with self._lock:
            payload = self._block_actions_payload(channel_id, message_ts, action_id, value, user_id)
        return self._deliver("interactive", payload, accepts_response=False)

    def click_view_button(self, view_id: str, action_id: str, user_id: str = "U123") -> dict[str, Any]:
        """Click a button in the modal the user sees (block_actions from a view, as Slack sends it)."""
        with self._lock:
            space = self._workspace
            view = self._top_view(view_id, user_id)
            buttons = [
                (element, block["block_id"])
                for block in view.get("blocks", [])
                for element in interactive_elements(block)
                if element.get("type") == "button" and element.get("action_id") == action_id
            ]
            if len(buttons) != 1:
                raise ValueError(f"view {view_id} has {len(buttons)} buttons {action_id!r}")
            button, block_id = buttons[0]
            action = {"type": "button", "action_id": action_id, "block_id": block_id, "text": button["text"]}
            if "value" in button:
                action["value"] = button["value"]
            user = self._user(user_id)
            payload = {
                "type": "block_actions",
                "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "container": {"type": "view", "view_id": view_id},
                "trigger_id": space.issue_trigger(user_id),
                "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
                "view": view,
                "actions": [action],
            }
        return self._deliver("interactive", payload, accepts_response=False)

    def _block_actions_payload(
        self, channel_id: str, message_ts: str, action_id: str, value: str | None, user_id: str
    ) -> dict[str, Any]:
        space = self._workspace
        message = space.find_message(channel_id, message_ts)
        if message is None:
            raise KeyError(f"no message {message_ts} in {channel_id}")
        if message.data.get("bot_id") != BOT_ID:
            raise ValueError(f"message {message_ts} was not posted by the app")
        button, block_id = find_button(message.data, action_id, value)
        action = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": copy.deepcopy(button["text"]),
            "action_ts": f"{time.time():.6f}",
        }
        for key in ("value", "style"):
            if key in button:
                action[key] = button[key]
        user = self._user(user_id)
        channel = space.channels[channel_id]
        container = {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False}
        if message.data.get("thread_ts"):
            container["thread_ts"] = message.data["thread_ts"]
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": space.issue_trigger(user_id),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel.name or "directmessage"},
            "message": copy.deepcopy(message.data),
            "state": {"values": {}},
            "response_url": space.issue_response_url(self._base_url, channel_id, user_id),
            "actions": [action],
        }

    def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Deliver an Events API ``event_callback`` wrapping ``event``; returns the ack payload."""
        return self._deliver("events_api", event_callback(event), accepts_response=False)
