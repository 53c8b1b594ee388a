"""The slash command and the modal's submission, against the real Nautobot client and a fake Slack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

import bot.listeners.parts as listeners_module
import bot.listeners.submission as submission_module
from bot.access import Access, AccessPolicy, SlackGroups
from bot.app import wire
from bot.ledger import Ledger
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.models import ModalContext
from bot.nautobot import FormCache
from bot.slack import modal as forms
from bot.slack.pacing import ChannelPacer
from testbed.fake_nautobot import (
    ACME_ORG,
    BASE,
    JOB_ID,
    JOB_NAME,
    JOBS_PATH,
    RESULT_PATH,
    RUN_AWAITING_APPROVAL,
    RUN_PATH,
    RUN_QUEUED,
    SCHEDULED_ID,
    VARIABLE_NAMES,
    VARIABLES,
    VARIABLES_PATH,
    FakeNautobot,
    ok,
)
from testbed.fake_slack import (
    DM_CHANNEL,
    OPENED_VIEW_HASH,
    OPENED_VIEW_ID,
    Events,
    FakeAck,
    FakeSlack,
    blocks_text,
    view_dict,
    view_text,
)
from tests.support.ledger_reads import unfinished

USER = "U0456ABC"
CHANNEL = "C0123CHAN"
TRIGGER_ID = "1730542502123.4567890123.0a1b2c3d4e5f60718293a4b5c6d7e8f9"
VIEW_ID = "V0FORM0001"
GOOD: dict[str, Any] = {
    "user_email": "bob@example.com",
    "user_name": "Bob Smith",
    "meraki_org_id": ACME_ORG,
    "meraki_access_level": "read-only",
}
REFUSED_EMAIL = "Invalid value. Must match regex: ^[a-z0-9.]+@example\\.com$"


# -- Slack payloads ------------------------------------------------------------------------------

pytestmark = pytest.mark.usefixtures("no_retry_delay")


def command_body(text: str = "") -> dict[str, Any]:
    return {
        "token": "verification-token",
        "team_id": "T0TEAM0001",
        "team_domain": "acme",
        "channel_id": CHANNEL,
        "channel_name": "netops",
        "user_id": USER,
        "user_name": "bob",
        "command": "/meraki-add-user",
        "text": text,
        "api_app_id": "A0APP00001",
        "response_url": "https://hooks.slack.com/commands/T0TEAM0001/1/abc",
        "trigger_id": TRIGGER_ID,
    }


def _option(var: dict[str, Any], value: str) -> dict[str, Any]:
    label = next((text for key, text in var.get("choices", []) if key == value), value)
    return {"text": {"type": "plain_text", "text": label, "emoji": True}, "value": value}


def _action(var: dict[str, Any], value: Any) -> dict[str, Any]:
    """One field's entry in ``view.state.values``, shaped like Slack sends it."""
    if var["type"] == "DryRunVar":
        checked = [_option(var, "true")] if value else []
        return {"type": "checkboxes", "selected_options": checked}
    if var["type"] == "ChoiceVar":
        return {"type": "static_select", "selected_option": _option(var, value) if value is not None else None}
    kind = "email_text_input" if "email" in var["name"] else "plain_text_input"
    return {"type": kind, "value": value}


def submitted_view(values: dict[str, Any], *, view_id: str = VIEW_ID, metadata: str | None = None) -> dict[str, Any]:
    context = ModalContext(channel_id=CHANNEL, user_id=USER, job_id=JOB_ID)
    state = {var["name"]: {forms.ACTION_ID: _action(var, values.get(var["name"]))} for var in VARIABLES}
    return {
        "id": view_id,
        "team_id": "T0TEAM0001",
        "type": "modal",
        "callback_id": forms.CALLBACK_ID,
        "hash": "1730542510.QwErTy12",
        "private_metadata": metadata if metadata is not None else context.to_metadata(),
        "state": {"values": state},
    }


async def submit(listeners: Listeners, ack: FakeAck, slack: FakeSlack, view: dict[str, Any]) -> None:
    body = {
        "type": "view_submission",
        "team": {"id": "T0TEAM0001", "domain": "acme"},
        "user": {"id": USER, "username": "bob", "team_id": "T0TEAM0001"},
        "api_app_id": "A0APP00001",
        "view": view,
    }
    await listeners.submission(ack, body, slack, view)  # type: ignore[arg-type]


