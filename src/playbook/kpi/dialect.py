"""What the KPI SQL writes differently on SQLite and PostgreSQL.

Date arithmetic (days between two instants) and the floor of a number are SQL
functions of their own, compiled per database; :func:`without_jit` sets what
PostgreSQL needs for a report's transaction. Everything else the KPI queries
use is portable SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["DaysBetween", "Floor", "without_jit"]


class DaysBetween(FunctionElement[float]):
    """``DaysBetween(later, earlier)``: days (fractional) from ``earlier`` to ``later``; NULL
    when either is NULL."""

    type = sa.Float()
    inherit_cache = True


class Floor(FunctionElement[int]):
    """The integer part of a non-negative number."""

    type = sa.Integer()
    inherit_cache = True


def _template(text: str) -> Callable[..., str]:
    """A compiler that writes ``text`` with the function's arguments as ``{0}``, ``{1}``…"""

    def write(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
        return text.format(*(compiler.process(clause, **kw) for clause in element.clauses))

    return write


compiles(DaysBetween)(_template("(julianday({0}) - julianday({1}))"))
compiles(DaysBetween, "postgresql")(
    _template("(CAST(EXTRACT(EPOCH FROM ({0}) - ({1})) AS DOUBLE PRECISION) / 86400.0)")
)
# SQLite truncates when casting, which is the floor of a non-negative number; PostgreSQL rounds
# when casting, so it takes the floor first.
compiles(Floor)(_template("CAST({0} AS INTEGER)"))
compiles(Floor, "postgresql")(_template("CAST(FLOOR({0}) AS INTEGER)"))


def without_jit(connection: sa.Connection) -> None:
    """Turn PostgreSQL's JIT compiler off for the report's transaction.

    The estimated cost of a correlated subquery over a few hundred thousand
    rows makes PostgreSQL compile the query with inlining and optimisation,
    which took longer (0.6 s for the conversion query of bench/kpi.py) than
    the query itself takes without it.
    """
    version = connection.dialect.server_version_info or (0,)
    if connection.dialect.name == "postgresql" and version >= (11,):
        connection.execute(sa.text("SET LOCAL jit = off"))
