"""The Slack stand-in's Workflow Builder custom steps: a ``function_executed`` event a real Bolt for Python app
completes once, the execution's own token, and ``functions.completeSuccess`` / ``functions.completeError`` as
Slack answers them to the real slack_sdk client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from testbed.manifest import functions, manifest
from testbed.slack_standin import METHOD_SCOPES, SlackStandIn
from tests.support.bolt_socket import BoltBot

ALICE, BOB, NETOPS = "U123", "U456", "C123"
STEP = "grant_meraki_access"
FUNCTIONS = {
    STEP: {
        "title": "Grant Meraki access",
        "description": "Adds a Meraki dashboard administrator once approved",
        "input_parameters": {
            "requester": {"type": "slack#/types/user_id", "title": "Requester", "is_required": True},
            "channel": {"type": "slack#/types/channel_id", "title": "Channel", "is_required": True},
            "email": {"type": "string", "title": "Email", "is_required": True},
            "days": {"type": "integer", "title": "Days"},
            "dry_run": {"type": "boolean", "title": "Dry run"},
            "until": {"type": "slack#/types/timestamp", "title": "Until"},
        },
        "output_parameters": {
            "approver": {"type": "slack#/types/user_id", "title": "Approver", "is_required": True},
            "note": {"type": "string", "title": "Note"},
        },
    }
}
APPROVE = [
    {
        "type": "actions",
        "elements": [{"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"}}],
    }
]
INPUTS = {"requester": ALICE, "channel": NETOPS, "email": "jane@example.com", "days": 3, "dry_run": False}


def seed(server: SlackStandIn) -> None:
    server.add_user(ALICE, "alice")
    server.add_user(BOB, "bob")
    server.add_channel(NETOPS, "netops", members={ALICE, BOB})


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(functions=FUNCTIONS) as server:
        seed(server)
        yield server


@pytest.fixture
def quick_standin() -> Iterator[SlackStandIn]:
    """Acks time out after 0.5 s instead of Slack's 3 s, to keep the suite fast."""
    with SlackStandIn(functions=FUNCTIONS, ack_timeout=0.5) as server:
        seed(server)
        yield server


