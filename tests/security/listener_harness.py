"""The bot's real listeners in this process, talking over HTTP to the strict Slack stand-in and to the
Nautobot fake, so hundreds of hostile submissions run in seconds.

Payloads reach the listeners the way Slack delivers them: as JSON, decoded (a lone surrogate arrives
as the escape ``\\ud800`` and is decoded into the string as such).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Access, AccessPolicy, SlackGroups
from bot.app import wire
from bot.ledger import Ledger
from bot.listeners import Listeners
from bot.listeners.parts import SlashCommand
from bot.nautobot import FormCache
from bot.settings import CommandBinding
from bot.slack import modal as forms
from bot.slack.pacing import ChannelPacer, WorkspacePacer
from testbed.fake_nautobot import (
    ACME_ORG,
    JOB_NAME,
    LOGS_PATH,
    RUN_PATH,
    RUN_QUEUED,
    FakeNautobot,
    log_entry,
    ok,
)
from testbed.slack_standin import Call, SlackStandIn, validate_view
from tests.security.slack_payloads import control_sequences, injection_problems, rendered_texts, unverbatim

USER, CHANNEL = "U0SEC0001", "C0SEC0001"
POLICY = {"allow": [{"users": [USER], "channels": [CHANNEL]}]}
GOOD: dict[str, Any] = {
    "user_email": "bob@example.com",
    "user_name": "Bob Smith",
    "meraki_org_id": ACME_ORG,
    "meraki_access_level": "read-only",
}
TEXT_FIELDS = ("user_email", "user_name", "meraki_network")
CHOICE_FIELDS = ("meraki_org_id", "meraki_access_level", "meraki_network_access")


def workspace(standin: SlackStandIn) -> SlackStandIn:
    standin.add_user(USER, name="sec", real_name="Security Tester")
    standin.add_channel(CHANNEL, name="netops-sec", members={USER}, bot_member=True)
    return standin


def as_slack_sends_it(payload: dict[str, Any]) -> dict[str, Any]:
    """Through JSON and back, as Slack's payloads arrive (``ensure_ascii`` escapes lone surrogates)."""
    return json.loads(json.dumps(payload, ensure_ascii=True))


class Ack:
    """Bolt's ``ack``: keeps every call's keyword arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


# -- what a person enters ------------------------------------------------------------------------


def option(view: dict[str, Any], block_id: str, value: str) -> dict[str, Any]:
    """The option exactly as the modal offered it."""
    return next(o for o in element(view, block_id)["options"] if o["value"] == value)


def tampered_option(value: str) -> dict[str, Any]:
    """An option the modal never offered: only a hand-made payload carries it."""
    return {"text": {"type": "plain_text", "text": "Read Only", "emoji": True}, "value": value}


def element(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(block["element"] for block in view["blocks"] if block.get("block_id") == block_id)


def state_values(view: dict[str, Any], entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``view.state.values`` from ``{block_id: action}``; the good values fill the rest of the fields the view has."""
    present = {block.get("block_id") for block in view["blocks"] if block.get("type") == "input"}
    defaults: dict[str, Any] = {
        "user_email": lambda: {"value": GOOD["user_email"]},
        "user_name": lambda: {"value": GOOD["user_name"]},
        "meraki_org_id": lambda: {"selected_option": option(view, "meraki_org_id", GOOD["meraki_org_id"])},
        "meraki_access_level": lambda: {
            "selected_option": option(view, "meraki_access_level", GOOD["meraki_access_level"])
        },
        "meraki_network": lambda: {"value": None},
        "meraki_network_access": lambda: {"selected_option": None},
        "dryrun": lambda: {"selected_options": []},
    }
    actions = {block_id: default() for block_id, default in defaults.items() if block_id in present} | entries
    return {
        block_id: {forms.ACTION_ID: {"type": element(view, block_id)["type"], **action}}
        for block_id, action in actions.items()
    }


def typed(text: str | None) -> dict[str, Any]:
    return {"value": text}


# -- one case's outcome --------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one command or submission led to."""

    acks: list[dict[str, Any]]
    calls: list[Call]
    runs: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)

    @property
    def ack(self) -> dict[str, Any]:
        return self.acks[0] if self.acks else {}

    @property
    def errors(self) -> dict[str, str]:
        return self.ack.get("errors") or {} if self.ack.get("response_action") == "errors" else {}

    @property
    def ran(self) -> dict[str, Any] | None:
        """The data Nautobot was asked to run with, if it was."""
        return self.runs[-1]["data"] if self.runs else None

    def posted(self, method: str) -> list[dict[str, Any]]:
        return [call.args for call in self.calls if call.method == method]


