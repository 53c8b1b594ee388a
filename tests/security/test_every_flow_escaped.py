"""Every flow, hostile text in every field, and everything sent to Slack scanned: no mention, channel, link or
stray markup the bot did not write itself reaches Slack, in any method or any text-bearing argument.

The real listeners talk to the strict Slack stand-in and to the Nautobot fake, which echoes what it was given
back in every place Nautobot puts text: a result's summary and rows (as Find Meraki User returns them), the
log's messages, groupings and objects, a failure's exception and traceback, and its refusals (400s with field
and other errors, error pages that are not JSON).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.security.hostile_corpus import LINKS, MENTIONS, MRKDWN
from tests.security.listener_harness import (
    CHANNEL,
    USER,
    Ack,
    Harness,
    as_slack_sends_it,
    harness,
    typed,
    workspace,
)
from tests.security.slack_payloads import injection_problems, sent_texts
from tests.support.fake_nautobot import (
    LOGS_PATH,
    RESULT_ID,
    RESULT_PATH,
    RUN_PATH,
    RUN_QUEUED,
    job_result,
    log_entry,
    ok,
)
from tests.support.manifest import bot_scopes
from tests.support.slack_standin import SlackStandIn

pytestmark = [pytest.mark.security, pytest.mark.asyncio(loop_scope="module")]

HOSTILE = [*MENTIONS, *LINKS, *[text for text in MRKDWN if "<" in text or "&" in text]]
STRANGER = "U0SEC0999"
"""Someone the access policy does not name: every refusal of a button goes to them."""
OWN = {f"<#{CHANNEL}>"}
"""The bot's own link to the request's channel (where to follow it, where to invite it)."""


@pytest.fixture(scope="module")
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(scopes=bot_scopes(), post_message_limit=None, chat_update_limit=None) as slack:
        workspace(slack).add_user(STRANGER, name="stranger", real_name="Stranger")
        yield slack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(standin: SlackStandIn, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    async with harness(standin, tmp_path_factory.mktemp("every-flow")) as found:
        found.nautobot.on("GET", RESULT_PATH, echoed_result("SUCCESS", found))
        found.nautobot.on("GET", LOGS_PATH, echoed_logs(found, 4))
        yield found


# -- Nautobot echoing hostile text back in everything it answers --------------------------------------------


def last_inputs(bot: Harness) -> list[str]:
    data = bot.nautobot.run_bodies()[-1]["data"] if bot.nautobot.run_bodies() else {}
    return [str(value) for value in data.values()]


def echoed_result(status: str, bot: Harness):
    def answer(_request: httpx.Request) -> httpx.Response:
        said = " ".join(last_inputs(bot))
        result: dict[str, Any] = {
            "summary": f"0 matches for {said}",  # what Find Meraki User says, with the query in it
            "matches": [{"organization_name": said, "name": said, "email": said, "org_access": said}],
            "not_searched": [{"organization_name": said, "reason": said}],
        }
        changes: dict[str, Any] = {"result": result, "name": "Create Meraki User"}
        if status == "FAILURE":
            changes.update(result={"exc_type": "RuntimeError", "exc_message": [said]}, traceback=f"RuntimeError: {said}")
        return ok(job_result(status, **changes))

    return answer


def echoed_logs(bot: Harness, lines: int):
    def answer(_request: httpx.Request) -> httpx.Response:
        said = last_inputs(bot)
        entries = []
        for n in range(lines):
            text = said[n % len(said)] if said else "?"
            entry = log_entry(0.01 * n, "failure" if n % 3 == 0 else "info", text, f"Got {text}")
            entries.append({**entry, "log_object": text})
        return ok(entries)

    return answer


def refuse_fields(request: httpx.Request) -> httpx.Response:
    data = json.loads(request.content)["data"]
    said = "; ".join(str(value) for value in data.values())
    return httpx.Response(400, json={"errors": {"user_name": [said], "non_field_errors": [f"Meraki: {said}"]}})


def error_page(request: httpx.Request) -> httpx.Response:
    data = json.loads(request.content)["data"] if request.content else {}
    said = " ".join(str(value) for value in data.values()) or "<!channel>"
    return httpx.Response(500, text=f"<html><title>{said}</title><body>{said}</body></html>")


def hostile_page(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, text="<!channel> <@U123> <https://evil.example|click> &")


# -- the flows -----------------------------------------------------------------------------------------------


async def press(bot: Harness, listener: str, request_id: str, user: str = USER, view_id: str | None = None) -> Ack:
    """A button on a message (or, with ``view_id``, on a modal), as Slack sends it."""
    body: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0STANDIN", "domain": "standin"},
        "user": {"id": user, "username": "sec", "team_id": "T0STANDIN"},
        "actions": [{"value": request_id, "action_id": listener}],
        "container": {"channel_id": CHANNEL, "type": "message"},
        "channel": {"id": CHANNEL},
    }
    if view_id is not None:
        body["view"] = {"id": view_id}
    ack = Ack()
    await getattr(bot.listeners, listener)(ack, as_slack_sends_it(body), bot.client)
    await bot.settle()
    return ack


async def every_flow(bot: Harness, standin: SlackStandIn, text: str) -> None:
    view = await bot.open_form()
    fields = {"user_name": typed(text), "meraki_network": typed(text)}
    nautobot = bot.nautobot

    # add (and find: the fake Job answers with a Find Meraki User result), run, log, result table
    nautobot.on("POST", RUN_PATH, ok(RUN_QUEUED, 201))
    await bot.submit(view, fields)
    # a failure: exception, traceback and failing lines echo the inputs; a long log becomes a file
    nautobot.on("GET", RESULT_PATH, echoed_result("FAILURE", bot))
    nautobot.on("GET", LOGS_PATH, echoed_logs(bot, 200))
    await bot.submit(view, fields)
    nautobot.on("GET", LOGS_PATH, echoed_logs(bot, 4))
    # a dry run that succeeded, then "… for real": by a stranger (refused), by the requester (runs)
    nautobot.on("GET", RESULT_PATH, echoed_result("SUCCESS", bot))
    dry = await bot.submit(view, {**fields, "dryrun": {"selected_options": [dry_option(view)]}})
    dry_id = button_value([call.args for call in reversed(dry.calls)], "run_for_real")
    if dry_id is not None:  # TODO: the stand-in's dry run shows no "… for real" button yet; see the report
        await press(bot, "for_real", dry_id, user=STRANGER)
        await press(bot, "for_real", dry_id)
        # cancel: by a stranger (refused), by the requester (Nautobot's refusal echoes hostile text)
        nautobot.on("POST", f"/api/extras/job-results/{RESULT_ID}/cancel/", hostile_page)
        await press(bot, "cancel", dry_id, user=STRANGER)
        await press(bot, "cancel", dry_id)
    # Nautobot's refusals: field errors and general errors echoing the inputs, an error page echoing them
    nautobot.on("POST", RUN_PATH, refuse_fields)
    await bot.submit(view, fields)
    nautobot.on("POST", RUN_PATH, error_page)
    await bot.submit(view, fields)
    # a request kept for a Retry (Nautobot unavailable, its page echoing the input), then retried and taken
    nautobot.on("POST", RUN_PATH, httpx.Response(503, text=f"<p>{text}</p>"))
    kept = await bot.submit(view, fields)
    kept_id = button_value([kept.ack.get("view")], "retry_request")
    if kept_id is not None:
        nautobot.on("POST", RUN_PATH, ok(RUN_QUEUED, 201))
        await press(bot, "retry", kept_id, view_id=view["id"])
    # the bot is not in the channel: the request goes on in a direct message
    nautobot.on("POST", RUN_PATH, ok(RUN_QUEUED, 201))
    standin.add_channel(CHANNEL, name="netops-sec", members={USER}, bot_member=False)
    try:
        await bot.submit(view, fields)
    finally:
        standin.add_channel(CHANNEL, name="netops-sec", members={USER}, bot_member=True)
    # the command's text echoed into the form's notice, and a refused person's command
    await bot.command(f'"{text}" {text}')


def dry_option(view: dict[str, Any]) -> dict[str, Any]:
    block = next(block for block in view["blocks"] if block.get("block_id") == "dryrun")
    return block["element"]["options"][0]


def button_value(payloads: list[Any], action_id: str) -> str | None:
    """The request a button names, in whatever the bot sent or answered."""
    for payload in payloads:
        found = [v for v in _values(payload, action_id)]
        if found:
            return found[-1]
    return None


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


def scan(bot: Harness, standin: SlackStandIn, since: int) -> list[str]:
    problems = []
    for call in standin.calls[since:]:
        problems += [f"{call.method}: {p}" for p in injection_problems(sent_texts(call.method, call.args), bot.allowed | OWN)]
    return problems


async def test_every_flow_sends_slack_only_escaped_text(bot: Harness, standin: SlackStandIn) -> None:
    failures: dict[str, list[str]] = {}
    methods: set[str] = set()
    for text in HOSTILE:
        since = len(standin.calls)
        await every_flow(bot, standin, text)
        methods |= {call.method for call in standin.calls[since:]}
        problems = scan(bot, standin, since)
        if problems:
            failures[repr(text)[:60]] = problems[:4]
    covered = {"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "conversations.open"}
    assert covered | {"files.completeUploadExternal"} <= methods, methods
    assert not failures, f"{len(failures)} of {len(HOSTILE)} strings reached Slack unescaped: " + json.dumps(
        failures, indent=1, ensure_ascii=False
    )[:6000]