# -- helpers -------------------------------------------------------------------------------------


def block_ids(view: dict[str, Any]) -> list[str]:
    return [block["block_id"] for block in view["blocks"] if "block_id" in block]


def element(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(block["element"] for block in view["blocks"] if block.get("block_id") == block_id)


async def settle(listeners: Listeners) -> None:
    """Wait for every follow the listeners started."""
    await asyncio.gather(*listeners.runs.tasks)
    assert not listeners.runs.tasks


async def wait_for(condition: Callable[[], bool], timeout: float = 1.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def all_posted_text(slack: FakeSlack) -> str:
    parts = []
    for method in ("chat_postMessage", "chat_update"):
        for call in slack.calls_to(method):
            parts += [call["text"], blocks_text(call["blocks"])]
    return "\n".join(parts)


# -- fixtures ------------------------------------------------------------------------------------


def allowing(slack: FakeSlack, **policy: Any) -> Access:
    """Access for the test's user in the test's channel (nobody has it by default)."""
    rules = AccessPolicy.model_validate({"allow": [{"users": [USER], "channels": [CHANNEL]}], **policy})
    return Access(rules, groups=SlackGroups(slack), installed_team="T0TEAM0001")  # type: ignore[arg-type]


@pytest.fixture
def nautobot(events: Events) -> FakeNautobot:
    return FakeNautobot(events).with_quick_run()


@pytest.fixture
def slack(events: Events) -> FakeSlack:
    return FakeSlack(events)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def listeners(
    nautobot: FakeNautobot, slack: FakeSlack, sleeps: list[float], tmp_path: Path
) -> AsyncIterator[Listeners]:
    async def fast_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)  # still a point where the task may be cancelled

    client = nautobot.client()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    cache = FormCache(client, JOB_NAME)
    yield wire(
        slack=slack,  # type: ignore[arg-type]
        nautobot=client,
        ledger=ledger,
        commands=[SlashCommand("/meraki-add-user", cache, allowing(slack))],
        follow_timeout=60.0,
        pacer=ChannelPacer(0),
        sleep=fast_sleep,
    )
    await client.aclose()
    await ledger.close()


@pytest.fixture
async def warm(listeners: Listeners, events: Events) -> Listeners:
    """Listeners whose form cache was just filled; the events of filling it are forgotten."""
    await listeners.main.forms.refresh()
    events.clear()
    return listeners


# -- the command ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "access"),
    [("bob@example.com read-only", "read-only"), ("bob@example.com enterprise", "enterprise")],
)
async def test_warm_cache_opens_the_form_right_after_the_ack(
    warm: Listeners, ack: FakeAck, slack: FakeSlack, events: Events, text: str, access: str
) -> None:
    await warm.slash_command(ack, command_body(text), slack)  # type: ignore[arg-type]

    assert events.labels() == ["ack", "slack views_open"]
    assert ack.calls == [{}]
    opened = slack.calls_to("views_open")[0]
    assert opened["trigger_id"] == TRIGGER_ID
    view = view_dict(opened["view"])
    assert view["callback_id"] == forms.CALLBACK_ID
    assert view["submit"]["text"] == "Run"
    assert block_ids(view) == VARIABLE_NAMES
    assert element(view, "user_email")["initial_value"] == "bob@example.com"
    assert element(view, "meraki_access_level")["initial_option"]["value"] == access
    assert "Not used from your command" not in view_text(view)
    assert ModalContext.from_metadata(view["private_metadata"]) == ModalContext(
        channel_id=CHANNEL, user_id=USER, job_id=JOB_ID, command_text=text, command="/meraki-add-user"
    )


async def test_a_stale_cache_is_refreshed_only_after_the_form_is_open(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack, events: Events
) -> None:
    warm.main.forms.fetched_at -= 3600

    await warm.slash_command(ack, command_body(), slack)  # type: ignore[arg-type]
    await wait_for(lambda: len(events.of("nautobot")) == 2 and not warm.main.forms.stale)

    assert events.labels() == ["ack", "slack views_open", f"nautobot GET {JOBS_PATH}", f"nautobot GET {VARIABLES_PATH}"]


