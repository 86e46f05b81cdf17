"""Read the ``tables:`` section: decision tables and the derived fields they set.

A table's input columns name a field (each cell a value test: ``">= 80"``,
``"[50..80)"``, a list of values, a value, ``"-"`` for any) or hold a
condition (each cell ``true``, ``false`` or ``"-"``); its output columns
declare the derived fields it sets, with their type. Every cell becomes part
of the row's condition in the one condition language, so rows compile like
any other condition (never through text a person wrote: a value test is
parsed as a condition on its declared field).

What stops a table from being built is reported here, at the offending cell:
a row with the wrong number of cells, an input naming an unknown field, a
test that does not type-check, an output value of the wrong type, a hit
policy that does not fit its outputs, a derived field declared twice or
named like a declared field, and a cycle between derived fields. Overlaps,
gaps and unreachable rows are :mod:`playbook.definition.table_checks`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from playbook.conditions import (
    TRUE,
    Expr,
    FieldType,
    Not,
    all_of,
    parse_condition,
    referenced_fields,
    render,
    to_python,
)
from playbook.conditions.codegen import RowMatcher, compile_first, compile_matching
from playbook.definition.loader import YamlPath
from playbook.definition.report import Reporter
from playbook.diagnostics import did_you_mean
from playbook.errors import ConditionError
from playbook.i18n import Message
from playbook.model import Condition, DecisionTable, TableOutput, TableRow, Text

__all__ = ["OUTPUT_KINDS", "TableSpecs", "build_tables", "table_matcher"]

OUTPUT_KINDS = ("string", "enum", "integer", "number", "decimal", "boolean")
"""The types a derived field may have."""

_NUMERIC = ("integer", "number", "decimal")
_FIELD_ID = re.compile(r"[a-z][a-z0-9_]*")
_OPERATOR = re.compile(r"(>=|<=|!=|==|>|<|not in\b|in\b)")
_RANGE = re.compile(r"([\[(\]])\s*(\S.*?)\s*\.\.\s*(\S.*?)\s*([\])\[])")
_ANY = "-"
_EMPTINESS = {"empty": True, "not empty": False}
"""Cells that test whether the field has no value (``not has(field)``) or has one."""


@dataclass(slots=True)
class TableSpecs:
    """What :func:`build_tables` made: the tables in evaluation order and the derived fields."""

    tables: tuple[DecisionTable, ...] = ()
    types: dict[str, FieldType] = field(default_factory=dict)
    """Derived field id → its type, for conditions to read like any other field."""
    used: set[str] = field(default_factory=set)
    """The declared fields the tables read."""


def table_matcher(hit: str, rows: Sequence[Expr], order: Sequence[int]) -> RowMatcher:
    """The compiled evaluator of a table's rows (see :class:`~playbook.model.DecisionTable`)."""
    if hit in ("first", "priority"):
        return compile_first([rows[index] for index in order])
    return compile_matching(rows)


def build_tables(
    data: Mapping[str, Any], reporter: Reporter, fields: Mapping[str, FieldType], tz: tzinfo
) -> TableSpecs:
    """Build the ``tables`` of a schema-valid document, reporting what blocks each one."""
    raw_tables = data.get("tables") or []
    declared = _derived_types(raw_tables, fields, reporter)
    readable = {**fields, **{name: kind for name, (_, kind) in declared.items()}}
    specs = TableSpecs(types={name: kind for name, (_, kind) in declared.items()})
    built: list[DecisionTable] = []
    for index, raw in enumerate(raw_tables):
        reader = _TableReader(reporter, ("tables", index), readable, tz)
        table = reader.table(raw, declared)
        specs.used.update(name for name in reader.reads if name in fields)
        if table is not None:
            built.append(table)
    specs.tables = _in_evaluation_order(built, specs.types, reporter)
    return specs


def _derived_types(
    raw_tables: Sequence[Mapping[str, Any]],
    fields: Mapping[str, FieldType],
    reporter: Reporter,
) -> dict[str, tuple[int, FieldType]]:
    """PB337: every output, with the table that sets it; a clash is reported and dropped."""
    out: dict[str, tuple[int, FieldType]] = {}
    for index, raw in enumerate(raw_tables):
        for name, spec in (raw.get("outputs") or {}).items():
            path: YamlPath = ("tables", index, "outputs", name)
            if name in fields or name in out:
                reporter.report(
                    path,
                    "PB337",
                    Message("diag.tables.clash", name=name),
                    hint=Message("diag.tables.clash_hint"),
                    key=True,
                )
                continue
            values = spec.get("values")
            out[name] = (
                index,
                FieldType(spec["type"], tuple(map(str, values)) if values else None),
            )
    return out


