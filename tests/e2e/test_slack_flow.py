"""From `/meraki-add-user` in Slack to the Job's log in the thread: the bot process, the Slack stand-in,
the real Nautobot and its real worker, the Meraki stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.bot_process import BotProcess
from support.manifest import bot_scopes
from support.nautobot_stack import BOT_TOKEN, EMAIL_REGEX, NautobotStack, free_port
from support.seed import ACME, BRANCH, FIELD_ORDER
from support.slack_standin import SlackStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.nautobot]

USER, CHANNEL = "U123", "C123"
FORM = "meraki_add_user"


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(scopes=bot_scopes()) as standin:  # exactly what manifest.yml grants
        standin.add_user(USER, name="alice", real_name="Alice Admin")
        standin.add_channel(CHANNEL, name="netops", members={USER}, bot_member=True)
        standin.add_channel("C999", name="elsewhere", members={USER}, bot_member=False, is_private=True)
        yield standin


@pytest.fixture(scope="module")
def chatops(slack: SlackStandIn, nautobot: NautobotStack, tmp_path_factory) -> Iterator[BotProcess]:
    process = BotProcess(
        tmp_path_factory.mktemp("bot"),
        {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_APP_TOKEN": slack.app_token,
            "SLACK_API_URL": slack.api_url,
            "NAUTOBOT_URL": nautobot.url,
            "NAUTOBOT_TOKEN": BOT_TOKEN,
            "LOG_LEVEL": "DEBUG",
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(free_port()),
        },
    ).start()
    try:
        slack.wait_connected(timeout=60)
    except TimeoutError:
        pytest.fail(f"the bot did not connect to Slack:\n{process.output()[-4000:]}")
    yield process
    process.stop()


@pytest.fixture
def flow(stack, slack, chatops):
    """Each test starts with no calls recorded and the bot running."""
    assert chatops.alive(), chatops.output()[-4000:]
    yield slack


def open_form(slack: SlackStandIn, text: str = "", channel: str = CHANNEL) -> dict:
    slack.slash_command(command="/meraki-add-user", text=text, user_id=USER, channel_id=channel)
    return slack.wait_for(lambda: _form(slack), timeout=30)


def _form(slack: SlackStandIn) -> dict | None:
    view = slack.current_view(USER)
    return view if view and view.get("callback_id") == FORM else None


def entered(view: dict, email: str, *, name="Jane Doe", org=ACME, access="read-only", network=None, dryrun=False):
    """What a person types and picks, as Slack sends it: options exactly as the modal offered them."""
    values = {
        "user_email": {"value": {"value": email}},
        "user_name": {"value": {"value": name}},
        "meraki_org_id": {"value": {"selected_option": option(view, "meraki_org_id", org)}},
        "meraki_access_level": {"value": {"selected_option": option(view, "meraki_access_level", access)}},
    }
    if network:
        values["meraki_network"] = {"value": {"value": network}}
    if dryrun:
        values["dryrun"] = {"value": {"selected_options": [option(view, "dryrun", "true")]}}
    return values


def option(view: dict, block_id: str, value: str) -> dict:
    [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return next(o for o in block["element"]["options"] if o["value"] == value)


def submit(slack: SlackStandIn, view: dict, values: dict, channel: str = CHANNEL) -> tuple[dict, int]:
    """Press Submit; also return how many messages the channel had, to find the new parent."""
    before = len(slack.messages(channel))
    return slack.submit_view(view["id"], values, user_id=USER), before


def parent_message(slack: SlackStandIn, before: int, channel: str = CHANNEL) -> dict:
    """The parent message this submission posted, once it shows a final status."""

    def final():
        for message in slack.messages(channel)[before:]:
            text = message.get("text", "").lower()
            if any(word in text for word in ("succeeded", "failed", "cancelled")):
                return message
        return None

    return slack.wait_for(final, timeout=90)


def thread_text(slack: SlackStandIn, channel: str, ts: str) -> str:
    return "\n".join(
        str(block) for reply in slack.messages(channel, thread_ts=ts) for block in reply.get("blocks") or []
    )


def test_the_modal_mirrors_the_job_and_prefills_from_the_command(flow):
    view = open_form(flow, "bob@example.com read-only")
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == FIELD_ORDER
    by_id = {b["block_id"]: b for b in inputs}
    assert by_id["user_email"]["element"]["type"] == "email_text_input"
    assert by_id["user_email"]["element"]["initial_value"] == "bob@example.com"
    assert by_id["meraki_access_level"]["element"]["initial_option"]["value"] == "read-only"
    assert [o["value"] for o in by_id["meraki_org_id"]["element"]["options"]] == [ACME, "222222"]
    assert by_id["dryrun"]["element"]["type"] == "checkboxes"
    assert by_id["meraki_network"].get("optional") is True
    assert flow.unacked == []


def test_submission_runs_the_job_and_posts_the_log_in_the_thread(flow, meraki):
    view = open_form(flow)
    ack, before = submit(flow, view, entered(view, "jane.doe@example.com", network="Branch Office"))
    assert ack.get("response_action") in (None, "clear", "update")

    parent = parent_message(flow, before)
    assert "succeeded" in parent["text"].lower()
    [admin] = meraki.admins(ACME)
    assert admin["email"] == "jane.doe@example.com"
    assert admin["networks"] == [{"id": BRANCH, "access": "read-only"}]

    thread = thread_text(flow, CHANNEL, parent["ts"])
    assert "Created administrator" in thread and admin["id"] in thread
    assert "Organization Acme Corp (111111) is reachable" in thread
    blocks = str(parent["blocks"])
    assert f"<@{USER}>" in blocks and "/extras/job-results/" in blocks


def test_a_dry_run_creates_nothing(flow, meraki):
    view = open_form(flow)
    _, before = submit(flow, view, entered(view, "dry.run@example.com", dryrun=True))
    parent = parent_message(flow, before)
    assert "succeeded" in parent["text"].lower() and "dry run" in parent["text"]
    assert meraki.admins(ACME) == []
    assert "Dry run: would create" in thread_text(flow, CHANNEL, parent["ts"])


def test_an_email_against_the_regex_comes_back_on_the_email_field(flow, meraki):
    view = open_form(flow)
    ack, _ = submit(flow, view, entered(view, "someone@elsewhere.test"))
    errors = ack["errors"]
    assert list(errors) == ["user_email"]
    assert "Must match regex" in errors["user_email"] or EMAIL_REGEX in errors["user_email"]
    assert flow.current_view(USER)["id"] == view["id"]  # the form stays open with what was typed
    assert meraki.requests_to("POST", ".*") == []


def test_a_failing_job_shows_its_failure_lines(flow, meraki):
    view = open_form(flow)
    _, before = submit(flow, view, entered(view, "jane.doe@example.com", network="Brnach Ofice"))
    parent = parent_message(flow, before)
    assert "failed" in parent["text"].lower()
    thread = thread_text(flow, CHANNEL, parent["ts"])
    assert "No network 'Brnach Ofice'" in thread and "Closest names: Branch Office" in thread


def test_user_text_never_pings_anyone(flow):
    view = open_form(flow)
    _, before = submit(flow, view, entered(view, "jane.doe@example.com", name="<!channel> <@U999> hi"))
    parent = parent_message(flow, before)
    everything = str(parent["blocks"]) + parent["text"] + thread_text(flow, CHANNEL, parent["ts"])
    assert "<!channel>" not in everything and "<@U999>" not in everything
    assert "&lt;!channel&gt;" in everything


def test_nautobot_down_at_submit_gives_a_clear_message(flow, nautobot, meraki):
    view = open_form(flow)
    nautobot.web.stop()
    try:
        ack, _ = submit(flow, view, entered(view, "jane.doe@example.com"))
    finally:
        nautobot.web.start(nautobot.env())
        nautobot._wait_for_web()
    assert ack["response_action"] == "update"
    shown = flow.current_view(USER)
    text = str(shown["blocks"])
    assert "Nothing was submitted" in text and "Nautobot" in text
    assert meraki.admins(ACME) == []


def test_no_channel_membership_falls_back_to_a_direct_message(flow):
    view = open_form(flow, channel="C999")
    flow.submit_view(view["id"], entered(view, "dm.only@example.com"), user_id=USER)
    opened = flow.wait_for(lambda: flow.calls_to("conversations.open")[-1], timeout=60)
    channel = opened.response["channel"]["id"]
    parent = parent_message(flow, 0, channel=channel)
    assert "succeeded" in parent["text"].lower()
    assert any("/invite" in str(m.get("blocks")) for m in flow.messages(channel))


def test_health_readiness_and_metrics(flow, chatops):
    base = f"http://127.0.0.1:{chatops.env['WEB_PORT']}"
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"slack": True, "nautobot": True, "ledger": True}
    metrics = httpx.get(f"{base}/metrics").text
    assert 'meraki_chatops_requests_total{outcome="submitted"}' in metrics
    assert "meraki_chatops_socket_mode_connected 1.0" in metrics
