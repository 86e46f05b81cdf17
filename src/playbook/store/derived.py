"""Decision tables in SQL: derived fields as expressions over the stored fields.

:func:`columns_for` is the ``column`` callback of
:func:`playbook.conditions.sql.to_sql` for a playbook with decision tables:
a declared field reads as :func:`playbook.store.fields.column_for` does, a
derived field as its table compiled to a ``CASE`` expression over the stored
fields (derived fields that tables read from other tables compile the same
way, inline). So a KPI ``where`` or an escalation ``when`` reading
``lead_grade`` selects in SQL exactly the deals the Python evaluator grades so.

How each hit policy compiles (row conditions by :func:`~playbook.conditions.sql.to_sql`,
outputs bound as typed parameters):

- ``first``, ``priority``, ``unique``: ``CASE WHEN row THEN value ... END`` over
  the rows in the order the evaluator tries them (NULL when none matches; a
  ``unique`` table with overlapping rows, which Python refuses with PB570,
  gives its first match here);
- ``collect`` ``max``: the same over the rows by decreasing value;
- ``collect`` ``sum``/``count``: the sum of ``CASE WHEN row THEN value ELSE 0 END``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement

from playbook.conditions import FieldType
from playbook.conditions.sql import ColumnFor, to_sql
from playbook.model import DecisionTable, Playbook
from playbook.store.fields import column_for

__all__ = ["columns_for", "output_sql"]

_SQL_TYPES: dict[str, Any] = {
    "string": sa.String(),
    "enum": sa.String(),
    "integer": sa.BigInteger(),
    "number": sa.Double(),
    "decimal": sa.Numeric(),
    "boolean": sa.Boolean(),
}


def columns_for(playbook: Playbook, base: ColumnFor = column_for) -> ColumnFor:
    """A ``column`` callback reading declared fields through ``base`` and derived ones as tables.

    Without decision tables it is ``base`` itself.
    """
    if not playbook.tables:
        return base
    setters = {out.id: table for table in playbook.tables for out in table.outputs}

    def read(name: str, field_type: FieldType) -> ColumnElement[Any]:
        table = setters.get(name)
        if table is None:
            return base(name, field_type)
        return output_sql(table, name, read)

    return read


def output_sql(table: DecisionTable, output: str, column: ColumnFor) -> ColumnElement[Any]:
    """The SQL expression of ``table``'s output ``output``, reading fields through ``column``."""
    position = next(k for k, out in enumerate(table.outputs) if out.id == output)
    kind = table.outputs[position].type.kind
    sql_type = _SQL_TYPES[kind]
    rows = [to_sql(row.condition.expr, column) for row in table.rows]
    if table.aggregate in ("sum", "count"):
        values = [1 if table.aggregate == "count" else row.outputs[0] for row in table.rows]
        parts = [
            sa.case((test, _bound(value, sql_type)), else_=_bound(0, sql_type))
            for test, value in zip(rows, values, strict=True)
        ]
        return sa.type_coerce(_total(parts, sql_type), sql_type)
    order: Mapping[int, int] | list[int] = list(table.order)
    if table.aggregate == "max":
        order = sorted(range(len(table.rows)), key=lambda k: table.rows[k].outputs[0], reverse=True)
    whens = [(rows[k], _bound(table.rows[k].outputs[position], sql_type)) for k in order]
    if not whens:
        return sa.null()
    return sa.type_coerce(sa.case(*whens, else_=sa.null()), sql_type)


def _bound(value: Any, sql_type: Any) -> ColumnElement[Any]:
    return sa.literal(value, type_=sql_type)


def _total(parts: Sequence[ColumnElement[Any]], sql_type: Any) -> ColumnElement[Any]:
    if not parts:
        return _bound(0, sql_type)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total
