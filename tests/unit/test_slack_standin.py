"""The Slack stand-in must behave like Slack for the real slack_sdk and slack_bolt clients.

Every check goes through the SDKs the bot uses, so a stand-in that drifts from what they
send or expect fails here rather than in the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    EmailInputElement,
    InputBlock,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from testbed.slack_standin import (
    BOT_USER_ID,
    DEFAULT_BOT_SCOPES,
    DEFAULT_CHAT_UPDATE_LIMIT,
    DEFAULT_POST_MESSAGE_LIMIT,
    METHOD_SCOPES,
    RateLimit,
    SlackStandIn,
)
from tests.support.bolt_socket import BoltBot

ALICE = "U123"
MALLORY = "U999"
NETOPS = "C123"


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn() as server:
        seed(server)
        yield server


@pytest.fixture
def quick_standin() -> Iterator[SlackStandIn]:
    """Acks time out after 0.5 s instead of Slack's 3 s, to keep the suite fast."""
    with SlackStandIn(ack_timeout=0.5) as server:
        seed(server)
        yield server


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(token=standin.bot_token, base_url=standin.api_url)


def seed(server: SlackStandIn) -> None:
    server.add_user(ALICE, "alice", email="alice@example.com", real_name="Alice Liddell")
    server.add_user(MALLORY, "mallory")
    server.add_channel(NETOPS, "netops", members={ALICE})


def slack_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call(*args, **kwargs)
    return info.value.response.data


def add_user_modal(title: str = "Add Meraki user") -> View:
    return View(
        type="modal",
        callback_id="add_user",
        title=PlainTextObject(text=title),
        submit=PlainTextObject(text="Add"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"channel_id": NETOPS}),
        blocks=[
            InputBlock(
                block_id="email_b",
                label="Email",
                element=EmailInputElement(action_id="email_a"),
            ),
            InputBlock(
                block_id="org_b",
                label="Organization",
                element=StaticSelectElement(action_id="org_a", options=[Option(value="100", text="Acme")]),
            ),
        ],
    )


def raw_modal(**changes: Any) -> dict[str, Any]:
    view = add_user_modal().to_dict()
    view.update(changes)
    return view


def raw_input(element: dict[str, Any], block_id: str = "x_b") -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": "Field"},
        "element": element,
    }


def options(count: int, text_len: int = 5, value_len: int = 5) -> list[dict[str, Any]]:
    return [
        {"text": {"type": "plain_text", "text": f"{i}".ljust(text_len, "t")}, "value": f"{i}".ljust(value_len, "v")}
        for i in range(count)
    ]


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


# --------------------------------------------------------------------------------------
# Authentication, token types and scopes
# --------------------------------------------------------------------------------------


def test_auth_test_identifies_the_bot(client: WebClient) -> None:
    answer = client.auth_test()

    assert answer["user_id"] == BOT_USER_ID
    assert {"url", "team", "user", "team_id", "bot_id"} <= set(answer.data)


def test_missing_or_unknown_tokens_are_refused(standin: SlackStandIn) -> None:
    anonymous = WebClient(base_url=standin.api_url)
    stranger = WebClient(token="xoxb-someone-else", base_url=standin.api_url)

    assert slack_error(anonymous.auth_test)["error"] == "not_authed"
    assert slack_error(stranger.auth_test)["error"] == "invalid_auth"


def test_app_token_only_opens_connections(standin: SlackStandIn, client: WebClient) -> None:
    app_client = WebClient(token=standin.app_token, base_url=standin.api_url)

    url = app_client.apps_connections_open(app_token=standin.app_token)["url"]

    assert url.startswith(f"ws://127.0.0.1:{standin.port}/socket?ticket=")
    wrong_way = slack_error(client.apps_connections_open, app_token=standin.bot_token)
    assert wrong_way["error"] == "not_allowed_token_type"
    assert slack_error(app_client.auth_test)["error"] == "not_allowed_token_type"


def test_missing_scope_names_needed_and_provided() -> None:
    with SlackStandIn(scopes={"commands", "users:read"}) as server:
        seed(server)
        client = WebClient(token=server.bot_token, base_url=server.api_url)

        error = slack_error(client.chat_postMessage, channel=NETOPS, text="hi")

    assert error == {
        "ok": False,
        "error": "missing_scope",
        "needed": "chat:write",
        "provided": "commands,users:read",
    }


