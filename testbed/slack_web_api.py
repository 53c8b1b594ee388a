"""The stand-in's ``/api/<method>`` endpoint: the call read the way Slack reads it, then Slack's
checks in Slack's order (faults, parsing, token and scope, rate limit) before the method runs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from testbed.slack_constants import APP_TOKEN_METHODS, METHOD_SCOPES
from testbed.slack_functions import FunctionMethods
from testbed.slack_home import HomeMethods
from testbed.slack_methods import WebMethods
from testbed.slack_replies import Call, Reply, SlackError, error_reply, is_held, rate_limited_reply
from testbed.slack_state import SharedState

_JSON_ARGS = ("blocks", "attachments", "view", "files", "metadata", "outputs")


def _decode_json_args(args: dict[str, Any]) -> None:
    for key in _JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)


async def _read_request(request: web.Request) -> tuple[dict[str, Any], str | None, str | None]:
    """Merged arguments, the token and a parse error code, the way Slack reads a call."""
    args: dict[str, Any] = dict(request.query)
    token = args.pop("token", None)
    content_type = request.content_type
    if request.can_read_body:
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return args, token, "invalid_json"
            if not isinstance(body, dict):
                return args, token, "invalid_json"
            body.pop("token", None)
            args.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                args[key] = value if isinstance(value, str) else getattr(value, "filename", "")
            token = args.pop("token", token)
        elif (await request.read()).strip():
            return args, token, "invalid_post_type"
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header[len("Bearer ") :].strip()
    _decode_json_args(args)
    return args, token, None


class WebApi:
    """Answers ``/api/<method>`` with Slack's checks, in Slack's order, and records calls."""

    def __init__(self, standin: SharedState) -> None:
        self.s = standin
        methods = WebMethods(standin)
        home = HomeMethods(standin._home, standin._workspace)
        steps = FunctionMethods(standin._functions, standin._workspace)
        self.handlers: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "auth.test": methods.auth_test,
            "apps.connections.open": methods.apps_connections_open,
            "views.open": methods.views_open,
            "views.update": methods.views_update,
            "views.push": methods.views_push,
            "views.publish": home.views_publish,
            "functions.completeSuccess": steps.complete_success,
            "functions.completeError": steps.complete_error,
            "chat.postMessage": methods.chat_post_message,
            "chat.update": methods.chat_update,
            "chat.getPermalink": methods.chat_get_permalink,
            "chat.postEphemeral": methods.chat_post_ephemeral,
            "conversations.open": methods.conversations_open,
            "files.getUploadURLExternal": methods.files_get_upload_url,
            "files.completeUploadExternal": methods.files_complete_upload,
            "usergroups.users.list": methods.usergroups_users_list,
            "users.info": methods.users_info,
        }

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, token, parse_error = await _read_request(request)
        with self.s._lock:
            reply = self.dispatch(method, args, token, parse_error)
            self.s._calls.append(
                Call(
                    method=method,
                    args=copy.deepcopy(args),
                    token=token,
                    ok=reply.ok,
                    error=None if reply.ok else reply.error,
                    at=time.monotonic(),
                    status=reply.status,
                    response=copy.deepcopy(reply.body),
                    retry_after=int(reply.headers["Retry-After"]) if "Retry-After" in reply.headers else None,
                )
            )
            hold = self.s._holds.pop(method, None) if reply.ok and is_held(self.s._holds.get(method), args) else None
        if hold is not None:  # done on Slack's side, but the caller hears of it only later
            await asyncio.sleep(hold.seconds)
        return reply.to_response()

    def dispatch(self, method: str, args: dict[str, Any], token: str | None, parse_error: str | None) -> Reply:
        handler = self.handlers.get(method)
        if handler is None:
            return error_reply("unknown_method", req_method=method)
        fault = self.s._faults.take(method)
        if fault is not None:
            return fault
        if parse_error is not None:
            return error_reply(parse_error)
        denied = self.authorize(method, token)
        if denied is not None:
            return denied
        retry_after = self.s._limiter.check(method, args)
        if retry_after is not None:
            return rate_limited_reply(retry_after)
        try:
            reply = Reply(200, {"ok": True, **handler(args, token or "")})
        except SlackError as error:
            reply = error_reply(error.code, **error.extra)
        else:
            if method == "chat.postMessage":  # a custom step's message: clicks there carry the step's data
                self.s._functions.note_message(token, reply.body["channel"], reply.body["ts"])
        # Slack names the token's scopes on every answer to a recognised token.
        granted = self.s.app_scopes if token == self.s.app_token else self.s.scopes
        reply.headers.setdefault("x-oauth-scopes", ",".join(sorted(granted)))
        return reply

    def _grant(self, token: str) -> tuple[set[str], bool] | Reply:
        """The token's scopes and whether it is app-level, or the refusal of a token Slack does not accept."""
        if token == self.s.bot_token:
            return self.s.scopes, False
        if token == self.s.app_token:
            return self.s.app_scopes, True
        if token in self.s._functions.by_token:  # a custom step's token: the bot's scopes, while the step runs
            problem = self.s._functions.token_problem(token)
            return error_reply(problem) if problem else (self.s.scopes, False)
        return error_reply("invalid_auth")

    def authorize(self, method: str, token: str | None) -> Reply | None:
        if not token:
            return error_reply("not_authed")
        grant = self._grant(token)
        if isinstance(grant, Reply):
            return grant
        granted, app_level = grant
        if app_level != (method in APP_TOKEN_METHODS):
            return error_reply("not_allowed_token_type")
        needed = METHOD_SCOPES[method]
        if needed is not None and needed not in granted:
            return error_reply("missing_scope", needed=needed, provided=",".join(sorted(granted)))
        return None
