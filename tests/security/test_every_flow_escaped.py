"""Every flow, hostile text in every field, and everything sent to Slack scanned: no mention, channel, link or
stray markup the bot did not write itself reaches Slack, in any method, any text-bearing argument or any
view in an acknowledgement.

The real listeners of the three commands (add; find, which runs from its text; remove, which is confirmed
first) talk to the strict Slack stand-in and to the Nautobot fake of tests/security/echoing_jobs.py, which
echoes the inputs and the hostile text back in every place Nautobot puts text. Each flow must have run, with
the Slack calls and the Nautobot runs it stands for: a flow that quietly did nothing fails the test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bot.settings import DEFAULT_COMMANDS
from bot.slack.modal import validate
from testbed.fake_nautobot import (
    LOGS_PATH,
    RESULT_ID,
    RESULT_PATH,
    RUN_PATH,
    RUN_QUEUED,
    ok,
)
from testbed.manifest import bot_scopes
from testbed.slack_standin import Call, SlackStandIn
from tests.security.echoing_jobs import (
    HOSTILE_NOW,
    echoed_logs,
    echoed_result,
    error_page,
    hostile_page,
    refuse_fields,
    run_path,
    runs,
    with_every_job,
)
from tests.security.hostile_corpus import LINKS, MENTIONS, MRKDWN
from tests.security.listener_harness import (
    CHANNEL,
    GOOD,
    USER,
    Ack,
    Harness,
    Outcome,
    as_slack_sends_it,
    echoing_nautobot,
    harness,
    typed,
    workspace,
)
from tests.security.slack_payloads import injection_problems, sent_texts

pytestmark = [pytest.mark.security, pytest.mark.asyncio(loop_scope="module")]

HOSTILE = [*MENTIONS, *LINKS, *[text for text in MRKDWN if "<" in text or "&" in text]]
STRANGER, COLLEAGUE = "U0SEC0999", "U0SEC0998"
"""Someone the access policy does not name, and someone it allows who did not ask: the buttons refuse both."""
OWN = {f"<#{CHANNEL}>"}
"""The bot's own link to the request's channel (where to follow it, where to invite it)."""
ADD, FIND, REMOVE = DEFAULT_COMMANDS
POLICY = {"allow": [{"users": [USER, COLLEAGUE], "channels": [CHANNEL], "commands": ["*"]}]}
CANCEL_PATH = f"/api/extras/job-results/{RESULT_ID}/cancel/"


@pytest.fixture(scope="module")
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(scopes=bot_scopes(), post_message_limit=None, chat_update_limit=None) as slack:
        workspace(slack).add_user(STRANGER, name="stranger", real_name="Stranger")
        slack.add_user(COLLEAGUE, name="colleague", real_name="Colleague")
        yield slack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(standin: SlackStandIn, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    nautobot = with_every_job(echoing_nautobot())
    async with harness(
        standin, tmp_path_factory.mktemp("every-flow"), nautobot=nautobot, commands=DEFAULT_COMMANDS, policy=POLICY
    ) as found:
        found.nautobot.on("GET", RESULT_PATH, echoed_result("SUCCESS", found.nautobot))
        found.nautobot.on("GET", LOGS_PATH, echoed_logs(found.nautobot, 4))
        yield found


# -- driving the flows, and what each must have done ---------------------------------------------------------


@dataclass
class Flow:
    """One flow as it ran: the Slack calls and Nautobot runs it led to, and what the harness saw wrong."""

    name: str
    calls: list[Call]
    runs: list[tuple[str, dict[str, Any]]]
    problems: list[str] = field(default_factory=list)
    outcome: Outcome | None = None

    def methods(self, user: str | None = None) -> set[str]:
        return {call.method for call in self.calls if user is None or call.args.get("user") == user}


class Driver:
    def __init__(self, bot: Harness, standin: SlackStandIn, text: str, typed: str):
        self.bot, self.standin, self.text = bot, standin, text
        self.typed = typed
        """What a person types: the hostile text, or a plain word where the bot refuses it before Nautobot (which
        echoes the hostile text anyway)."""
        self.flows: list[Flow] = []
        self.missing: list[str] = []

    async def flow(self, name: str, act: Awaitable[Any]) -> Flow:
        """``act`` (not started yet: a coroutine runs when awaited) as a flow, with what it led to."""
        calls, asked = len(self.standin.calls), len(runs(self.bot.nautobot))
        done = await act
        outcome = done[0] if isinstance(done, tuple) else done
        outcome = outcome if isinstance(outcome, Outcome) else None
        found = Flow(name, self.standin.calls[calls:], runs(self.bot.nautobot)[asked:], outcome=outcome)
        found.problems = outcome.problems if outcome else []
        self.flows.append(found)
        return found

    def need(self, flow: Flow, done: bool, what: str) -> None:
        if not done:
            self.missing.append(f"{flow.name}: {what} (calls: {sorted(flow.methods())}, runs: {len(flow.runs)})")

    async def press(self, listener: str, request_id: str | None, user: str = USER, view_id: str | None = None) -> Ack:
        """A button on a message (or, with ``view_id``, on a modal), as Slack sends it."""
        body: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": "T0STANDIN", "domain": "standin"},
            "user": {"id": user, "username": "sec", "team_id": "T0STANDIN"},
            "actions": [{"value": request_id or "missing", "action_id": listener}],
            "container": {"channel_id": CHANNEL, "type": "message"},
            "channel": {"id": CHANNEL},
        }
        if view_id is not None:
            body["view"] = {"id": view_id}
        ack = Ack()
        await getattr(self.bot.listeners, listener)(ack, as_slack_sends_it(body), self.bot.client)
        await self.bot.settle()
        return ack


def ran(flow: Flow, job_name: str, **data: Any) -> bool:
    """Nautobot was asked to run ``job_name`` with ``data`` among the inputs."""
    path = run_path(job_name)
    return any(at == path and all(sent.get(key) == value for key, value in data.items()) for at, sent in flow.runs)


def told(flow: Flow, user: str) -> bool:
    """Only ``user`` was told something: an ephemeral message, or a direct message."""
    return "chat.postEphemeral" in flow.methods(user) or "conversations.open" in flow.methods()


def reported(flow: Flow) -> bool:
    """A run's parent message was posted and, at the end, edited."""
    return {"chat.postMessage", "chat.update"} <= flow.methods()


