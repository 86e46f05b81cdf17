"""The bounds of a condition: nesting depth, numbers and dates (conditions/limits.py).

Each bound is refused with a ConditionError and a stable code (PB401 for depth,
PB406 for a literal), never a ValueError, OverflowError or RecursionError; at
the bound, every walk of the condition (render, ``to_python``, ``to_sql`` and
SQLAlchemy's compiler, ``is_satisfiable``) still works.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from playbook.conditions import FieldType, is_satisfiable, parse_condition, render, to_python
from playbook.conditions.limits import MAX_DEPTH
from playbook.conditions.sql import to_sql
from playbook.errors import ConditionError

FIELDS = {
    "amount": FieldType("decimal"),
    "score": FieldType("number"),
    "visits": FieldType("integer"),
    "note": FieldType("string"),
    "flag": FieldType("boolean"),
    "close": FieldType("date"),
    "signed_at": FieldType("datetime"),
}
_LEAF: dict[str, Any] = {"field": "visits", "op": ">=", "value": 1}


def _error(source: object, tz: Any = UTC) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse_condition(source, FIELDS, tz=tz)
    return caught.value


def _nested(key: str, depth: int) -> object:
    node: object = _LEAF
    for _ in range(depth):
        node = {key: node} if key == "not" else {key: [node, _LEAF]}
    return node


def _alternating(depth: int) -> str:
    """``not (visits > 0 or not (visits > 1 and not (...)))``: every level a different node."""
    text = "has(note)"
    for level in range(depth):
        joiner = "or" if level % 2 else "and"
        text = f"not (visits > {level} {joiner} {text})"
    return text


def _walk_everything(source: object) -> None:
    expr = parse_condition(source, FIELDS)
    assert parse_condition(render(expr), FIELDS) == expr
    to_python(expr)({"visits": 3, "note": "x"})
    is_satisfiable(expr, FIELDS)
    table = sa.table("deals", *(sa.column(name) for name in FIELDS))
    clause = to_sql(expr, lambda name, _type: table.c[name])
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        str(sa.select(table.c.visits).where(clause).compile(dialect=dialect))


@pytest.mark.parametrize(
    "source",
    [
        "not " * MAX_DEPTH + "has(note)",
        "(" * MAX_DEPTH + "has(note)" + ")" * MAX_DEPTH,
        "not (" * MAX_DEPTH + "has(note)" + ")" * MAX_DEPTH,
        _alternating(MAX_DEPTH),
        _nested("not", MAX_DEPTH),
        _nested("any", MAX_DEPTH),
        _nested("all", MAX_DEPTH),
        {"not": {"all": [_nested("any", MAX_DEPTH - 2), _LEAF]}},
    ],
    ids=[
        "not-chain",
        "parentheses",
        "not-parentheses",
        "alternating",
        "structured-not",
        "any",
        "all",
        "mixed",
    ],
)
def test_the_deepest_condition_allowed_goes_through_every_walk(source: object) -> None:
    """At MAX_DEPTH levels, parse, render, to_python, to_sql and is_satisfiable all work."""
    _walk_everything(source)


def test_a_string_inside_the_structured_form_counts_from_its_depth() -> None:
    """The string form's levels add to the structured levels around it."""
    half = MAX_DEPTH // 2
    inner = "not " * half + "flag"
    node: object = inner
    for _ in range(half):
        node = {"not": node}
    _walk_everything(node)
    error = _error({"not": node})
    assert error.code == "PB401"
    assert f"deeper than {MAX_DEPTH} levels" in error.message


@pytest.mark.parametrize(
    ("source", "offset"),
    [
        ("not " * (MAX_DEPTH + 1) + "has(note)", 4 * MAX_DEPTH),
        ("(" * (MAX_DEPTH + 1) + "has(note)" + ")" * (MAX_DEPTH + 1), MAX_DEPTH),
        ("not " * 500 + "has(note)", 4 * MAX_DEPTH),
        ("(" * 300 + "has(note)" + ")" * 300, MAX_DEPTH),
    ],
    ids=["not-65", "parentheses-65", "not-500", "parentheses-300"],
)
def test_a_string_nested_too_deep_is_pb401_at_the_first_level_too_many(
    source: str, offset: int
) -> None:
    """The level past MAX_DEPTH is PB401, positioned on its ``not`` or ``(``."""
    error = _error(source)
    assert (error.code, error.details["offset"]) == ("PB401", offset)
    assert error.hint == "split it into simpler conditions"


