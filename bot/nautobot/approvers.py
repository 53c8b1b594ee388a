"""Who may decide a run Nautobot holds for approval, and who decided it, as Nautobot's REST API tells.

Nautobot 3.x (approval workflows): the scheduled job's workflow → its stage waiting for a decision (the lowest
``sequence`` still pending) → that stage definition's approver group → the group's users → each user's
nautobot-chatops account link for Slack. Four list requests, whatever the number of approvers:

- ``GET /api/extras/approval-workflows/?object_under_review_object_id=<scheduled job>``
- ``GET /api/extras/approval-workflow-stages/?approval_workflow=<id>&depth=1`` (the stage definition nested,
  naming its ``approver_group`` by name, when the token may view stage definitions; else one more read of the
  definition; the stages' ``responses`` name who decided, with their user at ``depth=2``, and only to a token
  that may view ``extras.approvalworkflowstageresponse``)
- ``GET /api/users/users/?groups_id=<group>`` (or ``groups=<name>`` when only the name is given)
- ``GET /api/extras/object-changes/?changed_object_type=nautobot_chatops.chatopsaccountlink``

nautobot-chatops lists only the caller's own account links (its list view filters by the requesting user), so
the links are read from Nautobot's change log, as :meth:`bot.nautobot.chatops.ChatOpsApp.linked_user` does:
each link's latest change holds its current fields (a deleted link's latest change is its deletion). A link
whose changes the change log no longer keeps (``CHANGELOG_RETENTION``, 90 days by default) is not found.

The same lookups serve approval rules in Slack that name approvers through Nautobot (``nautobot_groups``,
``require_account_link``; see :mod:`bot.runs.approver_links`): a group's active users and their Slack links
(:meth:`ApproverLookup.group_links`), and the active Nautobot user a Slack user's link points to
(:meth:`ApproverLookup.linked_users`: the change log, then ``GET /api/users/users/?id=…``), on 2.4 and 3.x alike.

Nautobot 2.4 (``Job.approval_required``) names no approvers: whoever holds an ObjectPermission with the
``approve`` action on the Job may approve, and such a permission's ``constraints`` are arbitrary queries the
bot cannot evaluate (and reading permissions needs a view on them the bot's token should not have). So on 2.4
:meth:`ApproverLookup.approvers` finds nobody and only the approvers' channel is told; who approved is read
from the scheduled job's ``approved_by_user`` (a denial deletes the scheduled job, and with it who denied).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.nautobot.chatops import PLATFORM_SLUG
from bot.nautobot.client import NautobotClient
from bot.nautobot.rest import segment

LINK_TYPE = "nautobot_chatops.chatopsaccountlink"
PENDING = "pending"


@dataclass(frozen=True)
class Approvers:
    """Who may decide, as far as the bot could find them."""

    slack_users: tuple[str, ...] = ()
    """Slack user ids of the approvers with a Slack account link, in the order Nautobot lists the users."""
    usernames: tuple[str, ...] = ()
    """Every approver Nautobot names (linked or not)."""
    group: str = ""


class ApproverLookup:
    """The lookups, with the bot's own token (see the module's description for the requests)."""

    def __init__(self, nautobot: NautobotClient) -> None:
        self.nautobot = nautobot

    async def workflows(self) -> bool:
        """Whether this Nautobot holds runs by approval workflows (3.x): asks its version if not known yet."""
        if not self.nautobot.capabilities.known:
            await self.nautobot.status()
        return self.nautobot.capabilities.version is not None and self.nautobot.capabilities.version >= (3, 0)

    async def approvers(self, scheduled_id: str) -> Approvers:
        """The approvers of the stage waiting for a decision; raises :class:`NautobotError` when Nautobot refuses a
        lookup (e.g. the token may not view approval workflows or users). Nobody on Nautobot 2.4."""
        if not await self.workflows():
            return Approvers()
        stages = await self._stages(scheduled_id, depth=1)
        pending = sorted(
            (stage for stage in stages if _value(stage.get("state")).lower() == PENDING),
            key=lambda stage: _sequence(stage.get("approval_workflow_stage_definition")),
        )
        if not pending:
            return Approvers()
        group = (await self._definition(pending[0].get("approval_workflow_stage_definition"))).get("approver_group")
        users = await self._group_users(group)
        usernames = tuple(str(user.get("username") or user.get("display") or "") for user in users)
        links = await self._slack_links({str(user.get("id")) for user in users if user.get("id")})
        slack = tuple(dict.fromkeys(links[str(user["id"])] for user in users if str(user.get("id")) in links))
        return Approvers(slack_users=slack, usernames=tuple(name for name in usernames if name), group=_label(group))

    async def group_links(self, groups: Iterable[str]) -> dict[str, str]:
        """Slack user id → Nautobot username, for the active users of the Nautobot groups named whose account link
        names a Slack user (approvers named by Nautobot group in the access policy); raises
        :class:`NautobotError` when Nautobot refuses a lookup."""
        members: dict[str, str] = {}
        for name in sorted(set(groups)):
            for user in await self._group_users(name):
                if user.get("id") is not None:
                    members[str(user["id"])] = _label(user) or str(user["id"])
        if not members:
            return {}
        return {slack_id: members[owner_id] for owner_id, slack_id in await self._live_links() if owner_id in members}

    async def linked_users(self, slack_users: Iterable[str]) -> dict[str, str]:
        """Slack user id → the username of the active Nautobot user its account link points to, for each of
        ``slack_users`` that has one; raises :class:`NautobotError` when Nautobot refuses a lookup."""
        wanted = set(slack_users)
        owners = {slack_id: owner_id for owner_id, slack_id in await self._live_links() if slack_id in wanted}
        if not owners:
            return {}
        users = await self.nautobot.list_objects(
            "/api/users/users/",
            what="read the Nautobot users approvers linked their Slack accounts to",
            params=[("id", owner_id) for owner_id in sorted(set(owners.values()))],
        )
        active = {str(user["id"]): _label(user) or str(user["id"]) for user in users if _active(user)}
        return {slack_id: active[owner_id] for slack_id, owner_id in owners.items() if owner_id in active}

    async def group_exists(self, name: str) -> bool:
        """Whether Nautobot has a group of this name (needs view on ``auth.group``)."""
        groups = await self.nautobot.list_objects(
            "/api/users/groups/", what="find a Nautobot group", params=[("name", name)], page_size=10
        )
        return any(_label(group) == name for group in groups)

    async def deciders(self, scheduled_id: str) -> tuple[str, ...]:
        """The Nautobot usernames of who decided, as Nautobot names them (empty when it does not)."""
        if await self.workflows():
            stages = await self._stages(scheduled_id, depth=2)
            return tuple(dict.fromkeys(_deciders(stages)))
        record = await self.nautobot.get_object(
            f"/api/extras/scheduled-jobs/{segment(scheduled_id)}/",
            what="read who approved the scheduled job",
            params={"depth": "1"},
        )
        approver = _label((record or {}).get("approved_by_user"))
        return (approver,) if approver else ()

    async def _stages(self, scheduled_id: str, *, depth: int) -> list[dict[str, Any]]:
        workflows = await self.nautobot.list_objects(
            "/api/extras/approval-workflows/",
            what="find the approval workflow of the scheduled job",
            params=[("object_under_review_object_id", scheduled_id)],
            page_size=10,
        )
        if not workflows:
            return []
        return await self.nautobot.list_objects(
            "/api/extras/approval-workflow-stages/",
            what="read the stages of the approval workflow",
            params=[("approval_workflow", str(workflows[0].get("id"))), ("depth", str(depth))],
            page_size=50,
        )

    async def _definition(self, nested: Any) -> Mapping[str, Any]:
        """The stage's definition: as nested in the stage, or read when Nautobot nested only a reference (a token
        that may not view stage definitions)."""
        definition = _mapping(nested)
        if "approver_group" in definition or not definition.get("id"):
            return definition
        path = f"/api/extras/approval-workflow-stage-definitions/{segment(str(definition['id']))}/"
        return await self.nautobot.get_object(path, what="read the approval stage's definition") or {}

    async def _group_users(self, group: Any) -> list[dict[str, Any]]:
        """The users of the approver group, given as its name (``depth=1``) or a reference with its id."""
        if isinstance(group, Mapping) and group.get("id") is not None:
            by = ("groups_id", str(group["id"]))
        elif isinstance(group, str) and group:
            by = ("groups", group)
        else:
            return []
        what = "list the approver group's users"
        users = await self.nautobot.list_objects("/api/users/users/", what=what, params=[by])
        return [user for user in users if user.get("is_active", True)]

    async def _slack_links(self, user_ids: set[str]) -> dict[str, str]:
        """Nautobot user id → the Slack user id its account link names."""
        if not user_ids:
            return {}
        found: dict[str, str] = {}
        for owner_id, slack_id in await self._live_links():
            if owner_id in user_ids:
                found.setdefault(owner_id, slack_id)
        return found

    async def _live_links(self) -> list[tuple[str, str]]:
        """``(Nautobot user id, Slack user id)`` of every Slack account link, from each link's latest change."""
        changes = await self.nautobot.list_objects(
            "/api/extras/object-changes/",
            what="find ChatOps account links in Nautobot's change log",
            params=[("changed_object_type", LINK_TYPE)],
        )
        latest: dict[str, dict[str, Any]] = {}
        for change in sorted(changes, key=lambda change: str(change.get("time") or "")):
            link_id = str(change.get("changed_object_id") or "")
            if link_id:
                latest[link_id] = change
        return [link for link in map(_slack_link, latest.values()) if link is not None]