def test_scope_table_covers_every_method_and_defaults(standin: SlackStandIn) -> None:
    assert METHOD_SCOPES["chat.postMessage"] == "chat:write"
    assert METHOD_SCOPES["views.open"] is None
    assert "connections:write" not in DEFAULT_BOT_SCOPES
    assert standin.scopes == set(DEFAULT_BOT_SCOPES)


def test_unknown_method(client: WebClient) -> None:
    assert slack_error(client.api_call, "chat.frobnicate")["error"] == "unknown_method"


def test_form_bodies_and_token_fields_are_read_like_slack(standin: SlackStandIn) -> None:
    blocks = [section("*hello*")]
    form = {"token": standin.bot_token, "channel": NETOPS, "blocks": json.dumps(blocks)}

    answer = httpx.post(f"{standin.api_url}chat.postMessage", data=form).json()

    assert answer["ok"] is True
    call = standin.calls_to("chat.postMessage")[-1]
    assert call.token == standin.bot_token
    assert call.args["blocks"][0]["text"] == blocks[0]["text"]
    assert "token" not in call.args


# --------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------


def test_post_message_threads_and_increasing_ts(standin: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=NETOPS, text="⏳ job submitted")
    reply = client.chat_postMessage(channel=NETOPS, text="log line", thread_ts=parent["ts"])
    orphan = client.chat_postMessage(channel=NETOPS, text="lost", thread_ts="1.000001")

    assert float(parent["ts"]) < float(reply["ts"]) < float(orphan["ts"])
    assert parent["channel"] == NETOPS and parent["message"]["bot_id"]
    assert [m["text"] for m in standin.messages(NETOPS)] == ["⏳ job submitted"]
    assert [m["text"] for m in standin.messages(NETOPS, parent["ts"])] == ["log line"]
    assert standin.messages(NETOPS)[0]["reply_count"] == 1
    assert standin.messages(NETOPS, "1.000001")[0]["text"] == "lost"


