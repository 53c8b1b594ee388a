"""The App Home tab and Workflow Builder custom steps from a test's side: a person opening the app's Home, a
workflow reaching the app's step, Slack delivering an event again, and what the app published or completed."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Mapping
from typing import Any

from testbed.slack_actions import UserActions
from testbed.slack_home import app_home_opened
from testbed.slack_payloads import event_callback
from testbed.slack_state import Envelope


class SurfaceActions(UserActions):
    """A person's visit to the app's Home and the custom steps workflows run, each one envelope."""

    # -- App Home ----------------------------------------------------------------------

    @property
    def home_tab_enabled(self) -> bool:
        """The manifest's ``features.app_home.home_tab_enabled``; without it views.publish is ``not_enabled``."""
        with self._lock:
            return self._home.enabled

    @home_tab_enabled.setter
    def home_tab_enabled(self, enabled: bool) -> None:
        with self._lock:
            self._home.enabled = enabled

    def home(self, user_id: str = "U123") -> dict[str, Any] | None:
        """The view ``user_id`` sees on the app's Home tab (None before the first publish)."""
        with self._lock:
            return copy.deepcopy(self._home.views.get(user_id))

    def publishes(self, user_id: str = "U123") -> list[dict[str, Any]]:
        """Every view published to ``user_id``'s Home, oldest first, each with ``published_at``."""
        with self._lock:
            return copy.deepcopy(self._home.history.get(user_id, []))

    def open_home(self, user_id: str = "U123", tab: str = "home") -> dict[str, Any]:
        """``user_id`` opens the app's Home (its ``home`` or ``messages`` tab): ``app_home_opened``; the ack."""
        with self._lock:
            self._user(user_id)
            if tab not in ("home", "messages"):
                raise ValueError(f"the app's Home has no tab {tab!r}")
            if tab == "home" and not self._home.enabled:
                raise ValueError("the app's Home tab is not enabled; nobody can open it")
            channel, _existed = self._workspace.open_dm([user_id])
            event = app_home_opened(user_id, channel.id, tab, self._home.views.get(user_id))
        return self.send_event(event)

    # -- custom steps ------------------------------------------------------------------

    def declare_functions(self, functions: Mapping[str, Any]) -> None:
        """Take the manifest's ``functions`` mapping (``testbed.manifest.functions()``)."""
        with self._lock:
            self._functions.declare(functions)

    def run_function(self, callback_id: str, inputs: Mapping[str, Any], user_id: str = "U123") -> str:
        """A workflow started by ``user_id`` reaches the step ``callback_id``: a ``function_executed`` event with
        the execution's own bot token. Returns the execution id; a failed delivery raises like any other, the
        execution still open (see :meth:`function_executions`, :meth:`redeliver`)."""
        with self._lock:
            execution = self._functions.start(callback_id, dict(inputs), user_id, self._workspace)
            payload = event_callback(execution.event())
        self._deliver("events_api", payload, accepts_response=False)
        return execution.id

    def function_event(self, callback_id: str, inputs: Mapping[str, Any], user_id: str = "U123") -> dict[str, Any]:
        """Like :meth:`run_function`, but the ``event_callback`` is returned instead of delivered: for tests that
        hand it to a listener themselves. The execution and its token are Slack's as for a delivered one."""
        with self._lock:
            execution = self._functions.start(callback_id, dict(inputs), user_id, self._workspace)
            return event_callback(execution.event())

    def function_execution(self, execution_id: str) -> dict[str, Any]:
        """What became of an execution: ``state`` (open, completed, failed), ``outputs`` or ``error``, ``ended``."""
        with self._lock:
            execution = self._functions.executions.get(execution_id)
            if execution is None:
                raise KeyError(f"no function execution {execution_id!r}")
            return execution.observed()

    def function_ended(self, execution_id: str, timeout: float = 30) -> dict[str, Any]:
        """The execution once the app completed or failed it (its state no longer ``open``); raises TimeoutError."""

        def ended() -> dict[str, Any] | None:
            execution = self.function_execution(execution_id)
            return execution if execution["state"] != "open" else None

        return self.wait_for(ended, timeout)

    def function_executions(self) -> list[dict[str, Any]]:
        """Every execution, oldest first."""
        with self._lock:
            return [execution.observed() for execution in self._functions.executions.values()]

    def function_messages(self, execution_id: str) -> list[tuple[str, str]]:
        """The (channel, ts) of each message the execution posted with its own token, oldest first: the messages
        whose buttons carry the step's data."""
        with self._lock:
            return [place for place, execution in self._functions.messages.items() if execution.id == execution_id]

    def answer_function_message(self, execution_id: str, action_id: str, user_id: str, timeout: float = 30) -> None:
        """``user_id`` clicks ``action_id`` on the first message the execution posted (waiting for it to appear)."""
        channel, ts = self.wait_for(lambda: next(iter(self.function_messages(execution_id)), None), timeout)
        self.click_button(channel, ts, action_id, execution_id, user_id)

    def click_payload(
        self, channel_id: str, message_ts: str, action_id: str, value: str | None = None, user_id: str = "U123"
    ) -> dict[str, Any]:
        """Like :meth:`click_button`, but the ``block_actions`` payload is returned instead of delivered: for tests
        that hand it to a listener themselves."""
        with self._lock:
            return self._block_actions_payload(channel_id, message_ts, action_id, value, user_id)

    def expire_function_tokens(self, after: float) -> None:
        """Let a step's token and its time to complete run out ``after`` seconds (Slack: 15 minutes)."""
        with self._lock:
            self._functions.token_ttl = after

    def redeliver(self, delivery: Envelope | str, reason: str = "timeout") -> dict[str, Any]:
        """Deliver an event again, ids unchanged, as Slack does when its ack came late or not at all.

        ``delivery`` is an envelope of :attr:`envelopes` or a function execution id (its ``function_executed``).
        Only events are redelivered by Slack, so other envelopes are refused.
        """
        with self._lock:
            first = self._first_delivery(delivery)
            attempts = sum(1 for e in self._envelopes if e.type == "events_api" and e.payload == first.payload)
        return self._deliver("events_api", first.payload, accepts_response=False, retry=(attempts, reason))

    def _first_delivery(self, delivery: Envelope | str) -> Envelope:
        if isinstance(delivery, Envelope):
            if delivery.type != "events_api":
                raise ValueError(f"Slack does not redeliver {delivery.type} envelopes, only events")
            return delivery
        for envelope in self._envelopes:
            event = envelope.payload.get("event") or {}
            if envelope.type == "events_api" and event.get("function_execution_id") == delivery:
                return envelope
        raise KeyError(f"no function_executed event was sent for {delivery!r}")

    def _block_actions_payload(
        self, channel_id: str, message_ts: str, action_id: str, value: str | None, user_id: str
    ) -> dict[str, Any]:
        """A click on a custom step's message carries the step's data and token; an interactivity pointer
        stands in for the trigger_id (as in the payloads bolt-js tests its function support with)."""
        payload = super()._block_actions_payload(channel_id, message_ts, action_id, value, user_id)
        execution = self._functions.messages.get((channel_id, message_ts))
        if execution is None:
            return payload
        for key in ("trigger_id", "response_url"):
            del payload[key]
        payload["function_data"] = execution.function_data()
        payload["bot_access_token"] = execution.token
        payload["interactivity"] = {
            "interactor": {"secret": secrets.token_hex(16), "id": user_id},
            "interactivity_pointer": self._workspace.issue_trigger(user_id),
        }
        return payload
