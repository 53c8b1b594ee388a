"""Workflow Builder custom steps (functions) as Slack runs them: the manifest's declarations, each execution with
its own short-lived bot token, and ``functions.completeSuccess`` / ``functions.completeError`` with the checks and
error codes Slack documents for them."""

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from testbed.slack_constants import APP_ID, WORKFLOW_TOKEN_PREFIX, WORKFLOW_TOKEN_TTL
from testbed.slack_replies import SlackError
from testbed.slack_workspace import Workspace, random_id

_MESSAGE_TS = re.compile(r"^\d+\.\d+\Z")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Callable[[Any, Workspace], bool]] = {
    "string": lambda v, _: isinstance(v, str),
    "boolean": lambda v, _: isinstance(v, bool),
    "integer": lambda v, _: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v, _: _number(v),
    "object": lambda v, _: isinstance(v, dict),
    "array": lambda v, _: isinstance(v, list),
    "slack#/types/user_id": lambda v, space: isinstance(v, str) and v in space.users,
    "slack#/types/channel_id": lambda v, space: isinstance(v, str) and v in space.channels,
    "slack#/types/usergroup_id": lambda v, space: isinstance(v, str) and v in space.usergroups,
    # A Unix time in seconds, unlike a message's ts (slack#/types/message_ts).
    "slack#/types/timestamp": lambda v, _: isinstance(v, int) and not isinstance(v, bool),
    "slack#/types/message_ts": lambda v, _: isinstance(v, str) and bool(_MESSAGE_TS.match(v)),
    "slack#/types/date": lambda v, _: isinstance(v, str) and bool(_DATE.match(v)),
    "slack#/types/blocks": lambda v, _: isinstance(v, list),
    "slack#/types/rich_text": lambda v, _: isinstance(v, dict),
    "slack#/types/file_id": lambda v, _: isinstance(v, str) and v.startswith("F"),
}
"""The parameter types the stand-in knows, and what a value of each must be (ids must exist in the workspace)."""


def parameters(spec: Any, where: str) -> dict[str, dict[str, Any]]:
    """A manifest's ``input_parameters`` / ``output_parameters`` by name, ``is_required`` resolved.

    Bolt apps write ``{name: {type, title, is_required…}}``; the JSON-schema form ``{properties: {…}, required:
    […]}`` of Slack's method docs is read too.
    """
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a mapping of parameter names")
    required = set()
    if isinstance(spec.get("properties"), Mapping):
        required = set(spec.get("required") or ())
        spec = spec["properties"]
    found = {}
    for name, param in spec.items():
        if not isinstance(param, Mapping) or param.get("type") not in _TYPE_CHECKS:
            kind = param.get("type") if isinstance(param, Mapping) else param
            raise ValueError(f"{where}.{name}: unknown parameter type {kind!r}")
        found[name] = {**copy.deepcopy(dict(param)), "is_required": bool(param.get("is_required")) or name in required}
    return found


def value_problems(declared: dict[str, dict[str, Any]], values: Any, space: Workspace) -> list[str]:
    """Why ``values`` do not fit the declared parameters: unknown names, required ones missing, wrong types."""
    if not isinstance(values, dict):
        return ["must provide an object"]
    problems = [f"{name}: not a declared parameter" for name in values if name not in declared]
    for name, param in declared.items():
        if name not in values or values[name] is None:
            if param["is_required"]:
                problems.append(f"{name}: required parameter is missing")
        elif not _TYPE_CHECKS[param["type"]](values[name], space):
            problems.append(f"{name}: {values[name]!r} is not a valid {param['type']}")
    return problems


@dataclass
class Declared:
    """One function of the manifest's ``functions``."""

    id: str
    callback_id: str
    title: str
    description: str
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    created: int

    def as_sent(self) -> dict[str, Any]:
        """The ``function`` object of a ``function_executed`` event: the parameters as a list, each named."""
        return {
            "id": self.id,
            "callback_id": self.callback_id,
            "title": self.title,
            "description": self.description,
            "type": "app",
            "input_parameters": [{"name": name, **param} for name, param in self.inputs.items()],
            "output_parameters": [{"name": name, **param} for name, param in self.outputs.items()],
            "app_id": APP_ID,
            "date_created": self.created,
            "date_updated": self.created,
            "date_deleted": 0,
        }


@dataclass
class Execution:
    """One run of a custom step and what became of it."""

    id: str
    function: Declared
    workflow_execution_id: str
    inputs: dict[str, Any]
    user_id: str
    token: str
    event_ts: str
    started: float = field(default_factory=time.monotonic)
    state: str = "open"
    outputs: dict[str, Any] | None = None
    error: str | None = None
    ended: float | None = None

    def observed(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "callback_id": self.function.callback_id,
            "workflow_execution_id": self.workflow_execution_id,
            "inputs": copy.deepcopy(self.inputs),
            "user_id": self.user_id,
            "bot_access_token": self.token,
            "state": self.state,
            "outputs": copy.deepcopy(self.outputs),
            "error": self.error,
            "started": self.started,
            "ended": self.ended,
        }

    def event(self) -> dict[str, Any]:
        return {
            "type": "function_executed",
            "function": self.function.as_sent(),
            "inputs": copy.deepcopy(self.inputs),
            "function_execution_id": self.id,
            "workflow_execution_id": self.workflow_execution_id,
            "event_ts": self.event_ts,
            "bot_access_token": self.token,
        }

    def function_data(self) -> dict[str, Any]:
        """What interactions with the step's messages carry, so the app can complete the step from them."""
        return {
            "execution_id": self.id,
            "function": {"callback_id": self.function.callback_id},
            "inputs": copy.deepcopy(self.inputs),
        }


