"""The Jobs and their results through Nautobot's REST API: find a Job, read its variables, run it, follow its
JobResult and log.

Every failure becomes a :class:`~bot.nautobot.errors.NautobotError` whose ``str()`` tells a person
what happened and what to do next (:mod:`bot.nautobot.responses` reads the answers). The API token
lives in a ``SecretStr`` and is never part of a message, a log line or a ``repr``. Sending a request,
lists, single objects and Nautobot's status are :mod:`bot.nautobot.rest`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from bot.models import JobForm, JobRun, LogEntry
from bot.nautobot.errors import JobDisabled, NautobotAuthError, NautobotError, job_not_found
from bot.nautobot.rest import NautobotRest, segment

RESULTS_WITH_LOGS = """
query ResultsWithLogs($ids: [String]) {
  job_results(id: $ids) {
    id name status date_created date_started date_done result traceback
    job_log_entries { created log_level grouping message log_object }
  }
}
"""
"""JobResults and their logs in one request (Nautobot's GraphQL API, with the token's own permissions)."""


@dataclass(frozen=True)
class JobInfo:
    """One Job record from ``GET /api/extras/jobs/``."""

    id: str
    name: str
    enabled: bool
    installed: bool
    description: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> JobInfo:
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name") or ""),
            enabled=bool(data.get("enabled")),
            installed=bool(data.get("installed", True)),
            description=str(data.get("description") or ""),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Submission:
    """What ``POST .../run/`` answered: a queued run, or a scheduled job awaiting approval."""

    run: JobRun | None
    scheduled_job_id: str | None
    scheduled_url: str | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def awaiting_approval(self) -> bool:
        return self.run is None and self.scheduled_job_id is not None


class NautobotClient(NautobotRest):
    """Async client for the parts of Nautobot's REST API the bot uses (Nautobot 2.x and 3.x).

    Built from plain values (see :class:`~bot.nautobot.rest.NautobotRest`); ``bot.clients`` builds it from the
    settings.
    """

    # Jobs

    async def find_job(self, name: str) -> JobInfo:
        """The Job named ``name``; raises :class:`JobNotFound` when the search is empty."""
        what = f"look up the Job {name!r}"
        response = await self._request("GET", "/api/extras/jobs/", what=what, params={"name": name})
        self._answers.expect(response, what, 200)
        body = self._answers.json(response, what)
        results = body.get("results") if isinstance(body, Mapping) else body
        if not isinstance(results, list):
            raise self._answers.unexpected(response, what)
        matches = [item for item in results if isinstance(item, Mapping)]
        if not matches:
            raise job_not_found(name, status=response.status_code)
        exact = next((item for item in matches if item.get("name") == name), matches[0])
        return JobInfo.from_api(exact)

    async def job_form(self, name: str) -> JobForm:
        """The Job and its variables in field order, ready for the Slack modal."""
        job = await self.find_job(name)
        what = f"read the variables of the Job {name!r}"
        response = await self._request("GET", f"/api/extras/jobs/{segment(job.id)}/variables/", what=what)
        if response.status_code == 404:
            raise job_not_found(name, status=404, detail=self._answers.detail(response))
        self._answers.expect(response, what, 200)
        variables = self._answers.json(response, what)
        if not isinstance(variables, list):
            raise self._answers.unexpected(response, what)
        return self._answers.parse(response, what, lambda: JobForm.from_api(job.raw, variables))

    async def run_job(self, job_id: str, data: dict[str, Any]) -> Submission:
        """Run the Job once; a POST is never retried, since a retry could run the Job twice."""
        what = f"run the Job {job_id}"
        path = f"/api/extras/jobs/{segment(job_id)}/run/"
        response = await self._request("POST", path, what=what, json={"data": data})
        if response.status_code == 201:
            return self._submission(response, what)
        raise await self._run_error(response, job_id, what)

    # Results

    async def job_result(self, result_id: str) -> JobRun:
        """A snapshot of the JobResult, its ``url`` being the web page."""
        what = f"read the JobResult {result_id}"
        response = await self._request("GET", f"/api/extras/job-results/{segment(result_id)}/", what=what)
        if response.status_code == 404:
            raise self._answers.result_not_found(response, result_id)
        self._answers.expect(response, what, 200)
        return self._job_run(response, what)

    async def job_results(self, result_ids: list[str]) -> dict[str, JobRun]:
        """Snapshots of many JobResults in one request, by id; ids Nautobot does not return are left out."""
        what = f"read {len(result_ids)} JobResults"
        params = httpx.QueryParams([("id", result_id) for result_id in result_ids] + [("limit", len(result_ids))])
        response = await self._request("GET", "/api/extras/job-results/", what=what, params=params)
        self._answers.expect(response, what, 200)
        found = self._answers.mapping(response, what).get("results") or []
        runs = self._answers.parse(response, what, lambda: [JobRun.from_api(item, self.base_url) for item in found])
        return {run.result_id: run for run in runs}

    async def job_results_with_logs(self, result_ids: list[str]) -> dict[str, JobRun]:
        """Snapshots of many JobResults, each ended one with its log, in one request; missing ids are left out.

        Raises :class:`NautobotError` when Nautobot's GraphQL API refuses the query: the REST reads then serve.
        """
        what = f"read {len(result_ids)} JobResults with their logs"
        body = {"query": RESULTS_WITH_LOGS, "variables": {"ids": result_ids}}
        response = await self._request("POST", "/api/graphql/", what=what, json=body, read_only=True)
        self._answers.expect(response, what, 200)
        answer = self._answers.mapping(response, what)
        found = (answer.get("data") or {}).get("job_results") if not answer.get("errors") else None
        if not isinstance(found, list):
            raise self._answers.unexpected(response, what)
        runs = self._answers.parse(response, what, lambda: [self._with_log(item) for item in found])
        return {run.result_id: run for run in runs}

    def _with_log(self, item: Mapping[str, Any]) -> JobRun:
        run = JobRun.from_api(item, self.base_url)
        if not run.status.is_final:
            return run  # a running Job's log is read once it ended
        return run.with_log([LogEntry.from_api(entry) for entry in item.get("job_log_entries") or []])

    async def results_since(self, job_id: str, since: datetime) -> list[dict[str, Any]]:
        """This Job's results created since ``since``, newest first, as Nautobot sends them.

        A bot that died while sending a run looks here for it before sending it again.
        """
        what = "list the Job's recent results"
        params: dict[str, str | int] = {"job_model": job_id, "date_created__gte": since.isoformat(), "limit": 100}
        response = await self._request("GET", "/api/extras/job-results/", what=what, params=params)
        self._answers.expect(response, what, 200)
        return list(self._answers.json(response, what).get("results") or [])

    async def scheduled_since(self, job_id: str, since: datetime) -> list[dict[str, Any]]:
        """This Job's scheduled jobs starting since ``since`` (runs awaiting approval among them), as sent."""
        return await self.list_objects(
            "/api/extras/scheduled-jobs/",
            what="list the Job's scheduled jobs",
            params=[("job_model", job_id), ("start_time__gte", since.isoformat())],
            page_size=100,
        )

    async def job_logs(self, result_id: str) -> list[LogEntry]:
        """Every log line of the run, oldest first (the first is Nautobot's ``initialization`` line)."""
        what = f"read the log of the JobResult {result_id}"
        response = await self._request("GET", f"/api/extras/job-results/{segment(result_id)}/logs/", what=what)
        if response.status_code == 404:
            raise self._answers.result_not_found(response, result_id)
        self._answers.expect(response, what, 200)
        items = self._answers.json(response, what)
        if not isinstance(items, list):
            raise self._answers.unexpected(response, what)
        entries = self._answers.parse(response, what, lambda: [LogEntry.from_api(item) for item in items])
        return sorted(entries, key=lambda entry: entry.created)

    async def scheduled_job(self, scheduled_id: str) -> dict[str, Any]:
        """The scheduled job record (its ``state`` tells whether an approval is pending)."""
        what = f"read the scheduled job {scheduled_id}"
        response = await self._request("GET", f"/api/extras/scheduled-jobs/{segment(scheduled_id)}/", what=what)
        if response.status_code == 404:
            raise NautobotError(
                f"Nautobot has no scheduled job {scheduled_id} that the bot's user can see; it may have been "
                f"approved, denied or deleted. Check {self.scheduled_url(scheduled_id)}.",
                status=404,
                detail=self._answers.detail(response),
            )
        self._answers.expect(response, what, 200)
        return self._answers.mapping(response, what)

    async def scheduled_run(self, scheduled_id: str) -> JobRun | None:
        """The run an approved scheduled job started, once Nautobot's scheduler has started it."""
        what = f"look for the run of the scheduled job {scheduled_id}"
        params: dict[str, str | int] = {"scheduled_job": scheduled_id, "limit": 1}
        response = await self._request("GET", "/api/extras/job-results/", what=what, params=params)
        self._answers.expect(response, what, 200)
        results = self._answers.mapping(response, what).get("results") or []
        if not results:
            return None
        return self._answers.parse(response, what, lambda: JobRun.from_api(results[0], self.base_url))

    async def cancel(self, result_id: str) -> JobRun:
        """Cancel a queued or running Job (Nautobot 3.2+); an already finished run is returned as is."""
        what = f"cancel the JobResult {result_id}"
        response = await self._request("POST", f"/api/extras/job-results/{segment(result_id)}/cancel/", what=what)
        if response.status_code == 200:
            return self._job_run(response, what)
        if response.status_code == 409:
            return await self.job_result(result_id)
        if response.status_code == 404:
            raise self._answers.cancel_not_found(response, result_id)
        raise self._answers.error(response, what)

    async def _run_error(self, response: httpx.Response, job_id: str, what: str) -> NautobotError:
        status = response.status_code
        detail = self._answers.detail(response)
        if status == 400:
            return self._answers.field_errors(response, job_id)
        if status == 403 and "not enabled" in detail:
            return JobDisabled(
                f"The Job {job_id} is not enabled to be run in Nautobot, so nothing ran. Enable it in Nautobot "
                "(Jobs → Edit → Enabled) and try again.",
                job=job_id,
                status=status,
                detail=detail,
            )
        if status == 405:
            return JobDisabled(
                f"The Job {job_id} cannot run because Nautobot does not have its code installed ({detail}); nothing "
                "ran. Sync the Git repository that holds it (Extensibility → Git Repositories → Sync) and try again.",
                job=job_id,
                installed=False,
                status=status,
                detail=detail,
            )
        if status == 404:
            return await self._run_not_found(job_id, detail)
        return self._answers.error(response, what)

    async def _run_not_found(self, job_id: str, detail: str) -> NautobotError:
        """A 404 on ``/run/`` while the Job is visible means no ``run`` action: Nautobot restricts by it."""
        what = f"look up the Job {job_id}"
        probe = await self._request("GET", f"/api/extras/jobs/{segment(job_id)}/", what=what)
        if probe.status_code == 404:
            return job_not_found(job_id, status=404, detail=detail)
        if probe.status_code != 200:
            return self._answers.error(probe, what)
        return NautobotAuthError(
            f"The bot's Nautobot user can see the Job {job_id} but may not run it, so nothing ran: no "
            "ObjectPermission gives it the run action on this Job. Add the action run to its ObjectPermission "
            "on extras.job (and check that the permission's constraints include this Job).",
            status=404,
            detail=detail,
        )

    def _submission(self, response: httpx.Response, what: str) -> Submission:
        body = self._answers.mapping(response, what)
        result = body.get("job_result")
        scheduled = body.get("scheduled_job", body.get("schedule"))
        if not isinstance(result, Mapping) and not isinstance(scheduled, Mapping):
            raise self._answers.unexpected(response, what)
        run = self._answers.parse(response, what, lambda: JobRun.from_api(result, self.base_url)) if result else None
        scheduled_id = str(scheduled.get("id", "")) if isinstance(scheduled, Mapping) else ""
        return Submission(
            run=run,
            scheduled_job_id=scheduled_id or None,
            scheduled_url=self.scheduled_url(scheduled_id) if scheduled_id else None,
            raw=body,
        )

    def _job_run(self, response: httpx.Response, what: str) -> JobRun:
        body = self._answers.mapping(response, what)
        return self._answers.parse(response, what, lambda: JobRun.from_api(body, self.base_url))
