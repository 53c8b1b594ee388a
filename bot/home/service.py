"""The App Home of every person: drawn from the ledger, Nautobot and the access policy when they open it, and
again whenever the core changes something it shows (:class:`Home` is the core's :class:`HomeChanges`).

Each replica redraws the Homes its own changes concern; opening the Home always redraws it from the ledger, so it
is right whichever replica Slack hands the visit to. A bot alone on its ledger (SQLite) is handed every visit, so it
redraws only the Homes opened since it started: a change of someone who never looked at their Home costs no read and
no publish (Slack shows what was last published, and a visit redraws it anyway). Replicas sharing a ledger each see
only some visits, so each redraws every Home its changes concern.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import make_url

from bot.access import Access, Actor
from bot.home.abilities import abilities
from bot.home.changes import HomeChanges
from bot.home.emails import Emails
from bot.home.publisher import HomePublisher
from bot.home.reading import Members, read
from bot.home.render import Drawing, render
from bot.home.statuses import FinalStatuses, Read
from bot.ledger import Ledger, Record, RequestState
from bot.ledger.grant import Grant
from bot.models import RunRequest

log = logging.getLogger("bot.home")

TEAMS_KEPT = 10_000
"""People whose workspace is remembered from their last visit (for the access decisions of later redraws), and
whose visit is remembered at all (for a bot alone on its ledger, the Homes its changes redraw)."""
APPROVAL_STATES = frozenset(
    {
        RequestState.ASKING_APPROVAL,
        RequestState.AWAITING_APPROVAL,
        RequestState.APPROVED,
        RequestState.NOT_APPROVED,
    }
)
"""A request in these states is on (or just left) its approvers' Homes."""


class Watched(Protocol):
    """The parts of the core that change what Homes show, each with a ``home`` to tell (see :meth:`Home.watch`)."""

    home: HomeChanges


class Home(HomeChanges):
    def __init__(
        self,
        *,
        ledger: Ledger,
        client: AsyncWebClient,
        results: Read,
        commands: Sequence[tuple[str, Access]],
        members: Members,
        can_cancel: Callable[[], bool] = lambda: False,
        emails: Emails | None = None,
        publisher: dict[str, Any] | None = None,
    ) -> None:
        """``results``: Nautobot's JobResults by id; ``commands``: each slash command and its access; ``members``:
        a user group's members (cached); ``emails``: each person's address, for the grants they hold (None: only
        those they asked for); ``publisher``: :class:`HomePublisher`'s pacing, for tests."""
        self.ledger = ledger
        self.client = client
        self.commands = list(commands)
        self.members = members
        self.can_cancel = can_cancel
        self.emails = emails
        self.statuses = FinalStatuses(results)
        self.publisher = HomePublisher(self.draw, self._send, **(publisher or {}))
        self.tasks: set[asyncio.Task[Any]] = set()
        self._teams: OrderedDict[str, str] = OrderedDict()
        self._workspace_url: str | None = None
        self._visits_all_here = make_url(ledger.url).get_backend_name() == "sqlite"
        """Alone on its ledger: every visit to a Home comes to this bot (see the module's description)."""
        self._visited: OrderedDict[str, None] = OrderedDict()
        """People who opened their Home since the start, the latest last."""

    def watch(self, *parts: Watched) -> None:
        """Be told by each of ``parts`` (the core, its follower, approvals and grants) of the changes it makes."""
        for part in parts:
            part.home = self

    # -- told ------------------------------------------------------------------------------------

    def changed(self, *about: RunRequest | Grant | None) -> None:
        people: set[str] = set()
        groups: set[str] = set()
        for each in about:
            if each is None:
                continue
            people.add(each.requester_id)
            if isinstance(each, Record) and each.approval is not None and each.state in APPROVAL_STATES:
                users, named = each.approval.deciders(escalated=each.approval.escalated)
                people.update(users)
                people.update(notice.person for notice in each.approval.notices if notice.person)
                groups.update(named)
        if not self._anyone_watching():
            return  # nobody has looked at their Home: no group to read, nothing to draw
        self.publisher.refresh(self._watching(people))
        if groups:
            self._background(self._refresh_members(groups))

    def opened(self, person: str, team: str = "") -> None:
        """``person`` opened their Home (from workspace ``team``): it is drawn for them now."""
        if person:
            self._visited[person] = None
            self._visited.move_to_end(person)
            while len(self._visited) > TEAMS_KEPT:
                self._visited.popitem(last=False)
        if team:
            self._teams[person] = team
            self._teams.move_to_end(person)
            while len(self._teams) > TEAMS_KEPT:
                self._teams.popitem(last=False)
        self.publisher.opened(person)

    def _anyone_watching(self) -> bool:
        """Whether any Home may be looked at: with replicas, always (each sees only some of the visits)."""
        return not self._visits_all_here or bool(self._visited)

    def _watching(self, people: set[str]) -> set[str]:
        """Those of ``people`` whose Home may be looked at (see :meth:`_anyone_watching`)."""
        return {person for person in people if person in self._visited} if self._visits_all_here else people

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.publisher.stop()

    # -- drawing ---------------------------------------------------------------------------------

    async def draw(self, person: str) -> dict[str, Any]:
        """``person``'s Home as it stands now."""
        email = await self.emails.of(person) if self.emails is not None else None
        shown = await read(self.ledger, person, self.members, email)
        drawing = Drawing(
            person=person,
            shown=shown,
            finals=await self.statuses.of(shown.requests),
            abilities=tuple(await abilities(self.commands, self._actor(person))),
            can_cancel=self.can_cancel(),
            thread_url=_archive(await self._url()),
            at=datetime.now(UTC),
        )
        return render(drawing).to_dict()

    async def _send(self, person: str, view: dict[str, Any]) -> None:
        await self.client.views_publish(user_id=person, view=view)

    def _actor(self, person: str) -> Actor:
        """The person as their Home's access decisions see them: in their workspace (as their last visit said, else
        the one the app is installed in)."""
        installed = next((access.installed_team for _, access in self.commands if access.installed_team), None)
        team = self._teams.get(person) or installed or ""
        return Actor(user_id=person, team_id=team)

    async def _url(self) -> str | None:
        """The workspace's address (``auth.test``), asked once: the links to threads are made from it."""
        if self._workspace_url is None:
            try:
                answer = await self.client.auth_test()
            except Exception as exc:  # the Home goes on with channel names instead of links
                log.info("no workspace address for the Home's links: %s", exc)
                return None
            self._workspace_url = str(answer.get("url") or "")
        return self._workspace_url or None

    async def _refresh_members(self, groups: Iterable[str]) -> None:
        people: set[str] = set()
        for group in sorted(groups):
            try:
                people |= await self.members(group)
            except Exception as exc:  # their Home is right again when they open it
                log.info("could not read user group %s for the approvers' Homes: %s", group, exc)
        self.publisher.refresh(self._watching(people))

    def _background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def _archive(base: str | None) -> Callable[[str, str], str | None]:
    """Links to messages, as Slack's own permalinks are made: ``<workspace>/archives/<channel>/p<ts without dot>``."""

    def url(channel: str, ts: str) -> str | None:
        if not base or not channel or not ts:
            return None
        return f"{base.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"

    return url
