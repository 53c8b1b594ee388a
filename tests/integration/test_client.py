"""The bot's Nautobot client against the real Nautobot, where it relies on more than one endpoint's shape."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.models import RunStatus
from bot.nautobot import NautobotClient
from testbed.nautobot_stack import BOT_TOKEN

pytestmark = pytest.mark.nautobot

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_many_results_are_read_in_one_request(stack, run_job):
    first = run_job(dryrun=True, user_email="batch.one@example.com").result
    second = run_job(dryrun=True, user_email="batch.two@example.com").result

    async with NautobotClient(stack.url, SecretStr(BOT_TOKEN)) as client:
        found = await client.job_results([first["id"], second["id"], UNKNOWN])

    assert set(found) == {first["id"], second["id"]}
    assert {run.status for run in found.values()} == {RunStatus.SUCCEEDED}
