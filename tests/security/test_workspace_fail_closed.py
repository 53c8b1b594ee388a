"""People of other Slack workspaces are refused, whatever decides access, and while the bot cannot tell.

Reproduced holes: the installed workspace was learned from ``auth.test`` once at start, and when that
call failed people of any workspace were allowed until a restart (a user of T0OTHER allowed three
times); with ``NAUTOBOT_CHATOPS=true`` the policy's ``teams`` was accepted at start and never applied
(an outsider allowed). Now every request is refused until the workspace is known (``teams``, or
``auth.test`` answered), the bot keeps asking with back-off, and ``teams`` applies in both modes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.access import Access, AccessPolicy, Actor, SlackGroups
from testbed.fake_slack import FakeSlack
from tests.security.everyone_granted import EveryoneGranted

pytestmark = pytest.mark.security

ALICE, GUEST = "U0ALICE", "U0GUEST"
HOME, OTHER = "T0HOME", "T0OTHER"
NETOPS = "C0NETOPS"
EVERYONE = {"allow": [{"users": ["*"], "channels": ["*"]}]}


class FlakySlack(FakeSlack):
    """Slack whose ``auth.test`` fails while ``down`` is set, then names :data:`HOME`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.asked = 0

    async def auth_test(self, **kwargs: Any) -> dict[str, Any]:
        self.asked += 1
        if self.down:
            raise SlackApiError("The request to the Slack API failed.", {"ok": False, "error": "service_unavailable"})
        return {"ok": True, "team_id": HOME, "user_id": "U0BOT"}


def member(user: str, team: str) -> Actor:
    return Actor(user, user_name=user.lower(), channel_id=NETOPS, team_id=team)


async def until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0)


async def test_a_user_of_another_workspace_is_refused_while_auth_test_fails() -> None:
    slack = FlakySlack()
    access = Access(AccessPolicy.model_validate(EVERYONE), groups=SlackGroups(slack))  # type: ignore[arg-type]
    warming = asyncio.create_task(access.warm())  # at start, as the bot does
    await until(lambda: slack.asked >= 1)

    for _ in range(3):  # the reproduction allowed this person three times
        refused = await access.decide(member(GUEST, OTHER))
        assert not refused.allowed and refused.unavailable
        assert "cannot yet tell which Slack workspace it serves" in refused.reason
        assert "Try again in a minute" in refused.remedy and "teams in ACCESS_POLICY" in refused.remedy
    assert not (await access.decide(member(ALICE, HOME))).allowed  # nobody can be told apart yet
    assert access.decide_now(member(GUEST, OTHER)) is not None  # refused from memory too: the command answers at once
    warming.cancel()
    await asyncio.gather(warming, return_exceptions=True)


async def test_the_home_workspace_is_allowed_once_auth_test_answers_after_backing_off() -> None:
    from bot.access import Workspace

    slack = FlakySlack()
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 4:
            slack.down = False  # Slack is back
        await asyncio.sleep(0)

    workspace = Workspace(sleep=pause)
    access = Access(AccessPolicy.model_validate(EVERYONE), groups=SlackGroups(slack), workspace=workspace)  # type: ignore[arg-type]

    await access.warm()

    assert pauses == [2.0, 4.0, 8.0, 16.0] and slack.asked == 5  # longer pauses, until Slack answered
    assert access.installed_team == HOME
    assert (await access.decide(member(ALICE, HOME))).allowed
    refused = await access.decide(member(GUEST, OTHER))
    assert not refused.allowed and OTHER in refused.reason and "another Slack workspace" in refused.reason


async def test_asking_stops_when_the_bot_stops() -> None:
    from bot.access import Workspace

    slack = FlakySlack()
    access = Access(AccessPolicy.model_validate(EVERYONE), groups=SlackGroups(slack), workspace=Workspace())  # type: ignore[arg-type]
    warming = asyncio.create_task(access.warm())
    await until(lambda: slack.asked >= 1)

    warming.cancel()  # shutdown cancels the bot's background tasks
    await asyncio.gather(warming, return_exceptions=True)

    assert warming.cancelled() and slack.asked == 1


async def test_an_outsider_is_refused_in_grants_mode_with_teams_set() -> None:
    policy = AccessPolicy.model_validate({"teams": [HOME]})  # NAUTOBOT_CHATOPS=true: only restrict and teams
    access = Access(policy, groups=SlackGroups(FakeSlack()), grants=EveryoneGranted())  # type: ignore[arg-type]

    refused = await access.decide(member(GUEST, OTHER))

    assert not refused.allowed and OTHER in refused.reason and HOME in refused.reason
    assert (await access.decide(member(ALICE, HOME))).allowed


async def test_in_grants_mode_without_teams_the_installed_workspace_decides() -> None:
    slack = FlakySlack()
    slack.down = False
    access = Access(None, groups=SlackGroups(slack), grants=EveryoneGranted())  # type: ignore[arg-type]
    assert not (await access.decide(member(ALICE, HOME))).allowed  # not known yet: refused

    await access.warm()

    assert (await access.decide(member(ALICE, HOME))).allowed
    assert not (await access.decide(member(GUEST, OTHER))).allowed


@pytest.mark.parametrize("grants", [False, True], ids=["policy", "grants"])
async def test_a_request_that_names_no_workspace_is_refused_once_the_workspace_is_known(grants: bool) -> None:
    # Slack names the workspace on every command and interaction; a body without one (forged, or mangled on its
    # way) cannot be told apart from an outsider's, so it is refused, in both modes.
    slack = FlakySlack()
    slack.down = False
    policy = None if grants else AccessPolicy.model_validate(EVERYONE)
    access = Access(policy, groups=SlackGroups(slack), grants=EveryoneGranted() if grants else None)  # type: ignore[arg-type]
    await access.warm()

    refused = await access.decide(member(GUEST, ""))

    assert not refused.allowed and "did not say which workspace you" in refused.reason
    assert (await access.decide(member(ALICE, HOME))).allowed
