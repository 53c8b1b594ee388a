"""``doctor``'s Nautobot checks: reachable, its version, the token, the Job, its variables, the permissions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from bot.clients import nautobot_client
from bot.doctor.report import Context, Status, Verdict, last_four
from bot.nautobot import (
    Capabilities,
    JobInfo,
    JobNotFound,
    NautobotAuthError,
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


def error_detail(exc: NautobotError) -> str:
    if exc.status is not None:
        return f"HTTP {exc.status}: {exc.detail or type(exc).__name__}"
    return exc.detail or type(exc).__name__


async def check_reachable(context: Context) -> Verdict:
    base = context.s.nautobot_base
    try:
        context.nautobot = nautobot_client(context.s, transport=context.nautobot_transport(context.s))
        context.status = await context.nautobot.status()
    except NautobotAuthError as exc:
        return Verdict(Status.OK, f"Nautobot at {base} answers, but refused the token ({error_detail(exc)})")
    except NautobotError as exc:
        return Verdict(Status.FAIL, f"no usable answer from {base} ({error_detail(exc)})", str(exc))
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
    for slash, binding in context.s.commands.items():
        try:
            context.jobs[slash] = await context.client.find_job(binding.job)
        except JobNotFound as exc:
            context.job_errors[slash] = exc
        except NautobotError as exc:
            return Verdict(Status.FAIL, f"Nautobot refused to list Jobs ({error_detail(exc)}); token {tail}", str(exc))
    context.job = context.jobs.get(context.s.main_command)
    return Verdict(Status.OK, f"the token is accepted and may list Jobs; token {tail}")


async def check_job(context: Context) -> Verdict:
    """Every command's Job: installed, enabled, and without sensitive variables (which refuse approvals)."""
    failed: list[str] = []
    fixes: list[str] = []
    sensitive: list[str] = []
    found: list[str] = []
    for slash, binding in context.s.commands.items():
        job = context.jobs.get(slash)
        if job is None:
            failed.append(f"{slash}: no Job named {binding.job!r} is visible to the token")
            error = context.job_errors.get(slash)
            fixes.append(str(error) if error else f"Check the job of {slash} in COMMANDS.")
            continue
        problems, how = _job_problems(job)
        if problems:
            failed.append(f"{slash}: {job.name!r} ({job.id}) is {' and '.join(problems)}")
            fixes.extend(fix for fix in how if fix not in fixes)
        elif job.raw.get("has_sensitive_variables", False):
            sensitive.append(f"{slash}: {job.name!r}")
        else:
            found.append(f"{slash} → {job.name!r} ({job.id})")
    if failed:
        return Verdict(Status.FAIL, "; ".join(failed), " ".join(fixes))
    if sensitive:
        return Verdict(
            Status.WARN,
            f"{'; '.join(sensitive)} installed and enabled, but has_sensitive_variables is true: Nautobot refuses "
            "approvals and scheduling for it",
            SENSITIVE_FIX,
        )
    return Verdict(Status.OK, f"installed and enabled: {'; '.join(found)}")


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
    """Every found Job's variables: what its command's form cannot show, and what that means."""
    if not context.jobs:
        return Verdict(Status.SKIP, "not checked: no command's Job was found")
    counts: list[str] = []
    blocked: list[str] = []
    noted: list[str] = []
    for slash, binding in context.s.commands.items():
        if slash not in context.jobs:
            continue
        try:
            form = await context.client.job_form(binding.job)
        except NautobotError as exc:
            return Verdict(Status.FAIL, f"cannot read the variables of {binding.job!r} ({error_detail(exc)})", str(exc))
        context.forms[slash] = form
        counts.append(f"{slash}: {len(form.variables)} variable(s)")
        blocking = modal.blocking_problems(form)
        if blocking:
            blocked.append(f"{slash}: {' '.join(blocking)}")
        notes = [
            f"{var.display_label} ({var.type})" for var in form.variables if modal.kind_of(var) in modal.NOTE_KINDS
        ]
        if notes:
            noted.append(f"{slash}: {', '.join(notes)}")
    if blocked:
        return Verdict(
            Status.FAIL,
            f"required but not settable from Slack: {'; '.join(blocked)}",
            "Make those variables optional or of a type the modal supports; until then only Nautobot can run it.",
        )
    if noted:
        return Verdict(
            Status.WARN,
            f"{'; '.join(counts)}; the modal shows a note instead of: {'; '.join(noted)}",
            "These can be set only in Nautobot; give them a type the modal supports if people need them.",
        )
    return Verdict(Status.OK, f"{'; '.join(counts)}, all shown in the modal")


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