class _TableReader:
    """Reads one table at ``path``, reporting at its cells."""

    def __init__(
        self, reporter: Reporter, path: YamlPath, readable: Mapping[str, FieldType], tz: tzinfo
    ) -> None:
        self.reporter = reporter
        self.path = path
        self.readable = readable
        self.tz = tz
        self.reads: set[str] = set()
        self.ok = True

    def report(self, path: YamlPath, code: str, message: Message, hint: Message | None) -> None:
        self.ok = False
        self.reporter.report(path, code, message, hint=hint)

    def table(
        self, raw: Mapping[str, Any], declared: Mapping[str, tuple[int, FieldType]]
    ) -> DecisionTable | None:
        table_index = int(self.path[-1])
        outputs = tuple(
            TableOutput(
                name,
                declared[name][1],
                title=Text.of(spec["title"]) if spec.get("title") else None,
                line=self.reporter.line((*self.path, "outputs", name)),
            )
            for name, spec in (raw.get("outputs") or {}).items()
            if name in declared and declared[name][0] == table_index
        )
        if len(outputs) != len(raw.get("outputs") or {}):
            return None  # an output clashes (PB337, reported): its cells cannot be read
        hit, aggregate = str(raw.get("hit", "unique")), raw.get("aggregate")
        self._check_policy(hit, aggregate, outputs)
        columns = [self._column(k, source) for k, source in enumerate(raw.get("inputs") or [])]
        width = len(columns) + (0 if aggregate == "count" else len(outputs))
        rows = [
            self._row(j, cells, columns, outputs, width, aggregate == "count")
            for j, cells in enumerate(raw.get("rows") or [])
        ]
        if not self.ok or any(row is None for row in rows):
            return None
        kept = [row for row in rows if row is not None]
        order = _order(hit, kept, outputs)
        exprs = [row.condition.expr for row in kept]
        return DecisionTable(
            id=str(raw["id"]),
            hit=hit,  # type: ignore[arg-type]  # the schema allows only the four policies
            inputs=tuple(str(source) for source in raw.get("inputs") or []),
            outputs=outputs,
            rows=tuple(kept),
            match=table_matcher(hit, exprs, order),
            order=order,
            aggregate=aggregate,
            complete=bool(raw.get("complete", False)),
            title=Text.of(raw["title"]) if raw.get("title") else None,
            reads=frozenset(self.reads),
            line=self.reporter.line(self.path),
        )

    def _check_policy(self, hit: str, aggregate: Any, outputs: Sequence[TableOutput]) -> None:
        """PB332: a hit policy that does not fit the table's outputs."""
        problem: str | None = None
        if aggregate is not None and hit != "collect":
            problem = "aggregate_without_collect"
        elif hit == "collect" and aggregate is None:
            problem = "collect_without_aggregate"
        elif hit == "collect" and len(outputs) != 1:
            problem = "collect_one_output"
        elif aggregate in ("sum", "max") and outputs[0].type.kind not in _NUMERIC:
            problem = "aggregate_numeric"
        elif aggregate == "count" and outputs[0].type.kind != "integer":
            problem = "count_integer"
        elif hit == "priority" and (not outputs or outputs[0].type.kind != "enum"):
            problem = "priority_enum"
        elif not outputs:
            problem = "no_outputs"
        if problem is not None:
            self.report(
                (*self.path, "hit"),
                "PB332",
                Message(f"diag.tables.policy.{problem}", hit=hit, aggregate=str(aggregate)),
                Message("diag.tables.policy_hint"),
            )

    def _column(self, k: int, source: Any) -> Expr | str | None:
        """A field id (value-test column), a condition, or None when it does not build."""
        path: YamlPath = (*self.path, "inputs", k)
        if isinstance(source, str) and _FIELD_ID.fullmatch(source):
            if source in self.readable:
                self.reads.add(source)
                return source
            self.report(
                path,
                "PB303",
                Message("diag.lint.unknown.field", name=source),
                did_you_mean(source, list(self.readable)),
            )
            return None
        try:
            expr = parse_condition(source, self.readable, tz=self.tz)
        except ConditionError as error:
            self.ok = False
            self.reporter.condition_error(path, source, error)
            return None
        self.reads.update(referenced_fields(expr))
        return expr

    def _row(
        self,
        j: int,
        cells: Sequence[Any],
        columns: Sequence[Expr | str | None],
        outputs: Sequence[TableOutput],
        width: int,
        counting: bool,
    ) -> TableRow | None:
        path: YamlPath = (*self.path, "rows", j)
        if len(cells) != width:
            self.report(
                path,
                "PB330",
                Message("diag.tables.row_width", row=j + 1, cells=len(cells), columns=width),
                Message("diag.tables.row_width_hint", inputs=len(columns)),
            )
            return None
        tests = [self._cell((*path, k), column, cells[k]) for k, column in enumerate(columns)]
        values = (
            []
            if counting
            else [
                self._output((*path, len(columns) + k), out, cells[len(columns) + k])
                for k, out in enumerate(outputs)
            ]
        )
        if any(test is None for test in tests) or not self.ok:
            return None
        expr = all_of(test for test in tests if test is not None and test != TRUE)
        mark = self.reporter.doc.mark(path)
        condition = Condition(
            expr, render(expr), to_python(expr), referenced_fields(expr), mark.line, mark.column
        )
        return TableRow(j, condition, tuple(values), mark.line)

    def _cell(self, path: YamlPath, column: Expr | str | None, cell: Any) -> Expr | None:
        if column is None:
            return None
        if cell is None or cell == _ANY:
            return TRUE
        if not isinstance(column, str):
            if isinstance(cell, bool):
                return column if cell else Not(column)
            self.report(path, "PB330", Message("diag.tables.condition_cell"), None)
            return None
        try:
            return parse_condition(_cell_source(column, cell), self.readable, tz=self.tz)
        except ConditionError as error:
            self.report(
                path, error.code, Message("diag.tables.cell", problem=error.msg), error.hint_msg
            )
            return None

    def _output(self, path: YamlPath, out: TableOutput, cell: Any) -> Any:
        value = output_value(out.type, cell)
        if value is None:
            allowed = ", ".join(out.type.values or ()) or out.type.kind
            self.report(
                path,
                "PB331",
                Message(
                    "diag.tables.output_type", value=repr(cell), name=out.id, kind=out.type.kind
                ),
                Message("diag.tables.output_type_hint", allowed=allowed),
            )
        return value