def client(server: SlackStandIn, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(token=token or server.bot_token, base_url=server.api_url)


async def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value.response.data


def ignoring_app(app: AsyncApp) -> None:
    """Acknowledges the step (Bolt does so by itself) and leaves it open, for the tests to complete."""

    @app.function(STEP)
    async def leave_open(inputs: dict[str, Any]) -> None:
        await asyncio.sleep(0)


def run_open(server: SlackStandIn, bolt: Callable[..., BoltBot]) -> dict[str, Any]:
    bolt(server, ignoring_app)
    return server.function_execution(server.run_function(STEP, INPUTS))


# --------------------------------------------------------------------------------------
# A real Bolt app completes the step
# --------------------------------------------------------------------------------------


def test_bolt_completes_a_step_once_with_its_outputs(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    received: list[dict[str, Any]] = []

    def setup(app: AsyncApp) -> None:
        @app.function(STEP)
        async def grant(inputs: dict[str, Any], body: dict[str, Any], complete: Any) -> None:
            received.append(body)
            await complete(outputs={"approver": BOB, "note": f"granted to {inputs['email']}"})

    bolt(standin, setup)
    execution_id = standin.run_function(STEP, INPUTS, user_id=ALICE)

    done = standin.wait_for(lambda: standin.function_execution(execution_id)["state"] == "completed", 5)
    execution = standin.function_execution(execution_id)
    assert done and execution["outputs"] == {"approver": BOB, "note": "granted to jane@example.com"}
    assert execution["error"] is None and execution["ended"] >= execution["started"]
    event = received[0]["event"]
    assert event["function_execution_id"] == execution_id and event["inputs"] == INPUTS
    assert event["bot_access_token"].startswith("xwfp-") and event["workflow_execution_id"].startswith("Wx")
    assert event["function"]["callback_id"] == STEP and event["function"]["type"] == "app"
    assert {p["name"] for p in event["function"]["input_parameters"]} == set(FUNCTIONS[STEP]["input_parameters"])
    [completion] = standin.calls_to("functions.completeSuccess")
    assert completion.ok and completion.token == event["bot_access_token"]  # Bolt completes with the step's token
    assert standin.envelopes[0].ack == {} and standin.unacked == []


def test_bolt_fails_a_step_with_its_error(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    def setup(app: AsyncApp) -> None:
        @app.function(STEP)
        async def refuse(fail: Any) -> None:
            await fail(error="jane@example.com is not allowed")

    bolt(standin, setup)
    execution_id = standin.run_function(STEP, INPUTS)

    standin.wait_for(lambda: standin.function_execution(execution_id)["state"] == "failed", 5)
    execution = standin.function_execution(execution_id)
    assert execution["error"] == "jane@example.com is not allowed" and execution["outputs"] is None


def test_a_redelivered_step_cannot_be_completed_twice(
    quick_standin: SlackStandIn, bolt: Callable[..., BoltBot]
) -> None:
    """Slack redelivers an event whose ack came late; the step it names completes once, the second try refused."""
    results: list[str] = []

    def setup(app: AsyncApp) -> None:
        @app.function(STEP)
        async def grant(complete: Any, context: Any) -> None:
            try:
                await complete(outputs={"approver": BOB, "note": f"try {len(results) + 1}"})
                results.append("ok")
            except SlackApiError as error:
                results.append(error.response["error"])

    with pytest.raises(TimeoutError):
        quick_standin.run_function(STEP, INPUTS)  # nobody is connected: Slack will try again
    [execution] = quick_standin.function_executions()
    bolt(quick_standin, setup)

    quick_standin.redeliver(execution["id"])
    quick_standin.wait_for(lambda: results, 5)
    quick_standin.redeliver(quick_standin.envelopes[0])
    quick_standin.wait_for(lambda: len(results) == 2, 5)

    assert results == ["ok", "token_revoked"]
    assert quick_standin.function_execution(execution["id"])["outputs"]["note"] == "try 1"
    first, again, third = quick_standin.envelopes
    assert first.payload == again.payload == third.payload  # same event_id and execution id every time
    assert [e.retry_attempt for e in (first, again, third)] == [0, 1, 2]
    assert first.failure == "no_connection" and again.ack == {} and third.ack == {}


def test_only_events_are_redelivered(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    def setup(app: AsyncApp) -> None:
        @app.command("/meraki-add-user")
        async def answer(ack: Any) -> None:
            await ack()

    bolt(standin, setup)
    standin.slash_command()

    with pytest.raises(ValueError, match="only events"):
        standin.redeliver(standin.envelopes[0])
    with pytest.raises(KeyError):
        standin.redeliver("Fx0NOSUCHONE")


def test_bolt_completes_a_step_from_a_button_in_its_message(
    standin: SlackStandIn, bolt: Callable[..., BoltBot]
) -> None:
    """Function-scoped interactivity: the step posts a button with its token, the click carries the step's data."""
    clicks: list[dict[str, Any]] = []

    def setup(app: AsyncApp) -> None:
        @app.function(STEP)
        async def ask(inputs: dict[str, Any], client: AsyncWebClient) -> None:
            await client.chat_postMessage(channel=inputs["channel"], text="Approve?", blocks=APPROVE)

        @app.action("approve")
        async def approve(ack: Any, body: dict[str, Any], complete: Any) -> None:
            await ack()
            clicks.append(body)
            await complete(outputs={"approver": body["user"]["id"]})

    bolt(standin, setup)
    execution_id = standin.run_function(STEP, INPUTS)
    [message] = standin.wait_for(lambda: standin.messages(NETOPS), 5)
    assert standin.function_execution(execution_id)["state"] == "open"

    standin.click_button(NETOPS, message["ts"], "approve", user_id=BOB)

    standin.wait_for(lambda: standin.function_execution(execution_id)["state"] == "completed", 5)
    assert standin.function_execution(execution_id)["outputs"] == {"approver": BOB}
    body = clicks[0]
    assert body["function_data"]["execution_id"] == execution_id and body["function_data"]["inputs"] == INPUTS
    assert body["bot_access_token"] == standin.function_execution(execution_id)["bot_access_token"]
    assert "trigger_id" not in body and body["interactivity"]["interactivity_pointer"]
    [post] = standin.calls_to("chat.postMessage")
    assert post.token == body["bot_access_token"]


async def test_a_plain_message_carries_no_step(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    clicks: list[dict[str, Any]] = []

    def setup(app: AsyncApp) -> None:
        @app.action("approve")
        async def approve(ack: Any, body: dict[str, Any]) -> None:
            await ack()
            clicks.append(body)

    bolt(standin, setup)
    posted = await client(standin).chat_postMessage(channel=NETOPS, text="Approve?", blocks=APPROVE)

    standin.click_button(NETOPS, posted["ts"], "approve")

    body = standin.wait_for(lambda: clicks, 5)[0]
    assert "function_data" not in body and "bot_access_token" not in body and body["trigger_id"]


# --------------------------------------------------------------------------------------
# functions.completeSuccess / functions.completeError
# --------------------------------------------------------------------------------------


async def test_completion_needs_no_scope_and_is_tier_3(standin: SlackStandIn) -> None:
    assert METHOD_SCOPES["functions.completeSuccess"] is None and METHOD_SCOPES["functions.completeError"] is None
    bot = client(standin)
    for _ in range(20):
        await refused(bot.functions_completeError(function_execution_id="Fx0UNKNOWN", error="x"))

    limited = await refused(bot.functions_completeError(function_execution_id="Fx0UNKNOWN", error="x"))

    assert limited["error"] == "ratelimited" and standin.rate_limited("functions.completeError")
    assert standin.rate_limited("functions.completeSuccess") == []  # a bucket of its own


async def test_an_unknown_or_missing_execution(standin: SlackStandIn) -> None:
    bot = client(standin)

    unknown = await refused(bot.functions_completeSuccess(function_execution_id="Fx0UNKNOWN", outputs={}))
    missing = await refused(bot.api_call("functions.completeSuccess", json={"outputs": {}}))

    assert unknown["error"] == "function_execution_not_found"
    assert missing["error"] == "invalid_arguments"


async def test_a_completed_step_is_not_found_and_its_token_revoked(
    standin: SlackStandIn, bolt: Callable[..., BoltBot]
) -> None:
    execution = run_open(standin, bolt)
    step = client(standin, execution["bot_access_token"])
    assert (await step.auth_test())["ok"] and (await step.chat_postMessage(channel=NETOPS, text="working"))["ok"]
    await step.functions_completeSuccess(function_execution_id=execution["id"], outputs={"approver": BOB})

    again = await refused(
        client(standin).functions_completeError(function_execution_id=execution["id"], error="too late")
    )
    revoked = await refused(step.chat_postMessage(channel=NETOPS, text="still here?"))

    assert again["error"] == "function_execution_not_found"
    assert revoked["error"] == "token_revoked"
    assert standin.function_execution(execution["id"])["state"] == "completed"
    forged = client(standin, "xwfp-" + "0" * 48)
    assert (await refused(forged.auth_test()))["error"] == "invalid_auth"


async def test_one_steps_token_cannot_complete_another(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    first = run_open(standin, bolt)
    second = standin.function_execution(standin.run_function(STEP, INPUTS))

    denied = await refused(
        client(standin, first["bot_access_token"]).functions_completeError(
            function_execution_id=second["id"], error="not mine"
        )
    )

    assert denied["error"] == "access_denied"
    assert standin.function_execution(second["id"])["state"] == "open"


async def test_a_step_out_of_time(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    execution = run_open(standin, bolt)
    standin.expire_function_tokens(after=0)

    late = await refused(
        client(standin).functions_completeSuccess(function_execution_id=execution["id"], outputs={"approver": BOB})
    )
    revoked = await refused(client(standin, execution["bot_access_token"]).auth_test())

    assert late["error"] == "execution_not_in_running_state"
    assert revoked["error"] == "token_revoked"


@pytest.mark.parametrize(
    ("outputs", "problem"),
    [
        ({"note": "no approver"}, "approver: required parameter is missing"),
        ({"approver": BOB, "ticket": "T-1"}, "ticket: not a declared parameter"),
        ({"approver": "U0NOBODY"}, "approver: 'U0NOBODY' is not a valid slack#/types/user_id"),
        ({"approver": BOB, "note": 7}, "note: 7 is not a valid string"),
        (["approver"], "must provide an object"),
    ],
    ids=["missing-required", "undeclared", "unknown-user", "wrong-type", "not-an-object"],
)
async def test_outputs_must_match_the_declaration(
    standin: SlackStandIn, bolt: Callable[..., BoltBot], outputs: Any, problem: str
) -> None:
    execution = run_open(standin, bolt)

    answer = await refused(
        client(standin).api_call(
            "functions.completeSuccess", json={"function_execution_id": execution["id"], "outputs": outputs}
        )
    )

    assert answer["error"] == "parameter_validation_failed"
    assert problem in answer["response_metadata"]["messages"]
    assert standin.function_execution(execution["id"])["state"] == "open"


async def test_completion_needs_its_outputs_or_error(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    execution = run_open(standin, bolt)
    bot = client(standin)

    no_outputs = await refused(
        bot.api_call("functions.completeSuccess", json={"function_execution_id": execution["id"]})
    )
    no_error = await refused(bot.api_call("functions.completeError", json={"function_execution_id": execution["id"]}))

    assert no_outputs["error"] == no_error["error"] == "invalid_arguments"
    assert (await bot.functions_completeSuccess(function_execution_id=execution["id"], outputs={"approver": BOB}))["ok"]


# --------------------------------------------------------------------------------------
# What a workflow sends, and what the manifest declares
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({**INPUTS, "ticket": "T-1"}, "ticket: not a declared parameter"),
        ({key: value for key, value in INPUTS.items() if key != "email"}, "email: required parameter is missing"),
        ({**INPUTS, "days": "3"}, "days: '3' is not a valid integer"),
        ({**INPUTS, "dry_run": "no"}, "dry_run: 'no' is not a valid boolean"),
        ({**INPUTS, "requester": "U0NOBODY"}, "requester: 'U0NOBODY' is not a valid slack#/types/user_id"),
        ({**INPUTS, "channel": "C0NOWHERE"}, "channel: 'C0NOWHERE' is not a valid slack#/types/channel_id"),
        ({**INPUTS, "until": "1700000000.000100"}, "until: '1700000000.000100' is not a valid slack#/types/timestamp"),
    ],
    ids=["undeclared", "missing-required", "integer", "boolean", "user", "channel", "timestamp"],
)
def test_a_workflow_sends_only_declared_typed_inputs(standin: SlackStandIn, inputs: Any, problem: str) -> None:
    with pytest.raises(ValueError, match="would not run") as info:
        standin.run_function(STEP, inputs)

    assert problem in str(info.value)
    assert standin.function_executions() == [] and standin.envelopes == []


def test_only_declared_functions_run_for_known_people(standin: SlackStandIn) -> None:
    with pytest.raises(KeyError, match="declare_functions"):
        standin.run_function("revoke_meraki_access", {})
    with pytest.raises(KeyError, match="add_user"):
        standin.run_function(STEP, INPUTS, user_id="U0NOBODY")
    assert standin.function_executions() == []


def test_declarations_are_checked_and_both_manifest_forms_read(standin: SlackStandIn) -> None:
    with pytest.raises(ValueError, match="title"):
        standin.declare_functions({"untitled": {"input_parameters": {}}})
    with pytest.raises(ValueError, match="unknown parameter type 'slack#/types/none'"):
        standin.declare_functions({"odd": {"title": "Odd", "input_parameters": {"x": {"type": "slack#/types/none"}}}})

    standin.declare_functions(
        {
            "lookup": {
                "title": "Look up an administrator",
                "input_parameters": {"properties": {"email": {"type": "string"}}, "required": ["email"]},
            }
        }
    )
    with pytest.raises(ValueError, match="email: required parameter is missing"):
        standin.run_function("lookup", {})


def test_the_manifest_declares_the_functions(tmp_path: Path, standin: SlackStandIn) -> None:
    path = tmp_path / "manifest.yml"
    path.write_text(
        "functions:\n"
        "  lookup:\n"
        "    title: Look up an administrator\n"
        "    input_parameters:\n"
        "      email:\n"
        "        type: string\n"
        "        title: Email\n"
        "        is_required: true\n"
    )
    declared = functions(manifest(path))

    assert declared["lookup"]["input_parameters"]["email"]["is_required"] is True
    assert functions({}) == {} and isinstance(functions(), dict)  # the repository's manifest.yml
    standin.declare_functions(declared)
    with pytest.raises(ValueError, match="email"):
        standin.run_function("lookup", {"email": 1})
