"""Compile the IR to an SQLAlchemy boolean clause (for the store and KPI queries).

This is the only module of the condition language that imports SQLAlchemy, so
``playbook validate`` never pays for it. The caller decides how a field is
read (a real column, or a typed JSON extraction) through the ``column``
callback; literals are always bound parameters, typed like their column.

Null semantics match :func:`~playbook.conditions.to_python`: every atom is
wrapped as ``(col IS NOT NULL AND col op :p)`` so that it is never SQL NULL,
which makes ``NOT`` the plain boolean negation.

Dialect notes (SQLite and PostgreSQL):

- list fields are stored as JSON arrays of text (JSON, JSONB or TEXT holding
  JSON; a missing list is SQL NULL, not JSON ``null``): ``contains`` and
  ``len()`` use ``json_each``/``json_array_length`` on SQLite and
  ``@>``/``jsonb_array_length`` on PostgreSQL;
- ordered text comparisons use ``COLLATE "C"`` on PostgreSQL, so that text
  orders by code point as in Python (SQLite's default collation already does);
- datetime literals are aware UTC; for a column without a timezone they are
  bound as naive UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from playbook.conditions import ir
from playbook.conditions.fieldtypes import FieldType
from playbook.conditions.visit import ExprVisitor

__all__ = ["ColumnFor", "to_sql"]

ColumnFor = Callable[[str, FieldType], ColumnElement[Any]]
"""Returns the SQL expression that reads a field (given its id and declared type)."""

_ORDERED = frozenset({"<", "<=", ">", ">="})


def to_sql(expr: ir.Expr, column: ColumnFor) -> ColumnElement[bool]:
    """A clause that is true for exactly the rows whose fields make ``expr`` hold.

    ``column(name, type)`` is called once per field and returns the SQL
    expression for it. The clause agrees with the Python predicate of the same
    condition, nulls included, provided the columns hold the same values.
    """
    return _SqlCompiler(column).visit(expr)


class _SqlCompiler(ExprVisitor[ColumnElement[bool]]):
    __slots__ = ("_column", "_columns")

    def __init__(self, column: ColumnFor) -> None:
        self._column = column
        self._columns: dict[str, ColumnElement[Any]] = {}

    def column(self, ref: ir.FieldRef) -> ColumnElement[Any]:
        found = self._columns.get(ref.name)
        if found is None:
            found = self._columns[ref.name] = self._column(ref.name, ref.type)
        return found

    def const(self, expr: ir.Const) -> ColumnElement[bool]:
        return sa.true() if expr.value else sa.false()

    def conjunction(self, expr: ir.And) -> ColumnElement[bool]:
        return sa.and_(*(self.visit(item) for item in expr.items))

    def disjunction(self, expr: ir.Or) -> ColumnElement[bool]:
        return sa.or_(*(self.visit(item) for item in expr.items))

    def negation(self, expr: ir.Not) -> ColumnElement[bool]:
        return sa.not_(self.visit(expr.item))

    def contains(self, expr: ir.Contains) -> ColumnElement[bool]:
        items = self.column(expr.field)
        return sa.and_(items.is_not(None), _JsonContains(items, _bind(expr.value, sa.String())))

    def operand(self, operand: ir.Operand) -> ColumnElement[Any]:
        if isinstance(operand, ir.FieldRef):
            return self.column(operand)
        field = self.column(operand.field)
        if operand.field.type.kind == "list":
            return _JsonLength(field)
        return sa.func.length(field, type_=sa.Integer())

    def present(self, *operands: ir.Operand) -> list[ColumnElement[bool]]:
        refs = [op.field if isinstance(op, ir.Len) else op for op in operands]
        return [self.column(ref).is_not(None) for ref in refs]

    def has(self, expr: ir.Has) -> ColumnElement[bool]:
        ref = expr.field
        value = self.column(ref)
        if ref.type.kind == "string":
            return sa.and_(value.is_not(None), value != _bind("", value.type))
        if ref.type.kind == "list":
            return sa.and_(value.is_not(None), _JsonLength(value) > 0)
        return value.is_not(None)

    def membership(self, expr: ir.In) -> ColumnElement[bool]:
        subject = self.operand(expr.operand)
        if not expr.values:
            return sa.and_(*self.present(expr.operand)) if expr.negated else sa.false()
        values = [_bind(value, subject.type) for value in expr.values]
        test = subject.not_in(values) if expr.negated else subject.in_(values)
        return sa.and_(*self.present(expr.operand), test)

    def comparison(self, expr: ir.Compare) -> ColumnElement[bool]:
        left = self.operand(expr.left)
        if isinstance(expr.right, ir.Literal):
            right = _bind(expr.right.value, left.type)
            guards = self.present(expr.left)
        else:
            right = self.operand(expr.right)
            guards = self.present(expr.left, expr.right)
        if expr.op in _ORDERED and _is_text(expr.left):
            left, right = _CodePointOrder(left), _CodePointOrder(right)
        return sa.and_(*guards, _OPERATORS[expr.op](left, right))


_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _is_text(operand: ir.Operand) -> bool:
    return isinstance(operand, ir.FieldRef) and operand.type.kind in ("string", "enum")


def _bind(value: ir.LiteralValue, column_type: Any) -> ColumnElement[Any]:
    """A bound parameter typed like the column it is compared with (inferred if untyped)."""
    if isinstance(value, datetime) and not getattr(column_type, "timezone", True):
        value = value.replace(tzinfo=None)  # already UTC
    if isinstance(column_type, sa.types.NullType):
        return sa.literal(value)
    return sa.literal(value, type_=column_type)


# --- dialect-aware constructs ------------------------------------------------------


class _JsonLength(FunctionElement[int]):
    """The number of items of a JSON array (NULL for NULL)."""

    type = sa.Integer()
    inherit_cache = True


class _JsonContains(FunctionElement[bool]):
    """Whether a JSON array of text has an item equal to a text parameter."""

    type = sa.Boolean()
    inherit_cache = True


class _CodePointOrder(FunctionElement[Any]):
    """A text expression that orders by code point, as Python's ``str`` does."""

    inherit_cache = True

    def __init__(self, inner: ColumnElement[Any]) -> None:
        super().__init__(inner)
        self.type = inner.type


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(_JsonLength)
def _json_length(element: _JsonLength, compiler: SQLCompiler, **kw: Any) -> str:
    (items,) = _arguments(element, compiler, **kw)
    return f"json_array_length({items})"


