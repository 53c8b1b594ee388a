"""Slack's Block Kit limits: the shared checks, and the in-process fake that runs them like the stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from testbed import slack_standin
from testbed.block_kit import MAX_VIEW_BYTES, validate_message_blocks, validate_view, view_size
from testbed.fake_slack import FakeAck, FakeSlack
from testbed.slack_standin import SlackStandIn

ALICE = "U123"
NETOPS = "C123"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(**changes: Any) -> dict[str, Any]:
    """A valid modal as a dict, with ``changes`` applied."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "add_user",
        "title": {"type": "plain_text", "text": "Add Meraki user"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [section("Pick an organization.")],
    }
    view.update(changes)
    return view


def title(length: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": "t" * length}


def sections(count: int) -> list[dict[str, Any]]:
    return [section(f"line {index}") for index in range(count)]


def too_large_view() -> dict[str, Any]:
    """Within every per-field limit, but over Slack's byte limit for a whole view."""
    return modal(blocks=[section("x" * 3000) for _ in range(90)])


def slack_sdk_modal() -> View:
    return View(
        type="modal",
        callback_id="add_user",
        title=PlainTextObject(text="Add Meraki user"),
        submit=PlainTextObject(text="Run"),
        close=PlainTextObject(text="Cancel"),
        private_metadata='{"channel_id": "C123"}',
        blocks=[
            HeaderBlock(text="Create Meraki User"),
            SectionBlock(text=MarkdownTextObject(text="*Fill in the form.*")),
            DividerBlock(),
            InputBlock(
                block_id="email_b",
                label="Email",
                element=PlainTextInputElement(action_id="email_a", max_length=254),
            ),
            InputBlock(
                block_id="org_b",
                label="Organization",
                element=StaticSelectElement(
                    action_id="org_a",
                    options=[Option(value="100", text="Acme"), Option(value="200", text="Globex")],
                ),
                optional=True,
            ),
            ContextBlock(elements=[MarkdownTextObject(text="Runs the Nautobot Job.")]),
        ],
    )


# --------------------------------------------------------------------------------------
# The pure checks
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "problem"),
    [
        (modal(title=title(25)), "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"),
        (modal(blocks=sections(101)), "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"),
        (
            modal(blocks=[section("x" * 3001)]),
            "[ERROR] must be less than 3001 characters [json-pointer:/view/blocks/0/text/text]",
        ),
        (
            modal(blocks=[{"type": "input", "label": title(5), "element": {"type": "plain_text_input"}}]),
            "[ERROR] must provide submit when the view has input blocks [json-pointer:/view/submit]",
        ),
    ],
    ids=["title-25-chars", "101-blocks", "section-text-3001-chars", "input-without-submit"],
)
def test_a_view_over_the_limits_is_refused(view: dict[str, Any], problem: str) -> None:
    assert problem in validate_view(view)


def test_a_view_at_the_limits_passes() -> None:
    assert validate_view(modal(title=title(24))) == []
    assert validate_view(modal(blocks=sections(100))) == []
    assert validate_view(modal(blocks=[section("x" * 3000)])) == []


def test_a_valid_view_built_with_slack_sdk_passes() -> None:
    view = slack_sdk_modal().to_dict()

    assert validate_view(view) == []
    assert view_size(view) <= MAX_VIEW_BYTES


def test_view_size_measures_the_view_as_sent() -> None:
    assert view_size({"a": "é"}) == len('{"a":"é"}'.encode())
    assert view_size(too_large_view()) > MAX_VIEW_BYTES


def test_message_blocks_over_the_limits_are_refused() -> None:
    assert validate_message_blocks(sections(51)) == ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]
    assert validate_message_blocks([section("x" * 3001)]) == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    assert validate_message_blocks([{"type": "input", "label": title(5), "element": {"type": "plain_text_input"}}])


def test_message_blocks_at_the_limits_pass() -> None:
    assert validate_message_blocks(sections(50)) == []
    assert validate_message_blocks([SectionBlock(text=MarkdownTextObject(text="x" * 3000)).to_dict()]) == []


def test_the_stand_in_runs_the_same_checks() -> None:
    assert slack_standin.validate_view is validate_view
    assert slack_standin.validate_message_blocks is validate_message_blocks
    assert slack_standin.view_size is view_size
    assert slack_standin.MAX_VIEW_BYTES == MAX_VIEW_BYTES


# --------------------------------------------------------------------------------------
# The in-process fake
# --------------------------------------------------------------------------------------


