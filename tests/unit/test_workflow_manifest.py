"""The steps manifest.yml declares are the steps the bot handles, with the inputs its Jobs take and the outputs
it sends; and the ledger keeps each step once, its ending decided once, on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from slack_sdk import WebClient
from sqlalchemy import update

from bot.ledger import Ledger, Record, RequestState
from bot.ledger.retention import Retention, sweep
from bot.ledger.schema import WORKFLOW_STEPS
from bot.ledger.workflow_steps import StepState, WorkflowStep
from bot.models import JobRun, RunStatus
from bot.workflow import STEPS, WorkflowSteps, register
from bot.workflow.confirmation import CONFIRM_ACTION_ID, DECLINE_ACTION_ID, asking
from bot.workflow.endings import outputs
from bot.workflow.specs import CHANNEL, COMMON_OUTPUTS, REQUESTER
from testbed.manifest import ROOT, functions, manifest, web_api_methods
from testbed.slack_functions import parameters, value_problems
from testbed.slack_standin import SlackStandIn
from testbed.slack_workspace import Workspace
from tests.support.bolt_socket import BoltBot
from tests.support.ledger_backends import Backend

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
JOB_CLASSES = {
    "/meraki-add-user": ("jobs/meraki_users.py", "CreateMerakiUser"),
    "/meraki-find-user": ("jobs/meraki_lifecycle.py", "FindMerakiUser"),
    "/meraki-remove-user": ("jobs/meraki_lifecycle.py", "RemoveMerakiUser"),
}


def job_variables(path: str, name: str) -> set[str]:
    """The names a Job class assigns in its body (its variables), read without importing Nautobot."""
    tree = ast.parse((ROOT / path).read_text())
    [job] = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == name]
    return {
        target.id
        for node in job.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_the_manifest_declares_exactly_the_steps_the_bot_handles() -> None:
    declared = functions()

    assert set(declared) == set(STEPS)
    assert manifest()["settings"]["org_deploy_enabled"] is True  # steps show in Workflow Builder only then
    assert {"functions.completeSuccess", "functions.completeError"} <= web_api_methods()  # no scope needed


@pytest.mark.parametrize("callback_id", sorted(STEPS))
def test_each_steps_inputs_are_its_jobs_variables(callback_id: str) -> None:
    spec = STEPS[callback_id]
    inputs = parameters(functions()[callback_id]["input_parameters"], callback_id)
    path, job = JOB_CLASSES[spec.command]

    assert inputs[REQUESTER]["type"] == "slack#/types/user_id" and inputs[REQUESTER]["is_required"]
    assert inputs[CHANNEL]["type"] == "slack#/types/channel_id" and not inputs[CHANNEL]["is_required"]
    assert set(inputs) - {REQUESTER, CHANNEL} == set(spec.variables)
    assert set(spec.variables.values()) <= job_variables(path, job)
    if "dry_run" in inputs:
        assert inputs["dry_run"]["type"] == "boolean"


@pytest.mark.parametrize("callback_id", sorted(STEPS))
def test_each_steps_outputs_fit_its_declaration(callback_id: str) -> None:
    """What the bot sends for a Job that succeeded passes Slack's checks of the declared outputs."""
    spec = STEPS[callback_id]
    declared = parameters(functions()[callback_id]["output_parameters"], callback_id)
    stamp = datetime.now(UTC)
    record = Record(
        request_id="step-Fx1:abc",
        requester_id="U1",
        channel_id="U1",
        job_name="Job",
        state=RequestState.DONE,
        created_at=stamp,
        updated_at=stamp,
    )
    result = {
        "outcome": "done",
        "admin_id": "1",
        "summary": "s",
        "matches": [{}],
        "admins": [{"action": "removed"}],
    }
    run = JobRun(result_id="r", status=RunStatus.SUCCEEDED, url="https://nautobot/r", result=result)

    sent = outputs(spec, record, run)
    bare = outputs(spec, record, run.model_copy(update={"result": None}))

    assert (
        value_problems(declared, sent, Workspace(trigger_ttl=3.0)) == []
        and value_problems(declared, bare, Workspace(trigger_ttl=3.0)) == []
    )
    assert set(COMMON_OUTPUTS) | set(sent) == set(declared)
    assert {name for name, param in declared.items() if param["is_required"]} == {"outcome", "request_id"}


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(functions=functions()) as server:
        server.add_user("U1", "alice")
        yield server


def required_inputs(spec: dict[str, Any]) -> dict[str, Any]:
    """The least a workflow must give the step: each required input, of its type."""
    sample = {"string": "x", "slack#/types/user_id": "U1"}
    return {name: sample[p["type"]] for name, p in parameters(spec["input_parameters"], "").items() if p["is_required"]}


