"""Typed access to deal fields stored as JSON, so that conditions run in SQL ``WHERE`` clauses.

:func:`column_for` is the ``column`` callback of
:func:`playbook.conditions.sql.to_sql`: it reads one field out of
``deals.fields`` with the SQL type of its declared kind. The same expression
works on both databases: ``json_extract`` on SQLite, ``->>`` on PostgreSQL.

How each kind is stored (see :func:`playbook.store.repository.json_fields`) and read:

========  ======================================  =====================================
kind      JSON                                     SQL
========  ======================================  =====================================
string    text                                     text
enum      text                                     text
integer   number                                   ``BIGINT`` (see ``json_scalar``)
number    number                                   double, compared as REAL
decimal   text (exact)                             ``NUMERIC``
boolean   true / false                             ``BOOLEAN`` (1/0 on SQLite)
date      ``"2017-03-01"``                         ``date`` on PostgreSQL, ISO text on SQLite
datetime  ``"2017-03-01T08:00:00.000000+00:00"``   ``timestamptz`` on PostgreSQL, UTC text
                                                   of fixed width on SQLite
list      array of text                            the JSON array itself
========  ======================================  =====================================
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from playbook.conditions import Expr, FieldType
from playbook.conditions.sql import JSON_SCALAR_KINDS, ColumnFor, json_scalar, to_sql
from playbook.store.models import Deal, JsonDocument

__all__ = ["column_for", "field_reader", "where"]


class _JsonUtcDateTime(TypeDecorator[datetime]):
    """A datetime field read from JSON: ``timestamptz`` on PostgreSQL, fixed-width text on SQLite.

    On SQLite the stored text and the bound value have the same width and
    offset (UTC), so comparing them as text orders them as times.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, datetime):
            return value
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return utc.isoformat(timespec="microseconds") if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class _PostgresCast(FunctionElement[Any]):
    """``CAST(x AS type)`` on PostgreSQL; on SQLite ``x`` itself, already comparable as text."""

    inherit_cache = True

    def __init__(self, inner: ColumnElement[Any], type_: Any) -> None:
        super().__init__(inner)
        self.type = type_


@compiles(_PostgresCast)
def _plain(element: _PostgresCast, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(_PostgresCast, "postgresql")
def _cast(element: _PostgresCast, compiler: SQLCompiler, **kw: Any) -> str:
    inner = compiler.process(next(iter(element.clauses)), **kw)
    target = compiler.dialect.type_compiler_instance.process(
        element.type.dialect_impl(compiler.dialect)
    )
    return f"CAST({inner} AS {target})"


class _JsonArray(FunctionElement[Any]):
    """A JSON array member of a JSON column, as JSON (SQL NULL when the key is missing).

    SQLAlchemy's own ``column[key]`` wraps SQLite's result in ``JSON_QUOTE``,
    which turns a missing key into the text ``null``; list conditions need NULL.
    """

    inherit_cache = True
    type = JsonDocument


@compiles(_JsonArray)
def _json_extract(element: _JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    source, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"json_extract({source}, '$.\"' || {key} || '\"')"


@compiles(_JsonArray, "postgresql")
def _json_arrow(element: _JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    source, key = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({source} -> CAST({key} AS TEXT))"


def field_reader(fields: Any = None) -> ColumnFor:
    """A ``column`` callback reading from the JSON column ``fields`` (default ``deals.fields``)."""
    source = Deal.fields if fields is None else fields

    def read(name: str, field_type: FieldType) -> ColumnElement[Any]:
        return _read(source, name, field_type)

    return read


def column_for(name: str, field_type: FieldType) -> ColumnElement[Any]:
    """The SQL expression that reads field ``name`` of ``deals.fields`` as its declared type.

    A missing field reads as SQL NULL on both databases.
    """
    return _read(Deal.fields, name, field_type)


def where(expr: Expr) -> ColumnElement[bool]:
    """A ``WHERE`` clause on ``deals``: true exactly for the deals whose fields satisfy ``expr``."""
    return to_sql(expr, column_for)


def _read(source: Any, name: str, field_type: FieldType) -> ColumnElement[Any]:
    kind = field_type.kind
    if kind == "list":
        return _JsonArray(source, sa.literal(name, sa.String()))
    text: ColumnElement[Any] = source[name].as_string()
    if kind in JSON_SCALAR_KINDS:
        return json_scalar(source, name, kind)
    if kind == "date":
        return _PostgresCast(text, sa.Date())
    if kind == "datetime":
        return _PostgresCast(text, _JsonUtcDateTime())
    return text
