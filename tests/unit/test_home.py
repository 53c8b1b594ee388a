"""The App Home: drawn from the ledger within Slack's limits however long a person's history, user text escaped,
only what the person may decide offered, and published once per burst of changes, paced per person.

Views go to the Slack stand-in through the real slack_sdk client, so Slack's own checks of a Home view (blocks,
100 of them at most, 250 KB) judge every publish.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Access, AccessPolicy, SlackGroups
from bot.home.emails import Emails
from bot.home.fit import MAX_BLOCKS, MAX_BYTES, Part, home_view
from bot.home.publisher import HomePublisher
from bot.home.service import Home
from bot.ledger import Approval, Ledger, Notice
from bot.ledger.grant import Grant
from bot.ledger.grants import GrantTimes
from bot.models import JobRun, RunRequest
from bot.slack.text import section
from testbed.block_kit import view_size
from testbed.slack_constants import TEAM_ID
from testbed.slack_standin import SlackStandIn, validate_home_view

ALICE, BOB, CAROL = "U0ALICE01", "U0BOB0001", "U0CAROL01"
CHANNEL = "C0NETOPS1"
GROUP = "S0APPROVE"
ADD = "/meraki-add-user"


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn() as server:
        for user, name in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")):
            server.add_user(user, name)
        server.rate_limit("views.publish", per_second=None)
        yield server


@pytest.fixture
def ledger(sqlite_ledger: Ledger) -> Ledger:
    return sqlite_ledger


@pytest.fixture
async def home(ledger: Ledger, standin: SlackStandIn) -> AsyncIterator[Home]:
    client = AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)
    policy = AccessPolicy.model_validate({"allow": [{"users": [ALICE], "channels": [CHANNEL], "commands": ["*"]}]})
    access = Access(policy, groups=SlackGroups(client), slash_command=ADD, installed_team=TEAM_ID)

    async def members(group: str, *, fresh: bool = False) -> frozenset[str]:
        return frozenset({CAROL}) if group == GROUP else frozenset()

    async def no_results(result_ids: list[str]) -> dict[str, JobRun]:
        return {}

    drawn = Home(
        ledger=ledger,
        client=client,
        results=no_results,
        commands=[(ADD, access)],
        members=members,
        publisher={"settle": 0.0, "spacing": 0.0},
    )
    yield drawn
    await drawn.stop()


def texts(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


async def ask(ledger: Ledger, request_id: str, requester: str = ALICE, **inputs: Any) -> RunRequest:
    request = RunRequest(
        request_id=request_id,
        requester_id=requester,
        channel_id=CHANNEL,
        job_name=str(inputs.pop("job_name", "Create Meraki User")),
        inputs=inputs or {"user_email": "jane@example.com"},
    )
    await ledger.record(request)
    return request


async def waiting_for(ledger: Ledger, request_id: str, *, users: tuple[str, ...], told: tuple[str, ...]) -> None:
    """``request_id`` waits for approval by ``users`` and group :data:`GROUP`; ``told``: who got a direct message."""
    since = datetime.now(UTC)
    approval = Approval(users=users, groups=(GROUP,), since=since, expire_at=since + timedelta(hours=1))
    await ledger.ask_approval(request_id, approval)
    for number, person in enumerate(told, 1):
        await ledger.approval_notice(request_id, Notice(channel=f"D0DM{number:05d}", ts=f"1.{number}", person=person))
    await ledger.awaiting_approval(request_id)


# -- what a Home shows ------------------------------------------------------------------------


async def test_an_empty_home_says_there_is_nothing_and_slack_takes_it(home: Home, standin: SlackStandIn) -> None:
    view = await home.draw(BOB)

    assert validate_home_view(view) == []
    shown = texts(view)
    assert "You have not asked for anything yet" in shown
    assert "Nothing waits for your approval" in shown
    assert "None of the access you asked for or hold runs out" in shown
    assert "lets you use none of its commands" in shown  # Bob is in no rule of the policy
    await home.client.views_publish(user_id=BOB, view=view)
    assert standin.home(BOB)["blocks"][1]["text"]["text"] == "My requests"


async def test_five_hundred_requests_fit_slacks_limits_and_the_rest_are_counted(
    home: Home, ledger: Ledger, standin: SlackStandIn
) -> None:
    for number in range(500):
        await ask(ledger, f"R{number:04d}", user_email=f"user{number}@example.com", note="&<>" * 1000)

    view = await home.draw(ALICE)

    assert len(view["blocks"]) <= MAX_BLOCKS and view_size(view) <= MAX_BYTES
    shown = texts(view)
    assert "…and 490 older requests" in shown
    assert "user499@example.com" in shown and "user489@example.com" not in shown  # the latest ten
    assert "`/meraki-add-user` in <#C0NETOPS1>" in shown  # where the policy lets Alice use it
    await home.client.views_publish(user_id=ALICE, view=view)  # Slack's own checks
    assert standin.publishes(ALICE)


def test_a_home_too_large_for_slack_gives_up_items_and_counts_them() -> None:
    def item(number: int) -> list[Block]:
        return [section(f"{number} " + "x" * 2900)]

    parts = [Part("Many", [item(n) for n in range(300)]), Part("Few", [item(n) for n in range(3)], more=7)]

    view = home_view(parts).to_dict()

    assert len(view["blocks"]) <= MAX_BLOCKS and view_size(view) <= MAX_BYTES
    many, few = parts
    assert len(many.items) + many.more == 300 and many.more > 0
    assert f"…and {many.more} more." in texts(view)
    assert len(few.items) == 3 and "…and 7 more." in texts(view)  # the part with most items gave them up
    assert validate_home_view(view) == []


async def test_what_people_typed_is_escaped(home: Home, ledger: Ledger) -> None:
    await ask(ledger, "R1", job_name="<!channel> Create", user_email="<@U0MALLORY> & <https://evil.test|click>")

    shown = texts(await home.draw(ALICE))

    for raw in ("<!channel>", "<@U0MALLORY>", "<https://evil.test"):
        assert raw not in shown
    assert "&lt;!channel&gt; Create" in shown and "&lt;@U0MALLORY&gt; &amp; &lt;https://evil.test|click&gt;" in shown


async def test_only_the_people_asked_see_a_request_waiting_for_their_approval(home: Home, ledger: Ledger) -> None:
    await ask(ledger, "R1")
    await waiting_for(ledger, "R1", users=(BOB, CAROL), told=(BOB, CAROL))
    await ask(ledger, "R2")
    await waiting_for(ledger, "R2", users=(BOB,), told=())  # Bob was never asked: nothing to decide from

    bob, alice = await home.draw(BOB), await home.draw(ALICE)

    assert _buttons(bob) == [("approval_approve", "R1"), ("approval_deny", "R1")]
    assert ("approval_withdraw", "R1") in _buttons(alice) and ("approval_withdraw", "R2") in _buttons(alice)
    assert not any(action.startswith(("approval_approve", "approval_deny")) for action, _ in _buttons(alice))
    assert "Nothing waits for your approval" in texts(await home.draw("U0NOBODY1"))


def _buttons(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element["value"])
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


# -- when a Home is published ------------------------------------------------------------------


class _Published:
    def __init__(self) -> None:
        self.views: list[tuple[str, float]] = []
        self.drawing = asyncio.Event()
        self.hold: asyncio.Event | None = None

    async def draw(self, person: str) -> dict[str, Any]:
        self.drawing.set()
        if self.hold is not None:
            await self.hold.wait()
        return {"type": "home", "blocks": []}

    async def send(self, person: str, view: dict[str, Any]) -> None:
        self.views.append((person, time.monotonic()))


async def test_a_burst_of_changes_is_one_publish_per_person() -> None:
    published = _Published()
    publisher = HomePublisher(published.draw, published.send, settle=0.05, spacing=0.0)

    for _ in range(30):
        publisher.refresh([ALICE])
        await asyncio.sleep(0)
    publisher.refresh([BOB, ALICE, ""])
    await publisher.idle()

    assert sorted(person for person, _ in published.views) == [ALICE, BOB]


async def test_a_change_while_a_home_is_drawn_draws_it_once_more() -> None:
    published = _Published()
    published.hold = asyncio.Event()
    publisher = HomePublisher(published.draw, published.send, settle=0.0, spacing=0.0)
    publisher.refresh([ALICE])
    await published.drawing.wait()

    for _ in range(5):  # the ledger was read before these: one more publish shows them all
        publisher.refresh([ALICE])
    published.hold.set()
    await publisher.idle()

    assert [person for person, _ in published.views] == [ALICE, ALICE]


async def test_publishes_to_one_person_are_kept_apart() -> None:
    published = _Published()
    publisher = HomePublisher(published.draw, published.send, settle=0.0, spacing=0.3)
    publisher.refresh([ALICE])
    await publisher.idle()
    publisher.refresh([ALICE])
    await publisher.idle()

    first, second = (at for _, at in published.views)
    assert second - first >= 0.29


async def test_a_change_redraws_the_homes_of_the_requester_and_the_approvers(home: Home, ledger: Ledger) -> None:
    await ask(ledger, "R1")
    await waiting_for(ledger, "R1", users=(BOB,), told=(BOB,))
    record = await ledger.get("R1")
    for person in (ALICE, BOB, CAROL):
        home.opened(person, TEAM_ID)
    await home.publisher.idle()
    asked: list[str] = []
    home.publisher.refresh = lambda people: asked.extend(people)  # type: ignore[method-assign]

    home.changed(record, None)
    await asyncio.gather(*home.tasks)

    assert sorted(asked) == [ALICE, BOB, CAROL]  # Carol through the approvers' group


async def test_alone_on_its_ledger_a_change_draws_only_the_homes_opened_since_the_start(
    home: Home, ledger: Ledger, standin: SlackStandIn
) -> None:
    await ask(ledger, "R1")
    await waiting_for(ledger, "R1", users=(BOB,), told=(BOB,))
    record = await ledger.get("R1")
    home.changed(record)  # nobody has looked at their Home: nothing read, nothing drawn
    await asyncio.gather(*home.tasks)
    assert home.publisher.pending() == 0 and standin.calls_to("views.publish") == []

    home.opened(BOB, TEAM_ID)
    await home.publisher.idle()
    asked: list[str] = []
    home.publisher.refresh = lambda people: asked.extend(people)  # type: ignore[method-assign]
    home.changed(record)
    await asyncio.gather(*home.tasks)
    assert asked == [BOB]


async def test_replicas_sharing_a_ledger_draw_every_home_their_changes_concern(home: Home, ledger: Ledger) -> None:
    """Each replica is handed only some of the visits, so none can tell who never opened their Home."""
    request = await ask(ledger, "R1")
    shared = Home(
        ledger=cast(Ledger, SimpleNamespace(url="postgresql+asyncpg://bot@db/ledger")),
        client=home.client,
        results=home.statuses.read,
        commands=home.commands,
        members=home.members,
    )
    asked: list[str] = []
    shared.publisher.refresh = lambda people: asked.extend(people)  # type: ignore[method-assign]
    shared.changed(request)
    assert asked == [ALICE]


async def test_without_a_home_tab_the_bot_stops_publishing_until_someone_opens_it(ledger: Ledger) -> None:
    with SlackStandIn(home_tab_enabled=False) as server:
        server.add_user(ALICE, "alice")
        client = AsyncWebClient(token=server.bot_token, base_url=server.api_url)

        async def none(result_ids: list[str]) -> dict[str, JobRun]:
            return {}

        async def no_members(group: str, *, fresh: bool = False) -> frozenset[str]:
            return frozenset()

        home = Home(
            ledger=ledger,
            client=client,
            results=none,
            commands=[],
            members=no_members,
            publisher={"settle": 0.0, "spacing": 0.0},
        )
        home.opened(ALICE, TEAM_ID)
        await home.publisher.idle()
        assert home.publisher.enabled is False
        home.changed(await ask(ledger, "R2"))
        await home.publisher.idle()
        assert len(server.calls_to("views.publish")) == 1

        server.home_tab_enabled = True
        home.opened(ALICE, TEAM_ID)
        await home.publisher.idle()
        assert "R2" not in texts(server.home(ALICE)) and "Create Meraki User" in texts(server.home(ALICE))


# -- access a person holds ----------------------------------------------------------------------


def a_grant(email: str, requester: str = ALICE) -> Grant:
    stamp = datetime.now(UTC)
    return Grant(
        scheduled_job_id=f"sched-{email}",
        request_id=f"R-{email}",
        requester_id=requester,
        channel=CHANNEL,
        ts="1.000100",
        revoke_job="Revoke Meraki Access",
        email=email,
        organization="Acme",
        granted_at=stamp,
        expires_at=stamp + timedelta(hours=2),
        revoke={"organization_id": "1", "admin_id": "9", "email": email},
    )


async def test_a_home_shows_the_access_granted_to_the_person_without_its_buttons(
    home: Home, ledger: Ledger, standin: SlackStandIn
) -> None:
    """Bob holds access Alice asked for (his address): his Home shows it, and who may extend or revoke it."""
    standin.add_user(BOB, "bob", email="Bob@Example.com")
    standin.scopes.update({"users:read", "users:read.email"})
    home.emails = Emails(home.client)
    times = GrantTimes(warn_ahead=timedelta(minutes=10), grace=timedelta(minutes=5))
    await ledger.record_grant(a_grant("bob@example.com"), times)
    await ledger.record_grant(a_grant("someone.else@example.com"), times)

    bobs = texts(await home.draw(BOB))
    alices = texts(await home.draw(ALICE))

    assert "bob@example.com" in bobs and "someone.else" not in bobs
    assert f"Asked for by <@{ALICE}>" in bobs and "Revoke now" not in bobs  # theirs to change, not his
    assert "bob@example.com" in alices and "someone.else" in alices and "Revoke now" in alices


async def test_without_the_email_scopes_a_home_shows_the_access_asked_for(
    home: Home, ledger: Ledger, standin: SlackStandIn
) -> None:
    standin.add_user(BOB, "bob", email="bob@example.com")
    standin.scopes.discard("users:read")
    home.emails = Emails(home.client)
    await ledger.record_grant(
        a_grant("bob@example.com"), GrantTimes(warn_ahead=timedelta(minutes=10), grace=timedelta(minutes=5))
    )

    bobs = texts(await home.draw(BOB))
    await home.draw(BOB)

    assert "bob@example.com" not in bobs and home.emails.readable is False
    assert len(standin.calls_to("users.info")) == 1  # asked once: Slack said the token may not read profiles
