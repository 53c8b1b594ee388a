"""A Home within Slack's limits, whatever it holds: at most 100 blocks and 250 KB a view (``views.publish``
refuses more with ``invalid_arguments`` or ``view_too_large``).

Each part of the Home (a header, its items, what is left out) is drawn whole; while the view is too large, the
part with the most items shown gives up its last one, which is then counted in the part's "and N more" line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from slack_sdk.models.blocks import Block, HeaderBlock
from slack_sdk.models.views import View

from bot.slack.modal.build import view_size
from bot.slack.text import context, section, truncate

MAX_BLOCKS = 100
MAX_BYTES = 250_000
"""Slack's limit on a view's size, measured as the view's JSON (with every character escaped: never less)."""
CALLBACK_ID = "meraki_home"


@dataclass
class Part:
    """One part of the Home: its title, its items (each a few blocks), and how many more it does not show."""

    title: str
    items: list[list[Block]]
    more: int = 0
    """Items that exist but are not drawn (beyond what was read, or cut here to fit)."""
    more_text: Callable[[int], str] = lambda count: f"…and {count} more."
    empty: str = "Nothing here."
    intro: list[Block] = field(default_factory=list)
    """Blocks under the title, whatever the items (e.g. a note)."""

    def blocks(self) -> list[Block]:
        drawn: list[Block] = [HeaderBlock(text=truncate(self.title, 150)), *self.intro]
        if not self.items and not self.more:
            drawn.append(section(self.empty))
        for item in self.items:
            drawn += item
        if self.more:
            drawn.append(context(self.more_text(self.more)))
        return drawn


def home_view(parts: Sequence[Part], *, top: Sequence[Block] = ()) -> View:
    """The Home view of ``parts`` (cut to fit Slack's limits), under the blocks of ``top``."""
    while True:
        blocks = [*top, *(block for part in parts for block in part.blocks())]
        view = View(type="home", callback_id=CALLBACK_ID, blocks=blocks)
        if len(blocks) <= MAX_BLOCKS and view_size(view) <= MAX_BYTES:
            return view
        largest = max(parts, key=lambda part: len(part.items))
        if not largest.items:  # nothing left to cut: the parts' fixed blocks alone are too many (never by design)
            raise ValueError(f"a Home of {len(blocks)} blocks without any item cannot fit Slack's limits")
        largest.items.pop()
        largest.more += 1
