"""Evaluate decision tables: which rows matched, and the derived fields they set.

:func:`decide` runs one table over a deal's field values and says which rows
matched (always: a decision names its rows) and what its outputs are, by its
hit policy:

- ``unique``: at most one row may match; two is :class:`~playbook.errors.TableOverlapError`
  (validation finds the overlaps it can prove beforehand);
- ``first``: the first matching row in table order;
- ``priority``: the matching row whose first output comes first in that
  output's declared values;
- ``collect``: every matching row, aggregated by ``sum``, ``max`` or ``count``.

No row matched: every output is null (``count``: 0, ``sum``: 0).

:func:`with_derived` gives the deal's values with the derived fields on top,
computed lazily, once, when a condition first reads one: the engine's gates,
next actions and escalations read deals through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from playbook.errors import TableOverlapError, UnknownTableError
from playbook.i18n import Message
from playbook.model import DecisionTable, Playbook
from playbook.values import FrozenMap, to_json_value

__all__ = [
    "DerivedValues",
    "TableDecision",
    "decide",
    "decide_all",
    "stored_fields",
    "table",
    "with_derived",
]


class TableDecision(NamedTuple):
    """What a table decided for one deal: the rows that matched and the outputs they set.

    Immutable (its ``outputs`` is a read-only mapping); a named tuple, the
    cheapest immutable object to build, as one is built per table per deal.
    """

    table: str
    matched: tuple[int, ...]
    """0-based indexes of the matching rows, in table order (``first``/``priority``: the hit)."""
    outputs: Mapping[str, Any]

    @property
    def rows(self) -> tuple[int, ...]:
        """The matching rows numbered as people count them (1-based)."""
        return tuple(index + 1 for index in self.matched)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"table", "rows" (1-based), "outputs"}``."""
        return {
            "table": self.table,
            "rows": list(self.rows),
            "outputs": {name: to_json_value(value) for name, value in self.outputs.items()},
        }


def decide(table: DecisionTable, values: Mapping[str, Any]) -> TableDecision:
    """The decision of ``table`` for a deal's typed field values (derived ones included).

    Raises :class:`~playbook.errors.TableOverlapError` (PB570) when a ``unique``
    table has more than one matching row.
    """
    found = table.match(values)
    if table.hit == "first" or table.hit == "priority":
        prepared = _PREPARED.get(id(table))
        if prepared is None or prepared[0] is not table:
            prepared = _prepare(table)
        return prepared[1][found]  # -1: the last one, "no row matched"
    matched = tuple(index for index in range(len(table.rows)) if found >> index & 1)
    if table.hit == "unique" and len(matched) > 1:
        rows = ", ".join(str(index + 1) for index in matched)
        raise TableOverlapError(
            Message("error.tables.overlap", table=table.id, rows=rows),
            hint=Message("error.tables.overlap_hint"),
        )
    if table.hit == "unique":
        return _decision(table, matched, matched)
    outputs = FrozenMap({table.outputs[0].id: _aggregate(table, matched)})
    return TableDecision(table.id, matched, outputs)


_PREPARED: dict[int, tuple[DecisionTable, tuple[TableDecision, ...]]] = {}
"""A first or priority table's possible decisions, one per row in ``order`` then none.

Such a table can only decide one of these (immutable) results, so they are
built once: ``decide`` costs the compiled rows and a tuple index. Keyed by the
table's identity, checked against the table itself (an id can be reused).
"""
_PREPARED_MOST = 256


def _prepare(table: DecisionTable) -> tuple[DecisionTable, tuple[TableDecision, ...]]:
    if len(_PREPARED) >= _PREPARED_MOST:
        _PREPARED.clear()
    results = [_decision(table, (index,), (index,)) for index in table.order]
    results.append(_decision(table, (), ()))
    prepared = _PREPARED[id(table)] = (table, tuple(results))
    return prepared