async def test_cold_cache_opens_a_loading_view_then_replaces_it_with_the_form(
    listeners: Listeners, ack: FakeAck, slack: FakeSlack, events: Events
) -> None:
    await listeners.slash_command(ack, command_body("bob@example.com"), slack)  # type: ignore[arg-type]

    assert events.labels() == [
        "ack",
        "slack views_open",
        f"nautobot GET {JOBS_PATH}",
        f"nautobot GET {VARIABLES_PATH}",
        "slack views_update",
    ]
    loading = view_dict(slack.calls_to("views_open")[0]["view"])
    assert loading["callback_id"] == forms.LOADING_CALLBACK_ID
    assert "Loading" in view_text(loading)
    assert "submit" not in loading
    update = slack.calls_to("views_update")[0]
    assert (update["view_id"], update["hash"]) == (OPENED_VIEW_ID, OPENED_VIEW_HASH)
    form = view_dict(update["view"])
    assert form["callback_id"] == forms.CALLBACK_ID
    assert block_ids(form) == VARIABLE_NAMES
    assert element(form, "user_email")["initial_value"] == "bob@example.com"
    assert listeners.main.forms.current() is not None


async def test_a_form_slack_could_not_open_is_told_to_the_person(
    warm: Listeners, ack: FakeAck, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack's front end answered views.open with a 503 page, not its JSON: the person hears it, nothing ran."""

    async def unavailable(**_kwargs: Any) -> dict[str, Any]:
        page = AsyncSlackResponse(
            client=None, http_verb="POST", api_url="https://slack.com/api/views.open", req_args={},
            data="<html>503 Service Unavailable</html>", headers={}, status_code=503,
        )  # fmt: skip
        raise SlackApiError("views.open failed", page)

    monkeypatch.setattr(slack, "views_open", unavailable)

    await warm.slash_command(ack, command_body("bob@example.com"), slack)  # type: ignore[arg-type]

    [told] = slack.calls_to("chat_postEphemeral")  # only the person sees it, in the channel they typed in
    assert told["user"] == USER and told["channel"] == CHANNEL
    shown = told["text"] + blocks_text(told["blocks"])
    assert "Slack could not open the form of /meraki-add-user (HTTP 503)" in shown and "Nothing ran" in shown


async def test_cold_cache_and_nautobot_unreachable_says_nothing_was_submitted(
    listeners: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack
) -> None:
    nautobot.on("GET", JOBS_PATH, httpx.ConnectError("[Errno 111] Connection refused"))

    await listeners.slash_command(ack, command_body(), slack)  # type: ignore[arg-type]

    assert ack.calls == [{}]
    assert slack.methods() == ["views_open", "views_update"]
    update = slack.calls_to("views_update")[0]
    assert (update["view_id"], update["hash"]) == (OPENED_VIEW_ID, OPENED_VIEW_HASH)
    view = view_dict(update["view"])
    text = view_text(view)
    assert "Cannot connect to Nautobot" in text
    assert "Nothing was submitted" in text
    assert listeners_module.RETRY_LATER in text
    assert view["title"]["text"] == "Can't open the form"
    assert "submit" not in view
    assert nautobot.count("GET", JOBS_PATH) == 2
    assert listeners.main.forms.current() is None


# -- the submission ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        (
            {**GOOD, "user_name": None, "meraki_org_id": None},
            {"user_name": "Fill this in.", "meraki_org_id": "Pick an option."},
        ),
        (
            {**GOOD, "user_email": "bob at example.com"},
            {"user_email": "Enter an email address, like name@example.com."},
        ),
        (
            {**GOOD, "user_email": "bob@example.net"},
            {"user_email": "This doesn't match the required pattern ^[A-Za-z0-9._%+-]+@example\\.(com|org)$"},
        ),
    ],
    ids=["missing required fields", "not an email", "email outside the label's regex"],
)
async def test_an_invalid_submission_is_answered_inline_without_asking_nautobot(
    warm: Listeners, ack: FakeAck, slack: FakeSlack, events: Events, values: dict[str, Any], errors: dict[str, str]
) -> None:
    await submit(warm, ack, slack, submitted_view(values))

    assert ack.calls == [{"response_action": "errors", "errors": errors}]
    assert events.labels() == ["ack errors"]
    assert slack.calls == []


