"""Column types and index steps the revision files share.

A revision is history: the schema it creates must never change. So what is
here is frozen with the revisions that use it; a later revision that needs a
different type or key defines its own instead of editing these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["JSON", "KEY", "Index", "create_indexes", "drop_indexes", "reference", "surrogate_key"]

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""Surrogate and foreign keys: BIGINT, but INTEGER on SQLite, where only that is the rowid."""

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
"""JSON documents: JSONB on PostgreSQL (indexable, compact), plain JSON elsewhere."""

Index = tuple[str, str, tuple[str, ...]]
"""An index as (name, table, columns)."""


def surrogate_key() -> sa.Column[Any]:
    """A new ``id`` column: the table's auto-incremented primary key."""
    return sa.Column("id", KEY, primary_key=True, autoincrement=True)


def reference(
    name: str, table: str, *, ondelete: str = "CASCADE", **options: Any
) -> sa.Column[Any]:
    """A new column ``name`` holding the ``id`` of a row of ``table``.

    By default a row goes when the row it refers to goes (``ON DELETE CASCADE``);
    ``options`` are the column's own (``nullable``, ``primary_key``).
    """
    return sa.Column(name, KEY, sa.ForeignKey(f"{table}.id", ondelete=ondelete), **options)


def create_indexes(indexes: Sequence[Index]) -> None:
    """Create each index, in the order given."""
    for name, table, columns in indexes:
        op.create_index(name, table, list(columns))


def drop_indexes(indexes: Sequence[Index]) -> None:
    """Drop each index, the last given first (undoing :func:`create_indexes`)."""
    for name, table, _columns in reversed(indexes):
        op.drop_index(name, table_name=table)
