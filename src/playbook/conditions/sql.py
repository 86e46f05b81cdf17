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
  bound as naive UTC;
- integers are 64-bit (``BIGINT``), as the condition language bounds them
  (:mod:`playbook.conditions.limits`); :func:`json_scalar` reads a number or
  boolean out of a JSON document without a round trip through text (SQLite
  writes a REAL as text with 15 digits, which loses the last ones);
- ``len()`` of text counts characters past a NUL on SQLite too (its ``length()``
  stops at the first NUL; PostgreSQL text cannot hold one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement, GenericFunction

from playbook.conditions import ir
from playbook.conditions.fieldtypes import FieldType
from playbook.conditions.visit import ExprVisitor

__all__ = ["JSON_SCALAR_KINDS", "ColumnFor", "json_scalar", "to_sql"]

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
        return _TextLength(field)

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
            left, right = _as_doubles(expr.left, left, expr.right, right)
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


def _as_doubles(
    left_operand: ir.Operand,
    left: ColumnElement[Any],
    right_operand: ir.Operand,
    right: ColumnElement[Any],
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """An integer against a number field compares as doubles, as PostgreSQL and Python do.

    SQLite compares INTEGER and REAL exactly; the cast makes it agree with the others.
    """
    kinds = {_numeric_kind(left_operand), _numeric_kind(right_operand)}
    if kinds != {"integer", "number"}:
        return left, right
    if _numeric_kind(left_operand) == "integer":
        return sa.cast(left, sa.Double()), right
    return left, sa.cast(right, sa.Double())


def _numeric_kind(operand: ir.Operand) -> str:
    return "integer" if isinstance(operand, ir.Len) else operand.type.kind


def _is_text(operand: ir.Operand) -> bool:
    return isinstance(operand, ir.FieldRef) and operand.type.kind in ("string", "enum")


def _bind(value: ir.LiteralValue, column_type: Any) -> ColumnElement[Any]:
    """A bound parameter typed like the column it is compared with (inferred if untyped)."""
    if isinstance(value, datetime) and not getattr(column_type, "timezone", True):
        value = value.replace(tzinfo=None)  # already UTC
    if isinstance(column_type, sa.types.NullType):
        return sa.literal(value)
    return sa.literal(value, type_=column_type)


def json_scalar(document: ColumnElement[Any], key: str, kind: str) -> ColumnElement[Any]:
    """Member ``key`` of a JSON ``document`` as SQL of ``kind`` (one of :data:`JSON_SCALAR_KINDS`).

    A missing key is SQL NULL. Integers read as ``BIGINT``, numbers as doubles
    compared as REAL (never through text), decimals as ``NUMERIC``.
    """
    return _JSON_SCALARS[kind](document, sa.literal(key, sa.String()))


# --- dialect-aware constructs ------------------------------------------------------


class _JsonScalar(FunctionElement[Any]):
    """A number or boolean member of a JSON document, typed like its field's kind.

    One subclass per kind, with the type on the class: SQLAlchemy's statement
    cache keys a construct by its class and arguments, not by an instance's type.
    """

    inherit_cache = True


def _json_scalar_class(name: str, sql_type: Any) -> type[_JsonScalar]:
    return type(name, (_JsonScalar,), {"type": sql_type, "inherit_cache": True})


_JSON_SCALARS: dict[str, type[_JsonScalar]] = {
    "integer": _json_scalar_class("_JsonInteger", sa.BigInteger()),
    "number": _json_scalar_class("_JsonDouble", sa.Double()),
    "decimal": _json_scalar_class("_JsonNumeric", sa.Numeric()),
    "boolean": _json_scalar_class("_JsonBoolean", sa.Boolean()),
}
JSON_SCALAR_KINDS = frozenset(_JSON_SCALARS)
"""The field kinds :func:`json_scalar` reads: numbers and booleans."""


class _TextLength(GenericFunction[int]):
    """``length(text)``: its characters (NULL for NULL), NUL characters included."""

    name = "length"
    type = sa.BigInteger()
    inherit_cache = True
    _register = False  # not sa.func.length for everyone


class _JsonLength(FunctionElement[int]):
    """The number of items of a JSON array (NULL for NULL)."""

    type = sa.BigInteger()
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


def _sql_type(element: FunctionElement[Any], compiler: SQLCompiler) -> str:
    return str(compiler.dialect.type_compiler_instance.process(element.type))


@compiles(_JsonScalar)
def _json_extract_scalar(element: _JsonScalar, compiler: SQLCompiler, **kw: Any) -> str:
    document, key = _arguments(element, compiler, **kw)
    value = f"json_extract({document}, '$.\"' || {key} || '\"')"
    # json_extract gives INTEGER, REAL or 1/0 as stored, never text but for a decimal
    # (stored as exact text); a CAST from REAL or INTEGER goes through no text.
    if isinstance(element.type, sa.Boolean):
        return value
    target = "INTEGER" if isinstance(element.type, sa.Integer) else "NUMERIC"
    if isinstance(element.type, sa.Double):
        target = "REAL"
    return f"CAST({value} AS {target})"


@compiles(_JsonScalar, "postgresql")
def _json_arrow_scalar(element: _JsonScalar, compiler: SQLCompiler, **kw: Any) -> str:
    document, key = _arguments(element, compiler, **kw)
    return f"CAST(({document} ->> CAST({key} AS TEXT)) AS {_sql_type(element, compiler)})"


@compiles(_TextLength, "sqlite")
def _text_length_sqlite(element: _TextLength, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = _arguments(element, compiler, **kw)
    blob = f"CAST({text} AS BLOB)"
    # length() stops at the first NUL: then count the UTF-8 bytes that start a character.
    # The text is compiled SQL (a column or an extraction with bound parameters), never a value.
    counted = (
        "(WITH RECURSIVE _pb_byte(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM _pb_byte "  # noqa: S608
        f"WHERE i < length({blob})) SELECT count(*) FROM _pb_byte "
        f"WHERE substr({blob}, i, 1) NOT BETWEEN X'80' AND X'BF')"
    )
    return f"(CASE WHEN instr({blob}, X'00') > 0 THEN {counted} ELSE length({text}) END)"
