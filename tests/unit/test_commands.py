"""Commands as configuration: each slash command runs its own Job under its own rules, and one that is
confirmed runs only from its summary's Confirm."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.access import Access, AccessPolicy, Actor, SlackGroups
from bot.app import build, wire
from bot.ledger import AuditOutcome, Ledger
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.metrics import Metrics
from bot.models import ModalContext
from bot.nautobot import FormCache
from bot.settings import DEFAULT_COMMANDS, CommandBinding, Settings, SettingsError, load_settings
from bot.slack import messages
from bot.slack import modal as forms
from bot.slack.pacing import ChannelPacer, WorkspacePacer
from testbed.fake_nautobot import JOB_ID, JOB_NAME, RUN_PATH, RUN_QUEUED, FakeNautobot, ok
from testbed.fake_slack import DM_CHANNEL, OPENED_VIEW_ID, FakeAck, FakeSlack, view_dict, view_text
from tests.security.listener_harness import UNPACED_BURST
from tests.support.audit_trail import audit_trail
from tests.unit.test_listeners import CHANNEL, GOOD, USER, VIEW_ID, settle, submit, submitted_view

pytestmark = pytest.mark.usefixtures("no_retry_delay")

REMOVE = "/meraki-remove-user"
OTHER = "U0OTHER01"
TEAM = "T0TEAM0001"
BASE_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1-test",
    "SLACK_APP_TOKEN": "xapp-1-test",
    "NAUTOBOT_URL": "https://nautobot.example.com",
    "NAUTOBOT_TOKEN": "t" * 40,
}


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in {**BASE_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    return load_settings(Settings, _env_file=None)


# -- the COMMANDS setting ------------------------------------------------------------------------


def test_by_default_three_commands_run_the_three_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings(monkeypatch)

    assert loaded.commands == DEFAULT_COMMANDS
    assert loaded.main_command == "/meraki-add-user" and loaded.main_job == "Create Meraki User"
    assert loaded.commands[REMOVE].confirm and not loaded.commands[REMOVE].run_from_text
    assert loaded.commands["/meraki-find-user"].run_from_text


def test_a_command_for_another_job_is_configuration_only(monkeypatch: pytest.MonkeyPatch) -> None:
    bound = {"/vlan-add": {"job": "Add VLAN"}, "/meraki-add-user": {"job": "Create Meraki User"}}

    loaded = settings(monkeypatch, COMMANDS=json.dumps(bound))

    assert list(loaded.commands) == ["/vlan-add", "/meraki-add-user"]  # the order given: the first is the main one
    assert loaded.commands["/vlan-add"] == CommandBinding(job="Add VLAN", subcommand="vlan-add")
    assert loaded.main_job == "Add VLAN"


@pytest.mark.parametrize(
    ("commands", "problem"),
    [
        ("{", "COMMANDS: is not valid JSON"),
        ("{}", "binds no command"),
        ('{"meraki-add-user": {"job": "A"}}', "is not a slash command"),
        ('{"/a": {"job": "A"}, "/b": {"job": "A"}}', "/a and /b both name the Job 'A'"),
        ('{"/a": {"job": "A", "subcommand": "x"}, "/b": {"job": "B", "subcommand": "x"}}', "both name the subcommand"),
        ('{"/a": {"job": "A", "confirm": true, "run_from_text": true}}', "exclude each other"),
        ('{"/a": {"job": "A", "confrim": true}}', "confrim"),
        ('{"/a": {}}', "job"),
    ],
)
def test_a_broken_commands_setting_stops_the_start_and_says_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, commands: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(monkeypatch, COMMANDS=commands)

    assert problem in str(caught.value)
    assert "COMMANDS" in str(caught.value)


@pytest.mark.parametrize("replaced", ["SLASH_COMMAND", "NAUTOBOT_JOB_NAME", "NAUTOBOT_CHATOPS_SUBCOMMAND"])
def test_the_settings_of_the_single_command_stop_the_start_and_name_what_replaces_them(
    monkeypatch: pytest.MonkeyPatch, replaced: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(monkeypatch, **{replaced: "x"})

    assert f"{replaced}: is replaced by COMMANDS" in str(caught.value)


def test_a_rule_naming_a_command_nobody_bound_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = {"allow": [{"users": ["*"], "channels": ["*"], "commands": ["/meraki-remove-usr"]}]}

    with pytest.raises(SettingsError) as caught:
        settings(monkeypatch, ACCESS_POLICY=json.dumps(policy))

    assert "allow[0].commands names /meraki-remove-usr" in str(caught.value)
    assert "did you mean /meraki-remove-user?" in str(caught.value)


# -- access, per command -------------------------------------------------------------------------


def access(policy: dict[str, Any], slash: str, *, main: bool) -> Access:
    rules = AccessPolicy.model_validate(policy)
    return Access(rules, groups=SlackGroups(FakeSlack()), slash_command=slash, main=main, installed_team=TEAM)  # type: ignore[arg-type]


async def test_a_rule_without_commands_covers_only_the_main_command() -> None:
    policy = {"allow": [{"users": [USER], "channels": [CHANNEL]}]}
    actor = Actor(USER, channel_id=CHANNEL, team_id=TEAM)

    assert (await access(policy, "/meraki-add-user", main=True).decide(actor)).allowed
    refused = await access(policy, REMOVE, main=False).decide(actor)

    assert not refused.allowed
    assert "no rule of the bot's access policy (ACCESS_POLICY) covers it" in refused.reason
    assert f'"commands": ["{REMOVE}"]' in refused.remedy


async def test_a_person_may_find_but_not_remove() -> None:
    policy = {
        "allow": [
            {"users": [USER], "channels": [CHANNEL], "commands": ["/meraki-find-user"]},
            {"users": ["U0ADMIN"], "channels": [CHANNEL], "commands": ["*"]},
        ]
    }

    assert (
        await access(policy, "/meraki-find-user", main=False).decide(Actor(USER, channel_id=CHANNEL, team_id=TEAM))
    ).allowed
    assert not (await access(policy, REMOVE, main=False).decide(Actor(USER, channel_id=CHANNEL, team_id=TEAM))).allowed
    assert (await access(policy, REMOVE, main=False).decide(Actor("U0ADMIN", channel_id=CHANNEL, team_id=TEAM))).allowed
    # the wildcard rule covers the main command too; the find-only rule does not
    assert not (
        await access(policy, "/meraki-add-user", main=True).decide(Actor(USER, channel_id=CHANNEL, team_id=TEAM))
    ).allowed


async def test_restrict_applies_to_the_command_it_names_only() -> None:
    policy = {
        "allow": [{"users": [USER], "channels": [CHANNEL], "commands": ["*"]}],
        "restrict": {REMOVE: {"meraki_org_id": {"all": {"users": ["U0ADMIN"]}}}},
    }
    actor = Actor(USER, channel_id=CHANNEL, team_id=TEAM)

    main = await access(policy, "/meraki-add-user", main=True).decide(actor)
    named = await access(policy, REMOVE, main=False).decide(actor)

    assert main.allowed and not main.denied_choices
    assert named.denied_choices == {"meraki_org_id": frozenset({"all"})}


# -- a confirmed command -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def listening(
    nautobot: FakeNautobot, slack: FakeSlack, tmp_path: Path, slash: str, policy: dict[str, Any], **how: Any
) -> AsyncIterator[Listeners]:
    """The fake Nautobot's Job bound to ``slash`` (``how``: the binding's options), the thread unpaced."""
    client = nautobot.client()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    cache = FormCache(client, JOB_NAME)
    main = slash == "/meraki-add-user"
    guard = Access(
        AccessPolicy.model_validate(policy),
        groups=SlackGroups(slack),  # type: ignore[arg-type]
        slash_command=slash,
        main=main,
        installed_team="T0TEAM0001",
    )
    listeners = wire(
        slack=slack,  # type: ignore[arg-type]
        nautobot=client,
        ledger=ledger,
        commands=[SlashCommand(slash, cache, guard, binding=CommandBinding(job=JOB_NAME, **how))],
        follow_timeout=60.0,
        pacer=ChannelPacer(0),
    )
    listeners.runs.threads.update_pacer = WorkspacePacer(burst=UNPACED_BURST)
    await cache.refresh()
    try:
        yield listeners
    finally:
        await client.aclose()
        await ledger.close()


@pytest.fixture
async def confirming(nautobot: FakeNautobot, slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Listeners]:
    """The Job of the fake Nautobot bound to a command that asks for confirmation."""
    policy = {"allow": [{"users": [USER], "channels": [CHANNEL], "commands": [REMOVE]}]}
    async with listening(nautobot, slack, tmp_path, REMOVE, policy, confirm=True) as listeners:
        yield listeners


@pytest.fixture
def nautobot() -> FakeNautobot:
    return FakeNautobot().with_quick_run()


@pytest.fixture
def slack() -> FakeSlack:
    return FakeSlack()


def summary_of(ack: FakeAck) -> dict[str, Any]:
    [answer] = ack.calls
    assert answer["response_action"] == "update"
    return view_dict(answer["view"])


def confirmed(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as Slack sends it back when Confirm is pressed: no inputs, its metadata."""
    return {**summary, "id": VIEW_ID, "state": {"values": {}}}


