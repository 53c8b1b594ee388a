"""The statements the ledger runs on every step, built once and run with new parameters.

Every step of a request's life writes to the ledger, so its statements are SQLAlchemy Core, built (and
compiled) once per shape: the ORM's unit of work and the building of each statement cost more than the
write itself. Each function here that takes a ``conn`` last is a step (:mod:`bot.ledger.steps`) once its
statement is bound; no result object leaves the step's thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Connection,
    Executable,
    Insert,
    Row,
    Select,
    Update,
    bindparam,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.ledger.records import UnknownRequest
from bot.ledger.schema import AUDIT, REQUESTS, SchemaVersionRow, now

GET_REQUEST: Select[Any] = select(REQUESTS).where(REQUESTS.c.request_id == bindparam("key"))
"""One request by its key, the parameter ``key``."""
INSERT_AUDIT: Insert = insert(AUDIT)
"""Its columns are the parameters' keys."""
PROBE: Update = update(SchemaVersionRow).values(version=SchemaVersionRow.version)
"""A write that changes nothing: whether the ledger takes writes."""


@functools.cache
def insert_absent(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (request_id) DO NOTHING RETURNING *``: a row back means created. Its columns are
    the parameters' keys."""
    insert_for = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert_for(REQUESTS).on_conflict_do_nothing(index_elements=[REQUESTS.c.request_id]).returning(*REQUESTS.c)


@functools.cache
def conditional_update(allowed: frozenset[str], assigned: tuple[str, ...], incremented: tuple[str, ...]) -> Update:
    """``UPDATE requests SET … WHERE request_id = :key AND state IN allowed AND nobody else holds it RETURNING *``.

    The parameters: ``key``, ``me`` (this replica), ``now``, and ``new_<column>`` for each assigned column;
    each incremented column becomes one more than it was. One statement per shape, kept for the process.
    """
    held_by_nobody_else = or_(
        REQUESTS.c.owner.is_(None), REQUESTS.c.owner == bindparam("me"), REQUESTS.c.lease_until < bindparam("now")
    )
    changes: dict[str, Any] = {name: bindparam(f"new_{name}") for name in assigned}
    changes |= {name: REQUESTS.c[name] + 1 for name in incremented}
    # One parameter per allowed state, fixed here: a list given to in_() is expanded into the SQL text again
    # at every execution (SQLAlchemy's "post-compile" parameters), on the ledger's busiest path.
    in_allowed_state = REQUESTS.c.state.in_([literal(state) for state in sorted(allowed)])
    return (
        update(REQUESTS)
        .where(REQUESTS.c.request_id == bindparam("key"), in_allowed_state, held_by_nobody_else)
        .values(changes)
        .returning(*REQUESTS.c)
    )


def execute(statement: Executable, parameters: dict[str, Any] | None, conn: Connection) -> None:
    """A step that writes and returns nothing."""
    conn.execute(statement, parameters)


def scalars(statement: Update, conn: Connection) -> list[Any]:
    return list(conn.scalars(statement))


def locked_change(
    key_column: Any, key: str, change: Callable[[Row[Any]], dict[str, Any] | None], missing: str, conn: Connection
) -> Row[Any]:
    """A step: read the row whose ``key_column`` is ``key`` holding it (``SELECT … FOR UPDATE``; SQLite's write
    lock, taken up front), and write what ``change`` makes of it (None: nothing); the row as it is then. Raises
    :class:`~bot.ledger.records.UnknownRequest` with ``missing`` when there is no such row."""
    table = key_column.table
    row = conn.execute(select(table).where(key_column == key).with_for_update()).one_or_none()
    if row is None:
        raise UnknownRequest(missing)
    values = change(row)
    if values is None:
        return row
    values.setdefault("updated_at", now())
    return conn.execute(update(table).where(key_column == key).values(values).returning(*table.c)).one()
