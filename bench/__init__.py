"""Benchmarks of the bot against local stand-ins of Slack and Nautobot, with a naive design as the baseline."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The Slack stand-in and Nautobot's JSON shapes live in the test suite's support package.
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