def metadata(context: ModalContext) -> str:
    return context.model_copy(update={"command": REMOVE}).to_metadata()


async def test_the_form_of_a_confirmed_command_becomes_a_summary_and_nothing_runs(
    confirming: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    ack = FakeAck()
    form = submitted_view(
        {**GOOD, "user_name": "<!channel> Bob"},
        metadata=metadata(ModalContext(channel_id=CHANNEL, user_id=USER, job_id=JOB_ID)),
    )

    await submit(confirming, ack, slack, form)

    summary = summary_of(ack)
    assert nautobot.count("POST", RUN_PATH) == 0
    assert summary["callback_id"] == forms.CALLBACK_ID
    assert summary["submit"]["text"] == "Confirm" and summary["close"]["text"] == "Cancel"
    text = view_text(summary)
    assert "*User Email*\nbob@example.com" in text and "*Organization Access*\nRead Only" in text  # choice labels
    assert "&lt;!channel&gt; Bob" in text and "<!channel>" not in text  # what people typed is escaped
    assert "*for real*" in text  # the fake Job's dry run is off in GOOD
    assert await confirming.ledger.get(VIEW_ID) is None  # not even recorded yet


async def test_confirm_runs_the_job_once_with_the_values_the_summary_showed(
    confirming: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    ack = FakeAck()
    context = ModalContext(channel_id=CHANNEL, user_id=USER, job_id=JOB_ID)
    await submit(confirming, ack, slack, submitted_view(GOOD, metadata=metadata(context)))
    summary = confirmed(summary_of(ack))

    confirm_ack = FakeAck()
    await submit(confirming, confirm_ack, slack, summary)
    await submit(confirming, FakeAck(), slack, summary)  # Slack delivered Confirm twice: one run
    await settle(confirming)

    assert confirm_ack.calls == [{}]
    [run] = nautobot.run_bodies()
    assert {name: run["data"][name] for name in GOOD} == GOOD
    assert slack.calls_to("chat_postMessage")[0]["channel"] == CHANNEL


async def test_confirm_checks_access_again(confirming: Listeners, nautobot: FakeNautobot, slack: FakeSlack) -> None:
    ack = FakeAck()
    context = ModalContext(channel_id=CHANNEL, user_id=USER, job_id=JOB_ID)
    await submit(confirming, ack, slack, submitted_view(GOOD, metadata=metadata(context)))
    summary = confirmed(summary_of(ack))
    confirming.main.access.policy = AccessPolicy.model_validate({"allow": []})  # access taken away meanwhile

    refused = FakeAck()
    await submit(confirming, refused, slack, summary)

    assert nautobot.count("POST", RUN_PATH) == 0
    assert "Not allowed" in json.dumps(refused.calls[0]["view"].to_dict())


async def test_nautobot_field_errors_after_confirm_bring_back_the_form_with_the_values(
    confirming: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    refused = "Invalid value. Must match regex: ^[a-z0-9.]+@example\\.com$"
    nautobot.on("POST", RUN_PATH, ok({"errors": {"user_email": [refused]}}, 400), ok(RUN_QUEUED, 201))
    ack = FakeAck()
    context = ModalContext(channel_id=CHANNEL, user_id=USER, job_id=JOB_ID)
    await submit(confirming, ack, slack, submitted_view(GOOD, metadata=metadata(context)))

    back = FakeAck()
    await submit(confirming, back, slack, confirmed(summary_of(ack)))

    form = summary_of(back)  # the form again: the summary has no field to show an error under
    assert form["submit"]["text"] == "Run"
    assert f"User Email: {refused}" in view_text(form)  # the error, named by its field, on top
    assert ModalContext.from_metadata(form["private_metadata"]).values is None  # a form again, not a summary
    assert any(
        block.get("element", {}).get("initial_value") == "bob@example.com" for block in form["blocks"]
    )  # nothing to retype


async def test_a_form_of_a_command_no_longer_offered_is_refused(
    confirming: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    ack = FakeAck()
    context = ModalContext(channel_id=CHANNEL, user_id=USER, job_id=JOB_ID, command="/gone")

    await submit(confirming, ack, slack, submitted_view(GOOD, metadata=context.to_metadata()))

    assert nautobot.count("POST", RUN_PATH) == 0
    assert "no longer offers" in json.dumps(ack.calls[0]["view"].to_dict())


def test_values_that_do_not_fit_the_metadata_are_never_cut() -> None:
    context = ModalContext(channel_id=CHANNEL, user_id=USER, job_id=JOB_ID, values={"text": "x" * 3000})

    with pytest.raises(ValueError, match="values to confirm"):
        context.to_metadata()


# -- "… for real" on a dry run -------------------------------------------------------------------


@pytest.fixture
async def adding(nautobot: FakeNautobot, slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Listeners]:
    """The main command, allowed for the test's user and another."""
    policy = {"allow": [{"users": [USER, OTHER], "channels": [CHANNEL]}]}
    async with listening(nautobot, slack, tmp_path, "/meraki-add-user", policy) as listeners:
        yield listeners


def click(request_id: str, user: str = USER) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "bob", "team_id": "T0TEAM0001"},
        "team": {"id": "T0TEAM0001"},
        "container": {"type": "message", "channel_id": CHANNEL, "message_ts": "1.2"},
        "actions": [{"action_id": messages.FOR_REAL_ACTION_ID, "value": request_id}],
    }


def buttons_of(call: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = [block if isinstance(block, dict) else block.to_dict() for block in call["blocks"]]
    return [element for block in blocks if block["type"] == "actions" for element in block["elements"]]


async def submitted_id(listeners: Listeners) -> str:
    """The request id of the last submission Nautobot took, from the audit trail."""
    trail = await audit_trail(listeners.ledger)
    return next(
        entry.request_id for entry in reversed(trail) if entry.outcome is AuditOutcome.SUBMITTED and entry.request_id
    )


async def test_a_dry_run_that_succeeded_offers_its_requester_to_run_it_for_real_once(
    adding: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    await submit(adding, FakeAck(), slack, submitted_view({**GOOD, "dryrun": True}))
    await settle(adding)
    final = slack.calls_to("chat_update")[-1]
    [button] = buttons_of(final)
    assert button["text"]["text"] == "Create for real" and button["confirm"]["confirm"]["text"] == "Create for real"

    await adding.for_real(FakeAck(), click(button["value"], user=OTHER), slack)  # type: ignore[arg-type]
    await adding.for_real(FakeAck(), click(button["value"]), slack)  # type: ignore[arg-type]
    await adding.for_real(FakeAck(), click(button["value"]), slack)  # type: ignore[arg-type]
    await settle(adding)

    first, second = nautobot.run_bodies()
    assert first["data"]["dryrun"] is True and second["data"]["dryrun"] is False
    assert {name: second["data"][name] for name in GOOD} == GOOD  # the same inputs
    assert await submitted_id(adding) != button["value"]  # a request of its own
    told = [call["text"] for call in slack.calls_to("chat_postEphemeral")]
    assert len(told) == 2
    assert "who asked for this dry run" in told[0] and "already run for real" in told[1]
    parents = [call for call in slack.calls_to("chat_postMessage") if "thread_ts" not in call]
    assert len(parents) == 2  # the run for real has its own message in the channel


async def test_a_run_that_was_not_a_dry_run_cannot_be_run_for_real(
    adding: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    await submit(adding, FakeAck(), slack, submitted_view({**GOOD, "dryrun": False}))
    await settle(adding)
    assert not buttons_of(slack.calls_to("chat_update")[-1])

    await adding.for_real(FakeAck(), click(await submitted_id(adding)), slack)  # type: ignore[arg-type]

    assert len(nautobot.run_bodies()) == 1
    assert "not a finished dry run" in slack.calls_to("chat_postEphemeral")[0]["text"]


async def test_run_for_real_checks_access_again(adding: Listeners, nautobot: FakeNautobot, slack: FakeSlack) -> None:
    await submit(adding, FakeAck(), slack, submitted_view({**GOOD, "dryrun": True}))
    await settle(adding)
    [button] = buttons_of(slack.calls_to("chat_update")[-1])
    adding.main.access.policy = AccessPolicy.model_validate({"allow": [{"users": [OTHER], "channels": [CHANNEL]}]})

    await adding.for_real(FakeAck(), click(button["value"]), slack)  # type: ignore[arg-type]

    assert len(nautobot.run_bodies()) == 1
    assert "may not use /meraki-add-user" in slack.calls_to("chat_postEphemeral")[0]["text"]


# -- a command that runs from its text -----------------------------------------------------------

FILLING = 'bob@example.com "Bob Smith" 111111 read-only'
"""Every required field of the fake Job, as typed after the command."""


@pytest.fixture
async def from_text(nautobot: FakeNautobot, slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Listeners]:
    policy = {"allow": [{"users": [USER], "channels": [CHANNEL], "commands": ["*"]}]}
    async with listening(nautobot, slack, tmp_path, "/find", policy, run_from_text=True) as listeners:
        yield listeners


def typed(text: str, trigger: str = "1.2.trigger") -> dict[str, Any]:
    return {
        "command": "/find",
        "text": text,
        "user_id": USER,
        "user_name": "bob",
        "channel_id": CHANNEL,
        "team_id": "T0TEAM0001",
        "trigger_id": trigger,
    }


async def test_text_that_fills_every_required_field_runs_at_once_and_once(
    from_text: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    ack = FakeAck()
    await from_text.slash_command(ack, typed(FILLING), slack)  # type: ignore[arg-type]
    await from_text.slash_command(FakeAck(), typed(FILLING), slack)  # type: ignore[arg-type] # Slack delivered it twice
    await settle(from_text)

    assert ack.calls == [{}]
    assert not slack.calls_to("views_open")  # no form
    [run] = nautobot.run_bodies()
    assert {name: run["data"][name] for name in GOOD} == GOOD
    assert run["data"]["dryrun"] is False  # the form's default, as the form would have sent it
    assert slack.calls_to("chat_postMessage")[0]["channel"] == CHANNEL


@pytest.mark.parametrize(
    "text",
    ["", "bob@example.com read-only", f"{FILLING} whatever", 'nobody@elsewhere "Bob" 111111 read-only'],
    ids=["no text", "a required field left", "a word it cannot place", "an email the Job refuses"],
)
async def test_anything_less_opens_the_form_prefilled_instead(
    from_text: Listeners, nautobot: FakeNautobot, slack: FakeSlack, text: str
) -> None:
    await from_text.slash_command(FakeAck(), typed(text), slack)  # type: ignore[arg-type]

    assert nautobot.count("POST", RUN_PATH) == 0
    [opened] = slack.calls_to("views_open")
    assert ModalContext.from_metadata(view_dict(opened["view"])["private_metadata"]).command_text == text


async def test_a_person_without_access_gets_the_refusal_not_a_run(
    from_text: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    await from_text.slash_command(FakeAck(), {**typed(FILLING), "user_id": "U0STRANGER"}, slack)  # type: ignore[arg-type]

    assert nautobot.count("POST", RUN_PATH) == 0
    assert "Not allowed" in json.dumps(view_dict(slack.calls_to("views_open")[0]["view"]))


async def test_nautobot_refusing_a_run_from_text_is_told_to_the_person_alone(
    from_text: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("POST", RUN_PATH, ok({"detail": "You do not have permission to run this job."}, 403))

    await from_text.slash_command(FakeAck(), typed(FILLING), slack)  # type: ignore[arg-type]

    [told] = slack.calls_to("chat_postEphemeral")
    assert told["user"] == USER and "Nautobot did not run it" in told["text"]
    assert not [call for call in slack.calls_to("chat_postMessage") if call["channel"] == CHANNEL]


async def test_each_command_is_built_with_its_own_grants_audit_and_form(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded = settings(monkeypatch, NAUTOBOT_CHATOPS="true")
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    bolt_logger = logging.getLogger("slack_bolt.AsyncApp")
    level = bolt_logger.level
    built = build(loaded, ledger, Metrics())
    bolt_logger.setLevel(level)  # Bolt sets its logger's level when built; other tests read that logger
    try:
        by_slash = {command.slash: command for command in built.commands}
        for slash, binding in DEFAULT_COMMANDS.items():
            command = by_slash[slash]
            assert command.forms.job_name == binding.job
            assert command.access.grants is not None and command.access.grants.subcommand == binding.subcommand
            assert command.audit is not None and command.audit.subcommand == binding.subcommand
            assert command.access.main is (slash == "/meraki-add-user")
        assert set(built.listeners.commands) == set(DEFAULT_COMMANDS)
    finally:
        await built.aclose()
        await ledger.close()


async def test_with_the_form_not_yet_read_the_loading_view_says_the_run_goes_ahead(
    from_text: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    from_text.main.forms.form = None  # the bot just started: the command must not wait for Nautobot

    await from_text.slash_command(FakeAck(), typed(FILLING), slack)  # type: ignore[arg-type]
    await settle(from_text)

    [opened] = slack.calls_to("views_open")
    [updated] = slack.calls_to("views_update")
    assert "Loading" in json.dumps(view_dict(opened["view"]))
    assert "it runs now" in view_text(view_dict(updated["view"]))
    assert len(nautobot.run_bodies()) == 1


async def test_a_loading_view_closed_before_the_form_was_read_still_runs_the_text(
    from_text: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    from_text.main.forms.form = None
    slack.closed_views.add(OPENED_VIEW_ID)  # closed, or replaced by the form of a second command

    await from_text.slash_command(FakeAck(), typed(FILLING), slack)  # type: ignore[arg-type]
    await settle(from_text)

    assert len(nautobot.run_bodies()) == 1  # the run goes ahead, and shows in the channel
    assert slack.calls_to("chat_postMessage")[0]["channel"] == CHANNEL


async def test_a_loading_view_closed_before_its_form_could_be_shown_is_told(
    from_text: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    from_text.main.forms.form = None
    slack.closed_views.add(OPENED_VIEW_ID)

    await from_text.slash_command(FakeAck(), typed("bob@example.com"), slack)  # type: ignore[arg-type]

    assert nautobot.count("POST", RUN_PATH) == 0
    [told] = slack.calls_to("chat_postEphemeral")
    assert told["user"] == USER and "was closed before its form could be shown" in told["text"]


async def test_a_refusal_in_a_channel_the_bot_is_not_in_goes_to_a_direct_message(
    from_text: Listeners, nautobot: FakeNautobot, slack: FakeSlack
) -> None:
    nautobot.on("POST", RUN_PATH, ok({"detail": "You do not have permission to run this job."}, 403))
    slack.not_in = frozenset({CHANNEL})

    await from_text.slash_command(FakeAck(), typed(FILLING), slack)  # type: ignore[arg-type]

    assert [call["channel"] for call in slack.calls_to("chat_postEphemeral")] == [CHANNEL]  # refused there
    [direct] = slack.calls_to("chat_postMessage")
    assert direct["channel"] == DM_CHANNEL and "Nautobot did not run it" in direct["text"]
