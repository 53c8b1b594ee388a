"""The ``meraki-chatops`` command: ``serve`` the bot, ``preview`` its modal, ``run`` a command's Job from a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from importlib.metadata import version

from bot import logs, run_inputs
from bot.clients import nautobot_client
from bot.models import LogEntry, ModalContext, RunStatus
from bot.nautobot import JobFieldErrors, NautobotClient, NautobotError
from bot.runs.pace import poll_delays
from bot.settings import NautobotSettings, Settings, SettingsError, load_settings
from bot.slack import modal

EXIT_FAILED, EXIT_USAGE = 1, 2


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
    run = sub.add_parser(
        "run",
        help="run a command's Job from this terminal and print its log as it arrives",
        usage="%(prog)s [COMMAND] [--VARIABLE VALUE ...] [--var NAME=VALUE ...] [--dry-run]",
        description="Run the Job a slash command of COMMANDS runs (default: the first, e.g. /meraki-add-user), "
        "with the same form checks as in Slack. Each of the Job's variables is a flag named after it "
        "(--user-email for user_email; the end or a part of the name will do when it names only one: --org, "
        "--access-level); a choice is given by its value or label. A required <x>_name left out is the part "
        "of <x>_email before the @.",
        allow_abbrev=False,
    )
    run.add_argument("--var", "--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--dry-run", action="store_true", help="run the Job's dry run (its DryRunVar)")
    return command


def main(argv: list[str] | None = None) -> int:
    command_line = parser()
    args, unplaced = command_line.parse_known_args(argv)
    if unplaced and args.command != "run":  # only run's flags come from the Job's form
        command_line.error(f"unrecognized arguments: {' '.join(unplaced)}")
    args.arguments = unplaced
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


async def run_job(settings: NautobotSettings, args: argparse.Namespace) -> int:
    try:
        command, given = run_inputs.split_arguments(args.arguments)
        job = run_inputs.job_of(settings.commands, command or settings.main_command)
    except run_inputs.UsageError as exc:
        return _usage(exc)
    async with nautobot_client(settings) as client:
        try:
            form = await client.job_form(job)
            values = run_inputs.run_values(form, given, args.assignments, dry_run=args.dry_run)
            errors = modal.validate(values, form, email_regex=settings.email_regex)
            if errors:
                return _refused(errors)
            submission = await client.run_job(form.job_id, values)
        except run_inputs.UsageError as exc:
            return _usage(exc)
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


def _usage(problem: Exception) -> int:
    print(f"meraki-chatops run: {problem}", file=sys.stderr)
    return EXIT_USAGE


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
