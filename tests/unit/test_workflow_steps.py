"""Workflow Builder steps: a workflow's step runs its request once, for the person who used the workflow, and
completes once with the Job's outputs, or fails with what went wrong, against the Slack stand-in's strict
``functions.completeSuccess`` / ``functions.completeError`` and a Nautobot fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Access, AccessPolicy, SlackGroups
from bot.app import wire
from bot.ledger import Approval, AuditOutcome, Ending, Ledger, Record, RequestState, Vote
from bot.ledger.workflow_steps import StepState, WorkflowStep
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.logs import scrub
from bot.models import RunRequest, RunStatus
from bot.nautobot import FormCache
from bot.workflow import STEPS, StepCompletions, WorkflowSteps, endings
from bot.workflow.completion import step_key
from bot.workflow.confirmation import CONFIRM_ACTION_ID, DECLINE_ACTION_ID
from testbed.fake_nautobot import (
    ACME_ORG,
    JOB_NAME,
    RESULT_ID,
    RESULT_PATH,
    RUN_PATH,
    FakeNautobot,
    job_result,
    ok,
)
from testbed.fake_slack import FakeAck
from testbed.manifest import functions
from testbed.slack_constants import TEAM_ID
from testbed.slack_standin import SlackStandIn
from tests.support.audit_trail import audit_trail

ALICE, MALLORY = "U0ALICE01", "U0MALLORY"
STEP = "add_meraki_admin"
INPUTS = {"requester": ALICE, "email": "jane@example.com", "name": "Jane Doe", "organization": "acme corp"}
NOW = datetime.now(UTC)
CREATED = job_result("SUCCESS", result={"outcome": "created", "admin_id": "646829496481105433"})


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(functions=functions()) as standin:
        standin.add_user(ALICE, "alice")
        standin.add_user(MALLORY, "mallory")
        yield standin


@dataclass
class Bot:
    listeners: Listeners
    nautobot: FakeNautobot
    ledger: Ledger
    slack: SlackStandIn

    @property
    def steps(self) -> WorkflowSteps:
        assert self.listeners.steps is not None
        return self.listeners.steps

    async def run(self, event: dict[str, Any]) -> None:
        """The step's listener, as Bolt calls it for the event (acknowledged already); then the person the step
        names confirms it, as they would in Slack."""
        await self.steps.executed(event, event["event"])
        await self.answer(event, CONFIRM_ACTION_ID, event["event"]["inputs"]["requester"])

    async def answer(self, event: dict[str, Any], action_id: str, user_id: str) -> None:
        """``user_id`` clicks ``action_id`` on the step's confirmation, if it still shows its buttons."""
        execution_id = event["event"]["function_execution_id"]
        for channel, ts in self.slack.function_messages(execution_id)[:1]:
            try:
                payload = self.slack.click_payload(channel, ts, action_id, execution_id, user_id)
            except (KeyError, ValueError):  # answered already: the buttons are gone
                return
            handler = self.steps.confirmed if action_id == CONFIRM_ACTION_ID else self.steps.declined
            await handler(FakeAck(), payload)


def step_event(slack: SlackStandIn, inputs: dict[str, Any]) -> dict[str, Any]:
    """A workflow used by the step's requester reaches the step: the event Slack sends."""
    return slack.function_event(STEP, inputs, user_id=inputs["requester"])


