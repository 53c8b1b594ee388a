"""Benchmarks of the bot against local stand-ins of Slack and Nautobot, with a naive design as the baseline.

The Slack stand-in, Nautobot's JSON shapes and the real-Nautobot harness are the ones the tests run
against, in ``testbed``; run the benchmarks from the repository root (``python -m bench``) so both
packages are importable.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
