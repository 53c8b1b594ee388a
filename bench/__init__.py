"""Benchmarks of the bot against local stand-ins of Slack and Nautobot, with a naive design as the baseline.

The Slack stand-in and Nautobot's JSON shapes come from the test suite, as ``tests.support``; run
the benchmarks from the repository root (``python -m bench``) so both packages are importable.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
