"""Decide, conservatively, whether a condition can ever hold.

``is_satisfiable`` answers False only with a proof: the condition is put in
disjunctive normal form (negations pushed down to the atoms) and each
conjunction is checked with interval and set reasoning per field. When the
normal form would grow past :data:`MAX_TERMS` conjunctions, or an atom is out
of reach of this reasoning (field against field), the answer is True.

Null matters: ``not (amount > 5)`` holds for a deal without an amount, so a
negated atom constrains a field only when another atom of the same
conjunction already requires that field to be present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from playbook.conditions import ir
from playbook.conditions.fieldtypes import FieldType

__all__ = ["MAX_TERMS", "is_satisfiable"]

MAX_TERMS = 256
"""Largest disjunctive normal form examined; beyond it the answer is a safe True."""

_Atom = ir.Compare | ir.In | ir.Contains | ir.Has
_Signed = tuple[_Atom, bool]
_Term = tuple[_Signed, ...]
_NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_DISCRETE_KINDS = frozenset({"integer", "date"})


class _TooLarge(Exception):
    """The normal form passed MAX_TERMS conjunctions."""


def is_satisfiable(expr: ir.Expr, fields: Mapping[str, FieldType]) -> bool:
    """False only when ``expr`` is provably false for every deal with the declared field types.

    Examples that are False: ``amount > 10 and amount < 5``, ``x == 1 and x == 2``,
    ``industry in []``, ``flag and not flag``, ``risk == 'high' and risk != 'high'``.
    """
    try:
        terms = _dnf(expr, positive=True)
    except _TooLarge:
        return True
    return any(_Conjunction(fields).holds_for_some_deal(term) for term in terms)


def _dnf(expr: ir.Expr, *, positive: bool) -> list[_Term]:
    if isinstance(expr, ir.Const):
        return [()] if expr.value == positive else []
    if isinstance(expr, ir.Not):
        return _dnf(expr.item, positive=not positive)
    if isinstance(expr, ir.And | ir.Or):
        parts = [_dnf(item, positive=positive) for item in expr.items]
        if isinstance(expr, ir.And) == positive:
            return _product(parts)
        union = [term for part in parts for term in part]
        if len(union) > MAX_TERMS:
            raise _TooLarge
        return union
    assert isinstance(expr, ir.Compare | ir.In | ir.Contains | ir.Has)
    return [((expr, positive),)]


def _product(parts: Iterable[list[_Term]]) -> list[_Term]:
    terms: list[_Term] = [()]
    for part in parts:
        terms = [left + right for left in terms for right in part]
        if len(terms) > MAX_TERMS:
            raise _TooLarge
    return terms


@dataclass(slots=True)
class _Domain:
    """The values one field (or one field's length) may still take."""

    discrete: bool
    lo: Any = None
    lo_open: bool = False
    hi: Any = None
    hi_open: bool = False
    allowed: frozenset[Any] | None = None
    excluded: set[Any] = field(default_factory=set)

    def add(self, op: str, value: Any) -> None:
        if op == "==":
            self.restrict({value})
        elif op == "!=":
            self.excluded.add(value)
        elif op in ("<", "<="):
            if self.hi is None or value < self.hi or (value == self.hi and op == "<"):
                self.hi, self.hi_open = value, op == "<"
        elif self.lo is None or value > self.lo or (value == self.lo and op == ">"):
            self.lo, self.lo_open = value, op == ">"

    def restrict(self, values: Iterable[Any]) -> None:
        wanted = frozenset(values)
        self.allowed = wanted if self.allowed is None else self.allowed & wanted

    def admits(self, value: Any) -> bool:
        if value in self.excluded or (self.allowed is not None and value not in self.allowed):
            return False
        if self.lo is not None and (value < self.lo or (value == self.lo and self.lo_open)):
            return False
        return not (
            self.hi is not None and (value > self.hi or (value == self.hi and self.hi_open))
        )

    def candidates(self) -> list[Any] | None:
        """The admitted values when finitely many are allowed, else None."""
        if self.allowed is None:
            return None
        return [value for value in self.allowed if self.admits(value)]

    def nonempty(self) -> bool:
        found = self.candidates()
        if found is not None:
            return bool(found)
        if self.lo is None or self.hi is None:
            return True
        if self.discrete:
            return self._discrete_nonempty()
        if self.lo < self.hi:
            return True
        return self.lo == self.hi and not (self.lo_open or self.hi_open) and self.admits(self.lo)

    def _discrete_nonempty(self) -> bool:
        low = _step(self.lo, 1) if self.lo_open else self.lo
        high = _step(self.hi, -1) if self.hi_open else self.hi
        if low is None or high is None or low > high:
            return False
        span = (high - low).days if isinstance(low, date) else high - low
        inside = sum(1 for value in self.excluded if low <= value <= high)
        return bool(span + 1 > inside)


def _step(value: Any, direction: int) -> Any:
    if isinstance(value, date):
        try:
            return value + timedelta(days=direction)
        except OverflowError:
            return None
    return value + direction


class _Conjunction:
    """The constraints of one conjunction of signed atoms, per field."""

    def __init__(self, fields: Mapping[str, FieldType]) -> None:
        self.fields = fields
        self.domains: dict[tuple[str, str], _Domain] = {}
        self.present: set[str] = set()
        self.items: dict[ir.FieldRef, set[str]] = {}
        self.missing_items: dict[ir.FieldRef, set[str]] = {}
        self.contradiction = False

    def holds_for_some_deal(self, term: _Term) -> bool:
        for atom, positive in term:
            if positive:
                self.present.update(ref.name for ref in ir.operand_fields(atom))
        for atom, positive in term:
            if positive:
                self._require(atom)
            elif all(ref.name in self.present for ref in ir.operand_fields(atom)):
                self._refuse(atom)
        return not self.contradiction and self._domains_nonempty()

    # --- building constraints ---

    def _domain(self, operand: ir.FieldRef | ir.Len) -> _Domain:
        if isinstance(operand, ir.Len):
            key, kind, values = ("len", operand.field.name), "integer", None
        else:
            key, kind, values = ("value", operand.name), operand.type.kind, operand.type.values
        found = self.domains.get(key)
        if found is None:
            found = self.domains[key] = _Domain(discrete=kind in _DISCRETE_KINDS)
            if key[0] == "len":
                found.add(">=", 0)
            elif kind == "boolean":
                found.restrict((True, False))
            elif kind == "enum" and values is not None:
                found.restrict(values)
        return found

    def _length(self, ref: ir.FieldRef) -> _Domain:
        return self._domain(ir.Len(ref))

    def _require(self, atom: _Atom) -> None:
        if isinstance(atom, ir.Has):
            if atom.field.type.kind in ("string", "list"):
                self._length(atom.field).add(">=", 1)
        elif isinstance(atom, ir.Contains):
            self.items.setdefault(atom.field, set()).add(atom.value)
        elif isinstance(atom, ir.In):
            domain = self._domain(atom.operand)
            if atom.negated:
                domain.excluded.update(atom.values)
            else:
                domain.restrict(atom.values)
        else:
            self._compare(atom.op, atom)

    def _refuse(self, atom: _Atom) -> None:
        if isinstance(atom, ir.Has):
            if atom.field.type.kind in ("string", "list"):
                self._length(atom.field).add("==", 0)
            else:
                self.contradiction = True  # present, and yet not has(): impossible
        elif isinstance(atom, ir.Contains):
            self.missing_items.setdefault(atom.field, set()).add(atom.value)
        elif isinstance(atom, ir.In):
            domain = self._domain(atom.operand)
            if atom.negated:
                domain.restrict(atom.values)
            else:
                domain.excluded.update(atom.values)
        else:
            self._compare(_NEGATED[atom.op], atom)

    def _compare(self, op: str, atom: ir.Compare) -> None:
        if isinstance(atom.right, ir.Literal):
            self._domain(atom.left).add(op, atom.right.value)
        elif atom.left == atom.right and op in ("!=", "<", ">"):
            self.contradiction = True  # x < x

    # --- checking ---

    def _domains_nonempty(self) -> bool:
        for ref, wanted in self.items.items():
            if wanted & self.missing_items.get(ref, set()):
                return False
            # Distinct items each need a place in the list.
            self._length(ref).add(">=", len(wanted))
        if not all(domain.nonempty() for domain in self.domains.values()):
            return False
        return all(self._text_fits_length(name) for kind, name in self.domains if kind == "value")

    def _text_fits_length(self, name: str) -> bool:
        """A string pinned to some values must also have an admitted length."""
        length = self.domains.get(("len", name))
        found = self.domains[("value", name)].candidates()
        if length is None or found is None:
            return True
        return any(isinstance(value, str) and length.admits(len(value)) for value in found)