def _slack_link(change: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(Nautobot user id, Slack user id)`` of a link as its latest change leaves it; None: deleted, or not Slack."""
    data = _mapping(change.get("object_data"))
    owner = data.get("nautobot_user")
    owner_id = str(owner.get("id") if isinstance(owner, Mapping) else owner or "")
    slack_id = str(data.get("user_id") or "")
    if _value(change.get("action")).lower() == "delete" or _value(data.get("platform")) != PLATFORM_SLUG:
        return None
    return (owner_id, slack_id) if owner_id and slack_id else None


def _deciders(stages: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    """Who approved or denied in any stage, in stage order."""
    for stage in sorted(stages, key=lambda stage: _sequence(stage.get("approval_workflow_stage_definition"))):
        for response in stage.get("responses") or ():
            if isinstance(response, Mapping) and _value(response.get("state")).lower() in ("approved", "denied"):
                name = _label(response.get("user"))
                if name:
                    yield name


def _active(user: Mapping[str, Any]) -> bool:
    return user.get("id") is not None and bool(user.get("is_active", True))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _value(value: Any) -> str:
    """A choice as Nautobot sends it: a plain value, or ``{"value": …, "label": …}``."""
    return str(value.get("value") if isinstance(value, Mapping) else value or "")


def _label(value: Any) -> str:
    """A user or group as Nautobot names it: its name (``username``, ``name``, ``display``), never only an id."""
    if isinstance(value, Mapping):
        return str(value.get("username") or value.get("name") or value.get("display") or "")
    return str(value or "") if isinstance(value, str) else ""


def _sequence(definition: Any) -> int:
    try:
        return int(_mapping(definition).get("sequence") or 0)
    except (TypeError, ValueError):
        return 0
