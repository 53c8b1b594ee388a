"""What a running bot process says about itself: its /metrics and the events' line of its /readyz."""

from __future__ import annotations

import re

import httpx

from testbed.bot_process import BotProcess


def probes(chatops: BotProcess) -> str:
    return f"http://127.0.0.1:{chatops.env['WEB_PORT']}"


def metric(chatops: BotProcess, name: str) -> float:
    text = httpx.get(f"{probes(chatops)}/metrics", timeout=10).text
    match = re.search(rf"^meraki_chatops_{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match[1])


def events_detail(chatops: BotProcess) -> str:
    ready = httpx.get(f"{probes(chatops)}/readyz", timeout=10)
    body = ready.json()
    # Whatever the events do, they never make the bot unready (polling goes on): they are no check of /readyz,
    # and it answers 503 only for a check that failed (a slow answer from the real Nautobot now and then).
    assert "nautobot_events" not in body["checks"], ready.text
    assert (ready.status_code == 200) == all(body["checks"].values()), ready.text
    return body["details"]["nautobot_events"]