@compiles(_JsonLength, "postgresql")
def _jsonb_length(element: _JsonLength, compiler: SQLCompiler, **kw: Any) -> str:
    (items,) = _arguments(element, compiler, **kw)
    return f"jsonb_array_length(CAST({items} AS JSONB))"


@compiles(_JsonContains)
def _json_contains(element: _JsonContains, compiler: SQLCompiler, **kw: Any) -> str:
    items, item = _arguments(element, compiler, **kw)
    # Both parts are compiled SQL (a column and a bound parameter), never values.
    return f"EXISTS (SELECT 1 FROM json_each({items}) WHERE json_each.value = {item})"  # noqa: S608


@compiles(_JsonContains, "postgresql")
def _jsonb_contains(element: _JsonContains, compiler: SQLCompiler, **kw: Any) -> str:
    items, item = _arguments(element, compiler, **kw)
    return f"(CAST({items} AS JSONB) @> jsonb_build_array(CAST({item} AS TEXT)))"


@compiles(_CodePointOrder)
def _code_point_order(element: _CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (inner,) = _arguments(element, compiler, **kw)
    return inner


@compiles(_CodePointOrder, "postgresql")
def _collate_c(element: _CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    (inner,) = _arguments(element, compiler, **kw)
    return f'({inner} COLLATE "C")'
