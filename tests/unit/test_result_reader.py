"""Polls of many runs that arrive together go to Nautobot as one list request."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from bot.nautobot import NautobotError, ResultReader
from testbed.fake_nautobot import RESULT_ID, RESULT_PATH, FakeNautobot, job_result, ok

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


# -- reads after an end event: results and logs in one GraphQL request ---------------------------

GRAPHQL_PATH = "/api/graphql/"


def graphql_result(result_id: str, status: str, *levels: str) -> dict:
    """A JobResult as Nautobot's GraphQL API answers the results-with-logs query (levels upper case)."""
    entries = [
        {"created": f"2026-11-02T10:15:0{i}+00:00", "log_level": level.upper(), "grouping": "run", "message": f"m{i}"}
        for i, level in enumerate(levels)
    ]
    return {
        "id": result_id,
        "name": "Create Meraki User",
        "status": status,
        "date_created": "2026-11-02T10:15:00+00:00",
        "date_started": "2026-11-02T10:15:00+00:00",
        "date_done": "2026-11-02T10:15:05+00:00" if status == "SUCCESS" else None,
        "result": None,
        "traceback": None,
        "job_log_entries": list(reversed(entries)),
    }


async def test_runs_whose_end_was_announced_are_read_with_their_logs_in_one_request(nautobot) -> None:
    fake, client = nautobot
    answer = {
        "data": {
            "job_results": [
                graphql_result(RESULT_ID, "SUCCESS", "info", "warning", "success"),
                graphql_result(OTHER_ID, "STARTED", "info"),
            ]
        }
    }
    fake.on("POST", GRAPHQL_PATH, ok(answer))
    reader = ResultReader(client, gather=0.01)

    ended, running = await asyncio.gather(reader.read(RESULT_ID, with_log=True), reader.read(OTHER_ID, with_log=True))

    assert fake.count("POST", GRAPHQL_PATH) == 1 and len(fake.requests) == 1
    assert ended.status.is_final
    assert ended.log is not None
    assert [entry.message for entry in ended.log] == ["m0", "m1", "m2"]  # oldest first
    assert ended.log_counts == {"info": 1, "warning": 1, "success": 1}
    assert running.log is None  # a running Job's log is read once it ended


async def test_a_refused_graphql_query_leaves_the_reads_to_rest_for_good(
    nautobot, caplog: pytest.LogCaptureFixture
) -> None:
    fake, client = nautobot
    fake.on("POST", GRAPHQL_PATH, ok({"detail": "You do not have permission to perform this action."}, 403))
    fake.on("GET", RESULT_PATH, ok(job_result("SUCCESS")))
    reader = ResultReader(client, gather=0)

    first = await reader.read(RESULT_ID, with_log=True)
    second = await reader.read(RESULT_ID, with_log=True)

    assert first.log is None and second.log is None  # the follower reads the log over REST
    assert fake.count("POST", GRAPHQL_PATH) == 1
    assert fake.count("GET", RESULT_PATH) == 2
    assert caplog.text.count("reading both over REST from now on") == 1


async def test_a_graphql_answer_with_errors_is_no_answer(nautobot) -> None:
    fake, client = nautobot
    fake.on("POST", GRAPHQL_PATH, ok({"data": {"job_results": None}, "errors": [{"message": "boom"}]}))
    fake.on("GET", RESULT_PATH, ok(job_result("SUCCESS")))

    run = await ResultReader(client, gather=0).read(RESULT_ID, with_log=True)

    assert run.status.is_final and run.log is None
    assert fake.count("GET", RESULT_PATH) == 1


async def test_prepare_asks_the_query_once_at_start_and_learns_a_refusal_before_anyone_waits(nautobot) -> None:
    fake, client = nautobot
    fake.on("POST", GRAPHQL_PATH, ok({"data": {"job_results": []}}))
    reader = ResultReader(client)

    await reader.prepare()

    assert fake.count("POST", GRAPHQL_PATH) == 1
    (asked,) = fake.requests
    assert json.loads(asked.content)["variables"]["ids"] != [RESULT_ID]  # an id of no run

    fake.on("POST", GRAPHQL_PATH, ok({"detail": "Authentication credentials were not provided."}, 403))
    refused = ResultReader(client)
    await refused.prepare()
    fake.on("GET", RESULT_PATH, ok(job_result("SUCCESS")))
    await refused.read(RESULT_ID, with_log=True)
    assert fake.count("POST", GRAPHQL_PATH) == 2  # once each at start; the refused one reads over REST after