@pytest.mark.parametrize("key", ["not", "any", "all"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 400])
def test_a_structured_condition_nested_too_deep_is_pb401(key: str, depth: int) -> None:
    """Past MAX_DEPTH mappings of all/any/not, PB401 at the subpath of the level too many."""
    error = _error(_nested(key, depth))
    assert error.code == "PB401"
    steps = (key,) if key == "not" else (key, 0)
    assert error.details["subpath"] == steps * MAX_DEPTH + (key,)


_HUGE = 10**5000


@pytest.mark.parametrize(
    ("source", "code", "words"),
    [
        ("amount > " + "9" * 31, "PB406", "31 digits"),
        ("amount > " + "9" * 4301, "PB406", "4301 digits"),
        ("score != " + "9" * 400, "PB406", "400 digits"),
        ("visits == 9223372036854775808", "PB406", "64-bit"),
        ("visits == -9223372036854775808", "PB406", "64-bit"),
        ("amount > 1000000000000000", "PB406", "magnitude"),
        ("score > " + "9" * 30, "PB406", "1e30"),
        ("amount > 1.2345678901234567", "PB406", "significant digits"),
        ("amount > 0.0000000000000001", "PB406", "after the point"),
        ("close > '1899-12-31'", "PB406", "years 1900 to 2999"),
        ("close > '3000-01-01'", "PB406", "years 1900 to 2999"),
        ("signed_at > '0001-01-01'", "PB406", "years 1900 to 2999"),
        ("signed_at > '9999-12-31T23:59:59+00:00'", "PB406", "years 1900 to 2999"),
        (_HUGE, "PB401", "digits"),
        ({"field": "amount", "op": _HUGE, "value": 1}, "PB401", "digits"),
        ({"field": _HUGE, "op": "==", "value": 1}, "PB401", "digits"),
        ({_HUGE: 1}, "PB401", "digits"),
        ({"field": "note", "op": "==", "value": _HUGE}, "PB403", "digits"),
        ({"field": "flag", "op": "==", "value": _HUGE}, "PB403", "digits"),
        ({"field": "visits", "op": "==", "value": _HUGE}, "PB406", "digits"),
        ({"field": "score", "op": "==", "value": 10**400}, "PB406", "digits"),
        ({"field": "score", "op": "==", "value": Decimal("1E+400")}, "PB406", "1E+400"),
        ({"field": "visits", "op": "==", "value": Decimal("1E+5000")}, "PB406", "1E+5000"),
        ({"field": "amount", "op": "==", "value": Decimal("1E-400")}, "PB406", "after the point"),
    ],
    ids=lambda value: None if isinstance(value, str) and len(value) < 60 else "",
)
def test_values_outside_the_bounds_are_refused_with_a_code(
    source: object, code: str, words: str
) -> None:
    """Numbers and dates past the bounds give a ConditionError that names the problem."""
    error = _error(source)
    assert error.code == code
    assert words in f"{error.message} {error.hint}"


def test_a_naive_datetime_at_the_first_year_is_read_in_a_zone_east_of_utc() -> None:
    """'1900-01-01' in Asia/Shanghai moves to 1899 in UTC without overflowing."""
    expr = parse_condition("signed_at > '1900-01-01'", FIELDS, tz=ZoneInfo("Asia/Shanghai"))
    assert render(expr) == "signed_at > '1899-12-31T15:54:17+00:00'"
    assert _error("signed_at > '0001-01-01'", ZoneInfo("Asia/Shanghai")).code == "PB406"


@pytest.mark.parametrize(
    "source",
    [
        "visits == 9223372036854775807",
        "visits == -9223372036854775807",
        "amount > 999999999999999",
        "amount > -99999999999999.9",
        "amount > 123456789012345",
        "amount > 0.000000000000001",
        "score > " + "9" * 16 + "0" * 14,
        "close > '1900-01-01' and close < '2999-12-31'",
    ],
)
def test_values_at_the_bounds_are_accepted_and_round_trip(source: str) -> None:
    """The largest values allowed parse, render and parse back to the same condition."""
    expr = parse_condition(source, FIELDS)
    assert parse_condition(render(expr), FIELDS) == expr
