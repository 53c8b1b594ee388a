"""The Nautobot fake of tests/security/test_every_flow_escaped.py: the three Jobs the commands run, and answers
that echo the inputs, and the round's hostile text, back in every place Nautobot puts text."""

from __future__ import annotations

import json
from typing import Any

import httpx

from testbed.fake_nautobot import (
    ACME_ORG,
    APPROVED_BY,
    JOB,
    JOBS_PATH,
    REQUEST_ID,
    REQUESTED_BY,
    RUN_PATH,
    RUN_QUEUED,
    FakeNautobot,
    Handler,
    job_result,
    log_entry,
    ok,
)

# -- the Find and Remove Jobs next to the fake's Create Meraki User, as Nautobot describes them ---------------

ORGANIZATIONS = {"name": "meraki_org_id", "type": "ChoiceVar", "label": "Meraki Organization", "required": True}
ORGANIZATIONS["choices"] = [["all", "All organizations"], [ACME_ORG, "Acme Corp (111111)"]]
ORGANIZATIONS["default"] = "all"
FILLED_BY_THE_BOT = [REQUESTED_BY, APPROVED_BY, REQUEST_ID]
QUERY = {"name": "query", "type": "StringVar", "label": "Email or Name", "required": True}
OTHER_JOBS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "Find Meraki User": (
        "7d2f9a10-1b3c-4d5e-8f60-718293a4b5c6",
        [{**QUERY, "min_length": 2, "max_length": 254}, ORGANIZATIONS, *FILLED_BY_THE_BOT],
    ),
    "Remove Meraki User": (
        "8e3a0b21-2c4d-4e6f-9071-8293a4b5c6d7",
        [
            {"name": "user_email", "type": "StringVar", "label": "User Email", "required": True, "max_length": 254},
            ORGANIZATIONS,
            {"name": "dryrun", "type": "DryRunVar", "required": False, "default": True},
            *FILLED_BY_THE_BOT,
        ],
    ),
}


def run_path(job_name: str) -> str:
    return f"/api/extras/jobs/{OTHER_JOBS[job_name][0]}/run/" if job_name in OTHER_JOBS else RUN_PATH


def with_every_job(nautobot: FakeNautobot) -> FakeNautobot:
    def jobs(request: httpx.Request) -> httpx.Response:
        name = request.url.params.get("name", JOB["name"])
        found = [{**JOB, "id": OTHER_JOBS[name][0], "name": name}] if name in OTHER_JOBS else [JOB]
        return ok({"count": len(found), "next": None, "previous": None, "results": found})

    nautobot.on("GET", JOBS_PATH, jobs)
    for job_id, variables in OTHER_JOBS.values():
        nautobot.on("GET", f"/api/extras/jobs/{job_id}/variables/", ok(variables))
        nautobot.on("POST", f"/api/extras/jobs/{job_id}/run/", ok(RUN_QUEUED, 201))
    return nautobot


# -- Nautobot echoing hostile text back in everything it answers --------------------------------------------

HOSTILE_NOW = {"text": ""}
"""The hostile text of the round: Nautobot echoes it even where no input carries it (a removal's email)."""


def runs(nautobot: FakeNautobot) -> list[tuple[str, dict[str, Any]]]:
    """Every run Nautobot was asked for, of any Job: its path and its data."""
    return [
        (request.url.path, json.loads(request.content)["data"])
        for request in nautobot.requests
        if request.method == "POST" and request.url.path.endswith("/run/")
    ]


def last_inputs(nautobot: FakeNautobot) -> list[str]:
    asked = runs(nautobot)
    return [str(value) for value in (asked[-1][1].values() if asked else [])] + [HOSTILE_NOW["text"]]


def echoed_result(status: str, nautobot: FakeNautobot) -> Handler:
    def answer(_request: httpx.Request) -> httpx.Response:
        said = " ".join(last_inputs(nautobot))
        result: dict[str, Any] = {
            "summary": f"0 matches for {said}",  # what Find Meraki User says, with the query in it
            "matches": [{"organization_name": said, "name": said, "email": said, "org_access": said}],
            "not_searched": [{"organization_name": said, "reason": said}],
            "table": {  # what the Jobs show in Slack: every part of it echoing the input
                "title": f"0 matches for {said}",
                "columns": [{"key": "name", "label": said}, {"key": "email", "label": "Email"}],
                "rows": [{"name": said, "email": said}],
                "notes": [f"Not searched: {said}"],
            },
        }
        changes: dict[str, Any] = {"result": result}
        if status == "FAILURE":
            failure = {"exc_type": "RuntimeError", "exc_message": [said]}
            changes.update(result=failure, traceback=f"RuntimeError: {said}")
        return ok(job_result(status, **changes))

    return answer


def echoed_logs(nautobot: FakeNautobot, lines: int) -> Handler:
    def answer(_request: httpx.Request) -> httpx.Response:
        said = last_inputs(nautobot)
        entries = []
        for n in range(lines):
            text = said[n % len(said)]
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
    return httpx.Response(500, text=f"<!channel> <@U123> <https://evil.example|click> & {HOSTILE_NOW['text']}")