def test_post_message_channel_rules(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_channel("C200", "lobby", members={ALICE}, bot_member=False)
    standin.add_channel("G300", "secret", members={ALICE}, is_private=True, bot_member=False)

    assert slack_error(client.chat_postMessage, channel="C404", text="x")["error"] == "channel_not_found"
    assert slack_error(client.chat_postMessage, channel="G300", text="x")["error"] == "channel_not_found"
    assert slack_error(client.chat_postMessage, channel="C200", text="x")["error"] == "not_in_channel"

    standin.scopes.add("chat:write.public")
    assert client.chat_postMessage(channel="C200", text="x")["ok"]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_post_message_content_rules(standin: SlackStandIn, client: WebClient) -> None:
    assert slack_error(client.chat_postMessage, channel=NETOPS)["error"] == "no_text"
    too_long = "x" * 40_001
    assert slack_error(client.chat_postMessage, channel=NETOPS, text=too_long)["error"] == "msg_too_long"

    answer = client.chat_postMessage(channel=NETOPS, text="", blocks=[section("only blocks")])

    stored = standin.message(NETOPS, answer["ts"])
    assert stored["text"] == "" and stored["blocks"][0]["block_id"]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([section(f"{i}") for i in range(51)], "/blocks"),
        ([section("x" * 3001)], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}], "/blocks/0/text/type"),
        ([raw_input({"type": "plain_text_input", "action_id": "a"})], "/blocks/0/type"),
        ([section("a", "same"), section("b", "same")], "/blocks/1/block_id"),
        ([{"type": "carousel"}], "/blocks/0/type"),
        ([section("a", "b" * 256)], "/blocks/0/block_id"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "/blocks/0/elements"),
        ([section("")], "/blocks/0/text/text"),
        (
            [{"type": "actions", "elements": [{"type": "email_text_input", "action_id": "e"}]}],
            "/blocks/0/elements/0/type",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [{"type": "button", "action_id": "b", "text": {"type": "mrkdwn", "text": "go"}}],
                }
            ],
            "/blocks/0/elements/0/text/type",
        ),
    ],
    ids=[
        "51-blocks",
        "section-3001",
        "header-151",
        "header-mrkdwn",
        "input-in-message",
        "duplicate-block-id",
        "unknown-type",
        "block-id-256",
        "context-11",
        "empty-text",
        "email-outside-input",
        "mrkdwn-button",
    ],
)
def test_message_blocks_are_validated(client: WebClient, blocks: list[dict], pointer: str) -> None:
    error = slack_error(client.chat_postMessage, channel=NETOPS, text="t", blocks=blocks)

    assert error["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in m for m in error["response_metadata"]["messages"])


def test_chat_update_keeps_history_and_owner_rules(standin: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel=NETOPS, text="⏳ running")
    human = standin.add_user_message(NETOPS, "hello bot")

    client.chat_update(channel=NETOPS, ts=posted["ts"], text="✅ done")

    stored = standin.message(NETOPS, posted["ts"])
    assert stored["text"] == "✅ done" and stored["edited"]["user"] == BOT_USER_ID
    assert [h["text"] for h in stored["history"]] == ["⏳ running"]
    assert slack_error(client.chat_update, channel=NETOPS, ts="1.2", text="x")["error"] == "message_not_found"
    assert slack_error(client.chat_update, channel=NETOPS, ts=human, text="x")["error"] == "cant_update_message"


def test_post_ephemeral_requires_a_member(standin: SlackStandIn, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel=NETOPS, user=ALICE, text="only you")

    assert answer["message_ts"]
    assert standin.ephemerals[0]["recipient"] == ALICE
    error = slack_error(client.chat_postEphemeral, channel=NETOPS, user=MALLORY, text="x")
    assert error["error"] == "user_not_in_channel"


def test_conversations_open_gives_a_dm(standin: SlackStandIn, client: WebClient) -> None:
    dm = client.conversations_open(users=ALICE)["channel"]["id"]
    client.chat_postMessage(channel=dm, text="psst")

    assert dm.startswith("D")
    assert client.conversations_open(users=ALICE)["channel"]["id"] == dm
    assert standin.messages(dm)[0]["text"] == "psst"


def test_users_info_shows_email_only_with_scope(standin: SlackStandIn, client: WebClient) -> None:
    without = client.users_info(user=ALICE)["user"]
    standin.scopes.add("users:read.email")
    with_email = client.users_info(user=ALICE)["user"]

    assert without["real_name"] == "Alice Liddell" and "email" not in without["profile"]
    assert with_email["profile"]["email"] == "alice@example.com"
    assert slack_error(client.users_info, user="U404")["error"] == "user_not_found"


def test_usergroup_members(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_usergroup("S123", [ALICE])

    assert client.usergroups_users_list(usergroup="S123")["users"] == [ALICE]
    assert slack_error(client.usergroups_users_list, usergroup="S404")["error"] == "no_such_subteam"


def test_usergroup_members_need_the_scope_and_a_plan_with_groups(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_usergroup("S123", [ALICE])
    standin.set_usergroups_available(False)
    assert slack_error(client.usergroups_users_list, usergroup="S123")["error"] == "plan_upgrade_required"

    standin.scopes.discard("usergroups:read")
    refused = slack_error(client.usergroups_users_list, usergroup="S123")
    assert (refused["error"], refused["needed"]) == ("missing_scope", "usergroups:read")


# --------------------------------------------------------------------------------------
# Views and triggers
# --------------------------------------------------------------------------------------


def test_views_open_with_sdk_models(standin: SlackStandIn, client: WebClient) -> None:
    view = client.views_open(trigger_id=standin.new_trigger(ALICE), view=add_user_modal())["view"]

    assert view["id"].startswith("V") and view["hash"]
    assert view["state"] == {"values": {}}
    assert json.loads(view["private_metadata"]) == {"channel_id": NETOPS}
    assert standin.current_view(ALICE) == standin.views[view["id"]] == view
    assert standin.current_view(MALLORY) is None


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (raw_modal(title={"type": "plain_text", "text": "t" * 25}), "/view/title/text"),
        (raw_modal(title={"type": "mrkdwn", "text": "*Add*"}), "/view/title/type"),
        (raw_modal(submit={"type": "plain_text", "text": "s" * 25}), "/view/submit/text"),
        (raw_modal(submit=None), "/view/submit"),
        (raw_modal(callback_id="c" * 256), "/view/callback_id"),
        (raw_modal(private_metadata="m" * 3001), "/view/private_metadata"),
        (raw_modal(blocks=[section(f"{i}") for i in range(101)]), "/view/blocks"),
        (
            raw_modal(
                blocks=[raw_input({"type": "static_select", "action_id": "s", "options": options(1, text_len=76)})]
            ),
            "/view/blocks/0/element/options/0/text/text",
        ),
        (
            raw_modal(
                blocks=[raw_input({"type": "static_select", "action_id": "s", "options": options(1, value_len=151)})]
            ),
            "/view/blocks/0/element/options/0/value",
        ),
        (
            raw_modal(blocks=[raw_input({"type": "static_select", "action_id": "s", "options": options(101)})]),
            "/view/blocks/0/element/options",
        ),
        (
            raw_modal(blocks=[raw_input({"type": "checkboxes", "action_id": "c", "options": options(11)})]),
            "/view/blocks/0/element/options",
        ),
        (
            raw_modal(
                blocks=[
                    raw_input(
                        {
                            "type": "static_select",
                            "action_id": "s",
                            "options": options(2),
                            "initial_option": options(3)[2],
                        }
                    )
                ]
            ),
            "/view/blocks/0/element/initial_option",
        ),
        (
            raw_modal(
                blocks=[
                    {**raw_input({"type": "plain_text_input"}), "label": {"type": "plain_text", "text": "l" * 2001}}
                ]
            ),
            "/view/blocks/0/label/text",
        ),
        (
            raw_modal(
                blocks=[
                    raw_input({"type": "email_text_input", "placeholder": {"type": "plain_text", "text": "p" * 151}})
                ]
            ),
            "/view/blocks/0/element/placeholder/text",
        ),
    ],
    ids=[
        "title-25",
        "title-mrkdwn",
        "submit-25",
        "inputs-without-submit",
        "callback-id-256",
        "metadata-3001",
        "101-blocks",
        "option-text-76",
        "option-value-151",
        "101-options",
        "11-checkboxes",
        "initial-option-mismatch",
        "label-2001",
        "placeholder-151",
    ],
)
def test_view_limits_on_raw_dicts(standin: SlackStandIn, client: WebClient, view: dict, pointer: str) -> None:
    error = slack_error(client.views_open, trigger_id=standin.new_trigger(ALICE), view=view)

    assert error["error"] == "invalid_arguments"
    assert any(f"[json-pointer:{pointer}]" in m for m in error["response_metadata"]["messages"])
    assert standin.current_view(ALICE) is None


def test_title_error_reads_like_slack(standin: SlackStandIn, client: WebClient) -> None:
    view = raw_modal(title={"type": "plain_text", "text": "t" * 25})

    error = slack_error(client.views_open, trigger_id=standin.new_trigger(ALICE), view=view)

    assert error["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]


def test_view_too_large(standin: SlackStandIn, client: WebClient) -> None:
    view = raw_modal(blocks=[section("x" * 2900) for _ in range(90)])

    error = slack_error(client.views_open, trigger_id=standin.new_trigger(ALICE), view=view)

    assert error["error"] == "view_too_large"


def test_triggers_are_single_use_and_known(standin: SlackStandIn, client: WebClient) -> None:
    trigger = standin.new_trigger(ALICE)
    client.views_open(trigger_id=trigger, view=add_user_modal())

    again = slack_error(client.views_open, trigger_id=trigger, view=add_user_modal())
    unknown = slack_error(client.views_open, trigger_id="1.2.abcdef", view=add_user_modal())
    garbage = slack_error(client.views_open, trigger_id="nope", view=add_user_modal())

    assert again["error"] == "exchanged_trigger_id"
    assert unknown["error"] == garbage["error"] == "invalid_trigger_id"


def test_triggers_expire() -> None:
    with SlackStandIn(trigger_ttl=0.2) as server:
        seed(server)
        client = WebClient(token=server.bot_token, base_url=server.api_url)
        trigger = server.new_trigger(ALICE)
        time.sleep(0.3)

        error = slack_error(client.views_open, trigger_id=trigger, view=add_user_modal())

    assert error["error"] == "expired_trigger_id"


def test_views_update_checks_hash_and_id(standin: SlackStandIn, client: WebClient) -> None:
    opened = client.views_open(trigger_id=standin.new_trigger(ALICE), view=add_user_modal())["view"]

    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=add_user_modal("Loading…"))["view"]

    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert standin.current_view(ALICE)["title"]["text"] == "Loading…"
    stale = slack_error(client.views_update, view_id=opened["id"], hash=opened["hash"], view=add_user_modal())
    assert stale["error"] == "hash_conflict"
    assert slack_error(client.views_update, view_id="V404", view=add_user_modal())["error"] == "not_found"


def test_views_push_stops_at_three(standin: SlackStandIn, client: WebClient) -> None:
    client.views_open(trigger_id=standin.new_trigger(ALICE), view=add_user_modal())
    for _ in range(2):
        client.views_push(trigger_id=standin.new_trigger(ALICE), view=add_user_modal("Pushed"))

    error = slack_error(client.views_push, trigger_id=standin.new_trigger(ALICE), view=add_user_modal())

    assert error["error"] == "push_limit_reached"
    assert len(standin.view_stack(ALICE)) == 3


def test_submit_view_refuses_what_the_slack_client_would(standin: SlackStandIn, client: WebClient) -> None:
    view = client.views_open(trigger_id=standin.new_trigger(ALICE), view=add_user_modal())["view"]
    org = {"org_b": {"org_a": {"selected_option": view["blocks"][1]["element"]["options"][0]}}}

    with pytest.raises(ValueError, match="email"):
        standin.submit_view(view["id"], {"email_b": {"email_a": {"value": "not-an-email"}}, **org})
    with pytest.raises(ValueError, match="required input 'email_b'"):
        standin.submit_view(view["id"], org)
    with pytest.raises(ValueError, match="no action"):
        standin.submit_view(view["id"], {"email_b": {"wrong": {"value": "a@b.example"}}, **org})
    assert standin.envelopes == []


# --------------------------------------------------------------------------------------
# Rate limits and injected faults
# --------------------------------------------------------------------------------------


def test_post_message_default_rate_limit(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_channel("C200", "other", members={ALICE})
    for i in range(DEFAULT_POST_MESSAGE_LIMIT.burst):
        client.chat_postMessage(channel=NETOPS, text=f"burst {i}")

    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=NETOPS, text="one too many")

    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "1"
    assert info.value.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel="C200", text="other channel")["ok"]


