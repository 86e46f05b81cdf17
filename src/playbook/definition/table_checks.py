"""Check decision tables for overlapping rows, gaps and rows that never apply.

- PB333: two rows of a ``unique`` table that match the same deal;
- PB334: a deal no row of a table declared ``complete`` matches;
- PB335: a row of a ``first`` or ``priority`` table that the rows tried before it
  always shadow.

Overlaps and gaps are reported with an example deal, found by trying the
values that matter (every literal a cell compares with, its neighbours, each
enum value, empty) and confirmed by the compiled rows themselves: a problem
is reported only with an input that shows it. Unreachable rows are proven by
:func:`~playbook.conditions.is_satisfiable` (which answers "never" only with
a proof), so neither check reports a false alarm.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from playbook.conditions import FieldType, Not, all_of, any_of, is_satisfiable
from playbook.conditions.ir import Compare, In, Literal, atoms
from playbook.definition.report import Reporter
from playbook.i18n import Message, say
from playbook.model import DecisionTable, Playbook

__all__ = ["MAX_EXAMPLES", "check_tables"]

MAX_EXAMPLES = 50_000
"""The most inputs tried when looking for an example of an overlap or a gap."""


def check_tables(playbook: Playbook, data: Mapping[str, Any], reporter: Reporter) -> None:
    """Report overlaps (PB333), gaps (PB334) and unreachable rows (PB335) of every table."""
    positions = {raw.get("id"): index for index, raw in enumerate(data.get("tables") or [])}
    types = {fid: spec.type for fid, spec in playbook.fields.items()}
    types.update({out.id: out.type for item in playbook.tables for out in item.outputs})
    # A complete table always sets its outputs (its own gaps are reported on it).
    filled = frozenset(out.id for item in playbook.tables if item.complete for out in item.outputs)
    lang = playbook.language
    for table in playbook.tables:
        checker = _Checker(table, types, reporter, positions.get(table.id, 0), lang)
        checker.filled = filled
        if table.hit == "unique":
            checker.overlaps()
        if table.hit in ("first", "priority"):
            checker.unreachable()
        if table.complete:
            checker.gap()


class _Checker:
    def __init__(
        self,
        table: DecisionTable,
        types: Mapping[str, FieldType],
        reporter: Reporter,
        position: int,
        lang: str,
    ) -> None:
        self.table = table
        self.types = types
        self.reporter = reporter
        self.position = position
        self.lang = lang
        self.exprs = [row.condition.expr for row in table.rows]
        self.filled: frozenset[str] = frozenset()

    def _report(self, row: int | None, code: str, message: Message, hint: str) -> None:
        path = ("tables", self.position, *(("rows", row) if row is not None else ()))
        self.reporter.report(path, code, message, hint=Message(hint))

    def overlaps(self) -> None:
        for first, second in itertools.combinations(range(len(self.exprs)), 2):
            both = all_of((self.exprs[first], self.exprs[second]))
            if not is_satisfiable(both, self.types):
                continue
            rows = (self.table.rows[first].condition, self.table.rows[second].condition)
            names = sorted(rows[0].fields | rows[1].fields)
            example = self._example(
                names, lambda deal, pair=rows: all(row.test(deal) for row in pair)
            )
            if example is not None:
                message = Message(
                    "diag.tables.overlap",
                    table=self.table.id,
                    first=first + 1,
                    second=second + 1,
                    example=example,
                )
                self._report(second, "PB333", message, "diag.tables.overlap_hint")

    def gap(self) -> None:
        if not is_satisfiable(Not(any_of(self.exprs)), self.types):
            return
        rows = [row.condition for row in self.table.rows]
        names = sorted(set().union(*(row.fields for row in rows)))
        example = self._example(names, lambda deal: not any(row.test(deal) for row in rows))
        if example is not None:
            message = Message("diag.tables.gap", table=self.table.id, example=example)
            self._report(None, "PB334", message, "diag.tables.gap_hint")

    def unreachable(self) -> None:
        order = self.table.order
        for place, index in enumerate(order):
            earlier = [self.exprs[k] for k in order[:place]]
            if not earlier:
                continue
            alone = all_of((self.exprs[index], *(Not(expr) for expr in earlier)))
            if is_satisfiable(alone, self.types):
                continue
            shadows = [
                str(k + 1)
                for k in order[:place]
                if is_satisfiable(all_of((self.exprs[index], self.exprs[k])), self.types)
            ]
            message = Message(
                "diag.tables.unreachable",
                table=self.table.id,
                row=index + 1,
                earlier=", ".join(shadows) or "-",
            )
            self._report(index, "PB335", message, "diag.tables.unreachable_hint")

    def _example(self, names: Sequence[str], shows: Any) -> str | None:
        """The first tried input for which ``shows(deal)`` holds, in words; None if none."""
        choices = [self._tried(name) for name in names]
        size = 1
        for values in choices:
            size *= len(values)
        if size > MAX_EXAMPLES:
            return None
        for combination in itertools.product(*choices):
            deal = dict(zip(names, combination, strict=True))
            if shows(deal):
                return self._words(deal)
        return None

    def _tried(self, name: str) -> list[Any]:
        values = _candidates(name, self.types[name], self.exprs)
        return [value for value in values if value is not None] if name in self.filled else values

    def _words(self, deal: Mapping[str, Any]) -> str:
        empty = say("diag.tables.null", self.lang)
        parts = (
            f"{name} = {empty if value is None else _shown(value)}" for name, value in deal.items()
        )
        return ", ".join(parts) if deal else "-"


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _candidates(name: str, kind: FieldType, exprs: Sequence[Any]) -> list[Any]:
    """The values of field ``name`` worth trying: empty, each literal and its neighbours."""
    # Values first, empty last: an example with values says more.
    if kind.kind == "boolean":
        return [True, False, None]
    if kind.kind == "enum":
        return [*(kind.values or ()), None]
    found: list[Any] = []
    for literal in _literals(name, exprs):
        found.extend(_around(kind.kind, literal))
    if kind.kind in ("integer", "number", "decimal"):
        found.extend(_around(kind.kind, 0))
    if kind.kind == "string":
        found.append("")
    return [*dict.fromkeys(found), None]


def _literals(name: str, exprs: Sequence[Any]) -> Iterator[Any]:
    for expr in exprs:
        for atom in atoms(expr):
            if isinstance(atom, Compare) and isinstance(atom.right, Literal):
                if getattr(atom.left, "name", None) == name:
                    yield atom.right.value
            elif isinstance(atom, In) and getattr(atom.operand, "name", None) == name:
                yield from atom.values


def _around(kind: str, value: Any) -> list[Any]:
    """``value`` and its neighbours of the field's kind (as the deal would hold them)."""
    if kind == "integer" and isinstance(value, int | float | Decimal):
        whole = int(value)
        return [whole - 1, whole, whole + 1]
    if kind == "number" and isinstance(value, int | float | Decimal):
        return [float(value) - 0.5, float(value), float(value) + 0.5]
    if kind == "decimal" and isinstance(value, int | float | Decimal):
        exact = Decimal(str(value))
        return [exact - Decimal("0.01"), exact, exact + Decimal("0.01")]
    if isinstance(value, datetime):
        return [value - timedelta(seconds=1), value, value + timedelta(seconds=1)]
    if isinstance(value, date):
        return [value - timedelta(days=1), value, value + timedelta(days=1)]
    return [value]
