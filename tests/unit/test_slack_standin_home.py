"""The Slack stand-in's App Home: ``views.publish`` as Slack answers it to the real slack_sdk client, and a
person opening the Home tab as a real Bolt for Python app receives it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from testbed.manifest import app_home, home_tab_enabled, manifest
from testbed.slack_standin import METHOD_SCOPES, SlackStandIn, validate_home_view, validate_view
from tests.support.bolt_socket import BoltBot

ALICE, BOB, MALLORY = "U123", "U456", "U999"


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn() as server:
        server.add_user(ALICE, "alice")
        server.add_user(BOB, "bob")
        yield server


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)


def home_view(text: str = "Your Meraki access", **changes: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "home",
        "callback_id": "meraki_home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }
    view.update(changes)
    return view


async def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value.response.data


# --------------------------------------------------------------------------------------
# views.publish
# --------------------------------------------------------------------------------------


async def test_publish_shows_the_view_and_keeps_every_publish(standin: SlackStandIn, client: AsyncWebClient) -> None:
    first = (await client.views_publish(user_id=ALICE, view=home_view("one")))["view"]
    second = (await client.views_publish(user_id=ALICE, view=home_view("two"), hash=first["hash"]))["view"]

    home = standin.home(ALICE)
    assert home == second and home["blocks"][0]["text"]["text"] == "two"
    assert home["type"] == "home" and home["close"] is None and home["submit"] is None
    assert home["blocks"][0]["block_id"]  # Slack fills in the ids an app leaves out
    assert second["id"] == first["id"] == second["root_view_id"] and second["hash"] != first["hash"]
    assert [p["blocks"][0]["text"]["text"] for p in standin.publishes(ALICE)] == ["one", "two"]
    assert standin.home(BOB) is None and standin.publishes(BOB) == []


async def test_publish_needs_the_bot_token_and_no_scope() -> None:
    assert METHOD_SCOPES["views.publish"] is None
    with SlackStandIn(scopes=set()) as server:
        server.add_user(ALICE, "alice")
        bot = AsyncWebClient(token=server.bot_token, base_url=server.api_url)
        assert (await bot.views_publish(user_id=ALICE, view=home_view()))["ok"]
        app_level = AsyncWebClient(token=server.app_token, base_url=server.api_url)
        assert (await refused(app_level.views_publish(user_id=ALICE, view=home_view())))["error"] == (
            "not_allowed_token_type"
        )


async def test_a_home_view_needs_no_title_submit_or_close(client: AsyncWebClient) -> None:
    form = {
        "type": "input",
        "block_id": "email_b",
        "dispatch_action": True,
        "label": {"type": "plain_text", "text": "Email"},
        "element": {"type": "email_text_input", "action_id": "email_a"},
    }
    view = home_view(blocks=[form])

    assert validate_view({**view, "type": "modal"}) != []  # what a modal would need
    assert validate_home_view(view) == []
    assert (await client.views_publish(user_id=ALICE, view=view))["ok"]


async def test_a_stale_hash_is_a_conflict(standin: SlackStandIn, client: AsyncWebClient) -> None:
    assert (await refused(client.views_publish(user_id=ALICE, view=home_view(), hash="1.stale")))["error"] == (
        "hash_conflict"
    )  # nothing published yet: any hash is stale
    current = (await client.views_publish(user_id=ALICE, view=home_view("one")))["view"]
    await client.views_publish(user_id=ALICE, view=home_view("two"))

    stale = await refused(client.views_publish(user_id=ALICE, view=home_view("three"), hash=current["hash"]))

    assert stale["error"] == "hash_conflict"
    assert standin.home(ALICE)["blocks"][0]["text"]["text"] == "two"


async def test_an_unknown_or_missing_user_is_invalid_arguments(standin: SlackStandIn, client: AsyncWebClient) -> None:
    unknown = await refused(client.views_publish(user_id=MALLORY, view=home_view()))
    missing = await refused(client.api_call("views.publish", json={"view": home_view()}))

    assert unknown["error"] == "invalid_arguments"
    assert unknown["response_metadata"]["messages"] == ["invalid `user_id`"]
    assert missing["error"] == "invalid_arguments"
    assert standin.home(MALLORY) is None


@pytest.mark.parametrize(
    ("view", "problem"),
    [
        (home_view(type="modal", title={"type": "plain_text", "text": "Hi"}), "must be home"),
        ({"type": "home"}, "missing required field [json-pointer:/view/blocks]"),
        (home_view(blocks=[{"type": "divider"}] * 101), "no more than 100 items allowed"),
        (home_view(blocks=[{"type": "section"}]), "[json-pointer:/view/blocks/0"),
        (home_view(private_metadata="x" * 3001), "[json-pointer:/view/private_metadata]"),
        (home_view(callback_id="c" * 256), "[json-pointer:/view/callback_id]"),
        ("not a view", "must provide an object"),
    ],
    ids=["modal", "no-blocks", "101-blocks", "bad-block", "metadata", "callback-id", "not-an-object"],
)
async def test_a_view_slack_would_refuse_is_invalid_arguments(
    standin: SlackStandIn, client: AsyncWebClient, view: Any, problem: str
) -> None:
    answer = await refused(client.api_call("views.publish", json={"user_id": ALICE, "view": view}))

    assert answer["error"] == "invalid_arguments"
    assert any(problem in line for line in answer["response_metadata"]["messages"]), answer
    assert standin.home(ALICE) is None


async def test_a_hundred_blocks_are_allowed_but_not_250_kb(standin: SlackStandIn, client: AsyncWebClient) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}
    assert (await client.views_publish(user_id=ALICE, view=home_view(blocks=[{"type": "divider"}] * 100)))["ok"]

    too_large = await refused(client.views_publish(user_id=ALICE, view=home_view(blocks=[section] * 90)))

    assert too_large["error"] == "view_too_large"
    assert len(standin.publishes(ALICE)) == 1


async def test_an_external_id_is_one_persons() -> None:
    with SlackStandIn() as server:
        for user in (ALICE, BOB):
            server.add_user(user, user.lower())
        bot = AsyncWebClient(token=server.bot_token, base_url=server.api_url)
        await bot.views_publish(user_id=ALICE, view=home_view(external_id="home-1"))
        await bot.views_publish(user_id=ALICE, view=home_view("again", external_id="home-1"))  # her own, again

        taken = await refused(bot.views_publish(user_id=BOB, view=home_view(external_id="home-1")))

        assert taken["error"] == "duplicate_external_id"


async def test_without_the_home_tab_publishing_is_not_enabled() -> None:
    with SlackStandIn(home_tab_enabled=False) as server:
        server.add_user(ALICE, "alice")
        bot = AsyncWebClient(token=server.bot_token, base_url=server.api_url)

        assert (await refused(bot.views_publish(user_id=ALICE, view=home_view())))["error"] == "not_enabled"
        with pytest.raises(ValueError, match="not enabled"):
            server.open_home(ALICE)
        server.home_tab_enabled = True
        assert (await bot.views_publish(user_id=ALICE, view=home_view()))["ok"]


async def test_views_publish_is_tier_4(standin: SlackStandIn, client: AsyncWebClient) -> None:
    """100+ a minute with bursts: the stand-in lets 20 through at once, then answers 429 with Retry-After."""
    for _ in range(20):
        await client.views_publish(user_id=ALICE, view=home_view())

    limited = await refused(client.views_publish(user_id=ALICE, view=home_view()))

    assert limited["error"] == "ratelimited"
    [call] = standin.rate_limited("views.publish")
    assert call.retry_after == 1
    standin.rate_limit("views.publish", per_second=None)
    assert (await client.views_publish(user_id=ALICE, view=home_view()))["ok"]


# --------------------------------------------------------------------------------------
# app_home_opened with a real Bolt app
# --------------------------------------------------------------------------------------


def home_app(seen: list[dict[str, Any]]) -> Callable[[AsyncApp], None]:
    def setup(app: AsyncApp) -> None:
        @app.event("app_home_opened")
        async def draw_home(event: dict[str, Any], client: AsyncWebClient) -> None:
            seen.append(event)
            if event["tab"] == "home":
                await client.views_publish(user_id=event["user"], view=home_view(f"visit {len(seen)}"))

    return setup


def test_bolt_publishes_the_home_a_person_opens(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    seen: list[dict[str, Any]] = []
    bolt(standin, home_app(seen))

    assert standin.open_home(ALICE) == {}
    first = standin.wait_for(lambda: standin.home(ALICE), 5)
    standin.open_home(ALICE)
    standin.wait_for(lambda: len(standin.publishes(ALICE)) == 2, 5)

    assert [event["tab"] for event in seen] == ["home", "home"]
    assert "view" not in seen[0]  # nothing was published before the first visit
    assert seen[1]["view"]["id"] == first["id"] and seen[1]["view"]["blocks"] == first["blocks"]
    assert seen[0]["user"] == ALICE and seen[0]["channel"].startswith("D") and seen[0]["event_ts"]
    assert standin.home(ALICE)["blocks"][0]["text"]["text"] == "visit 2"
    assert [e.type for e in standin.envelopes] == ["events_api", "events_api"]


def test_the_messages_tab_carries_no_view(standin: SlackStandIn, bolt: Callable[..., BoltBot]) -> None:
    seen: list[dict[str, Any]] = []
    bolt(standin, home_app(seen))
    standin.open_home(ALICE)
    standin.wait_for(lambda: standin.home(ALICE), 5)

    standin.open_home(ALICE, tab="messages")

    event = standin.wait_for(lambda: seen[1:], 5)[0]
    assert event["tab"] == "messages" and "view" not in event
    assert len(standin.publishes(ALICE)) == 1


def test_only_people_of_the_workspace_open_an_existing_tab(standin: SlackStandIn) -> None:
    with pytest.raises(KeyError):
        standin.open_home(MALLORY)
    with pytest.raises(ValueError, match="no tab"):
        standin.open_home(ALICE, tab="about")
    assert standin.envelopes == []


# --------------------------------------------------------------------------------------
# The manifest's App Home
# --------------------------------------------------------------------------------------


def test_the_manifest_says_whether_the_home_tab_is_enabled(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yml"
    path.write_text("features:\n  app_home:\n    home_tab_enabled: true\n    messages_tab_enabled: false\n")
    written = manifest(path)

    assert app_home(written) == {"home_tab_enabled": True, "messages_tab_enabled": False}
    assert home_tab_enabled(written) is True
    assert home_tab_enabled({"features": {"app_home": {"home_tab_enabled": False}}}) is False
    assert app_home({"features": {}}) == {} and home_tab_enabled({}) is False
    assert home_tab_enabled() == (app_home().get("home_tab_enabled") is True)  # the repository's manifest.yml
