"""``meraki-chatops doctor``: check every setting and connection the bot needs, before it runs.

Each check says what it found and, when something is wrong, what to change. A check whose answer
would mean nothing after an earlier failure is reported as SKIP, so the first real problem stands
out. No token is ever shown: at most its last four characters.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable

from pydantic import ValidationError

from bot.doctor.approvers_check import check_approvers, check_nautobot_approvers
from bot.doctor.events_check import check_events
from bot.doctor.expiry_check import check_expiry
from bot.doctor.ledger_check import check_ledger
from bot.doctor.nautobot_checks import (
    check_job,
    check_permissions,
    check_reachable,
    check_token,
    check_variables,
    check_version,
    network,
)
from bot.doctor.policy_check import check_policy
from bot.doctor.report import (
    Check,
    Context,
    NautobotTransportFactory,
    SlackClientFactory,
    Status,
    Step,
    Verdict,
    render,
)
from bot.doctor.slack_checks import (
    REQUIRED_SCOPES,
    check_slack_auth,
    check_slack_scopes,
    check_socket_mode,
    slack_client,
)
from bot.logs import scrub
from bot.settings import Settings, SettingsError, describe, load_settings

__all__ = [
    "REQUIRED_SCOPES",
    "Check",
    "Status",
    "as_dicts",
    "doctor",
    "exit_code",
    "render",
    "run_checks",
]


def _from_environment() -> Settings:
    return load_settings(Settings)


async def run_checks(
    settings_loader: Callable[[], Settings] | None = None,
    *,
    slack_client_factory: SlackClientFactory | None = None,
    nautobot_factory: NautobotTransportFactory | None = None,
) -> list[Check]:
    """Every check in order; one that depends on a failed check is SKIP with the reason."""
    context = Context(
        settings_loader or _from_environment, slack_client_factory or slack_client, nautobot_factory or network
    )
    checks: list[Check] = []
    try:
        for step in STEPS:
            checks.append(await _run_step(step, context, checks))
    finally:
        if context.nautobot is not None:
            await context.nautobot.aclose()
    return [_scrubbed(check, context.secrets()) for check in checks]


async def _run_step(step: Step, context: Context, done: list[Check]) -> Check:
    blocker = next((c for c in done if c.name in step.needs and c.status in (Status.FAIL, Status.SKIP)), None)
    if blocker is None:
        return Check(step.name, *await step.run(context))
    if blocker.status is Status.SKIP:
        return Check(step.name, Status.SKIP, blocker.detail)
    return Check(step.name, Status.SKIP, f"not checked: the {blocker.name} check failed")


def exit_code(checks: Iterable[Check]) -> int:
    """1 when any check failed, else 0 (warnings do not stop the bot)."""
    return 1 if any(check.status is Status.FAIL for check in checks) else 0


async def doctor(argv_json: bool) -> int:
    """Run every check, print the table (or JSON), and return the exit code."""
    checks = await run_checks()
    if argv_json:
        print(json.dumps(as_dicts(checks), indent=2, ensure_ascii=False))
    else:
        print(render(checks, color=sys.stdout.isatty()))
    return exit_code(checks)


def as_dicts(checks: Iterable[Check]) -> list[dict[str, str]]:
    return [{"check": c.name, "status": str(c.status), "detail": c.detail, "fix": c.fix} for c in checks]


def _scrubbed(check: Check, secrets: list[str]) -> Check:
    """A last guard: any error text that echoed a secret loses it before it is printed."""
    return Check(check.name, check.status, scrub(check.detail, secrets=secrets), scrub(check.fix, secrets=secrets))


async def check_settings(context: Context) -> Verdict:
    try:
        context.settings = context.load_settings()
    except ValidationError as exc:
        return Verdict(Status.FAIL, describe(exc), "Set the settings named above, then run doctor again.")
    except SettingsError as exc:
        return Verdict(Status.FAIL, str(exc), "Set the settings named above, then run doctor again.")
    s = context.s
    bound = ", ".join(f"{slash} → {binding.job!r}" for slash, binding in s.commands.items())
    return Verdict(Status.OK, f"Slack API {s.slack_api_url}, Nautobot {s.nautobot_base}, commands {bound}")


STEPS: tuple[Step, ...] = (
    Step("settings", check_settings),
    Step("slack auth", check_slack_auth, ("settings",)),
    Step("slack scopes", check_slack_scopes, ("slack auth",)),
    Step("approvers", check_approvers, ("slack scopes",)),
    Step("socket mode", check_socket_mode, ("settings",)),
    Step("nautobot reachable", check_reachable, ("settings",)),
    Step("nautobot version", check_version, ("nautobot reachable",)),
    Step("nautobot token", check_token, ("nautobot reachable",)),
    Step("job", check_job, ("nautobot token",)),
    Step("job variables", check_variables, ("nautobot token",)),
    Step("access policy", check_policy, ("settings",)),
    Step("job permissions", check_permissions, ("nautobot token",)),
    Step("access expiry", check_expiry, ("nautobot token",)),
    Step("nautobot approvers", check_nautobot_approvers, ("nautobot token",)),
    Step("ledger", check_ledger, ("settings",)),
    Step("nautobot events", check_events, ("settings",)),
)
