"""``doctor``'s Nautobot checks: reachable, its version, the token, the Job, its variables, the permissions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from bot.doctor.report import Context, Status, Verdict, last_four
from bot.nautobot import (
    Capabilities,
    JobInfo,
    JobNotFound,
    NautobotAuthError,
    NautobotClient,
    NautobotError,
    reported_version,
)
from bot.settings import Settings
from bot.slack import modal

VIEW_PERMISSION_FIX = (
    "Add the action view on {models} to the ObjectPermission of the bot's Nautobot user; without it the bot "
    "can start a run but cannot follow it or post its log."
)
SENSITIVE_FIX = (
    "Set has_sensitive_variables = False in the Job's Meta, or override it in Nautobot "
    "(Jobs → Edit → Has sensitive variables)."
)


def network(_settings: Settings) -> httpx.AsyncBaseTransport | None:
    return None


def _error_detail(exc: NautobotError) -> str:
    if exc.status is not None:
        return f"HTTP {exc.status}: {exc.detail or type(exc).__name__}"
    return exc.detail or type(exc).__name__


async def check_reachable(context: Context) -> Verdict:
    base = context.s.nautobot_base
    try:
        context.nautobot = NautobotClient.from_settings(context.s, transport=context.nautobot_transport(context.s))
        context.status = await context.nautobot.status()
    except NautobotAuthError as exc:
        return Verdict(Status.OK, f"Nautobot at {base} answers, but refused the token ({_error_detail(exc)})")
    except NautobotError as exc:
        return Verdict(Status.FAIL, f"no usable answer from {base} ({_error_detail(exc)})", str(exc))
    return _reachable_verdict(base, context.status)


def _reachable_verdict(base: str, status: Mapping[str, Any]) -> Verdict:
    version = status.get("nautobot-version") or "?"
    detail = f"Nautobot {version} at {base}, REST API {status.get('api-version') or '?'}"
    workers = status.get("celery-workers-running")
    if workers == 0:
        return Verdict(
            Status.WARN,
            f"{detail}; no Celery worker is running, so Nautobot would refuse every run",
            "Start a Nautobot Celery worker (nautobot-server celery worker).",
        )
    return Verdict(Status.OK, detail if workers is None else f"{detail}, {workers} Celery worker(s)")


async def check_version(context: Context) -> Verdict:
    if context.status is None:
        return Verdict(Status.SKIP, "not checked: Nautobot tells its version only to an accepted token")
    raw = str(context.status.get("nautobot-version") or "")
    version = reported_version(context.status)
    if version is None:
        return Verdict(
            Status.WARN,
            f"Nautobot did not report a version ({raw or 'none'})",
            "Check that NAUTOBOT_URL points at Nautobot 2.x or 3.x itself.",
        )
    if version < (2, 0):
        return Verdict(
            Status.WARN,
            f"Nautobot {raw} is not supported: the bot uses the Nautobot 2.x/3.x Job API",
            "Upgrade Nautobot to 2.4 (long-term maintenance) or 3.2 or later.",
        )
    return Verdict(Status.OK, f"Nautobot {raw} is supported: {Capabilities(version).describe()}")


async def check_token(context: Context) -> Verdict:
    tail = last_four(context.s.nautobot_token.get_secret_value())
    try:
        context.job = await context.client.find_job(context.s.nautobot_job_name)
    except JobNotFound as exc:
        context.job_error = exc
    except NautobotError as exc:
        return Verdict(Status.FAIL, f"Nautobot refused to list Jobs ({_error_detail(exc)}); token {tail}", str(exc))
    return Verdict(Status.OK, f"the token is accepted and may list Jobs; token {tail}")


async def check_job(context: Context) -> Verdict:
    name = context.s.nautobot_job_name
    job = context.job
    if job is None:
        fix = str(context.job_error) if context.job_error else "Check NAUTOBOT_JOB_NAME."
        return Verdict(Status.FAIL, f"no Job named {name!r} is visible to the token", fix)
    problems, fixes = _job_problems(job)
    if problems:
        return Verdict(Status.FAIL, f"{job.name!r} ({job.id}) is {' and '.join(problems)}", " ".join(fixes))
    if job.raw.get("has_sensitive_variables", False):
        return Verdict(
            Status.WARN,
            f"{job.name!r} is installed and enabled, but has_sensitive_variables is true: Nautobot refuses "
            "approvals and scheduling for it",
            SENSITIVE_FIX,
        )
    return Verdict(Status.OK, f"{job.name!r} ({job.id}) is installed and enabled")


def _job_problems(job: JobInfo) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    fixes: list[str] = []
    if not job.installed:
        problems.append("not installed")
        fixes.append("Sync the Git repository that holds it (Extensibility → Git Repositories → Sync).")
    if not job.enabled:
        problems.append("disabled")
        fixes.append("Enable it: Jobs → Edit → Enabled.")
    return problems, fixes


async def check_variables(context: Context) -> Verdict:
    if context.job is None:
        return Verdict(Status.SKIP, "not checked: the Job was not found")
    try:
        form = await context.client.job_form(context.s.nautobot_job_name)
    except NautobotError as exc:
        return Verdict(Status.FAIL, f"cannot read the Job's variables ({_error_detail(exc)})", str(exc))
    count = f"{len(form.variables)} variable(s)"
    blocking = modal.blocking_problems(form)
    if blocking:
        return Verdict(
            Status.FAIL,
            f"{count}; required but not settable from Slack: {' '.join(blocking)}",
            "Make those variables optional or of a type the modal supports; until then only Nautobot can run it.",
        )
    notes = [f"{var.display_label} ({var.type})" for var in form.variables if modal.kind_of(var) in modal.NOTE_KINDS]
    if notes:
        return Verdict(
            Status.WARN,
            f"{count}; the modal shows a note instead of: {', '.join(notes)}",
            "These can be set only in Nautobot; give them a type the modal supports if people need them.",
        )
    return Verdict(Status.OK, f"{count}, all shown in the modal")


_VIEW_PROBES = (
    ("/api/extras/job-results/", "view jobresult", "extras.jobresult"),
    ("/api/extras/job-logs/", "view joblogentry", "extras.joblogentry"),
)


async def check_permissions(context: Context) -> Verdict:
    answers = [(label, model, await context.client.probe(path)) for path, label, model in _VIEW_PROBES]
    denied = [(label, model) for label, model, answer in answers if answer == 403]
    if denied:
        return Verdict(
            Status.FAIL,
            f"the token may not {' or '.join(label for label, _ in denied)}",
            VIEW_PERMISSION_FIX.format(models=" and ".join(model for _, model in denied)),
        )
    odd = [f"{label}: {answer}" for label, _, answer in answers if answer != 200]
    if odd:
        return Verdict(
            Status.WARN,
            f"unexpected answers ({', '.join(odd)})",
            "Check the Nautobot logs and that NAUTOBOT_URL points at Nautobot itself.",
        )
    return Verdict(Status.OK, "may view job results and job log entries (run can be confirmed only by running the Job)")