def test_chat_update_default_tier3_limit_per_workspace(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_channel("C200", "other", members={ALICE})
    standin.rate_limit("chat.postMessage", per_second=None)
    parents = [client.chat_postMessage(channel=NETOPS, text="⏳ submitted")["ts"] for _ in range(3)]
    other = client.chat_postMessage(channel="C200", text="⏳ submitted")["ts"]
    for i in range(DEFAULT_CHAT_UPDATE_LIMIT.burst):
        client.chat_update(channel=NETOPS, ts=parents[i % 3], text=f"⏳ running {i}")

    with pytest.raises(SlackApiError) as info:
        client.chat_update(channel="C200", ts=other, text="✅ done")  # another channel: the same workspace

    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "2"  # 1.2 s to the next of 50 a minute, rounded up
    assert info.value.response["error"] == "ratelimited"
    assert standin.message("C200", other)["text"] == "⏳ submitted"
    [refused] = standin.rate_limited("chat.update")
    assert (refused.status, refused.retry_after, refused.error) == (429, 2, "ratelimited")
    assert standin.rate_limited("chat.postMessage") == []
    assert client.chat_postMessage(channel="C200", text="posts have a limit of their own")["ok"]


def test_chat_update_limit_is_a_constructor_parameter() -> None:
    limit = RateLimit(per_second=1.0, burst=2, per="workspace")
    with SlackStandIn(chat_update_limit=limit) as server:
        seed(server)
        client = WebClient(token=server.bot_token, base_url=server.api_url)
        ts = client.chat_postMessage(channel=NETOPS, text="⏳")["ts"]
        client.chat_update(channel=NETOPS, ts=ts, text="1")
        client.chat_update(channel=NETOPS, ts=ts, text="2")
        assert slack_error(client.chat_update, channel=NETOPS, ts=ts, text="3")["error"] == "ratelimited"
        assert [c.status for c in server.calls_to("chat.update")] == [200, 200, 429]
    with SlackStandIn(chat_update_limit=None) as server:
        seed(server)
        client = WebClient(token=server.bot_token, base_url=server.api_url)
        ts = client.chat_postMessage(channel=NETOPS, text="⏳")["ts"]
        for i in range(DEFAULT_CHAT_UPDATE_LIMIT.burst + 5):
            client.chat_update(channel=NETOPS, ts=ts, text=str(i))
        assert server.rate_limited() == []


def test_retry_handler_honours_retry_after(standin: SlackStandIn, client: WebClient) -> None:
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    standin.rate_limit("chat.postMessage", per_second=None)
    standin.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()

    client.chat_postMessage(channel=NETOPS, text="eventually")

    assert time.monotonic() - started >= 1.0
    assert [c.status for c in standin.calls_to("chat.postMessage")] == [429, 200]


def test_configured_rate_limit_per_method(standin: SlackStandIn, client: WebClient) -> None:
    standin.rate_limit("users.info", per_second=0.5, burst=1, per="method")
    client.users_info(user=ALICE)

    with pytest.raises(SlackApiError) as info:
        client.users_info(user=MALLORY)

    assert info.value.response.headers["Retry-After"] == "2"


def test_server_errors_and_ok_false_faults(standin: SlackStandIn, client: WebClient) -> None:
    standin.fail_next("chat.update", error="internal_error")
    standin.fail_next("chat.postMessage", status=503, times=2)

    assert slack_error(client.chat_update, channel=NETOPS, ts="1.1", text="x")["error"] == "internal_error"
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=NETOPS, text="x")
    assert info.value.response.status_code == 503
    client.retry_handlers.append(ServerErrorRetryHandler(max_retry_count=1))
    assert client.chat_postMessage(channel=NETOPS, text="x")["ok"]
    assert [c.status for c in standin.calls_to("chat.postMessage")] == [503, 503, 200]


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def test_files_upload_v2_end_to_end(standin: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=NETOPS, text="job finished")

    answer = client.files_upload_v2(
        channel=NETOPS,
        thread_ts=parent["ts"],
        content="line 1\nline 2\n",
        filename="job.log",
        title="Job log",
        initial_comment="Full log attached",
    )

    assert answer["file"]["title"] == "Job log"
    [stored] = standin.files
    assert stored["content"] == b"line 1\nline 2\n"
    assert (stored["channel_id"], stored["thread_ts"]) == (NETOPS, parent["ts"])
    [reply] = standin.messages(NETOPS, parent["ts"])
    assert reply["text"] == "Full log attached" and reply["files"][0]["id"] == stored["id"]


