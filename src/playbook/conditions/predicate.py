"""Compile the IR to a tree of closures over a mapping of typed field values.

No source text is ever generated or evaluated: the predicate is a tree of small
closures, one per atom, joined by ``and``/``or`` combinators specialised for
two, three and four children (so a typical entry criterion costs one call per
clause plus one). Atoms read fields with ``Mapping.get``, so a missing key and
``None`` are the same null, and every comparison with a null is false.

Values must already have their field's Python type (``Decimal`` for decimal
fields, ``date``, aware ``datetime``, ``list[str]``…); the engine converts a
deal once, not on every rule.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from playbook.conditions import ir
from playbook.conditions.visit import ExprVisitor

__all__ = ["Predicate", "closure_predicate"]

Predicate = Callable[[Mapping[str, Any]], bool]
_Reader = Callable[[Mapping[str, Any]], Any]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# What has() treats as "not filled in", per kind; compared with ==, so a tuple not a set.
_EMPTY_TEXT = (None, "")
_EMPTY_LIST: tuple[object, ...] = (None, [], ())


def closure_predicate(expr: ir.Expr) -> Predicate:
    """A predicate that is true exactly when ``expr`` holds for a deal's field values.

    The deal is a mapping from field id to an already-typed value; a missing
    key and ``None`` are both null. The predicate has no side effects and is
    safe to call from several threads. (:func:`playbook.conditions.to_python`
    generates one function instead, and uses these closures for what it does
    not write out itself.)
    """
    return _COMPILER.visit(expr)


class _PythonCompiler(ExprVisitor[Predicate]):
    __slots__ = ()

    def const(self, expr: ir.Const) -> Predicate:
        return _always(expr.value)

    def conjunction(self, expr: ir.And) -> Predicate:
        return _all(tuple(self.visit(item) for item in expr.items))

    def disjunction(self, expr: ir.Or) -> Predicate:
        return _any(tuple(self.visit(item) for item in expr.items))

    def negation(self, expr: ir.Not) -> Predicate:
        return _negation(self.visit(expr.item))

    def has(self, expr: ir.Has) -> Predicate:
        return _has(expr.field)

    def contains(self, expr: ir.Contains) -> Predicate:
        return _contains(expr.field.name, expr.value)

    def membership(self, expr: ir.In) -> Predicate:
        return _membership(expr)

    def comparison(self, expr: ir.Compare) -> Predicate:
        return _comparison(expr)


_COMPILER = _PythonCompiler()


# --- combinators --------------------------------------------------------------


def _always(value: bool) -> Predicate:
    def constant(deal: Mapping[str, Any]) -> bool:
        return value

    return constant


def _negation(item: Predicate) -> Predicate:
    def negation(deal: Mapping[str, Any]) -> bool:
        return not item(deal)

    return negation


# _all and _any are written out per arity on purpose: a generic combinator
# would cost a loop or an extra call on every evaluation of every gate.
def _all(items: tuple[Predicate, ...]) -> Predicate:
    if len(items) == 2:
        a, b = items
        return lambda deal: a(deal) and b(deal)
    if len(items) == 3:
        a, b, c = items
        return lambda deal: a(deal) and b(deal) and c(deal)
    if len(items) == 4:
        a, b, c, d = items
        return lambda deal: a(deal) and b(deal) and c(deal) and d(deal)

    def every(deal: Mapping[str, Any]) -> bool:
        # A plain loop: all() over a generator costs a frame per call.
        for item in items:  # noqa: SIM110
            if not item(deal):
                return False
        return True

    return every


def _any(items: tuple[Predicate, ...]) -> Predicate:
    if len(items) == 2:
        a, b = items
        return lambda deal: a(deal) or b(deal)
    if len(items) == 3:
        a, b, c = items
        return lambda deal: a(deal) or b(deal) or c(deal)
    if len(items) == 4:
        a, b, c, d = items
        return lambda deal: a(deal) or b(deal) or c(deal) or d(deal)

    def some(deal: Mapping[str, Any]) -> bool:
        for item in items:  # noqa: SIM110 (see every)
            if item(deal):
                return True
        return False

    return some


# --- atoms ----------------------------------------------------------------------


def _has(field: ir.FieldRef) -> Predicate:
    name = field.name
    kind = field.type.kind
    if kind in ("string", "list"):
        empty = _EMPTY_TEXT if kind == "string" else _EMPTY_LIST
        return lambda deal: deal.get(name) not in empty
    return lambda deal: deal.get(name) is not None


def _contains(name: str, item: str) -> Predicate:
    def contains(deal: Mapping[str, Any]) -> bool:
        items = deal.get(name)
        return items is not None and item in items

    return contains


def _membership(expr: ir.In) -> Predicate:
    values = frozenset(expr.values)
    read = _reader(expr.operand)
    if expr.negated:

        def outside(deal: Mapping[str, Any]) -> bool:
            value = read(deal)
            return value is not None and value not in values

        return outside
    if isinstance(expr.operand, ir.FieldRef):
        name = expr.operand.name
        # None is never in `values`, so null needs no separate test.
        return lambda deal: deal.get(name) in values
    return lambda deal: read(deal) in values


def _comparison(expr: ir.Compare) -> Predicate:
    left, right = expr.left, expr.right
    if isinstance(right, ir.Literal):
        if isinstance(left, ir.FieldRef):
            return _field_vs_literal(left.name, expr.op, right.value)
        return _reader_vs_literal(_reader(left), expr.op, right.value)
    return _reader_vs_reader(*_numeric_readers(left, right), _OPERATORS[expr.op])


def _field_vs_literal(name: str, op: str, value: ir.LiteralValue) -> Predicate:
    if isinstance(value, bool):
        # Typed booleans: `== true` is `is True`; `!= true` on a non-null boolean is `is False`.
        wanted = value if op == "==" else not value
        return (
            (lambda deal: deal.get(name) is True)
            if wanted
            else (lambda deal: deal.get(name) is False)
        )
    if op == "==":
        # A null never equals a literal: no separate None test needed.
        return lambda deal: deal.get(name) == value
    return _ORDERED_FACTORIES[op](name, value)


def _ne(name: str, value: Any) -> Predicate:
    def atom(deal: Mapping[str, Any]) -> bool:
        found = deal.get(name)
        return found is not None and found != value

    return atom


def _lt(name: str, value: Any) -> Predicate:
    def atom(deal: Mapping[str, Any]) -> bool:
        found = deal.get(name)
        return found is not None and found < value

    return atom


def _le(name: str, value: Any) -> Predicate:
    def atom(deal: Mapping[str, Any]) -> bool:
        found = deal.get(name)
        return found is not None and found <= value

    return atom


def _gt(name: str, value: Any) -> Predicate:
    def atom(deal: Mapping[str, Any]) -> bool:
        found = deal.get(name)
        return found is not None and found > value

    return atom


def _ge(name: str, value: Any) -> Predicate:
    def atom(deal: Mapping[str, Any]) -> bool:
        found = deal.get(name)
        return found is not None and found >= value

    return atom


_ORDERED_FACTORIES: dict[str, Callable[[str, Any], Predicate]] = {
    "!=": _ne,
    "<": _lt,
    "<=": _le,
    ">": _gt,
    ">=": _ge,
}


def _reader_vs_literal(read: _Reader, op: str, value: ir.LiteralValue) -> Predicate:
    compare = _OPERATORS[op]

    def atom(deal: Mapping[str, Any]) -> bool:
        found = read(deal)
        return found is not None and compare(found, value)

    return atom


def _reader_vs_reader(
    read_left: _Reader, read_right: _Reader, compare: Callable[[Any, Any], bool]
) -> Predicate:
    def atom(deal: Mapping[str, Any]) -> bool:
        left = read_left(deal)
        if left is None:
            return False
        right = read_right(deal)
        return right is not None and compare(left, right)

    return atom


def _reader(operand: ir.Operand) -> _Reader:
    name = operand.field.name if isinstance(operand, ir.Len) else operand.name
    if isinstance(operand, ir.Len):

        def length(deal: Mapping[str, Any]) -> Any:
            value = deal.get(name)
            return None if value is None else len(value)

        return length
    return lambda deal: deal.get(name)


def _numeric_readers(left: ir.Operand, right: ir.Operand) -> tuple[_Reader, _Reader]:
    """Readers for both sides; a decimal or an integer against a float field compares as floats.

    Python compares Decimal('1.1') and the float 1.1 exactly (they differ), SQL
    databases compare them as doubles (equal); PostgreSQL compares a BIGINT with
    a double as doubles too (2**63 - 1 equals 2.0**63): floats are what all agree on.
    """
    kinds = {_kind(left), _kind(right)}
    read_left, read_right = _reader(left), _reader(right)
    if kinds in ({"decimal", "number"}, {"integer", "number"}):
        return _as_float(read_left), _as_float(read_right)
    return read_left, read_right


def _kind(operand: ir.Operand) -> str:
    return "integer" if isinstance(operand, ir.Len) else operand.type.kind


def _as_float(read: _Reader) -> _Reader:
    def as_float(deal: Mapping[str, Any]) -> Any:
        value = read(deal)
        exact = isinstance(value, Decimal | int) and not isinstance(value, bool)
        if not exact:
            return value
        try:
            return float(value)
        except OverflowError:  # beyond any float: compares like an infinity of its sign
            return math.inf if value > 0 else -math.inf

    return as_float
