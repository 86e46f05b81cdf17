"""Hypothesis strategies for the condition language, and the properties of the two forms.

The strategies build well-typed IR directly (over :data:`FIELDS`, two fields of
every kind) and deals with missing keys and None; the SQL agreement test
imports them. The tests here check that both condition forms, and the
renderer, agree with the IR the strategies build.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from playbook.conditions import (
    Compare,
    Const,
    Contains,
    Expr,
    FieldRef,
    FieldType,
    Has,
    In,
    Len,
    Literal,
    Not,
    all_of,
    any_of,
    is_satisfiable,
    parse_condition,
    render,
    to_python,
)
from playbook.conditions.codegen import compile_failing
from playbook.conditions.ir import And, Or
from playbook.conditions.predicate import closure_predicate

FIELDS: dict[str, FieldType] = {
    "amount": FieldType("decimal"),
    "collected": FieldType("decimal"),
    "score": FieldType("number"),
    "ratio": FieldType("number"),
    "visits": FieldType("integer"),
    "calls": FieldType("integer"),
    "budget_confirmed": FieldType("boolean"),
    "signed": FieldType("boolean"),
    "owner_note": FieldType("string"),
    "decision_maker": FieldType("string"),
    "industry": FieldType("enum", ("energy", "chemicals", "能源")),
    "risk": FieldType("enum", ("low", "high")),
    "expected_close": FieldType("date"),
    "started": FieldType("date"),
    "signed_at": FieldType("datetime"),
    "seen_at": FieldType("datetime"),
    "competitors": FieldType("list", ("abb", "siemens", "施耐德")),
    "tags": FieldType("list"),
}

# Decimals stay within the condition language's bounds (conditions/limits.py: 15
# significant digits, 15 places, below 1e15): SQLite compares NUMERIC as REAL, which
# keeps the order and equality of such values, also against integers.
_LARGE_INTEGERS = [2**31 + 5, -(2**31) - 5, 2**53 + 1, 2**63 - 1, -(2**63) + 1]
_DECIMALS = st.one_of(
    # Few values, so that fields often compare equal; 0.07 and 1.10 are not exact floats.
    st.sampled_from([Decimal(0), Decimal("0.07"), Decimal("1.10"), Decimal(-3), Decimal(50000)]),
    st.decimals(min_value=-999_999_999, max_value=999_999_999, places=2),
    st.sampled_from(
        [
            Decimal("999999999999999"),
            Decimal("-99999999999999.9"),
            Decimal("0.000000000000001"),
            Decimal("123456789.123456"),
            Decimal(2**31 + 5),
        ]
    ),
)
# Floats of every size the language allows (below 1e30), and the ones whose 17
# digits SQLite's text conversion (15 digits) used to lose.
_FLOATS = st.one_of(
    _DECIMALS.map(float),
    st.floats(min_value=-1e29, max_value=1e29, allow_nan=False),
    st.sampled_from([0.1 + 0.2, 1 / 3, 2.0**53 + 2, float(2**63), 2.0**31 + 5]),
)
_INTEGERS = st.one_of(st.integers(-3, 5), st.sampled_from(_LARGE_INTEGERS))
# NUL is text in Python and SQLite (whose length() stops at it); PostgreSQL refuses it.
_TEXT = st.text(alphabet="ab'\"\\ 中z\x00", max_size=4)
_DATES = st.dates(min_value=date(2025, 12, 28), max_value=date(2026, 1, 4))
_DATETIMES = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 1, 1, 0, 0, 5), timezones=st.just(UTC)
)


def values_of(ftype: FieldType) -> st.SearchStrategy[Any]:
    """Non-null values of a field of type ``ftype``, as the engine holds them."""
    kind = ftype.kind
    makers: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
        "decimal": lambda: _DECIMALS,
        "number": lambda: _FLOATS,
        "integer": lambda: _INTEGERS,
        "boolean": st.booleans,
        "string": lambda: _TEXT,
        "enum": lambda: st.sampled_from(ftype.values or ("x",)),
        "date": lambda: _DATES,
        "datetime": lambda: _DATETIMES,
        "list": lambda: st.lists(st.sampled_from(ftype.values or ("a", "b", "")), max_size=3),
    }
    return makers[kind]()


def deals() -> st.SearchStrategy[dict[str, Any]]:
    """A deal: each field missing, None, or a value of its type."""
    entries = {
        name: st.one_of(st.just(_MISSING), st.none(), values_of(ftype), values_of(ftype))
        for name, ftype in FIELDS.items()
    }
    return st.fixed_dictionaries(entries).map(
        lambda deal: {k: v for k, v in deal.items() if v is not _MISSING}
    )


_MISSING = object()
_ORDERED_KINDS = ("decimal", "number", "integer", "string", "date", "datetime")
_FAMILIES = (
    ("amount", "collected", "score", "ratio", "visits", "calls"),
    ("owner_note", "decision_maker", "industry", "risk"),
    ("budget_confirmed", "signed"),
    ("expected_close", "started"),
    ("signed_at", "seen_at"),
)


def _ref(name: str) -> FieldRef:
    return FieldRef(name, FIELDS[name])


def _ops(kind: str) -> list[str]:
    if kind in _ORDERED_KINDS:
        return ["==", "!=", "<", "<=", ">", ">="]
    return ["==", "!="]


@st.composite
def _field_vs_literal(draw: st.DrawFn) -> Expr:
    name = draw(st.sampled_from([n for n, t in FIELDS.items() if t.kind != "list"]))
    ftype = FIELDS[name]
    op = draw(st.sampled_from(_ops(ftype.kind)))
    return Compare(op, _ref(name), Literal(draw(values_of(ftype))))  # type: ignore[arg-type]


@st.composite
def _field_vs_field(draw: st.DrawFn) -> Expr:
    family = draw(st.sampled_from(_FAMILIES))
    left, right = draw(st.sampled_from(family)), draw(st.sampled_from(family))
    kinds = {FIELDS[left].kind, FIELDS[right].kind}
    ordered = kinds <= set(_ORDERED_KINDS)
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="] if ordered else ["==", "!="]))
    return Compare(op, _ref(left), _ref(right))  # type: ignore[arg-type]


@st.composite
def _length(draw: st.DrawFn) -> Expr:
    name = draw(st.sampled_from(["owner_note", "decision_maker", "competitors", "tags"]))
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
    if draw(st.booleans()):
        return Compare(op, Len(_ref(name)), Literal(draw(st.integers(0, 4))))  # type: ignore[arg-type]
    return Compare(op, Len(_ref(name)), _ref(draw(st.sampled_from(["visits", "calls"]))))  # type: ignore[arg-type]


@st.composite
def _membership(draw: st.DrawFn) -> Expr:
    name = draw(
        st.sampled_from([n for n, t in FIELDS.items() if t.kind not in ("list", "boolean")])
    )
    values = tuple(draw(st.lists(values_of(FIELDS[name]), max_size=3)))
    operand = (
        Len(_ref(name)) if FIELDS[name].kind == "string" and draw(st.booleans()) else _ref(name)
    )
    if isinstance(operand, Len):
        values = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    return In(operand, values, draw(st.booleans()))


@st.composite
def _contains(draw: st.DrawFn) -> Expr:
    name = draw(st.sampled_from(["competitors", "tags"]))
    items = FIELDS[name].values or ("a", "b", "")
    return Contains(_ref(name), draw(st.sampled_from(items)))


ATOMS: st.SearchStrategy[Expr] = st.one_of(
    _field_vs_literal(),
    _field_vs_field(),
    _length(),
    _membership(),
    _contains(),
    st.sampled_from(list(FIELDS)).map(lambda name: Has(_ref(name))),
    st.sampled_from(["budget_confirmed", "signed"]).map(
        lambda name: Compare("==", _ref(name), Literal(True))
    ),
)


def conditions(max_leaves: int = 12) -> st.SearchStrategy[Expr]:
    """Well-typed conditions over :data:`FIELDS`: atoms joined by and/or/not, some constants."""
    leaves = st.one_of(ATOMS, st.sampled_from([Const(True), Const(False)]))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=4).map(all_of),
            st.lists(inner, min_size=2, max_size=4).map(any_of),
            inner.map(Not),
        ),
        max_leaves=max_leaves,
    )


def structured(expr: Expr) -> object:
    """``expr`` in the structured form, as YAML would hand it over (floats, ISO text)."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, And | Or):
        return {"all" if isinstance(expr, And) else "any": [structured(i) for i in expr.items]}
    if isinstance(expr, Not):
        return {"not": structured(expr.item)}
    if isinstance(expr, Has):
        return {"required": [expr.field.name]}
    if isinstance(expr, Contains):
        return {"field": expr.field.name, "op": "contains", "value": expr.value}
    if isinstance(expr, In):
        op = "not_in" if expr.negated else "in"
        return {**_subject(expr.operand), "op": op, "value": [_plain(v) for v in expr.values]}
    assert isinstance(expr, Compare)
    right = expr.right
    value = _plain(right.value) if isinstance(right, Literal) else _subject(right)
    return {**_subject(expr.left), "op": expr.op, "value": value}


