"""The slash commands the bot serves (COMMANDS): each one's Job, and how it runs it."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLASH_COMMAND = re.compile(r"^/[^\s/]{1,31}$")
_SUBCOMMAND = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


class CommandBinding(BaseModel):
    """What one slash command runs, and how: a Job by name, its name in nautobot-chatops' grants and log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job: str = Field(min_length=1, max_length=255)
    """The Job's name in Nautobot (its ``name``, e.g. ``Create Meraki User``)."""
    subcommand: str = Field(default="", max_length=64)
    """The subcommand nautobot-chatops' Access Grants and command log know it by; empty: the command's name."""
    confirm: bool = False
    """A submitted form becomes a summary first; only its Confirm runs the Job (for what cannot be undone)."""
    run_from_text: bool = False
    """The command runs without a form when its text fills every required field (for read-only Jobs)."""

    @field_validator("subcommand")
    @classmethod
    def _subcommand(cls, value: str) -> str:
        if value and not _SUBCOMMAND.match(value):
            raise ValueError("must be a command name: letters, digits, - and _, no spaces (a grant's * matches it)")
        return value

    @model_validator(mode="after")
    def _confirmed_runs_need_the_form(self) -> CommandBinding:
        if self.confirm and self.run_from_text:
            raise ValueError("confirm and run_from_text exclude each other: a confirmed run always shows its form")
        return self


DEFAULT_COMMANDS: dict[str, CommandBinding] = {
    "/meraki-add-user": CommandBinding(job="Create Meraki User", subcommand="add-user"),
    "/meraki-find-user": CommandBinding(job="Find Meraki User", subcommand="find-user", run_from_text=True),
    "/meraki-remove-user": CommandBinding(job="Remove Meraki User", subcommand="remove-user", confirm=True),
}
"""The commands ``manifest.yml`` declares. The first is the one a policy rule without ``commands`` covers."""

REPLACED = {
    "slash_command": "COMMANDS (its first command)",
    "nautobot_job_name": "COMMANDS (the job of its first command)",
    "nautobot_chatops_subcommand": "COMMANDS (the subcommand of its first command)",
}
"""Settings of the single command the bot once had: set, they stop the start and say what replaces them."""


def commands_text(value: Any) -> Any:
    """COMMANDS arrives as JSON text: ``{"/meraki-add-user": {"job": "Create Meraki User"}, ...}``."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
