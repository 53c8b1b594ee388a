"""A fast local Nautobot 3.2 for benchmarks: the Job, its runs, their results and logs, and request counts.

It answers the endpoints the bot uses with the shapes Nautobot 3.2.7 sends (taken from the test
suite's fake), on its own event loop in a daemon thread, so it costs the bot under test nothing.
A run's status follows its clock: PENDING, then STARTED, then SUCCESS once its drawn duration has
passed. While ``hold()`` is in force new runs keep going until ``release()``: that is how a benchmark
keeps exactly N runs in flight, or lets many runs end at the same moment.

After an end event the bot reads the ended runs with their logs in one GraphQL request; the stand-in
answers that query (``job_results(id: $ids)``) as Nautobot 3.2.7 does, and refuses a field it does not
know with GraphQL's 400, as Nautobot would.

Given a Redis URL it also publishes Nautobot's Job events (``bench.nautobot_events``): ``started``
when a run starts, ``completed`` when its Job returns, :data:`SAVE_LAG` before the JobResult turns
final, as a real worker does.
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bench import nautobot_events
from bench.durations import Durations
from testbed.fake_nautobot import JOB, LOGS, VARIABLES, job_result

TOKEN = "b3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nc"
JOB_ID = JOB["id"]
QUEUE_DELAY = 0.1
"""Seconds a run waits for a Celery worker before it starts."""
SAVE_LAG = 0.02
"""Seconds from the ``completed`` event to the JobResult's final status. Nautobot's worker publishes the
event as the Job returns; Celery's result backend saves the final status after the task has returned,
so a subscriber that reads at once can still see STARTED."""
USER_NAME = "chatops-bot"
"""The Nautobot user the bot's token belongs to, as events name it."""

_RESULT_PATH = re.compile(r"^/api/extras/job-results/([0-9a-f-]{36})/(logs/)?$")
_RESULTS_QUERY = re.compile(
    r"job_results\s*\(\s*id\s*:\s*\$ids\s*\)\s*\{"
    r"(?P<fields>[^{}]*)(?:job_log_entries\s*\{(?P<log_fields>[^{}]*)\})?\s*\}"
)
"""The one query the stand-in answers: JobResults by id, optionally with their log entries."""
GRAPHQL_RESULT_FIELDS = frozenset(
    {"id", "name", "status", "date_created", "date_started", "date_done", "result", "traceback"}
)
GRAPHQL_LOG_FIELDS = frozenset({"created", "log_level", "grouping", "message", "log_object"})
_FIXED_ANSWERS: dict[str, Any] = {
    "/api/status/": {"nautobot-version": "3.2.7", "python-version": "3.11", "celery-workers-running": 1},
    f"/api/extras/jobs/{JOB_ID}/": JOB,
    f"/api/extras/jobs/{JOB_ID}/variables/": VARIABLES,
    # No run waits for approval here; a bot that died while sending a run looks here too (runs/take_up.py).
    "/api/extras/scheduled-jobs/": {"count": 0, "next": None, "previous": None, "results": []},
}


@dataclass
class Run:
    """One Job run: when it was asked for, how long it takes, and how often the bot asked about it."""

    result_id: str
    data: dict[str, Any]
    created: float
    created_at: datetime
    duration: float
    done_at: float | None
    """When the JobResult turns final (Nautobot's ``date_done``): what the benchmark times a run's end from."""
    requests: Counter = field(default_factory=Counter)

    @property
    def started_at(self) -> float:
        return self.created + QUEUE_DELAY

    def status(self, now: float) -> str:
        if now < self.started_at:
            return "PENDING"
        if self.done_at is None or now < self.done_at:
            return "STARTED"
        return "SUCCESS"

    def returned(self, now: float) -> bool:
        """The Job has returned: its log is complete, whether or not its final status is saved yet."""
        return self.done_at is not None and now >= self.done_at - SAVE_LAG

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


