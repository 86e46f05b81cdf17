"""Batch inserts for the sweep: thousands of rows in one statement, each at most once.

The rows travel as one JSON document, unpacked by the database
(``jsonb_to_recordset`` on PostgreSQL, ``json_each`` on SQLite): one
parameter instead of one per value, which spares the driver parsing a
statement of tens of thousands of placeholders per batch. ``ON CONFLICT DO
NOTHING`` on a unique key makes concurrent sweeps insert each row once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from playbook.escalation.times import sqlite_time, utc_iso

__all__ = ["insert_rows", "insert_statement", "stored_time"]


def insert_statement(session: Session, table: Table) -> Any:
    """An ``INSERT`` into ``table`` in the session's dialect, which knows ``ON CONFLICT``."""
    module: Any = postgresql if _dialect(session) == "postgresql" else sqlite
    return module.insert(table)


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    fixed: Mapping[str, Any],
    *,
    once: Sequence[str] | None,
    returning: Sequence[ColumnElement[Any]],
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (each with the same keys, plus the ``fixed`` values) in one statement.

    Times in ``rows`` must already be in their stored form (see
    :func:`stored_time`). With ``once`` (a unique key), rows already present
    are skipped, ``ON CONFLICT DO NOTHING``; ``returning`` columns come back
    for the inserted rows only.
    """
    names = list(rows[0])
    document = sa.literal(json.dumps(rows, ensure_ascii=False, separators=(",", ":")), sa.Text())
    if _dialect(session) == "postgresql":
        record = (
            func.jsonb_to_recordset(sa.cast(document, postgresql.JSONB))
            .table_valued(*(sa.column(name, table.c[name].type) for name in names))
            .render_derived(name="found", with_types=True)
        )
        values: list[ColumnElement[Any]] = [record.c[name] for name in names]
    else:
        each = func.json_each(document).table_valued("value")
        values = [func.json_extract(each.c.value, f"$.{name}") for name in names]
    constants = [sa.literal(value, table.c[name].type) for name, value in fixed.items()]
    # SQLite needs a WHERE between INSERT ... SELECT and ON CONFLICT to parse it as an upsert.
    source = select(*values, *constants).where(sa.true())
    statement = insert_statement(session, table).from_select([*names, *fixed], source)
    if once is not None:
        statement = statement.on_conflict_do_nothing(index_elements=list(once))
    if not returning:
        session.execute(statement)
        return []
    return [tuple(row) for row in session.execute(statement.returning(*returning))]


def stored_time(session: Session) -> Callable[[datetime], str]:
    """Turns a time into the text that stands for it in an inserted JSON document.

    On SQLite that is the very text a :class:`~playbook.store.models.UtcDateTime`
    column stores (see :func:`~playbook.escalation.times.sqlite_time`): episode
    checks compare it with the deal's own columns as text. PostgreSQL parses
    ISO 8601 into ``timestamptz``.
    """
    return sqlite_time if _dialect(session) == "sqlite" else utc_iso


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name