def test_upload_mistakes_are_errors(standin: SlackStandIn, client: WebClient) -> None:
    ticket = client.files_getUploadURLExternal(filename="a.txt", length=10)

    short = httpx.post(ticket["upload_url"], content=b"12345")
    never_uploaded = slack_error(client.files_completeUploadExternal, files=[{"id": ticket["file_id"], "title": "a"}])
    unknown = slack_error(client.files_completeUploadExternal, files=[{"id": "F404", "title": "a"}])
    empty = slack_error(client.files_getUploadURLExternal, filename="a.txt", length=0)

    assert short.status_code == 400
    assert never_uploaded["error"] == unknown["error"] == "file_not_found"
    assert empty["error"] == "missing_argument"
    assert standin.files == []


# --------------------------------------------------------------------------------------
# Socket Mode with a raw client
# --------------------------------------------------------------------------------------


def test_hello_ack_round_trip_and_unacked(quick_standin: SlackStandIn) -> None:
    server = quick_standin

    async def scenario() -> tuple[dict, dict, dict]:
        opened = await AsyncWebClient(base_url=server.api_url).apps_connections_open(app_token=server.app_token)
        async with aiohttp.ClientSession() as session, session.ws_connect(opened["url"]) as ws:
            hello = await ws.receive_json(timeout=5)
            command = asyncio.create_task(asyncio.to_thread(server.slash_command, text="now"))
            envelope = await ws.receive_json(timeout=5)
            await ws.send_json({"envelope_id": envelope["envelope_id"], "payload": {"text": "ok"}})
            ack = await command
            ignored = asyncio.create_task(asyncio.to_thread(server.slash_command))
            await ws.receive_json(timeout=5)
            with pytest.raises(TimeoutError):
                await ignored
        return hello, envelope, ack

    hello, envelope, ack = asyncio.run(scenario())

    assert hello["type"] == "hello" and hello["num_connections"] == 1
    assert hello["connection_info"]["app_id"] and hello["debug_info"]
    assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"] is True
    payload = envelope["payload"]
    assert payload["command"] == "/meraki-add-user" and payload["text"] == "now"
    assert payload["user_id"] == ALICE and payload["channel_name"] == "netops"
    assert payload["trigger_id"] and payload["response_url"]
    assert ack == {"text": "ok"}
    [failed] = server.unacked
    assert failed["reason"] == "timeout" and failed["type"] == "slash_commands"


