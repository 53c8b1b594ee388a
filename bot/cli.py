"""The ``meraki-chatops`` command: ``serve`` the bot, ``preview`` its modal, ``run`` the Job from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from importlib.metadata import version
from typing import Any

from bot import logs
from bot.clients import nautobot_client
from bot.models import JobForm, LogEntry, ModalContext, RunStatus
from bot.nautobot import JobFieldErrors, NautobotClient, NautobotError
from bot.run_pace import poll_delays
from bot.settings import NautobotSettings, Settings, SettingsError, load_settings
from bot.slack import modal

EXIT_FAILED, EXIT_USAGE = 1, 2

# ``run``'s flags for the Create Meraki User Job; ``--set NAME=VALUE`` reaches any other variable.
RUN_FLAGS = {
    "user_email": "user_email",
    "user_name": "user_name",
    "org": "meraki_org_id",
    "access_level": "meraki_access_level",
    "network": "meraki_network",
    "network_access": "meraki_network_access",
}


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="meraki-chatops",
        description="Add Cisco Meraki dashboard administrators from Slack, through a logged Nautobot Job. "
        "Settings come from the environment (or .env); see the README.",
    )
    command.add_argument("--version", action="version", version=f"%(prog)s {version('meraki-chatops')}")
    sub = command.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_command = sub.add_parser("serve", help="run the Slack bot (Socket Mode, or HTTP mode with --http)")
    serve_command.add_argument(
        "--http", action="store_true", help="receive Slack's requests on /slack/events (SLACK_MODE=http)"
    )
    sub.add_parser("preview", help="print the modal built from the live Job, as Block Kit JSON")
    check = sub.add_parser("doctor", help="check every setting and connection; non-zero exit when one fails")
    check.add_argument("--json", action="store_true", help="print the checks as JSON")
    run = sub.add_parser("run", help="run the Job from this terminal and print its log as it arrives")
    run.add_argument("--user-email", required=True)
    run.add_argument("--user-name", help="defaults to the part of the email before the @")
    run.add_argument("--org", help="organization ID or name (default: the only one, if there is one)")
    run.add_argument("--access-level", default=None, help="full, read-only, enterprise or none")
    run.add_argument("--network", help="a network name or ID to grant access to")
    run.add_argument("--network-access", help="full, read-only, guest-ambassador or monitor-only")
    run.add_argument("--dry-run", action="store_true", help="check and log the plan without creating anything")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="any other Job variable")
    return command


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "doctor":  # it loads and reports the settings itself
        from bot.doctor import doctor

        return asyncio.run(doctor(args.json))
    kind = Settings if args.command == "serve" else NautobotSettings
    overrides = {"slack_mode": "http"} if getattr(args, "http", False) else {}
    try:
        settings = load_settings(kind, **overrides)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        logs.configure(settings.log_level, settings.log_format)
    except ValueError as exc:
        print(f"LOG_LEVEL: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(settings, Settings):
        return asyncio.run(serve(settings, args))
    command = {"preview": preview, "run": run_job}[args.command]
    return asyncio.run(command(settings, args))


async def serve(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.ledger import Ledger, LedgerError
    from bot.serve import serve as run_bot

    try:
        ledger = await Ledger.open(
            settings.store_url.get_secret_value(), owner=settings.replica_id, lease=settings.lease_seconds
        )
    except LedgerError as exc:
        print(f"The bot cannot open its ledger at STORE_URL: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return await run_bot(settings, ledger)
    finally:
        await ledger.close()


async def preview(settings: NautobotSettings, _args: argparse.Namespace) -> int:
    async with nautobot_client(settings) as client:
        try:
            form = await client.job_form(settings.main_job)
        except NautobotError as exc:
            print(exc, file=sys.stderr)
            return EXIT_FAILED
    context = ModalContext(channel_id="C0PREVIEW", user_id="U0PREVIEW", job_id=form.job_id)
    print(json.dumps(modal.build_modal(form, context=context).to_dict(), indent=2, ensure_ascii=False))
    return 0


def run_values(args: argparse.Namespace, form: JobForm) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for flag, name in RUN_FLAGS.items():
        given = getattr(args, flag)
        if given is not None and form.variable(name) is not None:
            values[name] = given
    if "user_name" not in values and form.variable("user_name"):
        values["user_name"] = args.user_email.split("@")[0]
    org = form.variable("meraki_org_id")
    if org is not None:
        values["meraki_org_id"] = _choice(org.choices, values.get("meraki_org_id"))
    for item in args.set:
        name, _, value = item.partition("=")
        values[name.strip()] = value
    if args.dry_run:
        values["dryrun"] = True
    defaults = {var.name: var.default for var in form.variables if var.default is not None}
    return {name: value for name, value in {**defaults, **values}.items() if value is not None}


def _choice(choices: list[tuple[str, str]], given: str | None) -> str | None:
    """A choice by value or by (case-insensitive) label; with one choice and nothing given, that one."""
    if given is None:
        return choices[0][0] if len(choices) == 1 else None
    for value, label in choices:
        if (
            given in (value, label)
            or given.casefold() == label.casefold()
            or label.casefold().startswith(given.casefold() + " (")
        ):
            return value
    return given


async def run_job(settings: NautobotSettings, args: argparse.Namespace) -> int:
    async with nautobot_client(settings) as client:
        try:
            form = await client.job_form(settings.main_job)
            values = run_values(args, form)
            errors = modal.validate(values, form, email_regex=settings.email_regex)
            if errors:
                return _refused(errors)
            submission = await client.run_job(form.job_id, values)
        except JobFieldErrors as exc:
            on_fields, general = modal.field_errors(exc.errors, form)
            return _refused({**on_fields, **{f"#{n}": text for n, text in enumerate(general)}})
        except NautobotError as exc:
            print(exc, file=sys.stderr)
            return EXIT_FAILED
        if submission.run is None:
            print(f"Waiting for approval in Nautobot: {submission.scheduled_url}")
            return 0
        print(f"Running {form.job_name}: {submission.run.url}")
        return await _follow(client, submission.run.result_id, settings.follow_timeout_seconds)


def _refused(errors: dict[str, str]) -> int:
    print("Nautobot would not run the Job:", file=sys.stderr)
    for name, message in errors.items():
        print(f"  {name}: {message}", file=sys.stderr)
    return EXIT_USAGE


async def _follow(client: NautobotClient, result_id: str, timeout: float) -> int:
    started = time.monotonic()
    printed = 0
    for delay in poll_delays(lambda: time.monotonic() - started):
        await asyncio.sleep(delay)
        try:
            run = await client.job_result(result_id)
            entries = await client.job_logs(result_id)
        except NautobotError as exc:
            if not getattr(exc, "retryable", False):
                raise
            print(f"(Nautobot unavailable, still waiting: {exc})", file=sys.stderr)
            continue
        for entry in entries[printed:]:
            print(log_line(entry))
        printed = len(entries)
        if run.status.is_final:
            print(f"{run.status.value}: {run.url}")
            return 0 if run.status == RunStatus.SUCCEEDED else EXIT_FAILED
        if time.monotonic() - started > timeout:
            print(f"Still running in Nautobot after {timeout:.0f} s: {run.url}")
            return EXIT_FAILED
    return EXIT_FAILED


def log_line(entry: LogEntry) -> str:
    return f"{entry.created:%H:%M:%S} {entry.log_level:<8} {entry.grouping:<14} {entry.message}"