async def test_a_field_error_from_nautobot_shows_under_the_field_and_the_corrected_view_runs(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack, events: Events
) -> None:
    nautobot.on("POST", RUN_PATH, ok({"errors": {"user_email": [REFUSED_EMAIL]}}, 400), ok(RUN_QUEUED, 201))

    await submit(warm, ack, slack, submitted_view({**GOOD, "user_email": "Bob+test@example.com"}))

    assert ack.calls == [{"response_action": "errors", "errors": {"user_email": REFUSED_EMAIL}}]
    assert events.labels() == [f"nautobot POST {RUN_PATH}", "ack errors"]
    assert slack.calls == []

    await submit(warm, ack, slack, submitted_view(GOOD))
    await settle(warm)

    assert ack.calls[1:] == [{}]
    assert [body["data"]["user_email"] for body in nautobot.run_bodies()] == ["Bob+test@example.com", "bob@example.com"]
    assert slack.calls_to("chat_postMessage")[0]["channel"] == CHANNEL


async def test_a_disabled_job_replaces_the_form_with_what_happened(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack, events: Events
) -> None:
    nautobot.on("POST", RUN_PATH, ok({"detail": "This job is not enabled to be run."}, 403))

    await submit(warm, ack, slack, submitted_view(GOOD))

    assert events.labels() == [f"nautobot POST {RUN_PATH}", "ack update"]
    (call,) = ack.calls
    assert call["response_action"] == "update"
    view = view_dict(call["view"])
    text = view_text(view)
    assert "is not enabled to be run in Nautobot, so nothing ran" in text
    assert "Nothing was submitted." in text
    assert view["title"]["text"] == "Not run"
    assert "submit" not in view
    assert slack.calls == []
    assert warm.runs.tasks == set()


async def test_a_run_awaiting_approval_is_announced_and_its_approval_awaited(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack
) -> None:
    nautobot.on("POST", RUN_PATH, ok(RUN_AWAITING_APPROVAL, 201))
    nautobot.on("GET", f"/api/extras/scheduled-jobs/{SCHEDULED_ID}/", ok(RUN_AWAITING_APPROVAL["scheduled_job"]))

    await submit(warm, ack, slack, submitted_view(GOOD))

    assert ack.calls == [{}]
    (waiting,) = warm.runs.tasks  # it waits for the approval in Nautobot (follow's own tests cover that)
    await wait_for(lambda: nautobot.count("GET", f"/api/extras/scheduled-jobs/{SCHEDULED_ID}/") > 0)
    await warm.runs.stop()
    assert waiting.cancelled()
    parent = slack.calls_to("chat_postMessage")[0]
    assert "Waiting for approval" in parent["text"]
    assert f"/extras/scheduled-jobs/{SCHEDULED_ID}/" in blocks_text(parent["blocks"])
    assert nautobot.count("GET", RESULT_PATH) == 0


async def test_a_duplicate_submission_runs_the_job_once(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack
) -> None:
    view = submitted_view(GOOD)

    await submit(warm, ack, slack, view)
    await submit(warm, ack, slack, view)
    await settle(warm)

    assert nautobot.count("POST", RUN_PATH) == 1
    assert ack.calls == [{}, {}]
    assert len([call for call in slack.calls_to("chat_postMessage") if "thread_ts" not in call]) == 1


