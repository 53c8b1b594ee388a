"""Would Nautobot hold the scheduled revoke of a time-bound grant for approval? Asked through its REST API.

The Create Meraki User Job schedules a one-off run of the hidden Revoke Meraki Access Job at a grant's expiry. A
scheduled run that waits for approval does not run, so the access would not expire until someone approved it.

- Nautobot 2.4: the Revoke Job's ``approval_required`` (its Job record says it; a schedule carries it).
- Nautobot 3.x: an approval workflow definition for ``extras.scheduledjob`` whose ``model_constraints`` match the
  scheduled job (no constraints match every scheduled job). Nautobot passes the constraints to
  ``ScheduledJob.objects.filter(**constraints)``; the bot evaluates the lookups it can from what it knows of a
  scheduled revoke (its Job's record, its task, its interval), and names the constraints it cannot evaluate.
  Reading the definitions needs the view action on ``extras.approvalworkflowdefinition``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.nautobot.client import JobInfo, NautobotClient

REVOKE_JOB = "Revoke Meraki Access"
"""The Job the Create Job schedules at a grant's expiry (``jobs/meraki_expiry.py``)."""
SCHEDULED_JOB_MODEL = "extras.scheduledjob"
DEFINITIONS_PATH = "/api/extras/approval-workflow-definitions/"
DEFINITION_PERMISSION = "view on extras.approvalworkflowdefinition"
REVOKE_INTERVAL = "future"
"""A revoke is a one-off run in the future."""

_JOB_ID_FIELDS = ("job_model", "job_model_id", "job_model__id", "job_model__pk")
_LOOKUPS: dict[str, Callable[[str, str], bool]] = {
    "exact": lambda have, want: have == want,
    "iexact": lambda have, want: have.casefold() == want.casefold(),
    "contains": lambda have, want: want in have,
    "icontains": lambda have, want: want.casefold() in have.casefold(),
    "startswith": lambda have, want: have.startswith(want),
    "istartswith": lambda have, want: have.casefold().startswith(want.casefold()),
    "endswith": lambda have, want: have.endswith(want),
    "iendswith": lambda have, want: have.casefold().endswith(want.casefold()),
}


@dataclass(frozen=True)
class Definition:
    """An approval workflow definition for scheduled jobs, and whether it would hold a scheduled revoke."""

    name: str
    weight: int
    constraints: Mapping[str, Any]
    matches: bool | None
    """True: it matches a scheduled revoke; False: it does not; None: the bot cannot tell (see ``unknown``)."""
    unknown: tuple[str, ...] = ()
    """The constraints the bot cannot evaluate."""


async def find_revoke_job(client: NautobotClient) -> JobInfo | None:
    """The Revoke Meraki Access Job's record, or None when the token sees no Job of exactly that name (it is
    hidden from Nautobot's Jobs list, not from its API)."""
    jobs = await client.list_objects(
        "/api/extras/jobs/", what=f"look up the Job {REVOKE_JOB!r}", params=[("name", REVOKE_JOB)], page_size=10
    )
    found = next((job for job in jobs if job.get("name") == REVOKE_JOB), None)
    return JobInfo.from_api(found) if found is not None else None


async def holding_definitions(client: NautobotClient, revoke: JobInfo) -> list[Definition]:
    """Nautobot 3.x: the approval workflow definitions that match, or may match, a scheduled run of ``revoke``,
    highest weight first (the one Nautobot would apply first). Raises :class:`NautobotError` when Nautobot
    refuses the list (``NautobotAuthError`` without the view permission, :data:`DEFINITION_PERMISSION`)."""
    records = await client.list_objects(DEFINITIONS_PATH, what="list the approval workflow definitions")
    facts = revoke_facts(revoke)
    found = [_definition(record, facts) for record in records if _content_type(record) == SCHEDULED_JOB_MODEL]
    return sorted((d for d in found if d.matches is not False), key=lambda d: d.weight, reverse=True)


def revoke_facts(revoke: JobInfo) -> dict[str, Any]:
    """What any scheduled revoke is known to have, by the field names a constraint may filter a ScheduledJob on."""
    facts: dict[str, Any] = {name: revoke.id for name in _JOB_ID_FIELDS}
    for name, value in revoke.raw.items():
        if isinstance(value, str | bool | int) or value is None:
            facts[f"job_model__{name}"] = value
    module, cls = revoke.raw.get("module_name"), revoke.raw.get("job_class_name")
    if module and cls:
        facts["task"] = f"{module}.{cls}"  # ScheduledJob.task is the Job's class path
    facts["interval"] = REVOKE_INTERVAL
    return facts


def constraints_match(constraints: Mapping[str, Any], facts: Mapping[str, Any]) -> tuple[bool | None, list[str]]:
    """Whether every constraint holds for ``facts`` (Django's ``filter(**constraints)``: all of them must): False as
    soon as one does not; None (with the constraints it cannot evaluate) when the rest hold; no constraint: True."""
    unknown: list[str] = []
    for key, want in constraints.items():
        holds = _holds(key, want, facts)
        if holds is False:
            return False, []
        if holds is None:
            unknown.append(key)
    return (None, unknown) if unknown else (True, [])


def _holds(key: str, want: Any, facts: Mapping[str, Any]) -> bool | None:
    field, _, lookup = key.rpartition("__")
    if lookup not in (*_LOOKUPS, "in") or field not in facts:
        field, lookup = key, "exact"  # a field of its own (``job_model__name``), not a field and its lookup
    if field not in facts:
        return None
    have = facts[field]
    if lookup == "in":
        return isinstance(want, list) and any(_same(have, item, "exact", field) for item in want)
    return _same(have, want, lookup, field)


def _same(have: Any, want: Any, lookup: str, field: str) -> bool:
    if isinstance(have, bool) or have is None:
        return lookup == "exact" and _boolean(want) is have
    left, right = str(have), str(want)
    if field in _JOB_ID_FIELDS:  # a UUID, whichever case it is written in
        left, right = left.lower(), right.lower()
    return _LOOKUPS[lookup](left, right)


def _boolean(value: Any) -> bool | None:
    """A constraint's value as Django would read it for a boolean (or null) field."""
    if isinstance(value, bool) or value is None:
        return value
    return {"true": True, "1": True, "false": False, "0": False}.get(str(value).strip().lower())


def _definition(record: Mapping[str, Any], facts: Mapping[str, Any]) -> Definition:
    constraints = record.get("model_constraints") or {}
    if not isinstance(constraints, Mapping):
        constraints = {}
    matches, unknown = constraints_match(constraints, facts)
    try:
        weight = int(record.get("weight") or 0)
    except (TypeError, ValueError):
        weight = 0
    name = str(record.get("name") or record.get("display") or record.get("id") or "")
    return Definition(name, weight, dict(constraints), matches, tuple(unknown))


def _content_type(record: Mapping[str, Any]) -> str:
    """The definition's model as ``app_label.model``, however Nautobot nested it."""
    value = record.get("model_content_type")
    if isinstance(value, Mapping):
        return str(value.get("app_label", "")) + "." + str(value.get("model", ""))
    return str(value or "")
