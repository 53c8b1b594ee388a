"""The stand-in's server and the state all its parts share: one aiohttp port for the Web API,
Socket Mode, file uploads and response_urls, on a private event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, Self

from aiohttp import web

from testbed.block_kit import validate_message_blocks
from testbed.slack_constants import (
    ACK_TIMEOUT,
    APP_SCOPES,
    DEFAULT_CHAT_UPDATE_LIMIT,
    DEFAULT_POST_MESSAGE_LIMIT,
    MAX_RESPONSE_URL_USES,
    TRIGGER_TTL,
    RateLimit,
)
from testbed.slack_socket import SocketHub
from testbed.slack_state import SharedState
from testbed.slack_web_api import WebApi
from testbed.slack_workspace import User, bot_message


async def _read_upload_bytes(request: web.Request) -> bytes:
    """The file bytes, sent raw or as the single file part of a multipart form."""
    if request.content_type == "multipart/form-data":
        form = await request.post()
        for value in form.values():
            if hasattr(value, "file"):
                return value.file.read()
        return b""
    return await request.read()


class StandInServer(SharedState):
    """The server behind :class:`~testbed.slack_standin.SlackStandIn` (see there for its arguments), on the state
    its parts share."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-standin-bot",
        app_token: str = "xapp-standin-app",
        scopes: Iterable[str] | None = None,
        app_scopes: Iterable[str] = APP_SCOPES,
        host: str = "127.0.0.1",
        port: int = 0,
        trigger_ttl: float = TRIGGER_TTL,
        ack_timeout: float = ACK_TIMEOUT,
        post_message_limit: RateLimit | None = DEFAULT_POST_MESSAGE_LIMIT,
        chat_update_limit: RateLimit | None = DEFAULT_CHAT_UPDATE_LIMIT,
        home_tab_enabled: bool = True,
        functions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            bot_token=bot_token,
            app_token=app_token,
            scopes=scopes,
            app_scopes=app_scopes,
            host=host,
            port=port,
            trigger_ttl=trigger_ttl,
            ack_timeout=ack_timeout,
            post_message_limit=post_message_limit,
            chat_update_limit=chat_update_limit,
            home_tab_enabled=home_tab_enabled,
            functions=functions,
        )
        self._api = WebApi(self)
        self._hub = SocketHub(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._start_error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("the Slack stand-in is already running")
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="slack-standin", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("the Slack stand-in did not start within 15 s")
        if self._start_error is not None:
            self._thread.join(5)
            self._loop = self._thread = None
            raise RuntimeError("the Slack stand-in failed to start") from self._start_error
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as error:  # reported to start()
            self._start_error = error
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.close()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api.handle)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_post("/response/{key}", self._handle_response_url)
        app.router.add_get("/socket", self._hub.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop, thread = self._loop, self._thread
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        await self._hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """slack_sdk's ``base_url`` for this stand-in (trailing slash included)."""
        return f"{self._base_url}api/"

    def _run(self, coro: Any, timeout: float) -> Any:
        if self._loop is None:
            raise RuntimeError("the Slack stand-in is not running; call start()")
        if threading.current_thread() is self._thread:
            raise RuntimeError("the stand-in's blocking API cannot be called from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _user(self, user_id: str) -> User:
        user = self._workspace.users.get(user_id)
        if user is None:
            raise KeyError(f"unknown user {user_id!r}; add_user() first")
        return user

    def _deliver(
        self, kind: str, payload: dict[str, Any], *, accepts_response: bool, retry: tuple[int, str] = (0, "")
    ) -> dict[str, Any]:
        return self._run(self._hub.deliver(kind, payload, accepts_response, retry), self.ack_timeout + 5)

    # -- HTTP endpoints besides the Web API ----------------------------------------------

    async def _handle_upload(self, request: web.Request) -> web.Response:
        content = await _read_upload_bytes(request)
        with self._lock:
            upload = self._workspace.uploads.get(request.match_info["file_id"])
            if upload is None or upload.content is not None:
                return web.Response(status=404, text="upload url is unknown or already used")
            if len(content) != upload.length:
                return web.Response(status=400, text=f"expected {upload.length} bytes, received {len(content)}")
            upload.content = content
        return web.Response(text=f"OK - {len(content)}")

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        with self._lock:
            return self._use_response_url(request.match_info["key"], body)

    def _use_response_url(self, key: str, body: Any) -> web.Response:
        space = self._workspace
        target = space.response_urls.get(key)
        if target is None or time.monotonic() - target.created > 30 * 60:
            return web.Response(status=404, text="expired_url")
        if target.uses >= MAX_RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        if body.get("blocks") is not None and validate_message_blocks(body["blocks"]):
            return web.Response(status=400, text="invalid_blocks")
        target.uses += 1
        space.responses.append(
            {"source": "response_url", "channel_id": target.channel_id, "user_id": target.user_id, **body}
        )
        if body.get("response_type") == "in_channel" and target.channel_id in space.channels:
            data = bot_message(
                {"text": str(body.get("text") or ""), **({"blocks": body["blocks"]} if body.get("blocks") else {})},
                space.next_ts(),
            )
            if body.get("thread_ts"):
                data["thread_ts"] = str(body["thread_ts"])
            space.add_message(space.channels[target.channel_id], data)
        return web.Response(text="ok")
