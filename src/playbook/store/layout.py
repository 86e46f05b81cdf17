"""Where the store's tables and its schema version live in a database it may share.

Every table of the store is named ``playbook_…`` (see :mod:`.models`), and on
PostgreSQL the whole store may live in a schema of its own, chosen when the
store is opened. The schema version is kept in the store's own Alembic version
table, :data:`VERSION_TABLE`, so a host application's ``alembic_version`` is
never read as the store's nor written.

Stores written before this layout kept their revision in ``alembic_version``
and their tables without the prefix; :func:`adopt_legacy` moves that revision
into :data:`VERSION_TABLE` (the migration ``0009`` then renames the tables),
leaving any other application's rows where they are.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, inspect, text

from playbook.errors import DatabaseUnavailableError
from playbook.i18n import Message
from playbook.store.models import SCHEMA_PLACEHOLDER

__all__ = [
    "LEGACY_VERSION_TABLE",
    "VERSION_TABLE",
    "adopt_legacy",
    "check_schema_name",
    "foreign_revisions",
    "legacy_revision",
    "stored_revision",
    "translate_map",
]

VERSION_TABLE = "playbook_alembic_version"
"""The store's own Alembic version table (in the store's schema when one is chosen)."""

LEGACY_VERSION_TABLE = "alembic_version"
"""Alembic's default version table, where stores before revision 0009 kept their revision."""

_LEGACY_MARK = ("stage_changes", "deal_version")
"""A table and column only the store's old layout has: its revision ids are too plain
("0003") to tell the store's history from another application's on their own."""

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def translate_map(schema: str | None) -> dict[str | None, str | None]:
    """The ``schema_translate_map`` that puts the store's tables in ``schema``.

    ``None`` means the connection's default schema (PostgreSQL's ``search_path``,
    SQLite's ``main``).
    """
    return {SCHEMA_PLACEHOLDER: schema}


def check_schema_name(schema: str | None, dialect: str) -> None:
    """Raise :class:`~playbook.errors.DatabaseUnavailableError` for a schema the store cannot use.

    A schema must be a plain lower-case SQL name; SQLite has no schemas inside
    one file (the ``playbook_`` prefix is what lets the store share it).
    """
    if schema is None:
        return
    if dialect != "postgresql":
        raise DatabaseUnavailableError(
            Message("error.layout.schema_not_on_dialect", schema=schema, dialect=dialect),
            hint=Message("error.layout.schema_not_on_dialect_hint"),
        )
    if not _SCHEMA_NAME.fullmatch(schema):
        raise DatabaseUnavailableError(
            Message("error.layout.bad_schema_name", schema=schema),
            hint=Message("error.layout.bad_schema_name_hint"),
        )


def stored_revision(connection: Connection, schema: str | None) -> str | None:
    """The store's revision from :data:`VERSION_TABLE`, or None when the table is absent."""
    if not inspect(connection).has_table(VERSION_TABLE, schema=schema):
        return None
    name = _qualified(connection, VERSION_TABLE, schema)
    row = connection.execute(text(f"SELECT version_num FROM {name}")).first()  # noqa: S608
    return None if row is None else str(row[0])


def legacy_revision(connection: Connection, known: tuple[str, ...]) -> str | None:
    """The store's revision in ``alembic_version`` if the old layout is there, else None."""
    if not _has_legacy_store(connection):
        return None
    ours = [revision for revision in _legacy_rows(connection) if revision in known]
    return ours[0] if len(ours) == 1 else None


def foreign_revisions(connection: Connection, known: tuple[str, ...]) -> tuple[str, ...]:
    """The revisions in ``alembic_version`` that are not the store's old layout's."""
    legacy = legacy_revision(connection, known)
    return tuple(revision for revision in _legacy_rows(connection) if revision != legacy)


def adopt_legacy(connection: Connection, schema: str | None, known: tuple[str, ...]) -> str | None:
    """Move the store's revision from ``alembic_version`` into :data:`VERSION_TABLE`.

    Runs in the caller's transaction on ``connection``; other rows of
    ``alembic_version`` (another application's heads) stay, and the table is
    dropped only when the store's row was its last. Returns the revision
    adopted, or None when there was nothing to adopt.
    """
    revision = legacy_revision(connection, known)
    if revision is None or stored_revision(connection, schema) is not None:
        return None
    table = _qualified(connection, VERSION_TABLE, schema)
    connection.execute(
        text(
            f"CREATE TABLE {table} (version_num VARCHAR(32) NOT NULL, "
            f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
        )
    )
    connection.execute(text(f"INSERT INTO {table} (version_num) VALUES (:v)"), {"v": revision})  # noqa: S608
    legacy = LEGACY_VERSION_TABLE
    connection.execute(text(f"DELETE FROM {legacy} WHERE version_num = :v"), {"v": revision})  # noqa: S608
    if not _legacy_rows(connection):
        connection.execute(text(f"DROP TABLE {legacy}"))
    return revision


def _legacy_rows(connection: Connection) -> tuple[str, ...]:
    if not inspect(connection).has_table(LEGACY_VERSION_TABLE):
        return ()
    rows = connection.execute(text(f"SELECT version_num FROM {LEGACY_VERSION_TABLE}"))  # noqa: S608
    return tuple(sorted(str(row[0]) for row in rows))


def _has_legacy_store(connection: Connection) -> bool:
    table, column = _LEGACY_MARK
    found = inspect(connection)
    if not found.has_table(table):
        return False
    return column in {item["name"] for item in found.get_columns(table)}


def _qualified(connection: Connection, name: str, schema: str | None) -> str:
    """``name`` in ``schema`` (quoted as the dialect quotes), or as it is."""
    quote = connection.dialect.identifier_preparer.quote
    return name if schema is None else f"{quote(schema)}.{name}"
