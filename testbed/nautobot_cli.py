"""``python -m testbed.nautobot_cli [template|serve]``: build the template ahead of a test run, or
keep a whole stack up to explore by hand."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from testbed.nautobot_machine import CHECKOUT, machine_lock
from testbed.nautobot_releases import release
from testbed.nautobot_stack import ADMIN_TOKEN, BOT_TOKEN, BOT_USERNAME, EMAIL_REGEX, NautobotStack
from testbed.nautobot_template import ensure_template


def main() -> None:
    """``python -m testbed.nautobot_cli [template|serve]``, from the repository root.

    ``template`` builds the migrated template ahead of a test run; ``serve`` starts the whole
    stack with a seeded Meraki stand-in and keeps it up until interrupted, to explore by hand.
    ``TEST_NAUTOBOT=2.4`` picks the long-term release instead of 3.2.
    """
    command = sys.argv[1] if len(sys.argv) > 1 else "template"
    if command not in ("template", "serve"):
        sys.exit("usage: python -m testbed.nautobot_cli [template|serve]")
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"meraki-chatops-{command}"
    workdir.mkdir(parents=True, exist_ok=True)
    with machine_lock():
        if command == "template":
            print(ensure_template(workdir / "root", workdir / "migrate.log", release()))
            return
        from testbed.meraki_standin import MerakiStandIn
        from testbed.seed import seed

        with MerakiStandIn() as meraki:
            seed(meraki)
            stack = NautobotStack(
                workdir=workdir,
                checkout=CHECKOUT,
                meraki_env={
                    "MERAKI_BASE_URL": meraki.base_url,
                    "MERAKI_DASHBOARD_API_KEY": meraki.api_key,
                    "NAUTOBOT_JOB_MERAKI_EMAIL_VALIDATION_REGEX": EMAIL_REGEX,
                    "NAUTOBOT_JOB_MERAKI_BOT_USERS": BOT_USERNAME,
                },
            )
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                stack.start()
                print(
                    f"Nautobot {stack.url} (admin token {ADMIN_TOKEN}, bot token {BOT_TOKEN}), "
                    f"Meraki stand-in {meraki.base_url}, logs in {workdir}; Ctrl-C stops it",
                    flush=True,
                )
                signal.sigwait({signal.SIGINT, signal.SIGTERM})
            finally:
                stack.stop()


if __name__ == "__main__":
    main()