async def test_a_second_click_while_the_first_is_in_flight_runs_the_job_once(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack
) -> None:
    async def answered_later(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return ok(RUN_QUEUED, 201)

    nautobot.on("POST", RUN_PATH, answered_later)
    view = submitted_view(GOOD)

    await asyncio.gather(submit(warm, ack, slack, view), submit(warm, ack, slack, view))
    await settle(warm)

    assert nautobot.count("POST", RUN_PATH) == 1
    assert ack.calls == [{}, {}]
    assert len([call for call in slack.calls_to("chat_postMessage") if "thread_ts" not in call]) == 1


async def test_a_slow_nautobot_gets_a_submitting_view_then_a_submitted_one(
    warm: Listeners,
    nautobot: FakeNautobot,
    ack: FakeAck,
    slack: FakeSlack,
    events: Events,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(submission_module, "SUBMIT_WAIT", 0.05)

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        events.add("nautobot", "answered")
        return ok(RUN_QUEUED, 201)

    nautobot.on("POST", RUN_PATH, slow)

    await submit(warm, ack, slack, submitted_view(GOOD))
    await settle(warm)

    assert events.labels()[:5] == [
        f"nautobot POST {RUN_PATH}",
        "ack update",
        "nautobot answered",
        "slack views_update",
        "slack chat_postMessage",
    ]
    (first,) = ack.calls
    submitting = view_dict(first["view"])
    assert submitting["title"]["text"] == "Submitting"
    assert "Sending the request to Nautobot" in view_text(submitting)
    update = slack.calls_to("views_update")[0]
    assert update["view_id"] == VIEW_ID
    submitted = view_dict(update["view"])
    assert submitted["title"]["text"] == "Submitted"
    assert f"<#{CHANNEL}>" in view_text(submitted)
    assert slack.calls_to("chat_postMessage")[0]["channel"] == CHANNEL


async def test_a_slow_refusal_puts_the_form_back_and_it_can_be_submitted_again(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submission_module, "SUBMIT_WAIT", 0.05)

    async def slow_refusal(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        return ok({"errors": {"user_email": [REFUSED_EMAIL]}}, 400)

    nautobot.on("POST", RUN_PATH, slow_refusal, ok(RUN_QUEUED, 201))

    await submit(warm, ack, slack, submitted_view({**GOOD, "user_email": "Bob+test@example.com"}))

    assert [call["response_action"] for call in ack.calls] == ["update"]
    (update,) = slack.calls_to("views_update")
    assert update["view_id"] == VIEW_ID
    form = view_dict(update["view"])
    assert form["callback_id"] == forms.CALLBACK_ID
    assert block_ids(form) == VARIABLE_NAMES
    assert f"User Email: {REFUSED_EMAIL}" in view_text(form)
    assert element(form, "user_email")["initial_value"] == "Bob+test@example.com"
    assert slack.calls_to("chat_postMessage") == []

    await submit(warm, ack, slack, submitted_view(GOOD))
    await settle(warm)

    assert nautobot.count("POST", RUN_PATH) == 2
    assert slack.calls_to("chat_postMessage")[0]["channel"] == CHANNEL


async def test_without_access_to_the_channel_the_run_goes_to_a_direct_message(
    warm: Listeners, ack: FakeAck, slack: FakeSlack
) -> None:
    slack.not_in = frozenset({CHANNEL})

    await submit(warm, ack, slack, submitted_view(GOOD))
    await settle(warm)

    assert slack.methods()[:4] == ["chat_postMessage", "conversations_open", "chat_postMessage", "chat_postMessage"]
    assert slack.calls_to("conversations_open") == [{"users": USER}]
    refused, note, parent, *replies = slack.calls_to("chat_postMessage")
    assert refused["channel"] == CHANNEL
    assert note["channel"] == parent["channel"] == DM_CHANNEL
    note_text = blocks_text(note["blocks"])
    assert "/invite @" in note_text
    assert f"<#{CHANNEL}>" in note_text
    assert "submitted to Nautobot" in note_text
    assert parent["text"].startswith("⏳ Create Meraki User")
    parent_ts = slack.posted[1]["ts"]
    assert replies
    assert all((reply["channel"], reply["thread_ts"]) == (DM_CHANNEL, parent_ts) for reply in replies)
    (final,) = slack.calls_to("chat_update")
    assert (final["channel"], final["ts"]) == (DM_CHANNEL, parent_ts)
    assert "Succeeded" in final["text"]


async def test_the_parent_message_is_in_the_commands_channel_and_escapes_what_people_typed(
    warm: Listeners, ack: FakeAck, slack: FakeSlack
) -> None:
    await warm.slash_command(ack, command_body("bob@example.com read-only"), slack)  # type: ignore[arg-type]
    metadata = view_dict(slack.calls_to("views_open")[0]["view"])["private_metadata"]
    typed = "<!channel> <@U0999OTHER> Bob"

    await submit(warm, ack, slack, submitted_view({**GOOD, "user_name": typed}, metadata=metadata))
    await settle(warm)

    parent = slack.calls_to("chat_postMessage")[0]
    assert parent["channel"] == CHANNEL
    assert "thread_ts" not in parent
    text = blocks_text(parent["blocks"])
    assert f"Requested by <@{USER}>" in text
    assert "&lt;!channel&gt; &lt;@U0999OTHER&gt; Bob" in text
    everything = all_posted_text(slack)
    assert "<!channel>" not in everything
    assert "<@U0999OTHER>" not in everything


async def test_a_submission_with_no_cached_form_and_nautobot_down_says_nothing_ran(
    listeners: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack
) -> None:
    nautobot.on("GET", JOBS_PATH, httpx.ConnectError("[Errno 111] Connection refused"))

    await submit(listeners, ack, slack, submitted_view(GOOD))

    (call,) = ack.calls
    assert call["response_action"] == "update"
    view = view_dict(call["view"])
    assert view["title"]["text"] == "Not run"
    assert "Cannot connect to Nautobot" in view_text(view)
    assert "Nothing was submitted." in view_text(view)
    assert nautobot.count("POST", RUN_PATH) == 0
    assert slack.calls == []
    assert await unfinished(listeners.ledger) == []  # nothing was recorded: nothing was asked of Nautobot


async def test_every_request_is_in_the_ledger_until_its_result_is_posted(
    warm: Listeners, ack: FakeAck, slack: FakeSlack
) -> None:
    await submit(warm, ack, slack, submitted_view(GOOD))
    await settle(warm)

    [record] = [r for r in await _all(warm) if r.request_id.startswith(VIEW_ID)]
    assert record.state.value == "done" and record.log_posted and record.result_id
    assert record.message_ts and record.requester_id and record.inputs["user_email"] == GOOD["user_email"]


async def test_the_same_values_sent_again_after_a_refusal_are_a_new_attempt(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack
) -> None:
    nautobot.on("POST", RUN_PATH, ok({"detail": "This job is not enabled to be run."}, 403))
    await submit(warm, ack, slack, submitted_view(GOOD))
    nautobot.with_quick_run()
    await submit(warm, ack, slack, submitted_view(GOOD))
    await settle(warm)

    assert nautobot.count("POST", RUN_PATH) == 2
    states = sorted(r.state.value for r in await _all(warm))
    assert states == ["done", "refused"]


async def _all(listeners: Listeners):
    from sqlalchemy import select

    from bot.ledger.schema import RequestRow, to_record

    async with listeners.ledger._engine.connect() as conn:
        rows = (await conn.execute(select(RequestRow))).all()
    return [to_record(RequestRow(**row._mapping)) for row in rows]


def suggestion(block_id: str, value: str, user: str = USER) -> dict[str, Any]:
    """A ``block_suggestion`` payload from the open modal."""
    metadata = ModalContext(channel_id=CHANNEL, user_id=user, job_id=JOB_ID).to_metadata()
    return {
        "type": "block_suggestion",
        "user": {"id": user, "username": "bob", "team_id": "T0TEAM0001"},
        "team": {"id": "T0TEAM0001", "domain": "acme"},
        "view": {"id": VIEW_ID, "private_metadata": metadata},
        "action_id": forms.ACTION_ID,
        "block_id": block_id,
        "value": value,
    }


async def test_a_long_choice_list_is_searched_through_the_options_listener(warm: Listeners) -> None:
    answers: list[dict[str, Any]] = []

    async def ack(**kwargs: Any) -> None:
        answers.append(kwargs)

    await warm.options(ack, suggestion("meraki_access_level", "read"))
    await warm.options(ack, suggestion("no_such_field", ""))

    assert [o["value"] for o in answers[0]["options"]] == ["read-only"]
    assert answers[1] == {"options": []}


STATUS_ID = "1d6ad4b5-5e7b-4c2f-9d0a-7a1c9f1f4c11"


async def test_an_object_variable_is_searched_in_nautobot_as_the_person_types(
    listeners: Listeners, nautobot: FakeNautobot
) -> None:
    status = {"name": "status", "type": "ObjectVar", "model": "extras.status", "required": True}
    nautobot.on("GET", VARIABLES_PATH, ok([*VARIABLES, status]))
    await listeners.main.forms.refresh()
    nautobot.on(
        "GET", "/api/extras/", ok({"tags": f"{BASE}/api/extras/tags/", "statuses": f"{BASE}/api/extras/statuses/"})
    )
    nautobot.on("GET", "/api/plugins/", ok({"chatops": f"{BASE}/api/plugins/chatops/"}))
    nautobot.on("GET", "/api/plugins/chatops/", ok({"access-grants": f"{BASE}/api/plugins/chatops/access-grants/"}))
    found = {"count": 1, "next": None, "results": [{"id": STATUS_ID, "display": "Active", "name": "Active"}]}
    nautobot.on("GET", "/api/extras/statuses/", ok(found))
    answers: list[dict[str, Any]] = []

    async def ack(**kwargs: Any) -> None:
        answers.append(kwargs)

    await listeners.options(ack, suggestion("status", "act"))
    await listeners.options(ack, suggestion("status", ""))
    await listeners.options(ack, suggestion("status", "x", user="U0STRANGER"))  # nobody the policy allows

    assert [(o["value"], o["text"]["text"]) for o in answers[0]["options"]] == [(STATUS_ID, "Active")]
    assert answers[1] == answers[0]
    assert answers[2] == {"options": []}
    searches = [r for r in nautobot.requests if r.url.path == "/api/extras/statuses/"]
    assert [r.url.params["q"] for r in searches] == ["act", ""]  # the stranger's search never reached Nautobot
    assert nautobot.count("GET", "/api/extras/") == 1  # the model's endpoint is found once


async def test_an_object_search_nautobot_refuses_offers_nothing(listeners: Listeners, nautobot: FakeNautobot) -> None:
    status = {"name": "status", "type": "ObjectVar", "model": "extras.status", "required": True}
    nautobot.on("GET", VARIABLES_PATH, ok([*VARIABLES, status]))
    await listeners.main.forms.refresh()
    nautobot.on("GET", "/api/extras/", ok({"statuses": f"{BASE}/api/extras/statuses/"}))
    nautobot.on("GET", "/api/extras/statuses/", ok({"detail": "You do not have permission."}, 403))
    answers: list[dict[str, Any]] = []

    async def ack(**kwargs: Any) -> None:
        answers.append(kwargs)

    await listeners.options(ack, suggestion("status", ""))

    assert answers == [{"options": []}]


async def test_nautobot_down_at_submit_keeps_the_request_and_retry_sends_it(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack
) -> None:
    nautobot.on("POST", RUN_PATH, httpx.ConnectError("[Errno 111] Connection refused"))
    await submit(warm, ack, slack, submitted_view(GOOD))

    (call,) = ack.calls
    shown = view_dict(call["view"])
    [button] = [e for b in shown["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == forms.RETRY_ACTION_ID
    [kept] = await unfinished(warm.ledger)
    assert kept.state.value == "unsent" and button["value"] == kept.request_id

    nautobot.with_quick_run()

    async def noop(**_: Any) -> None:
        pass

    user = {"id": kept.requester_id, "team_id": "T0TEAM0001"}
    body = {"view": {"id": VIEW_ID}, "actions": [{"value": kept.request_id}], "user": user}
    await warm.retry(noop, body, slack)  # type: ignore[arg-type]
    await settle(warm)

    assert nautobot.count("POST", RUN_PATH) == 2
    assert (await warm.ledger.get(kept.request_id)).state.value == "done"
    assert "Submitted" in str(slack.calls[-1]) or any("Submitted" in str(c) for c in slack.calls)


async def test_only_the_requester_can_retry(warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack):
    nautobot.on("POST", RUN_PATH, httpx.ConnectError("[Errno 111] Connection refused"))
    await submit(warm, ack, slack, submitted_view(GOOD))
    [kept] = await unfinished(warm.ledger)

    async def noop(**_: Any) -> None:
        pass

    body = {"view": {"id": VIEW_ID}, "actions": [{"value": kept.request_id}], "user": {"id": "U0SOMEONEELSE"}}
    await warm.retry(noop, body, slack)  # type: ignore[arg-type]

    assert nautobot.count("POST", RUN_PATH) == 1
    assert (await warm.ledger.get(kept.request_id)).state.value == "unsent"


async def test_a_modal_closed_before_a_slow_nautobot_answered_does_not_keep_the_run_from_being_announced(
    warm: Listeners, nautobot: FakeNautobot, ack: FakeAck, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submission_module, "SUBMIT_WAIT", 0.05)

    async def slow(request: httpx.Request) -> httpx.Response:
        slack.closed_views.add(VIEW_ID)  # the person opened another form meanwhile
        await asyncio.sleep(0.3)
        return ok(RUN_QUEUED, 201)

    nautobot.on("POST", RUN_PATH, slow)

    await submit(warm, ack, slack, submitted_view(GOOD))
    await settle(warm)

    assert slack.calls_to("views_update")  # tried, and refused
    assert len([call for call in slack.calls_to("chat_postMessage") if "thread_ts" not in call]) == 1
