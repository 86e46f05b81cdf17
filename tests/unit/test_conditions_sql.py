"""The SQL compiler: bound literals, dialect-specific SQL, and agreement on edge cases."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from playbook.conditions import FieldType, parse_condition, to_python
from playbook.conditions.sql import to_sql

FIELDS = {
    "amount": FieldType("decimal"),
    "satisfaction": FieldType("number"),
    "budget_confirmed": FieldType("boolean"),
    "industry": FieldType("enum", ("energy", "chemicals", "zz-marker")),
    "decision_maker": FieldType("string"),
    "competitors": FieldType("list", ("abb", "siemens")),
    "signed_at": FieldType("datetime"),
    "visits": FieldType("integer"),
}

TABLE = sa.Table(
    "deals",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("amount", sa.Numeric(14, 2)),
    sa.Column("satisfaction", sa.Float),
    sa.Column("budget_confirmed", sa.Boolean),
    sa.Column("industry", sa.String),
    sa.Column("decision_maker", sa.String),
    sa.Column("competitors", sa.Text),
    sa.Column("signed_at", sa.DateTime),
    sa.Column("visits", sa.BigInteger),
)


def column(name: str, ftype: FieldType) -> Any:
    """The column of TABLE for a field."""
    return TABLE.c[name]


def sql_text(text: str, dialect: sa.Dialect) -> tuple[str, dict[str, Any]]:
    """The SQL and the bound parameters of a condition's WHERE clause."""
    clause = to_sql(parse_condition(text, FIELDS), column)
    compiled = sa.select(TABLE.c.id).where(clause).compile(dialect=dialect)
    return str(compiled), dict(compiled.params)


@pytest.mark.parametrize(
    ("text", "dialect", "fragment"),
    [
        ("decision_maker < 'M'", postgresql.dialect(), 'COLLATE "C"'),
        ("decision_maker == 'M'", postgresql.dialect(), "deals.decision_maker = "),
        ("competitors contains 'abb'", postgresql.dialect(), "CAST(deals.competitors AS JSONB) @>"),
        ("len(competitors) > 1", postgresql.dialect(), "jsonb_array_length(CAST("),
        ("has(competitors)", postgresql.dialect(), "jsonb_array_length(CAST("),
        ("competitors contains 'abb'", sqlite.dialect(), "FROM json_each(deals.competitors)"),
        ("len(competitors) > 1", sqlite.dialect(), "json_array_length(deals.competitors) >"),
        ("len(decision_maker) > 1", sqlite.dialect(), "ELSE length(deals.decision_maker) END) >"),
        ("len(decision_maker) > 1", sqlite.dialect(), "instr(CAST(deals.decision_maker AS BLOB)"),
        ("len(decision_maker) > 1", postgresql.dialect(), "length(deals.decision_maker) >"),
        ("visits > 2147483653", postgresql.dialect(), "::BIGINT"),
        (
            "visits < satisfaction",
            postgresql.dialect(),
            "CAST(deals.visits AS DOUBLE PRECISION) < deals.satisfaction",
        ),
        (
            "visits < satisfaction",
            sqlite.dialect(),
            "CAST(deals.visits AS DOUBLE) < deals.satisfaction",
        ),
        ("decision_maker < 'M'", sqlite.dialect(), "deals.decision_maker < ?"),
        ("amount >= 5", sqlite.dialect(), "deals.amount IS NOT NULL AND deals.amount >= ?"),
        ("industry in []", postgresql.dialect(), "WHERE false"),
    ],
)
def test_dialect_specific_sql(text: str, dialect: sa.Dialect, fragment: str) -> None:
    """Lists, lengths and text order compile to each dialect's own functions."""
    sql, _ = sql_text(text, dialect)
    assert fragment in sql


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("industry == 'zz-marker'", "zz-marker"),
        ("decision_maker == 'x\\' OR 1=1 --'", "x' OR 1=1 --"),
        ("competitors contains 'abb'", "abb"),
        ("amount >= 123456.78", Decimal("123456.78")),
    ],
)
def test_literals_are_bound_parameters(text: str, value: object) -> None:
    """Literal values never appear in the SQL text, only among the bound parameters."""
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        sql, params = sql_text(text, dialect)
        assert value in params.values()
        assert str(value) not in sql