def test_every_declared_step_reaches_its_listener(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    """A real Bolt app with the bot's registration: each step the manifest declares is routed to the bot."""
    heard: list[str] = []

    clicks: list[tuple[str, str]] = []

    class Heard:
        async def executed(self, body: dict[str, Any], event: dict[str, Any]) -> None:
            heard.append(event["function"]["callback_id"])

        async def confirmed(self, ack: Any, body: dict[str, Any]) -> None:
            await ack()
            clicks.append(("confirmed", body["function_data"]["execution_id"]))

        async def declined(self, ack: Any, body: dict[str, Any]) -> None:
            await ack()
            clicks.append(("declined", body["function_data"]["execution_id"]))

    bolt(standin, lambda app: register(app, cast(WorkflowSteps, Heard())))
    executions = [
        standin.run_function(callback_id, required_inputs(spec), user_id="U1")
        for callback_id, spec in functions().items()
    ]

    standin.wait_for(lambda: len(heard) == len(functions()), 5)
    assert sorted(heard) == sorted(functions()) == sorted(STEPS)
    assert all(envelope.ack == {} for envelope in standin.envelopes)  # acknowledged by Bolt itself
    # The confirmation's buttons, on a message the step posted with its own token, reach the bot with its data.
    token = standin.function_execution(executions[0])["bot_access_token"]
    channel, ts = post_confirmation(standin, token, executions[0])
    standin.click_button(channel, ts, CONFIRM_ACTION_ID, executions[0], user_id="U1")
    standin.click_button(channel, ts, DECLINE_ACTION_ID, executions[0], user_id="U1")
    standin.wait_for(lambda: len(clicks) == 2, 5)
    assert clicks == [("confirmed", executions[0]), ("declined", executions[0])]


def post_confirmation(standin: SlackStandIn, token: str, execution_id: str) -> tuple[str, str]:
    """The confirmation the step posts to its requester, with the execution's token."""
    web = WebClient(token=token, base_url=standin.api_url)
    channel = web.conversations_open(users="U1")["channel"]["id"]
    _text, blocks = asking("Add a Meraki administrator", execution_id, "U1", {}, frozenset())
    return channel, str(web.chat_postMessage(channel=channel, text="confirm", blocks=blocks)["ts"])


# --------------------------------------------------------------------------------------
# The ledger's steps
# --------------------------------------------------------------------------------------


def a_step(execution_id: str = "Fx0001") -> WorkflowStep:
    stamp = datetime.now(UTC)
    return WorkflowStep(
        execution_id=execution_id,
        callback_id="add_meraki_admin",
        requester_id="U1",
        state=StepState.OPEN,
        deadline=stamp + timedelta(minutes=14),
        created_at=stamp,
        token="xwfp-secret",
    )


async def test_a_step_is_recorded_once_and_ends_once(ledger: Ledger) -> None:
    assert await ledger.record_step(a_step()) is True
    assert await ledger.record_step(a_step()) is False  # Slack's redelivery

    first = await ledger.end_step("Fx0001", {"outputs": {"outcome": "created"}})
    second = await ledger.end_step("Fx0001", {"error": "too late"})

    step = await ledger.get_step("Fx0001")
    assert first and not second
    assert step is not None and step.state is StepState.ENDING and step.ending == {"outputs": {"outcome": "created"}}
    assert "xwfp-secret" not in repr(step)  # never in a log line that prints the step


async def test_one_replica_at_a_time_sends_a_completion(backend: Backend, ledger: Ledger) -> None:
    other = await Ledger.open(backend.url, owner="replica-b")
    try:
        await ledger.record_step(a_step())
        await ledger.end_step("Fx0001", {"error": "refused"})

        claims = await asyncio.gather(ledger.claim_step("Fx0001"), other.claim_step("Fx0001"))
        [held] = [claim for claim in claims if claim is not None]
        await ledger.finish_step("Fx0001", StepState.FAILED)
    finally:
        await other.close()

    step = await ledger.get_step("Fx0001")
    assert held.token == "xwfp-secret"  # the claimer gets the token to complete the step with
    assert step is not None and step.state is StepState.FAILED and step.token is None
    assert await ledger.unfinished_steps() == [] and await ledger.claim_step("Fx0001") is None


async def test_only_the_person_named_answers_a_step_and_once_across_replicas(backend: Backend, ledger: Ledger) -> None:
    other = await Ledger.open(backend.url, owner="replica-b")
    try:
        await ledger.record_step(replace(a_step(), state=StepState.CONFIRMING))
        assert await ledger.confirm_step("Fx0001", "U2") is False  # someone else's click
        assert await ledger.decline_step("Fx0001", "U2", {"error": "declined"}) is False

        answers = await asyncio.gather(
            ledger.confirm_step("Fx0001", "U1"),
            other.confirm_step("Fx0001", "U1"),
            other.decline_step("Fx0001", "U1", {"error": "declined"}),
        )
    finally:
        await other.close()

    step = await ledger.get_step("Fx0001")
    assert answers.count(True) == 1  # the first answer stands, on whichever replica
    assert step is not None and step.state in (StepState.OPEN, StepState.ENDING)


async def test_a_step_cannot_be_confirmed_past_its_deadline(ledger: Ledger) -> None:
    late = replace(a_step(), state=StepState.CONFIRMING, deadline=datetime.now(UTC) - timedelta(seconds=1))
    await ledger.record_step(late)

    assert await ledger.confirm_step("Fx0001", "U1") is False
    step = await ledger.get_step("Fx0001")
    assert step is not None and step.state is StepState.CONFIRMING and step in await ledger.unfinished_steps()


async def test_a_steps_request_is_named_before_it_is_asked_for(ledger: Ledger) -> None:
    await ledger.record_step(a_step())

    await ledger.ask_step("Fx0001", "step-Fx0001:aaa")
    await ledger.end_step("Fx0001", {"error": "refused"})
    await ledger.ask_step("Fx0001", "step-Fx0001:bbb")  # ended already: nothing changes

    step = await ledger.get_step("Fx0001")
    assert step is not None and step.request_id == "step-Fx0001:aaa"


async def test_finished_steps_are_swept_with_the_finished_requests(ledger: Ledger) -> None:
    for execution_id in ("Fx0001", "Fx0002"):
        await ledger.record_step(a_step(execution_id))
    await ledger.end_step("Fx0001", {"error": "refused"})
    await ledger.finish_step("Fx0001", StepState.FAILED)
    await ledger._run(lambda conn: conn.execute(update(WORKFLOW_STEPS).values(updated_at=LONG_AGO)), write=True)

    await sweep(ledger, Retention(requests_days=90, audit_days=365))

    assert await ledger.get_step("Fx0001") is None
    assert await ledger.get_step("Fx0002") is not None  # unfinished: never swept
