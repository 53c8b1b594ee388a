"""How often one person may use a command: the real bot process with its default limit, the Slack stand-in and
the real Nautobot. A flood of commands neither runs Jobs past the limit nor fills the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from testbed.bot_process import BotProcess
from testbed.nautobot_stack import NautobotStack
from testbed.slack_flow import CHANNEL, USER, bot_env, start_connected
from testbed.slack_standin import SlackStandIn
from tests.support.audit_trail import audit_rows, audited

pytestmark = [pytest.mark.security, pytest.mark.e2e, pytest.mark.nautobot]

DEFAULT_LIMIT = 5
"""RATE_LIMIT_COMMANDS' default, which these tests leave unset."""
FIND, ADD = "/meraki-find-user", "/meraki-add-user"
FIND_JOB = "Find Meraki User"
STRANGER = "U0FLOODER"
WINDOW = "3600"
"""RATE_LIMIT_SECONDS here: every command of a test falls in one window, however slow the machine."""


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    from testbed.slack_flow import workspace

    with workspace() as standin:
        standin.add_user(STRANGER, name="mallory", real_name="Mallory Flood")
        standin.add_channel("C0FLOOD", name="flood", members={STRANGER}, bot_member=True)
        yield standin


@pytest.fixture(scope="module")
def limited(slack: SlackStandIn, nautobot: NautobotStack, tmp_path_factory) -> Iterator[BotProcess]:
    env = {key: value for key, value in bot_env(slack, nautobot).items() if key != "RATE_LIMIT_COMMANDS"}
    process = start_connected(
        BotProcess(tmp_path_factory.mktemp("limited-bot"), {**env, "RATE_LIMIT_SECONDS": WINDOW}), slack
    )
    yield process
    process.stop()


def find_runs(nautobot: NautobotStack, query: str) -> list[dict]:
    """Every run of Find Meraki User that Nautobot holds for ``query``."""
    params = {"job_model": nautobot.job_ids[FIND_JOB], "limit": 1000}
    found = nautobot.admin.get("/api/extras/job-results/", params=params).raise_for_status().json()["results"]
    return [run for run in found if (run.get("task_kwargs") or {}).get("query") == query]


def told_to_wait(ack: dict) -> bool:
    text = json.dumps(ack)
    return "Nothing was run" in text and "Try again in" in text


def test_thirty_find_commands_run_at_most_the_limit_in_nautobot(stack, slack, limited):
    query = "flood.find@example.com"
    # The first alone, until its run reaches Nautobot: the form is then known, so each command that goes ahead
    # runs at once (commands typed while a "Loading…" view is open replace it, which is not what is tested here).
    acks = [slack.slash_command(command=FIND, text=query, user_id=USER, channel_id=CHANNEL)]
    slack.wait_for(lambda: find_runs(stack, query) or None, timeout=120)
    acks += [slack.slash_command(command=FIND, text=query, user_id=USER, channel_id=CHANNEL) for _ in range(29)]

    sent = [ack for ack in acks if not told_to_wait(ack)]
    assert len(sent) <= DEFAULT_LIMIT, f"{len(sent)} of 30 commands went ahead"
    # Each command that went ahead sends its run before its parent message; wait for those, then count.
    slack.wait_for(lambda: len(find_runs(stack, query)) >= len(sent) or None, timeout=120)
    assert len(find_runs(stack, query)) <= DEFAULT_LIMIT
    limited_acks = [ack for ack in acks if told_to_wait(ack)]
    assert len(limited_acks) == 30 - len(sent)
    assert FIND in json.dumps(limited_acks[0]) and "per 3600 seconds" in json.dumps(limited_acks[0])
    [row] = audited(limited, user_id=USER, outcome="limited")
    assert row["action"] == "command" and json.loads(row["inputs"]) == {"command_text": query}


def test_a_refused_persons_flood_leaves_one_entry_per_window_and_few_bytes(stack, slack, limited):
    typed = ("<!channel> " * 400)[:4000]
    opened_before = len(slack.calls_to("views.open"))

    acks = [slack.slash_command(command=ADD, text=typed, user_id=STRANGER, channel_id="C0FLOOD") for _ in range(200)]

    assert sum(told_to_wait(ack) for ack in acks) == 200 - DEFAULT_LIMIT
    audited(limited, user_id=STRANGER, outcome="limited")
    rows = [row for row in audit_rows(limited) if row["user_id"] == STRANGER]
    assert [row["outcome"] for row in rows].count("limited") == 1
    assert [row["outcome"] for row in rows].count("denied") == DEFAULT_LIMIT  # the ones within the limit
    stored = sum(len(row["inputs"] or "") + len(row["reason"]) for row in rows)
    assert stored < 10_000, f"{stored} characters stored for {len(rows)} rows"  # 200 rows of 4 KB before
    assert all(len(json.loads(row["inputs"])["command_text"]) <= 500 for row in rows)
    # A refused command opened nothing: only those within the limit showed the refusal's view.
    assert len(slack.calls_to("views.open")) - opened_before == DEFAULT_LIMIT
