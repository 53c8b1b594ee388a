"""What the audit writes: the ledger always, nautobot-chatops' command log for finished requests only."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.audit import Audit
from bot.ledger import AuditAction, AuditEntry, AuditOutcome, Ledger
from bot.nautobot import ChatOpsApp, NautobotClient
from tests.support.audit_trail import audit_trail

pytestmark = pytest.mark.security

LINK_ID = "5b0c8c3e-0d6e-4a53-9f6e-0f6f3b2f1a10"
ALICE_ID = "7d8e9f00-1111-4222-8333-944455556666"


class FakeChatOps:
    """The app's API: one account link (U0ALICE → alice) in the change log, and the command log."""

    def __init__(self) -> None:
        self.logged: list[dict] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/extras/object-changes/":
            found = [{"changed_object_id": LINK_ID}] if request.url.params["q"] == "U0ALICE" else []
            return httpx.Response(200, json={"count": len(found), "next": None, "results": found})
        if path == f"/api/plugins/chatops/accountlink/{LINK_ID}/":
            user = {"id": ALICE_ID, "username": "alice"}
            return httpx.Response(
                200, json={"id": LINK_ID, "user_id": "U0ALICE", "platform": "slack", "nautobot_user": user}
            )
        if path == "/api/plugins/chatops/commandlog/" and request.method == "POST":
            self.logged.append(json.loads(request.content))
            return httpx.Response(201, json={"id": f"row-{len(self.logged)}"})
        return httpx.Response(404, json={"detail": "Not found."})


@pytest.fixture
async def ledger(tmp_path: Path):
    opened = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}")
    yield opened
    await opened.close()


async def test_a_refusal_goes_to_the_ledger_and_to_the_command_log_as_blocked(ledger: Ledger):
    fake = FakeChatOps()
    client = NautobotClient("https://nautobot.example.com", "t" * 40, transport=httpx.MockTransport(fake))
    audit = Audit(ledger, ChatOpsApp(client), command="meraki", subcommand="add-user")

    entry = AuditEntry(
        AuditAction.SUBMIT,
        AuditOutcome.DENIED,
        "U0ALICE",
        user_name="alice",
        channel_id="C0NETOPS",
        inputs={"user_email": "jane@example.com", "dryrun": True},
        reason="Access to /meraki-add-user is not permitted in channel C0NETOPS.",
        source="NAUTOBOT_CHATOPS",
    )
    await audit.record(entry)
    await audit.drain()

    [stored] = await audit_trail(ledger)
    assert stored.nautobot_user == "alice" and stored.outcome == "denied"
    [row] = fake.logged
    assert row["status"] == "blocked" and row["nautobot_user"] == ALICE_ID
    assert (row["command"], row["subcommand"], row["platform"]) == ("meraki", "add-user", "Slack")
    assert row["params"] == [["user_email", "jane@example.com"], ["dryrun", "true"]]
    assert row["details"].startswith("Access to /meraki-add-user")
    await client.aclose()


@pytest.mark.parametrize(
    ("action", "outcome", "status"),
    [
        (AuditAction.COMMAND, AuditOutcome.ALLOWED, None),  # only opened a form
        (AuditAction.SUBMIT, AuditOutcome.INVALID, None),  # sent back for corrections
        (AuditAction.SUBMIT, AuditOutcome.SUBMITTED, "succeeded"),
        (AuditAction.SUBMIT, AuditOutcome.REFUSED, "failed"),
        (AuditAction.RETRY, AuditOutcome.UNSENT, "errored"),
        (AuditAction.CANCEL, AuditOutcome.ALLOWED, "succeeded"),
        (AuditAction.CANCEL, AuditOutcome.DENIED, "blocked"),
        (AuditAction.COMMAND, AuditOutcome.LIMITED, "blocked"),  # used more often than the rate limit lets
    ],
)
async def test_the_command_log_gets_finished_requests_like_the_apps_own_commands(ledger, action, outcome, status):
    fake = FakeChatOps()
    client = NautobotClient("https://nautobot.example.com", "t" * 40, transport=httpx.MockTransport(fake))
    audit = Audit(ledger, ChatOpsApp(client), command="meraki", subcommand="add-user")

    await audit.record(AuditEntry(action, outcome, "U0BOB", request_id="V1:abc", reason="why"))
    await audit.drain()

    assert [row["status"] for row in fake.logged] == ([status] if status else [])
    if status:
        assert fake.logged[0]["nautobot_user"] is None  # U0BOB linked no account
        assert ["request", "V1:abc"] in fake.logged[0]["params"]
    assert len(await audit_trail(ledger)) == 1
    await client.aclose()


async def test_without_nautobot_chatops_only_the_ledger_is_written(ledger: Ledger):
    audit = Audit(ledger)
    await audit.record(AuditEntry(AuditAction.COMMAND, AuditOutcome.DENIED, "U0BOB", reason="no policy"))
    assert audit.tasks == set()
    assert [e.reason for e in await audit_trail(ledger)] == ["no policy"]


async def test_an_audit_the_ledger_cannot_take_does_not_break_the_request(ledger: Ledger, caplog):
    audit = Audit(ledger)
    await ledger.close()
    recorded = await audit.record(AuditEntry(AuditAction.COMMAND, AuditOutcome.DENIED, "U0BOB", reason="x"))
    assert recorded is not None and recorded.at is not None
    assert "cannot write the audit entry" in caplog.text


async def test_a_failing_command_log_is_logged_not_raised(ledger: Ledger, caplog):
    def broken(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(400, json={"platform_color": ["Enter a valid hexadecimal RGB color code."]})
        return httpx.Response(200, json={"count": 0, "next": None, "results": []})

    client = NautobotClient("https://nautobot.example.com", "t" * 40, transport=httpx.MockTransport(broken))
    audit = Audit(ledger, ChatOpsApp(client), command="meraki", subcommand="add-user")
    await audit.record(AuditEntry(AuditAction.SUBMIT, AuditOutcome.DENIED, "U0BOB", reason="x"))
    await audit.drain()
    assert "cannot write the ChatOps command log" in caplog.text and "platform_color" in caplog.text
    await client.aclose()
