"""Every Job variable type a Job author uses, from Slack to the Job: rendered, searched, checked, run.

The Job (testbed/nautobot_test_jobs, synced by the harness as a Git repository of its own) logs
each value it received with its Python type, so what was picked in Slack is seen arriving as what the
variable stands for: an object for an ObjectVar, a dict for a JSONVar, an IP address for an IPAddressVar.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import EVERY_VARIABLE_JOB, NautobotStack
from testbed.slack_flow import (
    CHANNEL,
    USER,
    bot_env,
    open_form,
    option,
    parent_message,
    start_connected,
    submit,
    thread_text,
    workspace,
)
from testbed.slack_standin import SlackStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.nautobot]

WIDGETS = {
    "text": "plain_text_input",
    "notes": "plain_text_input",
    "count": "number_input",
    "flag": "checkboxes",
    "colour": "static_select",
    "colours": "multi_static_select",
    "status": "external_select",
    "statuses": "multi_external_select",
    "address": "plain_text_input",
    "interface": "plain_text_input",
    "network": "plain_text_input",
    "settings": "plain_text_input",
    "dryrun": "checkboxes",
}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with workspace() as standin:
        yield standin


@pytest.fixture
def every_type(stack: NautobotStack, slack: SlackStandIn, tmp_path) -> Iterator[BotProcess]:
    """The bot bound to the Job that declares every variable type."""
    env = {**bot_env(slack, stack), "COMMANDS": json.dumps({"/meraki-add-user": {"job": EVERY_VARIABLE_JOB}})}
    process = BotProcess(tmp_path, env)
    try:
        yield start_connected(process, slack)
    finally:
        process.stop()


def blocks_by_id(view: dict) -> dict[str, dict]:
    return {block["block_id"]: block for block in view["blocks"] if block.get("block_id")}


def values(view: dict, slack: SlackStandIn, **changed: dict) -> dict:
    """A good filling of the form, as Slack sends it; ``changed`` replaces single fields."""
    active = pick(slack, view, "status", "act", "Active")
    planned = pick(slack, view, "statuses", "plan", "Planned")
    filled = {
        "text": {"value": {"value": "hello"}},
        "notes": {"value": {"value": "line one\nline two"}},
        "count": {"value": {"value": "3"}},
        "flag": {"value": {"selected_options": [option(view, "flag", "true")]}},
        "colour": {"value": {"selected_option": option(view, "colour", "green")}},
        "colours": {"value": {"selected_options": [option(view, "colours", "red"), option(view, "colours", "blue")]}},
        "status": {"value": {"selected_option": active}},
        "statuses": {"value": {"selected_options": [active, planned]}},
        "address": {"value": {"value": "192.0.2.10"}},
        "interface": {"value": {"value": "192.0.2.10/24"}},
        "network": {"value": {"value": "192.0.2.0/24"}},
        "settings": {"value": {"value": '{"vlan": 42, "names": ["a", "b"]}'}},
    }
    return {**filled, **changed}


def pick(slack: SlackStandIn, view: dict, block_id: str, typed: str, display: str) -> dict:
    """Type into an ObjectVar's select and take the option Nautobot offered under ``display``."""
    offered = slack.suggest(view["id"], block_id, typed, user_id=USER)
    return next(o for o in offered if o["text"]["text"] == display)


def test_each_type_gets_its_widget_and_a_file_is_refused_with_a_note(every_type, slack):
    view = open_form(slack)
    blocks = blocks_by_id(view)

    assert {name: blocks[name]["element"]["type"] for name in WIDGETS} == WIDGETS
    assert blocks["notes"]["element"]["multiline"] and blocks["settings"]["element"]["multiline"]
    assert blocks["count"]["element"]["min_value"] == "1" and blocks["count"]["element"]["max_value"] == "10"
    assert blocks["attachment"]["type"] == "section"  # a FileVar: said, not shown broken
    assert "can't be set from Slack" in blocks["attachment"]["text"]["text"]


def test_an_object_select_offers_what_nautobot_holds_as_the_person_types(every_type, slack):
    view = open_form(slack)

    everything = [o["text"]["text"] for o in slack.suggest(view["id"], "status", "", user_id=USER)]
    narrowed = [o["text"]["text"] for o in slack.suggest(view["id"], "status", "plan", user_id=USER)]

    assert {"Active", "Planned"} <= set(everything)
    assert narrowed == ["Planned"]


def test_bad_values_come_back_on_their_fields_and_nothing_runs(every_type, slack):
    view = open_form(slack)
    bad = values(
        view,
        slack,
        count={"value": {"value": "11"}},
        address={"value": {"value": "192.0.2.300"}},
        network={"value": {"value": "192.0.2.10/24"}},  # a host address, not a network
        settings={"value": {"value": '{"vlan": 42,'}},
    )
    before = len(slack.messages(CHANNEL))

    ack, _ = submit(slack, view, bad)

    assert ack["response_action"] == "errors"
    assert set(ack["errors"]) == {"count", "address", "network", "settings"}, ack["errors"]
    assert len(slack.messages(CHANNEL)) == before


def test_every_value_reaches_the_job_as_its_type(every_type, slack):
    view = open_form(slack)

    _, before = submit(slack, view, values(view, slack))

    parent = parent_message(slack, before)
    assert "succeeded" in parent["text"].lower(), parent
    log = thread_text(slack, CHANNEL, parent["ts"])
    for line in (
        "text='hello' (str)",
        "count=3 (int)",
        "flag=True (bool)",
        "colour='green' (str)",
        "colours=['red', 'blue'] (list)",
        "status='Active' (Status)",
        "statuses=['Active', 'Planned']",
        "address=IPAddress('192.0.2.10') (IPAddress)",
        "network=IPNetwork('192.0.2.0/24') (IPNetwork)",
        "settings={'vlan': 42, 'names': ['a', 'b']} (dict)",
    ):
        assert line.replace("'", "&#39;") in log or line in log, (line, log)
