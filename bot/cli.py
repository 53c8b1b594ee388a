"""The ``meraki-chatops`` command."""

from __future__ import annotations

import argparse
from importlib.metadata import version


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="meraki-chatops",
        description="Add Cisco Meraki dashboard administrators from Slack, through a logged Nautobot Job.",
    )
    command.add_argument("--version", action="version", version=f"%(prog)s {version('meraki-chatops')}")
    return command


def main(argv: list[str] | None = None) -> int:
    parser().parse_args(argv)
    parser().print_help()
    return 0
