"""Socket Mode as Slack runs it: one-use tickets, hello, envelopes to one connection at a time,
the ack Slack waits for, and disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from testbed.slack_constants import APP_ID, MAX_SOCKET_CONNECTIONS
from testbed.slack_state import Envelope, SharedState


@dataclass
class _Connection:
    id: str
    ws: web.WebSocketResponse
    transport: Any
    routable: bool = True
    hello_sent: bool = False


class SocketHub:
    """Socket Mode connections: tickets, hello, envelope delivery and acks."""

    def __init__(self, standin: SharedState) -> None:
        self.s = standin
        self.connections: dict[str, _Connection] = {}
        self.pending: dict[str, tuple[asyncio.Future[dict[str, Any]], str]] = {}
        self._ids = itertools.count(1)
        self._next = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        with self.s._lock:
            ticket = request.query.get("ticket", "")
            valid = ticket in self.s.tickets
            self.s.tickets.discard(ticket)
        if not valid:
            return web.Response(status=401, text="invalid or reused ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Connection(f"c{next(self._ids)}", ws, request.transport)
        if not await self._greet(conn):
            return ws
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
        finally:
            self._forget(conn)
        return ws

    async def _greet(self, conn: _Connection) -> bool:
        with self.s._lock:
            full = len(self.connections) >= MAX_SOCKET_CONNECTIONS
            if not full:
                self.connections[conn.id] = conn
            count = len(self.connections)
        if full:
            await conn.ws.send_json(_disconnect_message("too_many_websockets"))
            await conn.ws.close()
            return False
        await conn.ws.send_json(
            {
                "type": "hello",
                "num_connections": count,
                "debug_info": {
                    "host": "standin-applink",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": APP_ID},
            }
        )
        conn.hello_sent = True
        return True

    def _forget(self, conn: _Connection) -> None:
        with self.s._lock:
            self.connections.pop(conn.id, None)
            for future, owner in list(self.pending.values()):
                if owner == conn.id and not future.done():
                    future.set_exception(ConnectionError(f"connection {conn.id} closed"))

    def _on_text(self, conn: _Connection, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        with self.s._lock:
            entry = self.pending.get(message["envelope_id"])
            if entry is None:
                self._note_late_ack(message)
                return
        future, _owner = entry
        if not future.done():
            payload = message.get("payload")
            future.set_result(payload if isinstance(payload, dict) else {})

    def _note_late_ack(self, message: dict[str, Any]) -> None:
        for record in self.s._unacked:
            if record["envelope_id"] == message["envelope_id"]:
                record["late_ack"] = message.get("payload") or {}

    def _pick(self) -> _Connection | None:
        live = [c for c in self.connections.values() if c.routable and c.hello_sent and not c.ws.closed]
        if not live:
            return None
        self._next += 1
        return live[self._next % len(live)]

    async def deliver(
        self, kind: str, payload: dict[str, Any], accepts_response: bool, retry: tuple[int, str] = (0, "")
    ) -> dict[str, Any]:
        """Send one envelope to one connection and wait for its ack, like Slack does; ``retry`` is the
        redelivery's count and reason (events only)."""
        envelope_id = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        with self.s._lock:
            conn = self._pick()
            record = Envelope(
                envelope_id,
                kind,
                copy.deepcopy(payload),
                conn.id if conn else None,
                time.monotonic(),
                retry_attempt=retry[0],
            )
            self.s._envelopes.append(record)
            if conn is None:
                return self._fail(record, "no_connection")
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self.pending[envelope_id] = (future, conn.id)
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry[0], retry_reason=retry[1])
        try:
            await conn.ws.send_json(envelope)
            ack = await asyncio.wait_for(future, self.s.ack_timeout)
        except TimeoutError:
            return self._fail(record, "timeout")
        except (ConnectionError, RuntimeError) as error:
            return self._fail(record, f"connection_closed: {error}")
        finally:
            with self.s._lock:
                self.pending.pop(envelope_id, None)
        with self.s._lock:
            record.ack = copy.deepcopy(ack)
            record.acked_at = time.monotonic()
        return ack

    def _fail(self, record: Envelope, reason: str) -> dict[str, Any]:
        with self.s._lock:
            record.failure = reason
            self.s._unacked.append(
                {
                    "envelope_id": record.envelope_id,
                    "type": record.type,
                    "payload": copy.deepcopy(record.payload),
                    "connection": record.connection,
                    "reason": reason,
                }
            )
        raise TimeoutError(f"{record.type} envelope {record.envelope_id} was not acknowledged: {reason}")

    async def disconnect(self, reason: str, grace: float) -> None:
        with self.s._lock:
            targets = list(self.connections.values())
            for conn in targets:
                conn.routable = False
        for conn in targets:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_json(_disconnect_message(reason))
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(c.id in self.connections for c in targets):
            await asyncio.sleep(0.02)
        for conn in targets:
            if not conn.ws.closed:
                await conn.ws.close(code=WSCloseCode.GOING_AWAY)

    async def drop(self) -> None:
        with self.s._lock:
            targets = list(self.connections.values())
            for conn in targets:
                conn.routable = False
        for conn in targets:
            if conn.transport is not None:
                conn.transport.abort()

    async def close_all(self) -> None:
        for conn in list(self.connections.values()):
            if not conn.ws.closed:
                await conn.ws.close(code=WSCloseCode.GOING_AWAY)


def _disconnect_message(reason: str) -> dict[str, Any]:
    return {"type": "disconnect", "reason": reason, "debug_info": {"host": "standin-applink"}}
