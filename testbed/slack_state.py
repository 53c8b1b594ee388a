"""The state every part of the Slack stand-in shares (the Web API methods, Socket Mode, the server): the tokens and
scopes it grants, the workspace, what was called and delivered, the faults to inject; one lock guards it all."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from testbed.slack_constants import (
    APP_ID,
    DEFAULT_BOT_SCOPES,
    DEFAULT_FUNCTIONS_COMPLETE_LIMIT,
    DEFAULT_VIEWS_PUBLISH_LIMIT,
    RateLimit,
)
from testbed.slack_functions import FunctionSteps
from testbed.slack_home import HomeTabs
from testbed.slack_replies import Call, Faults, Hold, Limiter
from testbed.slack_workspace import Workspace


@dataclass
class Envelope:
    """One Socket Mode envelope and what became of it."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    connection: str | None
    sent_at: float
    ack: dict[str, Any] | None = None
    acked_at: float | None = None
    failure: str | None = None
    retry_attempt: int = 0
    """0 for a first delivery; Slack counts its redeliveries of an event here (and says why in retry_reason)."""


class SharedState:
    """What the stand-in holds, apart from its server (see :class:`~testbed.slack_server.StandInServer`)."""

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str,
        scopes: Iterable[str] | None,
        app_scopes: Iterable[str],
        host: str,
        port: int,
        trigger_ttl: float,
        ack_timeout: float,
        post_message_limit: RateLimit | None,
        chat_update_limit: RateLimit | None,
        home_tab_enabled: bool,
        functions: Mapping[str, Any] | None,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.scopes: set[str] = set(DEFAULT_BOT_SCOPES if scopes is None else scopes)
        self.app_scopes: set[str] = set(app_scopes)
        self.host = host
        self.port = port
        self.ack_timeout = ack_timeout
        self._lock = threading.RLock()
        self._workspace = Workspace(trigger_ttl)
        self._calls: list[Call] = []
        self._envelopes: list[Envelope] = []
        self._unacked: list[dict[str, Any]] = []
        self._rejected_acks: list[dict[str, Any]] = []
        self._faults = Faults()
        self._holds: dict[str, Hold] = {}
        self._limiter = Limiter()
        self._limiter.set("chat.postMessage", post_message_limit)
        self._limiter.set("chat.update", chat_update_limit)
        self._limiter.set("views.publish", DEFAULT_VIEWS_PUBLISH_LIMIT)
        for method in ("functions.completeSuccess", "functions.completeError"):
            self._limiter.set(method, DEFAULT_FUNCTIONS_COMPLETE_LIMIT)
        self._home = HomeTabs(home_tab_enabled)
        self._functions = FunctionSteps(functions)
        self.tickets: set[str] = set()
        """Socket Mode tickets issued by ``apps.connections.open`` and not used yet (each opens one connection)."""

    @property
    def _base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def _ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    def issue_ticket_url(self) -> str:
        ticket = str(uuid.uuid4())
        self.tickets.add(ticket)
        return f"{self._ws_base}socket?ticket={ticket}&app_id={APP_ID}"