def test_connection_tickets_are_single_use(standin: SlackStandIn) -> None:
    async def scenario() -> int:
        opened = await AsyncWebClient(base_url=standin.api_url).apps_connections_open(app_token=standin.app_token)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(opened["url"]) as ws:
                await ws.receive_json(timeout=5)
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(opened["url"])
            return info.value.status

    assert asyncio.run(scenario()) == 401


def test_no_connection_is_a_failed_delivery(quick_standin: SlackStandIn) -> None:
    with pytest.raises(TimeoutError):
        quick_standin.slash_command()

    assert quick_standin.unacked[0]["reason"] == "no_connection"


# --------------------------------------------------------------------------------------
# Socket Mode with a real Bolt app
# --------------------------------------------------------------------------------------


def modal_app(app: AsyncApp) -> None:
    """Open the modal on the command; refuse every submission with a field error."""

    @app.command("/meraki-add-user")
    async def open_modal(ack: Any, body: dict, client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=add_user_modal())

    @app.view("add_user")
    async def refuse(ack: Any, view: dict) -> None:
        email = view["state"]["values"]["email_b"]["email_a"]["value"]
        await ack(response_action="errors", errors={"email_b": f"{email} is not allowed"})


def test_bolt_opens_modal_and_answers_submission_with_errors(
    standin: SlackStandIn, bolt: Callable[..., BoltBot]
) -> None:
    bolt(standin, modal_app)

    assert standin.slash_command() == {}
    view = standin.wait_for(lambda: standin.current_view(ALICE), 5)
    option = view["blocks"][1]["element"]["options"][0]
    ack = standin.submit_view(
        view["id"],
        {
            "email_b": {"email_a": {"value": "eve@example.com"}},
            "org_b": {"org_a": {"selected_option": option}},
        },
    )

    assert ack == {
        "response_action": "errors",
        "errors": {"email_b": "eve@example.com is not allowed"},
    }
    assert standin.current_view(ALICE)["id"] == view["id"]
    assert standin.rejected_acks == [] and standin.unacked == []
    assert [e.type for e in standin.envelopes] == ["slash_commands", "interactive"]


