"""Polls of many runs that arrive together go to Nautobot as one list request."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.nautobot import NautobotError, ResultReader
from tests.support.fake_nautobot import RESULT_ID, RESULT_PATH, FakeNautobot, job_result, ok

LIST_PATH = "/api/extras/job-results/"
OTHER_ID = "7b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


def listed(*results: dict) -> httpx.Response:
    return ok({"count": len(results), "next": None, "previous": None, "results": list(results)})


@pytest.fixture
async def nautobot():
    fake = FakeNautobot()
    client = fake.client()
    yield fake, client
    await client.aclose()


async def test_a_lone_poll_reads_its_result_as_usual(nautobot) -> None:
    fake, client = nautobot
    fake.on("GET", RESULT_PATH, ok(job_result("STARTED")))

    run = await ResultReader(client, gather=0).read(RESULT_ID)

    assert run.result_id == RESULT_ID
    assert fake.count("GET", RESULT_PATH) == 1 and fake.count("GET", LIST_PATH) == 0


async def test_polls_arriving_together_are_one_request(nautobot) -> None:
    fake, client = nautobot
    fake.on("GET", LIST_PATH, listed(job_result("SUCCESS"), {**job_result("STARTED"), "id": OTHER_ID}))
    reader = ResultReader(client, gather=0.01)

    first, second, again = await asyncio.gather(reader.read(RESULT_ID), reader.read(OTHER_ID), reader.read(RESULT_ID))

    assert (first.result_id, second.result_id, again.result_id) == (RESULT_ID, OTHER_ID, RESULT_ID)
    assert fake.count("GET", LIST_PATH) == 1 and fake.count("GET", RESULT_PATH) == 0
    [request] = fake.requests
    assert sorted(request.url.params.get_list("id")) == sorted([RESULT_ID, OTHER_ID])


async def test_a_result_missing_from_the_list_is_asked_alone_and_its_error_reaches_its_poll(nautobot) -> None:
    fake, client = nautobot
    fake.on("GET", LIST_PATH, listed({**job_result("STARTED"), "id": OTHER_ID}))
    reader = ResultReader(client, gather=0.01)

    missing, present = await asyncio.gather(reader.read(RESULT_ID), reader.read(OTHER_ID), return_exceptions=True)

    assert isinstance(missing, NautobotError) and missing.status == 404  # no route: Nautobot's 404
    assert present.result_id == OTHER_ID
    assert fake.count("GET", RESULT_PATH) == 1


async def test_a_failed_batch_fails_every_poll_in_it_and_the_next_poll_goes_out_again(nautobot) -> None:
    fake, client = nautobot
    fake.on("GET", LIST_PATH, ok({"detail": "boom"}, 500), listed(job_result("SUCCESS")))
    reader = ResultReader(client, gather=0.01)

    answers = await asyncio.gather(reader.read(RESULT_ID), reader.read(OTHER_ID), return_exceptions=True)

    assert all(isinstance(answer, NautobotError) for answer in answers)
    fake.on("GET", RESULT_PATH, ok(job_result("SUCCESS")))
    assert (await reader.read(RESULT_ID)).result_id == RESULT_ID