def _cell_source(name: str, cell: Any) -> object:
    """The condition a value-test cell stands for, on the column's field ``name``.

    Text a person wrote stays data: a test with an operator is parsed by the
    condition parser after the field's (declared, safe) id; a plain value is the
    structured form's ``value``.
    """
    if isinstance(cell, list):
        return {"field": name, "op": "in", "value": cell}
    if isinstance(cell, str) and cell in _EMPTINESS:
        has = {"required": [name]}
        return {"not": has} if _EMPTINESS[cell] else has
    if not isinstance(cell, str):
        return {"field": name, "op": "==", "value": cell}
    text = cell.strip()
    span = _RANGE.fullmatch(text)
    if span is not None:
        opening, low, high, closing = span.groups()
        low_op = ">=" if opening == "[" else ">"
        high_op = "<=" if closing == "]" else "<"
        return f"{name} {low_op} {low} and {name} {high_op} {high}"
    if _OPERATOR.match(text):
        return f"{name} {text}"
    return {"field": name, "op": "==", "value": cell}


def output_value(kind: FieldType, cell: Any) -> Any:
    """``cell`` as a value of the output type ``kind``, or None when it is not one."""
    if isinstance(cell, bool):
        return cell if kind.kind == "boolean" else None
    if kind.kind == "integer":
        return cell if isinstance(cell, int) else None
    if kind.kind == "number":
        return float(cell) if isinstance(cell, int | float) else None
    if kind.kind == "decimal":
        try:
            return Decimal(str(cell)) if isinstance(cell, int | float | str) else None
        except InvalidOperation:
            return None
    if kind.kind == "enum":
        return str(cell) if isinstance(cell, str) and cell in (kind.values or ()) else None
    return cell if kind.kind == "string" and isinstance(cell, str) else None


def _order(hit: str, rows: Sequence[TableRow], outputs: Sequence[TableOutput]) -> tuple[int, ...]:
    """Row positions in the order the evaluator tries them (priority: by output rank)."""
    positions = range(len(rows))
    if hit != "priority":
        return tuple(positions)
    ranks = {value: rank for rank, value in enumerate(outputs[0].type.values or ())}
    return tuple(sorted(positions, key=lambda p: (ranks.get(rows[p].outputs[0], 0), p)))


def _in_evaluation_order(
    tables: Sequence[DecisionTable], derived: Mapping[str, FieldType], reporter: Reporter
) -> tuple[DecisionTable, ...]:
    """PB336: the tables, each after those whose outputs it reads; a cycle is reported."""
    setter = {out.id: table for table in tables for out in table.outputs}
    done: dict[str, DecisionTable] = {}
    state: dict[str, str] = {}

    def visit(table: DecisionTable, trail: tuple[str, ...]) -> bool:
        if state.get(table.id) == "done":
            return True
        if state.get(table.id) == "open":
            cycle = [*trail[trail.index(table.id) :], table.id]
            reporter.report(
                ("tables", _position(reporter, table.id), "inputs"),
                "PB336",
                Message("diag.tables.cycle", cycle=" → ".join(cycle)),
                hint=Message("diag.tables.cycle_hint"),
            )
            return False
        state[table.id] = "open"
        ok = all(
            visit(setter[name], (*trail, table.id))
            for name in sorted(table.reads & derived.keys())
            if name in setter
        )
        state[table.id] = "done"
        if ok:
            done[table.id] = table
        return ok

    for table in tables:
        visit(table, ())
    return tuple(done.values())


def _position(reporter: Reporter, table_id: str) -> int:
    for index, raw in enumerate(reporter.doc.data.get("tables") or []):
        if raw.get("id") == table_id:
            return index
    return 0