class Harness:
    def __init__(self, standin: SlackStandIn, nautobot: FakeNautobot, listeners: Listeners, client: AsyncWebClient):
        self.standin = standin
        self.nautobot = nautobot
        self.listeners = listeners
        self.client = client
        self.allowed: set[str] = set()
        self._view_ids = itertools.count(1)

    # -- acting ----------------------------------------------------------------------------------

    async def command(
        self, text: str, slash: str = "/meraki-add-user", user: str = USER
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """Type ``/meraki-add-user <text>`` (or ``slash``); the form the stand-in then shows, if any."""
        body = as_slack_sends_it(
            {
                "team_id": "T0STANDIN",
                "channel_id": CHANNEL,
                "user_id": user,
                "user_name": "sec",
                "command": slash,
                "text": text,
                "trigger_id": self.standin.new_trigger(user),
            }
        )
        outcome = await self._observe(lambda ack: self.listeners.slash_command(ack, body, self.client))
        view = self.standin.current_view(user)
        return outcome, view if view and view.get("callback_id") == forms.CALLBACK_ID else None

    async def open_form(self) -> dict[str, Any]:
        outcome, view = await self.command("")
        assert view is not None and not outcome.problems, outcome.problems
        return view

    async def submit(self, view: dict[str, Any], entries: dict[str, dict[str, Any]]) -> Outcome:
        """Press Run with ``entries`` over the good values; each submission gets a view id of its own."""
        submitted = {
            **view,
            "id": f"V0SEC{next(self._view_ids):06d}",
            "state": {"values": state_values(view, entries)},
        }
        body = as_slack_sends_it(
            {
                "type": "view_submission",
                "team": {"id": "T0STANDIN", "domain": "standin"},
                "user": {"id": USER, "username": "sec", "team_id": "T0STANDIN"},
                "api_app_id": "A0STANDIN",
                "view": submitted,
            }
        )
        outcome = await self._observe(lambda ack: self.listeners.submission(ack, body, self.client, body["view"]))
        outcome.problems += self._ack_problems(submitted, outcome)
        return outcome

    async def _observe(self, act) -> Outcome:
        calls_before, runs_before = len(self.standin.calls), len(self.nautobot.run_bodies())
        ack = Ack()
        problems = []
        try:
            await act(ack)
            await self.settle()
        except Exception as exc:  # the case fails, the others go on
            problems.append(f"raised {type(exc).__name__}: {str(exc)[:300]}")
        outcome = Outcome(ack.calls, self.standin.calls[calls_before:], self.nautobot.run_bodies()[runs_before:])
        if len(ack.calls) != 1:
            problems.append(f"acknowledged {len(ack.calls)} times")
        outcome.problems = problems + self._call_problems(outcome.calls)
        return outcome

    async def settle(self) -> None:
        """Wait for every follow task the submission started."""
        while self.listeners.runs.tasks:
            await asyncio.gather(*list(self.listeners.runs.tasks), return_exceptions=True)

    # -- judging ---------------------------------------------------------------------------------

    def _call_problems(self, calls: list[Call]) -> list[str]:
        problems = []
        for call in calls:
            if not call.ok:
                messages = (call.response or {}).get("response_metadata", {}).get("messages", [])
                problems.append(f"Slack refused {call.method}: {call.error} {messages[:3]}")
            problems += self.rendering_problems(call.method, call.args)
        return problems

    def rendering_problems(self, method: str, args: dict[str, Any]) -> list[str]:
        problems = injection_problems(rendered_texts(method, args), self.allowed)
        loose = unverbatim(args.get("blocks")) + unverbatim(args.get("view"))
        if loose:
            problems.append(f"mrkdwn without verbatim: {loose[:2]!r}")
        return [f"{method}: {problem}" for problem in problems]

    def _ack_problems(self, view: dict[str, Any], outcome: Outcome) -> list[str]:
        """What Slack would refuse in a view_submission ack ("We had some trouble connecting")."""
        ack = outcome.ack
        action = ack.get("response_action")
        if not ack:
            return []
        if action == "errors":
            inputs = {block["block_id"] for block in view["blocks"] if block.get("type") == "input"}
            errors = ack.get("errors")
            if not isinstance(errors, dict) or not errors or not set(errors) <= inputs:
                return [f"errors ack names no input of the view: {errors!r}"]
            return [f"an empty error message on {key}" for key, text in errors.items() if not str(text).strip()]
        if action == "update":
            shown = ack["view"].to_dict() if hasattr(ack["view"], "to_dict") else ack["view"]
            ack["view"] = shown
            return validate_view(shown) + self.rendering_problems("views.update", {"view": shown})
        return [f"unexpected ack {ack!r}"]

    async def learn_allowed_sequences(self) -> None:
        """The ``<...>`` sequences the bot writes for an ordinary request: its requester, its links."""
        view = await self.open_form()
        outcome = await self.submit(view, {})
        texts = [text for call in outcome.calls for text in rendered_texts(call.method, call.args)]
        self.allowed = control_sequences(texts)
        if self.listeners.home is not None:  # the Home of its requester: where it may be used, its channel's link
            home = await self.listeners.home.draw(USER)
            self.allowed |= control_sequences(rendered_texts("views.publish", {"view": home}))
        assert f"<@{USER}>" in self.allowed, self.allowed
        problems = self._call_problems(outcome.calls)
        assert not problems, problems
        assert outcome.ran is not None and {key: outcome.ran.get(key) for key in GOOD} == GOOD, outcome.ran


# -- Nautobot echoing what it was given ----------------------------------------------------------


def echoing_nautobot() -> FakeNautobot:
    """Runs queue, finish at once, and log every input back, as the real Job's log lines do."""
    nautobot = FakeNautobot().with_quick_run()

    def logs(_request: httpx.Request):
        data = nautobot.run_bodies()[-1]["data"]
        return ok(
            [log_entry(0.1 * n, "info", key, f"Got {key}: {value}") for n, (key, value) in enumerate(data.items())]
        )

    return nautobot.on("GET", LOGS_PATH, logs)


def refuse_with_echo(nautobot: FakeNautobot) -> None:
    """Every run is refused (400) with a message that repeats the inputs, as Meraki's errors do."""

    def refuse(request: httpx.Request) -> httpx.Response:
        data = json.loads(request.content)["data"]
        echoed = "; ".join(f"{key}={value}" for key, value in data.items())
        return httpx.Response(400, json={"errors": {"non_field_errors": [f"Meraki refused: {echoed}"]}})

    nautobot.on("POST", RUN_PATH, refuse)


def accept_runs(nautobot: FakeNautobot) -> None:
    nautobot.on("POST", RUN_PATH, ok(RUN_QUEUED, 201))


UNPACED_BURST = 1_000_000
"""Parent-message edits at once: a burst no test comes near (``wire`` takes no pacer for them)."""


@asynccontextmanager
async def harness(
    standin: SlackStandIn,
    tmp_path: Path,
    *,
    nautobot: FakeNautobot | None = None,
    commands: Mapping[str, CommandBinding | None] | None = None,
    policy: dict[str, Any] = POLICY,
    **listener_options: Any,
) -> AsyncIterator[Harness]:
    """Listeners wired as ``bot.app.build`` wires them, with no pacing and no waiting between polls.

    ``commands``: each slash command and what it runs (the first is the main one); by default the one
    ``/meraki-add-user`` running the fake's Create Meraki User.
    """

    async def no_sleep(_seconds: float) -> None:
        await asyncio.sleep(0)

    nautobot = nautobot or echoing_nautobot()
    client = AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)
    nautobot_client = nautobot.client()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    rules = AccessPolicy.model_validate(policy)
    bound: list[SlashCommand] = []
    for slash, binding in (commands or {"/meraki-add-user": None}).items():
        cache = FormCache(nautobot_client, binding.job if binding else JOB_NAME)
        access = Access(
            rules,
            groups=SlackGroups(client),
            slash_command=slash,
            main=not bound,
            installed_team="T0STANDIN",
        )
        bound.append(SlashCommand(slash, cache, access, binding=binding))
    listeners = wire(
        slack=client,
        nautobot=nautobot_client,
        ledger=ledger,
        commands=bound,
        follow_timeout=60.0,
        pacer=ChannelPacer(0),
        sleep=no_sleep,
        **listener_options,
    )
    listeners.runs.threads.update_pacer = WorkspacePacer(burst=UNPACED_BURST)
    for command in bound:
        await command.forms.refresh()
    try:
        found = Harness(standin, nautobot, listeners, client)
        await found.learn_allowed_sequences()
        yield found
    finally:
        await listeners.runs.stop()
        await nautobot_client.aclose()
        await ledger.close()
