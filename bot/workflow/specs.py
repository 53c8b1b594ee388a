"""The custom steps the bot offers Workflow Builder: each one's command, and how a step's inputs become the Job's
values and the Job's result the step's outputs. ``manifest.yml`` declares the same steps (a unit test holds
them together)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

REQUESTER = "requester"
"""The input every step has: the person the request is for the access policy, approvals and audit. A workflow
author sets it to "Person who used this workflow"."""
CHANNEL = "channel"
"""The optional input naming where the request's messages go (without one: a direct message to the requester)."""

Outputs = Callable[[dict[str, Any]], dict[str, Any]]
"""The step's outputs from the Job's returned result (an empty dict when it returned nothing)."""


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _added(result: dict[str, Any]) -> dict[str, Any]:
    return {"admin_id": _text(result.get("admin_id")), "summary": _text(result.get("summary"))}


def _found(result: dict[str, Any]) -> dict[str, Any]:
    matches = result.get("matches")
    return {
        "match_count": len(matches) if isinstance(matches, list) else 0,
        "summary": _text(result.get("summary")),
    }


def _removed(result: dict[str, Any]) -> dict[str, Any]:
    admins = result.get("admins")
    rows = admins if isinstance(admins, list) else []
    removed = [row for row in rows if isinstance(row, dict) and row.get("action") == "removed"]
    return {"removed_count": len(removed), "summary": _text(result.get("summary"))}


@dataclass(frozen=True)
class StepSpec:
    """One custom step: the slash command whose Job, access rules and audit it shares."""

    callback_id: str
    command: str
    variables: Mapping[str, str]
    """Each step input's Job variable (the requester and channel inputs are the bot's own)."""
    outputs: Outputs

    def values(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The Job's values from the step's inputs: only the inputs a workflow gave, by their variables' names."""
        return {self.variables[name]: value for name, value in inputs.items() if name in self.variables}


STEPS: dict[str, StepSpec] = {
    spec.callback_id: spec
    for spec in (
        StepSpec(
            "add_meraki_admin",
            "/meraki-add-user",
            {
                "email": "user_email",
                "name": "user_name",
                "organization": "meraki_org_id",
                "access_level": "meraki_access_level",
                "network": "meraki_network",
                "network_access": "meraki_network_access",
                "duration": "duration",
                "dry_run": "dryrun",
            },
            _added,
        ),
        StepSpec("find_meraki_admin", "/meraki-find-user", {"query": "query", "organization": "meraki_org_id"}, _found),
        StepSpec(
            "remove_meraki_admin",
            "/meraki-remove-user",
            {"email": "user_email", "organization": "meraki_org_id", "dry_run": "dryrun"},
            _removed,
        ),
    )
}
"""The steps by callback id, as ``manifest.yml``'s ``functions`` declares them."""

COMMON_OUTPUTS = ("outcome", "result_url", "request_id")
"""Outputs every step gives: the Job's outcome, a link to its JobResult, and the bot's request id."""