async def adding(drive: Driver, fields: dict[str, Any]) -> None:
    bot, nautobot = drive.bot, drive.bot.nautobot
    view = await bot.open_form()
    nautobot.on("POST", RUN_PATH, ok(RUN_QUEUED, 201))
    done = await drive.flow("add", bot.submit(view, fields))
    drive.need(done, ran(done, "Create Meraki User") and reported(done), "ran and reported")
    # a failure: exception, traceback and failing lines echo the inputs; a long log becomes a file
    nautobot.on("GET", RESULT_PATH, echoed_result("FAILURE", nautobot))
    nautobot.on("GET", LOGS_PATH, echoed_logs(nautobot, 200))
    done = await drive.flow("add, failed", bot.submit(view, fields))
    drive.need(done, "files.completeUploadExternal" in done.methods() and reported(done), "log uploaded")
    nautobot.on("GET", LOGS_PATH, echoed_logs(nautobot, 4))
    nautobot.on("GET", RESULT_PATH, echoed_result("SUCCESS", nautobot))
    dry = await drive.flow("add, dry run", bot.submit(view, {**fields, "dryrun": checked(view)}))
    drive.need(dry, ran(dry, "Create Meraki User", dryrun=True) and reported(dry), "ran as a dry run")
    await for_real_and_cancel(drive, "add", "Create Meraki User", button_value(dry, "run_for_real"))
    # Nautobot's refusals: field errors and general errors echoing the inputs, an error page echoing them
    nautobot.on("POST", RUN_PATH, refuse_fields)
    done = await drive.flow("add, fields refused", bot.submit(view, fields))
    drive.need(done, len(done.runs) == 1 and bool(done.outcome and done.outcome.ack), "refused and answered")
    nautobot.on("POST", RUN_PATH, error_page)
    done = await drive.flow("add, error page", bot.submit(view, fields))
    drive.need(done, len(done.runs) == 1 and bool(done.outcome and done.outcome.ack), "refused and answered")
    # a request kept for a Retry (Nautobot unavailable, its page echoing the input), then retried and taken
    nautobot.on("POST", RUN_PATH, httpx.Response(503, text=f"<p>{drive.text}</p>"))
    kept = await drive.flow("add, kept", bot.submit(view, fields))
    kept_id = kept_request(kept)
    drive.need(kept, kept_id is not None, "kept for a Retry")
    nautobot.on("POST", RUN_PATH, ok(RUN_QUEUED, 201))
    done = await drive.flow("retry", drive.press("retry", kept_id, view_id=view["id"]))
    drive.need(done, ran(done, "Create Meraki User") and reported(done), "retried and ran")
    # the bot is not in the channel: the request goes on in a direct message
    drive.standin.add_channel(CHANNEL, name="netops-sec", members={USER}, bot_member=False)
    try:
        done = await drive.flow("add, in a direct message", bot.submit(view, fields))
    finally:
        drive.standin.add_channel(CHANNEL, name="netops-sec", members={USER}, bot_member=True)
    drive.need(done, "conversations.open" in done.methods() and len(done.runs) == 1, "ran, told in a DM")


