"""A few runs of the bot against a real Nautobot 3.2 (web server and Celery worker), as a smoke check.

The stand-in measures the bot at scale; this checks that the same harness and figures hold against
the real thing, where a Job's end is Nautobot's own ``date_done``. The real Nautobot is started by
the test suite's harness, under its machine-wide lock.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import wait
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.figures import command_to_modal, completion_to_log, first_log_posts, rate_limited, submission_to_ack
from bench.nautobot_standin import Run
from bench.processes import BotProcess
from bench.records import Records
from bench.scenarios import ACCESS_POLICY, reported_threads
from bench.users import Crowd, FormWatcher, people, workspace


def _monotonic(iso: str | None) -> float | None:
    """A Nautobot timestamp on this process's monotonic clock (Nautobot runs on this machine)."""
    if not iso:
        return None
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    return time.monotonic() - (time.time() - moment)


def run_real(runs: int, workdir: Path, timeout: float = 240.0) -> dict[str, Any]:
    from testbed.nautobot_stack import StackError, services_reachable

    missing = services_reachable()
    if missing:
        return {"skipped": f"not reachable: {', '.join(missing)}"}
    try:
        return _run_real(runs, workdir, timeout)
    except StackError as exc:  # e.g. a test run kept the machine's Nautobot lock too long
        return {"skipped": str(exc)}


REAL_DESIGNS = ("ours", "ours-polling")
"""The bot with the test Nautobot's events (its RedisEventBroker), then polling only, on one Nautobot."""


def _run_real(runs: int, workdir: Path, timeout: float) -> dict[str, Any]:
    from testbed.meraki_standin import MerakiStandIn
    from testbed.nautobot_stack import EMAIL_REGEX, NautobotStack, machine_lock
    from testbed.seed import seed

    with MerakiStandIn() as meraki, machine_lock():
        started = time.monotonic()  # once the lock is ours: waiting for a test run is not start-up
        seed(meraki)
        stack = NautobotStack(
            workdir=workdir / "nautobot",
            checkout=ROOT,
            meraki_env={
                "MERAKI_BASE_URL": meraki.base_url,
                "MERAKI_DASHBOARD_API_KEY": meraki.api_key,
                "NAUTOBOT_JOB_MERAKI_EMAIL_VALIDATION_REGEX": EMAIL_REGEX,
            },
        )
        stack.start()
        startup = time.monotonic() - started
        try:
            designs = {
                design: _measure(stack, design, runs, workdir / design, timeout, prefix=f"R{index}")
                for index, design in enumerate(REAL_DESIGNS)
            }
        finally:
            stack.stop()
    return {"runs": runs, "nautobot_startup_s": startup, "designs": designs}


def _measure(stack: Any, design: str, runs: int, workdir: Path, timeout: float, *, prefix: str) -> dict[str, Any]:
    """``runs`` people, one a second, each in a channel of their own, against one bot of ``design``."""
    from testbed.nautobot_stack import BOT_TOKEN, EVENTS_URL

    crowd = people(runs, 1, prefix=prefix)
    emails = {person.email for person in crowd}
    with workspace(crowd) as slack:
        env = {
            "ACCESS_POLICY": json.dumps(ACCESS_POLICY),
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_APP_TOKEN": slack.app_token,
            "SLACK_API_URL": slack.api_url,
            "NAUTOBOT_URL": stack.url,
            "NAUTOBOT_TOKEN": BOT_TOKEN,
        }
        if design == "ours":
            env["NAUTOBOT_EVENTS_URL"] = EVENTS_URL
        bot = BotProcess("ours", workdir, env).start()
        try:
            slack.wait_connected(timeout=60)
            time.sleep(3.0)  # the bot reads the Job's form (and subscribes) at start
            with FormWatcher(slack) as watcher:
                users = Crowd(slack, watcher, threads=runs)
                wait(users.arrive(crowd, rate=1.0))
                slack.wait_for(lambda: reported_threads(slack) >= runs, timeout=timeout)
                time.sleep(1.0)
                users.close()
            listed = stack.admin.get(
                "/api/extras/job-results/", params={"job_model": stack.job_id, "limit": 100}
            ).json()["results"]
            records = Records(
                calls=slack.calls,
                envelopes=slack.envelopes,
                runs=[_run(result) for result in listed if result["task_kwargs"].get("user_email") in emails],
                shared_requests=Counter(),
                samples=list(bot.samples),
                people=runs,
            )
        finally:
            bot.stop()
    return {
        "command_to_views_open_s": command_to_modal(records),
        "submission_to_ack_s": submission_to_ack(records),
        "completion_to_thread_log_s": completion_to_log(records),
        "runs_reported_in_thread": len(first_log_posts(records)),
        "slack_429s": rate_limited(records),
    }


def _run(result: dict[str, Any]) -> Run:
    created = _monotonic(result["date_created"]) or 0.0
    done = _monotonic(result.get("date_done"))
    return Run(
        result_id=result["id"],
        data=result["task_kwargs"],
        created=created,
        created_at=datetime.fromisoformat(result["date_created"].replace("Z", "+00:00")),
        duration=(done - created) if done else 0.0,
        done_at=done,
    )