def _subject(operand: FieldRef | Len) -> dict[str, str]:
    if isinstance(operand, Len):
        return {"len": operand.field.name}
    return {"field": operand.name}


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- properties ------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(conditions())
@example(
    And(
        (
            Compare("==", FieldRef("amount", FieldType("decimal")), Literal(Decimal("-0"))),
            Compare("==", FieldRef("score", FieldType("number")), Literal(-0.0)),
        )
    )
)
def test_render_parses_back_to_the_same_ir(expr: Expr) -> None:
    """The canonical string form of any condition parses back to the very same IR."""
    text = render(expr)
    assert parse_condition(text, FIELDS) == expr
    assert render(parse_condition(text, FIELDS)) == text


@settings(max_examples=400, deadline=None)
@given(conditions())
def test_structured_form_parses_to_the_same_ir(expr: Expr) -> None:
    """The structured form of any condition (as YAML data) gives the same IR as the string."""
    assert parse_condition(structured(expr), FIELDS) == expr


@settings(max_examples=200, deadline=None)
@given(conditions(), st.sampled_from(["UTC", "Asia/Shanghai"]))
def test_rendered_datetimes_do_not_depend_on_the_playbook_timezone(expr: Expr, zone: str) -> None:
    """Rendered datetimes carry their UTC offset, so any playbook timezone reads them back alike."""
    from zoneinfo import ZoneInfo

    assert parse_condition(render(expr), FIELDS, tz=ZoneInfo(zone)) == expr


@settings(max_examples=400, deadline=None)
@given(conditions(), st.lists(deals(), max_size=5))
def test_a_condition_that_holds_for_a_deal_is_satisfiable(
    expr: Expr, batch: list[dict[str, Any]]
) -> None:
    """is_satisfiable never says False for a condition some deal satisfies (it is sound)."""
    test = to_python(expr)
    if any(test(deal) for deal in batch):
        assert is_satisfiable(expr, FIELDS)


@settings(max_examples=400, deadline=None)
@given(conditions(), st.lists(deals(), min_size=1, max_size=5))
def test_generated_code_agrees_with_the_closure_tree(
    expr: Expr, batch: list[dict[str, Any]]
) -> None:
    """to_python's one generated function and the tree of closures give the same answers."""
    generated, closures = to_python(expr), closure_predicate(expr)
    both = compile_failing([expr, expr])
    for deal in batch:
        expected = closures(deal)
        assert generated(deal) == expected
        assert both(deal) == (0 if expected else 0b11)