async def for_real_and_cancel(drive: Driver, command: str, job_name: str, dry_id: str | None) -> None:
    """ "… for real" and Cancel on a dry run's message: by a stranger and a colleague (refused), by the requester.

    Only that the refusals reach the person and run nothing is asserted of them, not their wording: whether the
    refusal or the dry run's status comes first is :mod:`bot.listeners.buttons`' concern.
    """
    for other in (STRANGER, COLLEAGUE):
        done = await drive.flow(f"{command}, for real by {other}", drive.press("for_real", dry_id, other))
        drive.need(done, dry_id is not None and told(done, other) and not done.runs, "a dry run, refused")
    done = await drive.flow(f"{command}, for real", drive.press("for_real", dry_id))
    drive.need(done, ran(done, job_name, dryrun=False) and reported(done), "ran for real")
    drive.bot.nautobot.on("POST", CANCEL_PATH, hostile_page)  # Nautobot's refusal to cancel echoes hostile text
    for other in (STRANGER, COLLEAGUE):
        cancels = drive.bot.nautobot.count("POST", CANCEL_PATH)
        done = await drive.flow(f"{command}, cancel by {other}", drive.press("cancel", dry_id, other))
        refused = told(done, other) and drive.bot.nautobot.count("POST", CANCEL_PATH) == cancels
        drive.need(done, refused, "refused")
    cancels = drive.bot.nautobot.count("POST", CANCEL_PATH)
    done = await drive.flow(f"{command}, cancel", drive.press("cancel", dry_id))
    asked = drive.bot.nautobot.count("POST", CANCEL_PATH) > cancels
    drive.need(done, asked and told(done, USER), "Nautobot asked to cancel, its refusal told")


async def finding(drive: Driver) -> None:
    """``/meraki-find-user <query>`` runs without a form; the Job's summary echoes the query."""
    query = f"{drive.typed} {drive.typed}"  # two characters at least, whatever Slack's entities become
    quote = next(q for q in ('"', "'", "\u201c\u201d", "\u2018\u2019") if not set(q) & set(query))
    done = await drive.flow("find from its text", drive.bot.command(quote[0] + query + quote[-1], FIND))
    drive.need(done, ran(done, "Find Meraki User"), "ran without a form")
    summaries = [call for call in done.calls if "0 matches for" in str(call.args.get("text"))]
    drive.need(done, bool(summaries), "its summary posted")


async def removing(drive: Driver) -> None:
    """``/meraki-remove-user``: the form, its summary, Confirm; a dry run, then for real and Cancel."""
    bot = drive.bot
    _, view = await bot.command("", REMOVE)
    assert view is not None, "the removal's form did not open"
    email = f"{drive.typed}@example.com".replace(" ", "").replace("\n", "")
    email = email if email.count("@") == 1 else "bob@example.com"
    entries = {"user_email": typed(email), "dryrun": checked(view)}
    summary = await drive.flow("remove, summary", bot.submit(view, entries))
    shown = summary.outcome.ack.get("view") if summary.outcome else None
    drive.need(summary, isinstance(shown, dict) and shown.get("submit", {}).get("text") == "Confirm", "summarised")
    if isinstance(shown, dict):
        done = await drive.flow("remove, confirmed", bot.submit({**shown, "state": {"values": {}}}, {}))
        drive.need(done, ran(done, "Remove Meraki User", user_email=email, dryrun=True) and reported(done), "ran")
        await for_real_and_cancel(drive, "remove", "Remove Meraki User", button_value(done, "run_for_real"))