def test_datetimes_bind_as_naive_utc_for_a_column_without_timezone() -> None:
    """A column without a timezone gets the UTC wall time; one with a timezone, the aware value."""
    expr = parse_condition("signed_at > '2026-03-01T09:00:00+08:00'", FIELDS)
    naive = to_sql(expr, column).compile(dialect=postgresql.dialect()).params
    assert datetime(2026, 3, 1, 1) in naive.values()
    aware_column = sa.Column("signed_at", sa.DateTime(timezone=True))
    aware = to_sql(expr, lambda name, ftype: aware_column).compile(dialect=postgresql.dialect())
    assert datetime(2026, 3, 1, 1, tzinfo=UTC) in aware.params.values()


def test_each_field_column_is_asked_for_once() -> None:
    """The column callback runs once per field, however often the condition reads it."""
    asked: list[str] = []

    def counting(name: str, ftype: FieldType) -> Any:
        asked.append(name)
        return TABLE.c[name]

    to_sql(parse_condition("amount > 1 and amount < 9 or not has(amount)", FIELDS), counting)
    assert asked == ["amount"]


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    """An in-memory SQLite database with the deals table."""
    found = sa.create_engine("sqlite://")
    TABLE.metadata.create_all(found)
    yield found
    found.dispose()


@pytest.mark.parametrize(
    ("text", "row"),
    [
        ("amount == satisfaction", {"amount": Decimal("0.07"), "satisfaction": 0.07}),
        ("amount == satisfaction", {"amount": Decimal("1.10"), "satisfaction": 1.2}),
        ("decision_maker < 'b'", {"decision_maker": "B"}),
        ("decision_maker > 'z'", {"decision_maker": "王"}),
        ("len(decision_maker) == 3", {"decision_maker": "王经理"}),
        ("competitors contains '施耐德'", {"competitors": ["施耐德"]}),
        ("not (competitors contains 'abb')", {"competitors": None}),
        ("has(competitors)", {"competitors": []}),
        ("has(decision_maker)", {"decision_maker": ""}),
        ("not (industry not in ['energy'])", {}),
        ("budget_confirmed != true", {"budget_confirmed": False}),
        ("signed_at >= '2026-03-01T09:00:00+08:00'", {"signed_at": datetime(2026, 3, 1, 1)}),
    ],
)
def test_sqlite_agrees_with_python_on_edge_cases(
    engine: sa.Engine, text: str, row: dict[str, Any]
) -> None:
    """Float/decimal equality, code-point order, character lengths, empty values and nulls agree."""
    fields = dict(FIELDS, competitors=FieldType("list"))
    expr = parse_condition(text, fields)
    stored = {k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()}
    typed = {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v for k, v in row.items()}
    with engine.begin() as connection:
        connection.execute(TABLE.delete())
        connection.execute(TABLE.insert(), [{"id": 1, **stored}])
        found = connection.scalars(sa.select(TABLE.c.id).where(to_sql(expr, column))).all()
    assert (found == [1]) is to_python(expr)(typed)


def test_parsing_and_python_compilation_do_not_import_sqlalchemy() -> None:
    """`playbook validate` must not pay for SQLAlchemy: only conditions.sql imports it."""
    code = (
        "import sys\n"
        "from playbook.conditions import FieldType, parse_condition, to_python, render\n"
        "from playbook.conditions import is_satisfiable, evaluate_atoms\n"
        "e = parse_condition('amount > 5', {'amount': FieldType('decimal')})\n"
        "to_python(e)({}); render(e)\n"
        "print('sqlalchemy' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_json_scalars_of_different_kinds_do_not_share_a_cached_statement() -> None:
    """SQLAlchemy caches compiled SQL by cache key: each kind's reader must have its own."""
    from playbook.conditions.sql import JSON_SCALAR_KINDS, json_scalar

    document = sa.table("deals", sa.column("fields")).c.fields
    keys = []
    for kind in JSON_SCALAR_KINDS:
        key = json_scalar(document, "x", kind).is_not(None)._generate_cache_key()
        assert key is not None
        keys.append(key.key)
    assert len(set(keys)) == len(JSON_SCALAR_KINDS)
