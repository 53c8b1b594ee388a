"""A Job run through Nautobot's REST API as the Slack bot sends it, waited for, with its result and log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from testbed.nautobot_stack import NautobotStack


@dataclass
class Run:
    response: httpx.Response
    result: dict | None = None
    logs: list[dict] | None = None

    @property
    def status(self) -> str:
        return self.result["status"]["value"]

    @property
    def data(self) -> dict:
        return self.result["result"]

    def lines(self, *levels: str) -> list[str]:
        return [e["message"] for e in self.logs if not levels or e["log_level"] in levels]

    def summary(self) -> list[str]:
        """The Job's closing lines (Nautobot adds a "Job completed" of its own after a success)."""
        return [f"{e['log_level']}: {e['message']}" for e in self.logs if e["grouping"] == "summary"]


def run_job(stack: NautobotStack, client: httpx.Client, job_id: str, data: dict[str, Any], *, wait: bool = True) -> Run:
    """``POST .../run/`` with ``data``; unless told not to wait (or refused), the ended result and its log."""
    response = client.post(f"/api/extras/jobs/{job_id}/run/", json={"data": data})
    if not wait or response.status_code != 201:
        return Run(response)
    result = stack.wait_for_result(response.json()["job_result"]["id"], client=client)
    logs = client.get(f"/api/extras/job-results/{result['id']}/logs/").raise_for_status().json()
    return Run(response, result, logs)