async def every_flow(bot: Harness, standin: SlackStandIn, text: str) -> Driver:
    HOSTILE_NOW["text"] = text
    form = bot.listeners.main.forms.current()
    assert form is not None
    refused = validate({**GOOD, "user_name": text, "meraki_network": text}, form)  # e.g. invisible characters
    drive = Driver(bot, standin, text, "bob" if refused else text)
    await adding(drive, {"user_name": typed(drive.typed), "meraki_network": typed(drive.typed)})
    await finding(drive)
    await removing(drive)
    # the command's text echoed into the form's notice, and a refused person's command
    done = await drive.flow("add, from its text", bot.command(f'"{text}" {text}'))
    drive.need(done, "views.open" in done.methods(), "a form opened")
    done = await drive.flow("refused command", bot.command(text, REMOVE, user=STRANGER))
    drive.need(done, "views.open" in done.methods() and not done.runs, "refused")
    return drive


def checked(view: dict[str, Any]) -> dict[str, Any]:
    """The dry run box, ticked."""
    block = next(block for block in view["blocks"] if block.get("block_id") == "dryrun")
    return {"selected_options": block["element"]["options"][:1]}


def button_value(flow: Flow, action_id: str) -> str | None:
    """The request the last button ``action_id`` the flow sent names."""
    found = [value for call in flow.calls for value in _values(call.args, action_id)]
    return found[-1] if found else None


def kept_request(flow: Flow) -> str | None:
    """The request a Retry button in the flow's answer names."""
    found = list(_values(flow.outcome.ack.get("view") if flow.outcome else None, "retry_request"))
    return found[-1] if found else None


def _values(payload: Any, action_id: str) -> Iterator[str]:
    if isinstance(payload, dict):
        if payload.get("action_id") == action_id and isinstance(payload.get("value"), str):
            yield payload["value"]
        for value in payload.values():
            yield from _values(value, action_id)
    elif isinstance(payload, list):
        for value in payload:
            yield from _values(value, action_id)


# -- judging everything Slack was sent -------------------------------------------------------------------------


def scan(bot: Harness, flows: list[Flow]) -> list[str]:
    """Every text of every call and of every view in an acknowledgement; a listener that raised."""
    problems = []
    for flow in flows:
        sent = [(call.method, call.args) for call in flow.calls]
        acks = flow.outcome.acks if flow.outcome else []
        sent += [("views.update", {"view": ack["view"]}) for ack in acks if isinstance(ack.get("view"), dict)]
        for method, args in sent:
            texts = sent_texts(method, args)
            problems += [f"{flow.name}, {method}: {p}" for p in injection_problems(texts, bot.allowed | OWN)]
        problems += [f"{flow.name}: {problem}" for problem in flow.problems if problem.startswith("raised")]
    return problems


async def test_every_flow_sends_slack_only_escaped_text(bot: Harness, standin: SlackStandIn) -> None:
    failures: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    methods: set[str] = set()
    for text in HOSTILE:
        drive = await every_flow(bot, standin, text)
        methods |= {method for flow in drive.flows for method in flow.methods()}
        if drive.missing:
            missing[repr(text)[:60]] = drive.missing
        problems = scan(bot, drive.flows)
        if problems:
            failures[repr(text)[:60]] = problems[:4]
    assert not missing, "flows that did not run: " + json.dumps(missing, indent=1, ensure_ascii=False)[:6000]
    covered = {"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "conversations.open"}
    assert covered | {"files.completeUploadExternal"} <= methods, methods
    assert not failures, (
        f"{len(failures)} of {len(HOSTILE)} strings reached Slack unescaped: "
        + json.dumps(failures, indent=1, ensure_ascii=False)[:6000]
    )
