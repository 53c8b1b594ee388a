"""A step runs as the person its *Requested by* input names only once that person confirms it in Slack.

Slack's ``function_executed`` event names nobody: who the step is for is an input, and whoever edits the workflow
fills it. Taken on trust, anyone who can build a workflow could run the step as an administrator, or as someone
else and then approve it themselves. So the bot asks the person named, in a direct message posted with the
execution's own token (Slack ties the buttons to the step and signs the click with the clicker's id), and asks
for nothing until that person clicks *Run it*. A click by anyone else is refused; *Decline* fails the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from bot.slack.text import context, escape, mention, section

CONFIRM_ACTION_ID = "workflow_step_confirm"
DECLINE_ACTION_ID = "workflow_step_decline"
SHOWN_INPUTS = 8
"""Inputs listed in the message (a step has at most ten, the requester and the channel among them)."""


@dataclass(frozen=True)
class Click:
    """A click on a confirmation's button, as Slack signs it: who clicked, on which step's message."""

    execution_id: str
    user_id: str
    team_id: str
    inputs: dict[str, Any]
    """The step's inputs as Slack holds them for the execution (``function_data``), not as the message shows."""
    channel_id: str
    message_ts: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> Click | None:
        """The click, or None when it carries no step (a forged or foreign payload: refused)."""
        execution_id = _text(body, "function_data", "execution_id")
        actions = body.get("actions") or [{}]
        if not execution_id or _text(actions[0], "value") != execution_id:
            return None
        return cls(
            execution_id=execution_id,
            user_id=_text(body, "user", "id"),
            team_id=_text(body, "team", "id") or _text(body, "user", "team_id"),
            inputs=dict((body.get("function_data") or {}).get("inputs") or {}),
            channel_id=_text(body, "container", "channel_id") or _text(body, "channel", "id"),
            message_ts=_text(body, "container", "message_ts"),
        )


def _text(found: Any, *path: str) -> str:
    """The text at ``path`` in a payload ("" where any part is missing)."""
    for key in path:
        found = found.get(key) if isinstance(found, dict) else None
    return str(found or "")


def asking(
    title: str, execution_id: str, requester_id: str, inputs: dict[str, Any], hidden: frozenset[str]
) -> tuple[str, list[Block]]:
    """The direct message that asks the person named as requester to confirm the step (each button carries the
    execution it answers, checked against the execution Slack names in the click)."""
    text = f"A workflow asks to run “{title}” as you. Nothing runs until you confirm."
    shown = [(name, value) for name, value in inputs.items() if name not in hidden and value not in (None, "")]
    lines = "\n".join(f"• {escape(name)}: {escape(str(value), limit=200)}" for name, value in shown[:SHOWN_INPUTS])
    blocks: list[Block] = [
        section(f"{mention(requester_id)}, a workflow asks to run *{escape(title)}* as you, with:\n{lines or '-'}"),
        context(
            "The access policy, any approval and the audit trail apply to you. "
            "If you did not start this workflow, decline."
        ),
        ActionsBlock(
            elements=[
                ButtonElement(text="Run it", action_id=CONFIRM_ACTION_ID, value=execution_id, style="primary"),
                ButtonElement(text="Decline", action_id=DECLINE_ACTION_ID, value=execution_id, style="danger"),
            ]
        ),
    ]
    return text, blocks


def answered(user_id: str, confirmed: bool) -> tuple[str, list[Block]]:
    """The confirmation once answered: the buttons give way to what was decided."""
    if confirmed:
        text = "You confirmed the workflow step: it runs as you, and its messages follow."
    else:
        text = "You declined the workflow step: nothing ran."
    return text, [section(f"{mention(user_id)}: {escape(text)}")]