class FunctionSteps:
    """The declared functions, their executions and the tokens Slack issued for them."""

    def __init__(self, declared: Mapping[str, Any] | None) -> None:
        self.declared: dict[str, Declared] = {}
        self.executions: dict[str, Execution] = {}
        self.by_token: dict[str, Execution] = {}
        self.messages: dict[tuple[str, str], Execution] = {}
        """The messages an execution posted with its token, by (channel, ts): clicks there carry its data."""
        self.token_ttl: float = WORKFLOW_TOKEN_TTL
        self.declare(declared or {})

    def declare(self, functions: Mapping[str, Any]) -> None:
        """Take the manifest's ``functions`` (replacing earlier declarations of the same callback ids)."""
        now = int(time.time())
        for callback_id, spec in functions.items():
            if not isinstance(spec, Mapping) or not isinstance(spec.get("title"), str) or not spec["title"]:
                raise ValueError(f"functions.{callback_id}: a title is required")
            self.declared[callback_id] = Declared(
                id=random_id("Fn"),
                callback_id=callback_id,
                title=spec["title"],
                description=str(spec.get("description") or ""),
                inputs=parameters(spec.get("input_parameters"), f"functions.{callback_id}.input_parameters"),
                outputs=parameters(spec.get("output_parameters"), f"functions.{callback_id}.output_parameters"),
                created=now,
            )

    def start(self, callback_id: str, inputs: dict[str, Any], user_id: str, space: Workspace) -> Execution:
        """A new execution, as a workflow that reached the step starts it: only declared, typed inputs."""
        declared = self.declared.get(callback_id)
        if declared is None:
            raise KeyError(f"no function {callback_id!r} is declared; declare_functions() first")
        if user_id not in space.users:
            raise KeyError(f"unknown user {user_id!r}; add_user() first")
        problems = value_problems(declared.inputs, inputs, space)
        if problems:
            raise ValueError(f"a workflow would not run {callback_id!r} with these inputs: {'; '.join(problems)}")
        execution = Execution(
            id=random_id("Fx"),
            function=declared,
            workflow_execution_id=random_id("Wx"),
            inputs=copy.deepcopy(inputs),
            user_id=user_id,
            token=f"{WORKFLOW_TOKEN_PREFIX}{secrets.token_hex(24)}",
            event_ts=f"{time.time():.6f}",
        )
        self.executions[execution.id] = execution
        self.by_token[execution.token] = execution
        return execution

    def timed_out(self, execution: Execution) -> bool:
        return time.monotonic() - execution.started > self.token_ttl

    def token_problem(self, token: str) -> str | None:
        """Why a step's token is refused, or None: Slack revokes it when the step completes or runs out of time
        (``token_revoked`` in slackapi/deno-slack-sdk#284 and slackapi/bolt-js#2288)."""
        execution = self.by_token[token]
        if execution.state != "open" or self.timed_out(execution):
            return "token_revoked"
        return None

    def note_message(self, token: str | None, channel_id: str, ts: str) -> None:
        execution = self.by_token.get(token or "")
        if execution is not None:
            self.messages[(channel_id, ts)] = execution


class FunctionMethods:
    """``functions.completeSuccess`` and ``functions.completeError``, called with the stand-in's lock held."""

    def __init__(self, steps: FunctionSteps, space: Workspace) -> None:
        self.steps = steps
        self.space = space

    def _open_execution(self, args: dict[str, Any], token: str) -> Execution:
        execution_id = args.get("function_execution_id")
        if not execution_id:
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: function_execution_id"]},
            )
        execution = self.steps.executions.get(str(execution_id))
        if execution is None:
            raise SlackError("function_execution_not_found")
        caller = self.steps.by_token.get(token)
        if caller is not None and caller is not execution:  # one step's token cannot complete another step
            raise SlackError("access_denied")
        if execution.state != "open":  # Slack's documented answer once "the function has been completed"
            raise SlackError("function_execution_not_found")
        if self.steps.timed_out(execution):
            raise SlackError("execution_not_in_running_state")
        return execution

    def complete_success(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        execution = self._open_execution(args, token)
        outputs = args.get("outputs")
        if outputs is None:
            raise SlackError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: outputs"]}
            )
        problems = value_problems(execution.function.outputs, outputs, self.space)
        if problems:
            raise SlackError("parameter_validation_failed", response_metadata={"messages": problems})
        self._end(execution, "completed")
        execution.outputs = copy.deepcopy(outputs)
        return {}

    def complete_error(self, args: dict[str, Any], token: str) -> dict[str, Any]:
        execution = self._open_execution(args, token)
        error = args.get("error")
        if not isinstance(error, str) or not error:
            raise SlackError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: error"]}
            )
        self._end(execution, "failed")
        execution.error = error
        return {}

    @staticmethod
    def _end(execution: Execution, state: str) -> None:
        execution.state = state
        execution.ended = time.monotonic()