def _decision(
    table: DecisionTable, matched: tuple[int, ...], hit: tuple[int, ...]
) -> TableDecision:
    values = table.rows[hit[0]].outputs if hit else (None,) * len(table.outputs)
    outputs = FrozenMap({out.id: value for out, value in zip(table.outputs, values, strict=True)})
    return TableDecision(table.id, matched, outputs)


def _aggregate(table: DecisionTable, matched: tuple[int, ...]) -> Any:
    if table.aggregate == "count":
        return len(matched)
    picked = [table.rows[index].outputs[0] for index in matched]
    if table.aggregate == "max":
        return max(picked) if picked else None
    kind = table.outputs[0].type.kind
    start: Any = 0.0 if kind == "number" else 0
    return sum(picked, start)


def decide_all(playbook: Playbook, values: Mapping[str, Any]) -> tuple[TableDecision, ...]:
    """Every table's decision for a deal, in evaluation order (a table after those it reads)."""
    view = DerivedValues(values, _setters(playbook))
    return tuple(view.decision(item) for item in playbook.tables)


def table(playbook: Playbook, table_id: str) -> DecisionTable:
    """The table ``table_id`` of ``playbook``; else :class:`~playbook.errors.UnknownTableError`."""
    for candidate in playbook.tables:
        if candidate.id == table_id:
            return candidate
    known = ", ".join(item.id for item in playbook.tables) or "-"
    raise UnknownTableError(
        Message("error.tables.unknown", table=table_id),
        hint=Message("error.tables.unknown_hint", known=known),
    )


def stored_fields(playbook: Playbook, names: Iterable[str]) -> frozenset[str]:
    """``names`` with each derived field replaced by the stored fields it is computed from."""
    setters = _setters(playbook)
    stored: set[str] = set()
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        setter = setters.get(name)
        if setter is None:
            stored.add(name)
        else:
            pending.extend(setter.reads)
    return frozenset(stored)


def fields_to_fill(
    playbook: Playbook, names: Iterable[str], values: Mapping[str, Any]
) -> tuple[str, ...]:
    """``names`` of empty fields, each derived one replaced by its empty stored inputs.

    A person cannot fill ``lead_grade``; filling ``lead_score`` may grade the deal.
    """
    if not playbook.tables:
        return tuple(dict.fromkeys(names))
    order = {name: index for index, name in enumerate(playbook.fields)}
    out: list[str] = []
    for name in names:
        inputs = stored_fields(playbook, (name,))
        if inputs == {name}:
            out.append(name)
            continue
        empty = [field for field in inputs if values.get(field) is None]
        out.extend(sorted(empty, key=lambda field: (order.get(field, len(order)), field)))
    return tuple(dict.fromkeys(out))


def with_derived(playbook: Playbook, values: Mapping[str, Any]) -> Mapping[str, Any]:
    """``values`` with the playbook's derived fields readable on top (``values`` itself if none)."""
    if not playbook.tables:
        return values
    return DerivedValues(values, _setters(playbook))


def _setters(playbook: Playbook) -> Mapping[str, DecisionTable]:
    return {out.id: item for item in playbook.tables for out in item.outputs}


class DerivedValues(Mapping[str, Any]):
    """A deal's values and, read on demand, the derived fields of its decision tables.

    Iteration and length are the deal's own fields: derived values are never
    stored as if a person had entered them.
    """

    __slots__ = ("_decided", "_setters", "_values")

    def __init__(self, values: Mapping[str, Any], setters: Mapping[str, DecisionTable]) -> None:
        self._values = values
        self._setters = setters
        self._decided: dict[str, TableDecision] = {}

    def get(self, key: str, default: Any = None) -> Any:
        setter = self._setters.get(key)
        if setter is None:
            return self._values.get(key, default)
        value = self.decision(setter).outputs.get(key)
        return default if value is None else value

    def decision(self, item: DecisionTable) -> TableDecision:
        """The decision of ``item`` for these values, made once."""
        found = self._decided.get(item.id)
        if found is None:
            found = self._decided[item.id] = decide(item, self)
        return found

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


_MISSING = object()
