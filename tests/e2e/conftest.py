"""What the end-to-end tests share: one Slack workspace per test module (the bot connects to it once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.slack_flow import workspace
from testbed.slack_standin import SlackStandIn


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with workspace() as standin:
        yield standin