def test_bolt_listener_that_never_acks_is_recorded(quick_standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    def setup(app: AsyncApp) -> None:
        @app.command("/meraki-add-user")
        async def forgets_to_ack(body: dict) -> None:
            await asyncio.sleep(0)

    bolt(quick_standin, setup)

    with pytest.raises(TimeoutError):
        quick_standin.slash_command()

    assert [u["reason"] for u in quick_standin.unacked] == ["timeout"]


def test_bolt_button_click_carries_real_ids(
    standin: SlackStandIn, bolt: Callable[..., BoltBot], client: WebClient
) -> None:
    clicked: list[dict] = []

    def setup(app: AsyncApp) -> None:
        @app.action("retry")
        async def on_retry(ack: Any, body: dict) -> None:
            await ack()
            clicked.append(body)

    bolt(standin, setup)
    blocks = [
        SectionBlock(text="Job failed"),
        ActionsBlock(elements=[ButtonElement(text="Retry", action_id="retry", value="job-42")]),
    ]
    posted = client.chat_postMessage(channel=NETOPS, text="Job failed", blocks=blocks)

    standin.click_button(NETOPS, posted["ts"], "retry")

    body = standin.wait_for(lambda: clicked, 5)[0]
    [action] = body["actions"]
    stored_block = standin.message(NETOPS, posted["ts"])["blocks"][1]
    assert action["value"] == "job-42" and action["block_id"] == stored_block["block_id"]
    assert body["container"]["message_ts"] == posted["ts"] and body["trigger_id"]


def test_bolt_reconnects_after_disconnect_and_drop(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    bolt(standin, modal_app)
    [first] = standin.connections

    standin.disconnect(reason="refresh_requested")
    [second] = standin.wait_connected(10)
    standin.drop_connections()
    [third] = standin.wait_for(lambda: [c for c in standin.connections if c not in (first, second)], 10)

    assert len({first, second, third}) == 3
    assert standin.slash_command() == {}
    assert standin.envelopes[-1].connection == third
    assert len(standin.calls_to("apps.connections.open")) >= 3


def test_two_connections_share_the_envelopes(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    bolt(standin, modal_app, connections=2)

    for _ in range(4):
        standin.slash_command()

    used = {e.connection for e in standin.envelopes}
    assert len(used) == 2 and set(standin.connections) == used
    assert all(e.ack == {} for e in standin.envelopes)
