"""Appending imported rows in bulk: prepared ``executemany`` on SQLite, ``COPY`` on PostgreSQL.

Rows are tuples already in the driver's form; new deals get ids reserved up
front. Used by :mod:`playbook.store.importer`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Connection,
    Table,
    insert,
    text,
)

from playbook.store.db import Database
from playbook.store.models import Deal, StageChange
from playbook.store.rows import remember

if TYPE_CHECKING:
    import psycopg

__all__ = ["CHANGE_COLUMNS", "DEAL_COLUMNS", "BulkRows", "PostgresRows", "bulk_connection"]

_DEALS = cast(Table, Deal.__table__)
_CHANGES = cast(Table, StageChange.__table__)

# --- appending rows in bulk ---------------------------------------------------------------

# Rows are tuples in the order of the models' columns (the order compiled INSERTs use).
DEAL_COLUMNS = tuple(column.name for column in _DEALS.columns)
CHANGE_COLUMNS = tuple(column.name for column in _CHANGES.columns if column.name != "id")


_CACHE_KIB = 64 * 1024
"""SQLite's page cache during an import, in KiB."""


class BulkRows:
    """Appends rows to a table with one prepared INSERT run over all of them (executemany).

    The rows are tuples of values already in the driver's form: JSON as text
    and times as :meth:`time` gives them, so no ORM or type processing runs per
    row. New deals get their ids from :meth:`reserve_ids` up front, so that
    their stage changes can be written in the same pass.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._times: dict[datetime, Any] = {}

    @contextmanager
    def tuned(self) -> Iterator[None]:
        """A larger page cache for the import, back to what it was afterwards.

        The cache keeps the index pages that new rows land in (stage, owner,
        stage-entry and activity times) in memory instead of reading them
        again for every batch. Durability settings stay as they are (WAL with
        ``synchronous = NORMAL``).
        """
        connection = self.connection
        with connection.begin():
            previous = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or 0)
            connection.exec_driver_sql(f"PRAGMA cache_size = -{_CACHE_KIB}")
        try:
            yield
        finally:
            with connection.begin():
                connection.exec_driver_sql(f"PRAGMA cache_size = {previous}")

    def reserve_ids(self, count: int) -> Sequence[int]:
        """``count`` unused deal ids.

        SQLite hands out ``max(id) + 1`` for a new row; the import's write
        transaction holds the database's write lock, so nobody else can take them.
        """
        table = self.qualified(Deal.__tablename__)
        top = self.connection.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar()  # noqa: S608
        start = int(top or 0) + 1
        return range(start, start + count)

    def time(self, moment: datetime) -> Any:
        """``moment`` as the column stores it (SQLite: UTC text in SQLAlchemy's layout)."""
        stored = self._times.get(moment)
        if stored is None:
            wall = moment.astimezone(UTC).replace(tzinfo=None)
            stored = wall.isoformat(sep=" ", timespec="microseconds")
            remember(self._times, moment, stored)
        return stored

    def qualified(self, table: str) -> str:
        """The table's name in SQL, in the store's schema when it has one (quoted as needed)."""
        preparer = self.connection.dialect.identifier_preparer
        schema = self.schema()
        return (
            preparer.quote(table)
            if schema is None
            else (f"{preparer.quote_schema(schema)}.{preparer.quote(table)}")
        )

    def schema(self) -> str | None:
        """The schema the connection puts the store's tables in (None: the default one)."""
        translate = self.connection.get_execution_options().get("schema_translate_map") or {}
        return cast("str | None", translate.get(Deal.__table__.schema))

    def append(self, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (values in the order of ``columns``) into ``table``."""
        statement = insert(table).compile(
            dialect=self.connection.dialect,
            column_keys=columns,
            schema_translate_map=self.connection.get_execution_options().get(
                "schema_translate_map"
            ),
            render_schema_translate=True,
        )
        self.connection.exec_driver_sql(str(statement), rows)


class PostgresRows(BulkRows):
    """PostgreSQL: ids from the table's sequence, rows streamed with COPY."""

    @contextmanager
    def tuned(self) -> Iterator[None]:
        """Nothing to set: the server's own settings apply."""
        yield

    def reserve_ids(self, count: int) -> Sequence[int]:
        """``count`` ids taken from the deals' id sequence (safe with concurrent writers)."""
        query = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
        )
        table = self.qualified(Deal.__tablename__)
        return list(self.connection.execute(query, {"table": table, "count": count}).scalars())

    def time(self, moment: datetime) -> Any:
        """``moment`` as it is: psycopg sends aware datetimes as ``timestamptz``."""
        return moment

    def append(self, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Stream ``rows`` into ``table`` with ``COPY ... FROM STDIN``, inside the transaction."""
        from psycopg import sql

        driver = cast("psycopg.Connection[Any]", self.connection.connection.driver_connection)
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(*[name for name in (self.schema(), table.name) if name]),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
        )
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


@contextmanager
def bulk_connection(database: Database) -> Iterator[BulkRows]:
    """One connection for a whole import, set up for bulk writes and reset at the end."""
    with database.engine.connect() as connection:
        # Makes SQLite's transactions BEGIN IMMEDIATE (see playbook.store.db).
        connection.execution_options(playbook_write=True)
        postgres = connection.dialect.name == "postgresql"
        rows = PostgresRows(connection) if postgres else BulkRows(connection)
        with rows.tuned():
            yield rows
