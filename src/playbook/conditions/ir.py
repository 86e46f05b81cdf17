"""The intermediate representation (IR) of a condition.

Both condition forms (the one-line string and the structured YAML) parse and
type-check into these frozen dataclasses; every compiler (Python predicate,
SQL clause, renderer, satisfiability check) reads only this IR. Literal values
are already converted to the field's Python type (``Decimal`` for decimal
fields, ``date``, aware UTC ``datetime``...), so compilers never parse text.

``And``/``Or`` are n-ary and flat: a child of an ``And`` is never an ``And``.
Use :func:`all_of` and :func:`any_of` to build them.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from playbook.conditions.fieldtypes import FieldType

__all__ = [
    "FALSE",
    "TRUE",
    "And",
    "Atom",
    "Compare",
    "CompareOp",
    "Const",
    "Contains",
    "Expr",
    "FieldRef",
    "Has",
    "In",
    "Len",
    "Literal",
    "LiteralValue",
    "Not",
    "Operand",
    "Or",
    "all_of",
    "any_of",
    "atoms",
    "operand_fields",
    "referenced_fields",
]

CompareOp = typing.Literal["==", "!=", "<", "<=", ">", ">="]
LiteralValue = bool | int | float | Decimal | str | date | datetime


class Expr:
    """A condition: something that is true or false for a deal."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A deal field read by a condition, with its declared type."""

    name: str
    type: FieldType


@dataclass(frozen=True, slots=True)
class Len:
    """``len(field)``: the number of characters of a string or items of a list (null if null)."""

    field: FieldRef


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant, already converted to the Python type of the operand it is compared with."""

    value: LiteralValue


Operand = FieldRef | Len


@dataclass(frozen=True, slots=True)
class Const(Expr):
    """``true`` or ``false``."""

    value: bool


TRUE = Const(True)
FALSE = Const(False)


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    """``left op right``: a field (or its length) against a literal or another field."""

    op: CompareOp
    left: Operand
    right: Operand | Literal


@dataclass(frozen=True, slots=True)
class In(Expr):
    """``operand in [values]`` (``negated``: ``not in``); false when the operand is null."""

    operand: Operand
    values: tuple[LiteralValue, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Contains(Expr):
    """``list_field contains 'item'``."""

    field: FieldRef
    value: str


@dataclass(frozen=True, slots=True)
class Has(Expr):
    """``has(field)``: the field is present, not null, not ``""`` and not ``[]``."""

    field: FieldRef


@dataclass(frozen=True, slots=True)
class Not(Expr):
    """``not item``."""

    item: Expr


@dataclass(frozen=True, slots=True)
class And(Expr):
    """All items hold (at least two items, none of them an ``And``)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or(Expr):
    """At least one item holds (at least two items, none of them an ``Or``)."""

    items: tuple[Expr, ...]


Atom = Compare | In | Contains | Has
"""The comparisons that read fields; everything else combines them."""


def all_of(items: typing.Iterable[Expr]) -> Expr:
    """The conjunction of ``items``, flattened: ``TRUE`` for none, the item itself for one."""
    return _flattened(And, items, TRUE)


def any_of(items: typing.Iterable[Expr]) -> Expr:
    """The disjunction of ``items``, flattened: ``FALSE`` for none, the item itself for one."""
    return _flattened(Or, items, FALSE)


def _flattened(kind: type[And | Or], items: typing.Iterable[Expr], empty: Const) -> Expr:
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    if not flat:
        return empty
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


def atoms(expr: Expr) -> typing.Iterator[Compare | In | Contains | Has]:
    """Every atomic comparison of ``expr``, depth first, left to right."""
    if isinstance(expr, And | Or):
        for item in expr.items:
            yield from atoms(item)
    elif isinstance(expr, Not):
        yield from atoms(expr.item)
    elif isinstance(expr, Compare | In | Contains | Has):
        yield expr


def operand_fields(atom: Compare | In | Contains | Has) -> tuple[FieldRef, ...]:
    """The fields one atom reads, left to right (a field compared with itself appears twice)."""
    if isinstance(atom, Compare):
        sides: tuple[Operand | Literal, ...] = (atom.left, atom.right)
    elif isinstance(atom, In):
        sides = (atom.operand,)
    else:
        sides = (atom.field,)
    return tuple(
        side.field if isinstance(side, Len) else side
        for side in sides
        if not isinstance(side, Literal)
    )


def referenced_fields(expr: Expr) -> frozenset[str]:
    """The ids of every field that ``expr`` reads."""
    return frozenset(ref.name for atom in atoms(expr) for ref in operand_fields(atom))
