"""Killing the bot process, and what must hold once a request has been through it all."""

from __future__ import annotations

import signal

from bot.ledger import Ledger
from bot.models import RunRequest
from testbed.bot_process import BotProcess
from testbed.nautobot_stack import JOB_NAME, NautobotStack
from testbed.seed import ACME
from testbed.slack_flow import CHANNEL, USER, parent_message, thread_text
from testbed.slack_standin import SlackStandIn

ADMIN_POSTS = r"/organizations/\d+/admins"


def kill(process: BotProcess) -> None:
    process.stop(signal.SIGKILL)


def replies(slack: SlackStandIn, ts: str) -> list[dict]:
    return slack.messages(CHANNEL, thread_ts=ts)


def job_runs(nautobot: NautobotStack, email: str) -> list[dict]:
    """Every run of the Job Nautobot holds for ``email``."""
    params = {"job_model": nautobot.job_id, "limit": 1000}
    found = nautobot.admin.get("/api/extras/job-results/", params=params).raise_for_status().json()["results"]
    return [run for run in found if (run.get("task_kwargs") or {}).get("user_email") == email]


def assert_once(nautobot: NautobotStack, slack: SlackStandIn, meraki, before: int, email: str) -> None:
    """One Job run, one admin, one parent message with a final status, the log once in its thread."""
    parent = parent_message(slack, before)
    assert len(job_runs(nautobot, email)) == 1
    assert "succeeded" in parent["text"].lower()
    parents = [m for m in slack.messages(CHANNEL)[before:] if "Create Meraki User" in m.get("text", "")]
    assert len(parents) == 1, parents
    assert [a["email"] for a in meraki.admins(ACME)] == [email]
    assert len(meraki.requests_to("POST", ADMIN_POSTS)) == 1
    log_replies = [r for r in replies(slack, parent["ts"]) if "Created administrator" in str(r.get("blocks"))]
    assert len(log_replies) == 1
    assert "Created administrator" in thread_text(slack, CHANNEL, parent["ts"])


def assert_reported_once(nautobot: NautobotStack, slack: SlackStandIn, meraki, email: str, channel: str = CHANNEL):
    """One Job run, one parent message ending in success, its log once in its thread, one admin."""

    def parents() -> list[dict]:
        return [
            m for m in slack.messages(channel) if email in str(m.get("blocks")) and "Create Meraki User" in m["text"]
        ]

    slack.wait_for(lambda: all("succeeded" in m["text"].lower() for m in parents()) and parents(), timeout=120)
    [parent] = parents()
    logs = [
        r for r in slack.messages(channel, thread_ts=parent["ts"]) if "Created administrator" in str(r.get("blocks"))
    ]
    assert len(logs) == 1
    assert len(job_runs(nautobot, email)) == 1
    assert [a["email"] for a in meraki.admins(ACME)].count(email) == 1


async def record_only(ledger_file, email: str) -> None:
    inputs = {"user_email": email, "user_name": "Jane Doe", "meraki_org_id": ACME, "meraki_access_level": "read-only"}
    async with await Ledger.open(f"sqlite+aiosqlite:///{ledger_file}", owner="bot-1") as ledger:  # the bot that died
        request = RunRequest(
            request_id="V0KILLED:recorded", requester_id=USER, channel_id=CHANNEL, job_name=JOB_NAME, inputs=inputs
        )
        await ledger.record(request)