async def until(condition: Callable[[], Awaitable[Any]], timeout: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


async def ended(slack: SlackStandIn, execution_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        execution = slack.function_execution(execution_id)
        return execution if execution["state"] != "open" else None

    return await until(done)


async def final_step(ledger: Ledger, execution_id: str) -> WorkflowStep | None:
    step = await ledger.get_step(execution_id)
    return step if step is not None and step.state.final else None


@pytest.fixture
async def bot(slack: SlackStandIn, tmp_path: Path) -> AsyncIterator[Bot]:
    nautobot = FakeNautobot().with_quick_run().on("GET", RESULT_PATH, ok(CREATED))
    client = nautobot.client()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    web = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    policy = AccessPolicy.model_validate({"allow": [{"users": [ALICE], "channels": ["*"]}]})
    access = Access(policy, groups=SlackGroups(web), installed_team=TEAM_ID)
    wired = wire(
        slack=web,
        nautobot=client,
        ledger=ledger,
        commands=[SlashCommand("/meraki-add-user", FormCache(client, JOB_NAME), access)],
        follow_timeout=60.0,
    )
    yield Bot(wired, nautobot, ledger, slack)
    assert wired.steps is not None and wired.home is not None
    await wired.steps.completions.stop()
    await wired.home.stop()
    await wired.runs.stop()
    await client.aclose()
    await ledger.close()


async def test_a_step_runs_the_job_once_and_completes_with_its_outputs(bot: Bot, slack: SlackStandIn) -> None:
    event = step_event(slack, INPUTS)
    execution_id = event["event"]["function_execution_id"]

    await bot.run(event)
    execution = await ended(slack, execution_id)

    [sent] = bot.nautobot.run_bodies()
    assert sent["data"]["user_email"] == "jane@example.com" and sent["data"]["meraki_org_id"] == ACME_ORG
    assert sent["data"]["meraki_access_level"] == "read-only"  # the Job's default, as the form would pre-pick
    outputs = execution["outputs"]
    assert execution["state"] == "completed", execution["error"]
    assert outputs["outcome"] == "created" and outputs["admin_id"] == "646829496481105433"
    assert outputs["request_id"].startswith(step_key(execution_id)) and "/job-results/" in outputs["result_url"]
    [completion] = slack.calls_to("functions.completeSuccess")
    assert completion.token == event["event"]["bot_access_token"]  # the step's own token, not the bot's
    step = await until(lambda: final_step(bot.ledger, execution_id))
    assert step.state is StepState.COMPLETED and step.token is None  # the token is erased


async def test_the_requester_hears_of_the_request_directly(bot: Bot, slack: SlackStandIn) -> None:
    event = step_event(slack, INPUTS)
    await bot.run(event)
    await ended(slack, event["event"]["function_execution_id"])

    posts = [call for call in slack.calls_to("chat.postMessage") if call.ok and call.token == slack.bot_token]
    [confirm] = [call for call in slack.calls_to("chat.postMessage") if call.token != slack.bot_token]
    assert confirm.token == event["event"]["bot_access_token"]  # only the confirmation is the step's own message
    [dm] = {call.response["channel"] for call in posts}
    assert dm.startswith("D") and "Jane Doe" in str(slack.messages(dm))  # no channel given: a direct message


async def test_nothing_is_asked_until_the_person_named_confirms_and_only_they_can(
    bot: Bot, slack: SlackStandIn
) -> None:
    """The Requested by input is the workflow author's to fill: the person it names confirms in Slack first."""
    event = step_event(slack, INPUTS)
    execution_id = event["event"]["function_execution_id"]

    await bot.steps.executed(event, event["event"])
    [(dm, ts)] = slack.function_messages(execution_id)
    assert "Run it" in str(slack.messages(dm)) and "jane@example.com" in str(slack.messages(dm))
    assert slack.function_execution(execution_id)["state"] == "open"
    await bot.answer(event, CONFIRM_ACTION_ID, MALLORY)  # a click Slack signs as someone else's
    await bot.answer(event, DECLINE_ACTION_ID, MALLORY)

    assert bot.nautobot.run_bodies() == [] and slack.function_execution(execution_id)["state"] == "open"
    step = await bot.ledger.get_step(execution_id)
    assert step is not None and step.state is StepState.CONFIRMING and step.request_id is None
    await asyncio.gather(
        bot.answer(event, CONFIRM_ACTION_ID, ALICE), bot.answer(event, CONFIRM_ACTION_ID, ALICE)
    )  # fmt: skip
    execution = await ended(slack, execution_id)
    assert execution["state"] == "completed" and len(bot.nautobot.run_bodies()) == 1
    [shown] = [message for message in slack.messages(dm) if message["ts"] == ts]
    assert "You confirmed" in str(shown["blocks"]) and "Run it" not in str(shown["blocks"])  # the buttons gone


async def test_a_declined_step_fails_and_nothing_runs(bot: Bot, slack: SlackStandIn) -> None:
    event = step_event(slack, INPUTS)
    execution_id = event["event"]["function_execution_id"]

    await bot.steps.executed(event, event["event"])
    await bot.answer(event, DECLINE_ACTION_ID, ALICE)
    execution = await ended(slack, execution_id)

    assert execution["state"] == "failed" and execution["error"].startswith(f"Declined: the requester ({ALICE})")
    assert bot.nautobot.run_bodies() == []
    await bot.answer(event, CONFIRM_ACTION_ID, ALICE)  # the buttons are gone; a replayed click answers nothing
    assert bot.nautobot.run_bodies() == []


async def test_a_step_nobody_confirms_in_time_fails_and_nothing_runs(bot: Bot, slack: SlackStandIn) -> None:
    bot.steps.wait = timedelta(0)
    event = step_event(slack, INPUTS)
    execution_id = event["event"]["function_execution_id"]

    await bot.steps.executed(event, event["event"])
    await bot.answer(event, CONFIRM_ACTION_ID, ALICE)  # too late: the step's time is up
    await bot.listeners.runs.sweep()
    execution = await ended(slack, execution_id)

    assert execution["state"] == "failed" and execution["error"].startswith("Not confirmed: ")
    assert bot.nautobot.run_bodies() == []


async def test_a_step_refused_by_the_policy_fails_with_its_reason(bot: Bot, slack: SlackStandIn) -> None:
    event = step_event(slack, {**INPUTS, "requester": MALLORY})

    await bot.run(event)
    execution = await ended(slack, event["event"]["function_execution_id"])

    assert execution["state"] == "failed" and execution["error"].startswith("Refused: ")
    assert f"You ({MALLORY}) may not use /meraki-add-user" in execution["error"]  # the policy's own words
    assert bot.nautobot.run_bodies() == []
    [entry] = await audit_trail(bot.ledger, user_id=MALLORY)
    assert entry.outcome is AuditOutcome.DENIED and "Workflow Builder step" in entry.reason


async def test_inputs_that_do_not_fit_the_job_fail_the_step_by_their_names(bot: Bot, slack: SlackStandIn) -> None:
    event = step_event(slack, {**INPUTS, "organization": "Initech", "email": "not-an-email"})

    await bot.run(event)
    execution = await ended(slack, event["event"]["function_execution_id"])

    assert execution["state"] == "failed"
    assert "organization:" in execution["error"] and "email:" in execution["error"]
    assert bot.nautobot.run_bodies() == []


async def test_a_redelivered_event_runs_once_and_completes_once(bot: Bot, slack: SlackStandIn) -> None:
    event = step_event(slack, INPUTS)
    execution_id = event["event"]["function_execution_id"]

    await asyncio.gather(bot.run(event), bot.run(event))
    await ended(slack, execution_id)
    await bot.run(event)  # once more, after it completed
    await bot.listeners.runs.sweep()

    assert len(bot.nautobot.run_bodies()) == 1
    assert len(slack.calls_to("functions.completeSuccess")) == 1 and slack.calls_to("functions.completeError") == []


async def test_nautobot_refusing_the_run_fails_the_step(bot: Bot, slack: SlackStandIn) -> None:
    bot.nautobot.on("POST", RUN_PATH, ok({"detail": "You do not have permission to run this job."}, 403))
    event = step_event(slack, INPUTS)

    await bot.run(event)
    execution = await ended(slack, event["event"]["function_execution_id"])

    assert execution["state"] == "failed" and "Nautobot did not run it" in execution["error"]
    assert "permission" in execution["error"]


async def test_a_failed_job_fails_the_step_with_a_link_to_its_log(bot: Bot, slack: SlackStandIn) -> None:
    bot.nautobot.on("GET", RESULT_PATH, ok(job_result("FAILURE")))
    event = step_event(slack, INPUTS)

    await bot.run(event)
    execution = await ended(slack, event["event"]["function_execution_id"])

    assert execution["state"] == "failed" and execution["error"].startswith("The Job failed: see its log at http")


# --------------------------------------------------------------------------------------
# After a restart, on another replica, past the time a step may wait
# --------------------------------------------------------------------------------------


def open_step(execution_id: str, token: str | None, *, waited: timedelta = timedelta(0)) -> WorkflowStep:
    stamp = datetime.now(UTC) - waited
    return WorkflowStep(
        execution_id=execution_id,
        callback_id=STEP,
        requester_id=ALICE,
        state=StepState.OPEN,
        deadline=stamp + timedelta(minutes=14),
        created_at=stamp,
        token=token,
    )


async def ended_request(ledger: Ledger, request_id: str) -> None:
    """A request that ran and ended, as a replica that stopped left it in the ledger."""
    await ledger.record(RunRequest(request_id=request_id, requester_id=ALICE, channel_id=ALICE, job_name=JOB_NAME))
    await ledger.begin_submit(request_id)
    await ledger.submitted(request_id, result_id=RESULT_ID, scheduled_job_id=None)
    await ledger.announced(request_id, channel="D0ALICE01", ts="1.000100", run_status=RunStatus.RUNNING)
    await ledger.logged(request_id)
    await ledger.done(request_id)


async def test_another_replica_completes_a_step_whose_request_ended(
    bot: Bot, slack: SlackStandIn, tmp_path: Path
) -> None:
    """The replica that took the step stopped once its request ended: another replica's sweep completes it."""
    event = step_event(slack, INPUTS)
    execution_id, token = event["event"]["function_execution_id"], event["event"]["bot_access_token"]
    await bot.ledger.record_step(open_step(execution_id, token))
    await bot.ledger.ask_step(execution_id, f"{step_key(execution_id)}:0123abcd")
    await ended_request(bot.ledger, f"{step_key(execution_id)}:0123abcd")
    other = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}", owner="replica-b")
    try:
        completions = StepCompletions(other, AsyncWebClient(base_url=slack.api_url), bot.nautobot.client())
        await asyncio.gather(completions.sweep(), completions.sweep())
    finally:
        await other.close()

    execution = slack.function_execution(execution_id)
    assert execution["state"] == "completed" and execution["outputs"]["admin_id"] == "646829496481105433"
    [completion] = slack.calls_to("functions.completeSuccess")
    assert completion.token == token  # kept in the ledger for whichever replica completes it


async def test_a_step_lost_before_its_request_was_made_fails_once(bot: Bot, slack: SlackStandIn) -> None:
    event = step_event(slack, INPUTS)
    execution_id, token = event["event"]["function_execution_id"], event["event"]["bot_access_token"]
    await bot.ledger.record_step(open_step(execution_id, token, waited=timedelta(minutes=6)))
    completions = StepCompletions(bot.ledger, AsyncWebClient(base_url=slack.api_url), bot.nautobot.client())

    await completions.sweep()
    await completions.sweep()

    execution = slack.function_execution(execution_id)
    assert execution["state"] == "failed" and "stopped before it could send" in execution["error"]
    assert len(slack.calls_to("functions.completeError")) == 1


async def test_a_step_that_waits_too_long_fails_and_its_request_goes_on(bot: Bot, slack: SlackStandIn) -> None:
    bot.nautobot.on("GET", RESULT_PATH, ok(job_result("STARTED")))
    bot.steps.wait = timedelta(seconds=1)  # confirmed at once, then past its time: the next look fails it
    event = step_event(slack, INPUTS)
    execution_id = event["event"]["function_execution_id"]

    await bot.run(event)
    await asyncio.sleep(1.1)
    await bot.listeners.runs.sweep()
    execution = await ended(slack, execution_id)

    assert execution["state"] == "failed" and "still under way" in execution["error"]
    step = await bot.ledger.get_step(execution_id)
    request = await bot.ledger.get(step.request_id or "") if step is not None else None
    assert request is not None and not request.final  # the run goes on, followed as any other


async def test_a_step_slack_no_longer_takes_is_given_up(bot: Bot, slack: SlackStandIn) -> None:
    slack.expire_function_tokens(after=0)
    event = step_event(slack, {**INPUTS, "requester": MALLORY})

    await bot.run(event)

    step = await until(lambda: final_step(bot.ledger, event["event"]["function_execution_id"]))
    assert step.state is StepState.EXPIRED and step.token is None


def test_the_steps_token_is_scrubbed_from_any_log_line() -> None:
    token = "xwfp-1325532282098-1322446258629-6123648410839-527a1cab3979cad288c9e20330d212cf"

    assert token[5:] not in scrub(f"event body: {{'bot_access_token': '{token}'}}")


@pytest.mark.parametrize(
    ("ending", "votes", "said"),
    [
        (
            Ending.DENIED,
            (Vote(person="U0BOB0001", label="U0BOB0001 (bob)", approve=False, reason="no window", at=NOW),),
            "Not approved: U0BOB0001 (bob) denied the request (no window). Nothing ran.",
        ),
        (Ending.WITHDRAWN, (), "Not approved: the requester withdrew the request. Nothing ran."),
        (Ending.EXPIRED, (), "Not approved: nobody decided in time. Nothing ran."),
    ],
    ids=["denied", "withdrawn", "expired"],
)
def test_a_request_not_approved_fails_its_step_saying_how(ending: Ending, votes: tuple[Vote, ...], said: str) -> None:
    approval = Approval(users=("U0BOB0001",), since=NOW, expire_at=NOW, votes=votes, ending=ending)
    record = Record(
        request_id="step-Fx1:a",
        requester_id=ALICE,
        channel_id=ALICE,
        job_name=JOB_NAME,
        state=RequestState.DONE,
        created_at=NOW,
        updated_at=NOW,
        approval=approval,
    )

    assert endings.of_request(STEPS[STEP], record, None) == {"error": said}
    assert endings.of_request(STEPS[STEP], record.model_copy(update={"state": RequestState.ANNOUNCED}), None) is None


async def test_a_step_whose_checks_break_fails_saying_nothing_ran(
    bot: Bot, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> dict[str, str]:
        raise RuntimeError("a check broke in an unexpected way")

    monkeypatch.setattr(bot.listeners.main, "duration_errors", broken)
    event = step_event(slack, INPUTS)

    await bot.run(event)
    execution = await ended(slack, event["event"]["function_execution_id"])

    assert execution["state"] == "failed" and "nothing ran" in execution["error"]
    assert bot.nautobot.run_bodies() == []


async def test_nautobot_unreachable_fails_the_step_saying_nothing_ran(bot: Bot, slack: SlackStandIn) -> None:
    bot.nautobot.on("POST", RUN_PATH, httpx.ConnectError("connection refused"))
    event = step_event(slack, INPUTS)

    await bot.run(event)
    execution = await ended(slack, event["event"]["function_execution_id"])

    assert execution["state"] == "failed" and "Nothing ran" in execution["error"]


async def test_a_run_nautobot_may_have_taken_keeps_its_step_open(bot: Bot, slack: SlackStandIn) -> None:
    """The answer to the run was lost: whether it ran is found out when the request is taken up."""
    bot.nautobot.on("POST", RUN_PATH, httpx.ReadTimeout("no answer"))
    event = step_event(slack, INPUTS)
    execution_id = event["event"]["function_execution_id"]

    await bot.run(event)
    await bot.listeners.runs.sweep()

    assert slack.function_execution(execution_id)["state"] == "open"
    step = await bot.ledger.get_step(execution_id)
    request = await bot.ledger.get(step.request_id or "") if step is not None else None
    assert request is not None and request.state is RequestState.SUBMITTING
