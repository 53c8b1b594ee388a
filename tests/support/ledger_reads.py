"""The ledger's rows as a test reads them: straight from its database, beside the bot's own steps.

The bot itself never lists requests or audit entries (it takes requests over, and appends entries), so these
reads live with the tests that check what it wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Executable, Row, select

from bot.ledger import Ledger, Record, RequestState
from bot.ledger.schema import REQUESTS, to_record


async def rows(ledger: Ledger, query: Executable) -> Sequence[Row[Any]]:
    """``query``'s rows, read on a connection of the ledger's engine (its other readers' engine on SQLite)."""
    async with ledger._engine.connect() as conn:
        return (await conn.execute(query)).all()


async def unfinished(ledger: Ledger) -> list[Record]:
    """Every request not in a final state, oldest first: what a restarted bot resumes."""
    query = (
        select(REQUESTS)
        .where(REQUESTS.c.state.in_([state.value for state in RequestState if not state.final]))
        .order_by(REQUESTS.c.created_at, REQUESTS.c.request_id)
    )
    return [to_record(row) for row in await rows(ledger, query)]