async def refusal(call: Any, **kwargs: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call(**kwargs)
    return info.value


@pytest.mark.parametrize(
    "view",
    [modal(title=title(25)), modal(blocks=sections(101)), modal(blocks=[section("x" * 3001)])],
    ids=["title-25-chars", "101-blocks", "section-text-3001-chars"],
)
@pytest.mark.parametrize("method", ["views_open", "views_update"])
async def test_the_fake_refuses_a_view_over_the_limits(method: str, view: dict[str, Any]) -> None:
    slack = FakeSlack()

    error = await refusal(getattr(slack, method), trigger_id="1.2.abc", view_id="V0OPENED01", view=view)

    assert error.response["error"] == error.response.get("error") == "invalid_arguments"
    assert error.response["ok"] is False
    assert error.response["response_metadata"]["messages"] == validate_view(view) != []
    assert slack.methods() == [method]


@pytest.mark.parametrize("action", ["update", "push"])
async def test_an_ack_that_answers_a_submission_with_a_view_slack_refuses_fails(action: str) -> None:
    ack = FakeAck()

    error = await refusal(ack, response_action=action, view=modal(title=title(25)))

    assert error.response.get("error") == "invalid_arguments"
    assert ack.calls == [{"response_action": action, "view": modal(title=title(25))}]  # recorded, like Slack's log
    await ack(response_action=action, view=modal(title=title(24)))  # a valid one passes


async def test_the_fake_refuses_a_view_too_large() -> None:
    slack = FakeSlack()

    error = await refusal(slack.views_open, trigger_id="1.2.abc", view=too_large_view())

    assert error.response.get("error") == "view_too_large"
    assert slack.methods() == ["views_open"]


async def test_the_fake_opens_and_updates_a_valid_slack_sdk_view() -> None:
    slack = FakeSlack()
    view = slack_sdk_modal()

    opened = await slack.views_open(trigger_id="1.2.abc", view=view)
    updated = await slack.views_update(view_id=opened["view"]["id"], view=view)

    assert opened["ok"] and updated["ok"]
    assert opened["view"]["title"]["text"] == updated["view"]["title"]["text"] == "Add Meraki user"
    assert slack.methods() == ["views_open", "views_update"]


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("chat_postMessage", {"channel": NETOPS}),
        ("chat_update", {"channel": NETOPS, "ts": "1730542502.000101"}),
        ("chat_postEphemeral", {"channel": NETOPS, "user": ALICE}),
    ],
)
async def test_the_fake_refuses_a_message_with_51_blocks(method: str, kwargs: dict[str, Any]) -> None:
    slack = FakeSlack()
    blocks = [SectionBlock(text=MarkdownTextObject(text=f"line {index}")) for index in range(51)]

    error = await refusal(getattr(slack, method), text="fallback", blocks=blocks, **kwargs)

    assert error.response["error"] == error.response.get("error") == "invalid_blocks"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert slack.methods() == [method]
    assert slack.posted == []


async def test_the_fake_refuses_input_blocks_in_a_message() -> None:
    slack = FakeSlack()
    blocks = [{"type": "input", "label": title(5), "element": {"type": "plain_text_input", "action_id": "a"}}]

    error = await refusal(slack.chat_postMessage, channel=NETOPS, text="fallback", blocks=blocks)

    assert error.response["error"] == "invalid_blocks"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] input blocks are only supported in views [json-pointer:/blocks/0/type]"
    ]


async def test_the_fake_posts_valid_slack_sdk_blocks() -> None:
    slack = FakeSlack()
    blocks = [SectionBlock(text=MarkdownTextObject(text=f"line {index}")) for index in range(50)]

    posted = await slack.chat_postMessage(channel=NETOPS, text="fallback", blocks=blocks)
    await slack.chat_update(channel=NETOPS, ts=posted["ts"], text="fallback", blocks=blocks)
    await slack.chat_postEphemeral(channel=NETOPS, user=ALICE, text="fallback", blocks=blocks)

    assert slack.methods() == ["chat_postMessage", "chat_update", "chat_postEphemeral"]
    assert slack.posted == [posted]


# --------------------------------------------------------------------------------------
# The fake answers what the stand-in answers over the wire
# --------------------------------------------------------------------------------------


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn() as server:
        server.add_user(ALICE, "alice")
        server.add_channel(NETOPS, "netops", members={ALICE})
        yield server


def wire_error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call(**kwargs)
    data = info.value.response.data
    return {key: data[key] for key in ("ok", "error", "response_metadata") if key in data}


@pytest.mark.parametrize(
    "view",
    [modal(title=title(25), blocks=[section("x" * 3001), *sections(100)]), too_large_view()],
    ids=["over-the-limits", "too-large"],
)
async def test_the_fake_refuses_a_view_like_the_stand_in(standin: SlackStandIn, view: dict[str, Any]) -> None:
    client = WebClient(token=standin.bot_token, base_url=standin.api_url)
    over_the_wire = wire_error(client.views_open, trigger_id=standin.new_trigger(ALICE), view=view)

    in_process = await refusal(FakeSlack().views_open, trigger_id="1.2.abc", view=view)

    assert in_process.response == over_the_wire


async def test_the_fake_refuses_message_blocks_like_the_stand_in(standin: SlackStandIn) -> None:
    client = WebClient(token=standin.bot_token, base_url=standin.api_url)
    blocks = [section("x" * 3001), *sections(50)]
    over_the_wire = wire_error(client.chat_postMessage, channel=NETOPS, text="fallback", blocks=blocks)

    in_process = await refusal(FakeSlack().chat_postMessage, channel=NETOPS, text="fallback", blocks=blocks)

    assert in_process.response == over_the_wire
    assert over_the_wire["error"] == "invalid_blocks"