class NautobotStandIn:
    """Nautobot's Job API on a loopback port; :attr:`runs` and :attr:`shared_requests` are what it saw."""

    def __init__(
        self, durations: Durations, *, seed: int = 1, host: str = "127.0.0.1", events_url: str | None = None
    ) -> None:
        self.durations = durations
        self.host = host
        self.events = nautobot_events.Publisher(events_url) if events_url else None
        self.port = 0
        self.runs: dict[str, Run] = {}
        self.shared_requests: Counter = Counter()
        self._rng = durations.sampler(seed)
        self._ids = random.Random(seed + 1)
        self._holding = False
        self._lock = threading.Lock()
        self._unavailable_until = 0.0
        self._down = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> NautobotStandIn:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="nautobot-standin", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("the Nautobot stand-in did not start within 15 s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._startup())
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _startup(self) -> None:
        if self.events is not None:
            await self.events.start()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen(0)
        self.port = self._runner.addresses[0][1]

    async def _listen(self, port: int) -> None:
        self._site = web.TCPSite(self._runner, self.host, port)
        await self._site.start()

    async def _shutdown(self) -> None:
        await self._runner.cleanup()
        if self.events is not None:
            await self.events.close()

    # -- what a benchmark controls ---------------------------------------------------------------

    def hold(self) -> None:
        """Runs created from now on keep running until :meth:`release`."""
        with self._lock:
            self._holding = True

    def release(self, *, at_once: bool = False) -> float:
        """End the held runs: each after its drawn duration from now, or all of them now.

        Returns the moment of release (``time.monotonic()``).
        """
        with self._lock:
            self._holding = False
            now = time.monotonic()
            ending = []
            for run in self.runs.values():
                if run.done_at is None:
                    run.done_at = max(now, run.started_at) + (0.0 if at_once else run.duration) + SAVE_LAG
                    ending.append(run.result_id)
        if self.events is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._announce_ends, ending)
        return now

    def unavailable(self, seconds: float) -> None:
        """Answer every request 503 for ``seconds`` from now, as a Nautobot behind a proxy that cannot reach it."""
        with self._lock:
            self._unavailable_until = time.monotonic() + seconds

    def down(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (connections refused; open ones cut at their next request), then listen
        again on the same port. Blocks the caller's thread for that long."""
        self._down = True
        asyncio.run_coroutine_threadsafe(self._site.stop(), self._loop).result(10)
        try:
            time.sleep(seconds)
        finally:
            asyncio.run_coroutine_threadsafe(self._listen(self.port), self._loop).result(10)
            self._down = False

    def snapshot(self) -> list[Run]:
        with self._lock:
            return [copy.deepcopy(run) for run in self.runs.values()]

    def in_flight(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for run in self.runs.values() if run.status(now) != "SUCCESS")

    # -- the API ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if self._down and request.transport is not None:
            request.transport.close()  # a keep-alive connection to a server that has gone away
            return _json({"detail": "down"}, 503)
        if time.monotonic() < self._unavailable_until:
            return web.Response(status=503, text="Service Unavailable")
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            return _json({"detail": "Invalid token"}, 403)
        path, method = request.path, request.method
        body = await request.json() if method == "POST" and request.can_read_body else None
        with self._lock:
            return self._answer(method, path, request.query, body)

    def _answer(self, method: str, path: str, query, body: Any) -> web.Response:
        now = time.monotonic()
        found = _RESULT_PATH.match(path)
        if found and method == "GET":
            run = self.runs.get(found.group(1))
            if run is None:
                return _json({"detail": "No JobResult matches the given query."}, 404)
            kind = "logs" if found.group(2) else "result"
            run.requests[kind] += 1
            return _json(self._logs(run) if kind == "logs" else self._result(run, now))
        if method == "POST" and path == f"/api/extras/jobs/{JOB_ID}/run/":
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict):
                return _json({"errors": ["Job data needs to be a dict"]}, 400)
            run = self._new_run(data, now)
            run.requests["run"] += 1
            return _json({"scheduled_job": None, "job_result": self._result(run, now)}, 201)
        if method == "GET" and path == "/api/extras/job-results/" and "id" in query:
            return self._batch(query.getall("id"), now)
        if method == "POST" and path == "/api/graphql/":
            return self._graphql(body, now)
        self.shared_requests[f"{method} {_route(path)}"] += 1
        if method != "GET":
            return _json({"detail": f'Method "{method}" not allowed.'}, 405)
        if path in _FIXED_ANSWERS:
            return _json(_FIXED_ANSWERS[path])
        if path == "/api/extras/jobs/":
            matches = [JOB] if query.get("name", JOB["name"]) == JOB["name"] else []
            return _json({"count": len(matches), "next": None, "previous": None, "results": matches})
        if path == "/api/extras/job-results/":
            results = [self._result(run, now) for run in reversed(self.runs.values())][:100]
            return _json({"count": len(results), "next": None, "previous": None, "results": results})
        return _json({"detail": "Not found."}, 404)

    def _batch(self, wanted: list[str], now: float) -> web.Response:
        """``?id=…&id=…``: many results in one request, each run charged its share of it."""
        found = [self.runs[result_id] for result_id in wanted if result_id in self.runs]
        for run in found:
            run.requests["batch"] += 1 / len(found)
        results = [self._result(run, now) for run in found]
        return _json({"count": len(results), "next": None, "previous": None, "results": results})

    def _graphql(self, body: Any, now: float) -> web.Response:
        """The results-with-logs query: many runs in one request, each charged its share of it."""
        query = body.get("query") if isinstance(body, dict) else None
        ids = (body.get("variables") or {}).get("ids") if isinstance(body, dict) else None
        found = _RESULTS_QUERY.search(query) if isinstance(query, str) else None
        if found is None or not isinstance(ids, list):
            refusal = "The stand-in answers only job_results(id: $ids), with $ids a list."
            return _json({"errors": [{"message": refusal}]}, 400)
        fields = found.group("fields").split()
        log_fields = (found.group("log_fields") or "").split()
        unknown = [f for f in fields if f not in GRAPHQL_RESULT_FIELDS] + [
            f for f in log_fields if f not in GRAPHQL_LOG_FIELDS
        ]
        if unknown:
            return _json({"errors": [{"message": f"Cannot query field '{unknown[0]}' on type 'JobResultType'."}]}, 400)
        runs = [self.runs[result_id] for result_id in ids if result_id in self.runs]
        for run in runs:
            run.requests["graphql"] += 1 / len(runs)
        answered = []
        for run in runs:
            rest = self._result(run, now)
            item = {name: rest.get(name) for name in fields}
            if "status" in item:
                item["status"] = rest["status"]["value"]  # GraphQL sends the value alone
            if found.group("log_fields") is not None:
                item["job_log_entries"] = [
                    {name: (entry[name].upper() if name == "log_level" else entry[name] or "") for name in log_fields}
                    for entry in self._logs(run)
                ]
            answered.append(item)
        return _json({"data": {"job_results": answered}})

    def _new_run(self, data: dict[str, Any], now: float) -> Run:
        result_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        duration = self.durations.draw(self._rng)
        run = Run(
            result_id=result_id,
            data=data,
            created=now,
            created_at=datetime.now(UTC),
            duration=duration,
            done_at=None if self._holding else now + QUEUE_DELAY + duration + SAVE_LAG,
        )
        self.runs[result_id] = run
        if self.events is not None:
            self._loop.call_at(run.started_at, self.events.publish, nautobot_events.STARTED, self._started_payload(run))
            self._announce_ends([result_id])
        return run

    # -- events (on the stand-in's loop, whose clock is time.monotonic()) ------------------------

    def _started_payload(self, run: Run) -> dict[str, Any]:
        return nautobot_events.started_payload(run.result_id, JOB["name"], USER_NAME, run.data)

    def _announce_ends(self, result_ids: list[str]) -> None:
        """Publish ``completed`` for each run when its Job returns, SAVE_LAG before its status is final."""
        for result_id in result_ids:
            run = self.runs[result_id]
            if run.done_at is not None:
                self._loop.call_at(run.done_at - SAVE_LAG, self._publish_completed, run)

    def _publish_completed(self, run: Run) -> None:
        output = {"outcome": "created", "email": run.data.get("user_email")}
        payload = nautobot_events.completed_payload(self._started_payload(run), output)
        self.events.publish(nautobot_events.COMPLETED, payload)

    def _result(self, run: Run, now: float) -> dict[str, Any]:
        status = run.status(now)
        started = run.created_at + timedelta(seconds=QUEUE_DELAY)
        changes: dict[str, Any] = {
            "id": run.result_id,
            "url": f"{self.url}/api/extras/job-results/{run.result_id}/",
            "display": f"Create Meraki User started at {run.created_at:%Y-%m-%d %H:%M:%S} ({run.result_id})",
            "date_created": _iso(run.created_at),
            "task_kwargs": run.data,
        }
        if status != "PENDING":
            changes["date_started"] = _iso(started)
        if status == "SUCCESS":
            done = started + timedelta(seconds=run.done_at - run.created - QUEUE_DELAY)
            changes.update(
                date_done=_iso(done),
                result={"outcome": "created", "email": run.data.get("user_email")},
                info_log_count=2,
                warning_log_count=1,
                success_log_count=1,
            )
        return job_result(status, **changes)

    def _logs(self, run: Run) -> list[dict[str, Any]]:
        if not run.returned(time.monotonic()):
            return LOGS[:1]
        entries = copy.deepcopy(LOGS)
        for entry in entries:
            entry["job_result"] = {"id": run.result_id, "object_type": "extras.jobresult"}
        return entries


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"API-Version": "3.2"})


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _route(path: str) -> str:
    """A path with its ids taken out, so shared requests group by endpoint."""
    return re.sub(r"[0-9a-f-]{36}", "<id>", path)
