"""Parsing conditions: both forms, precedence, literals and their conversion."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from playbook.conditions import (
    FALSE,
    TRUE,
    And,
    Compare,
    Contains,
    Expr,
    FieldRef,
    FieldType,
    Has,
    In,
    Len,
    Literal,
    Not,
    Or,
    parse_condition,
    referenced_fields,
)

FIELDS = {
    "amount": FieldType("decimal"),
    "invoiced": FieldType("decimal"),
    "collected": FieldType("decimal"),
    "satisfaction": FieldType("number"),
    "visits": FieldType("integer"),
    "budget_confirmed": FieldType("boolean"),
    "industry": FieldType("enum", ("manufacturing", "energy", "chemicals", "能源")),
    "risk": FieldType("enum", ("low", "high")),
    "expected_close": FieldType("date"),
    "signed_at": FieldType("datetime"),
    "competitors": FieldType("list", ("siemens", "abb", "schneider")),
    "decision_maker": FieldType("string"),
    "referral": FieldType("string"),
}


def ref(name: str) -> FieldRef:
    """The typed reference to a field of FIELDS."""
    return FieldRef(name, FIELDS[name])


def parse(source: object) -> Expr:
    """Parse against FIELDS."""
    return parse_condition(source, FIELDS)


AMOUNT_GE = Compare(">=", ref("amount"), Literal(Decimal(50000)))
BUDGET = Compare("==", ref("budget_confirmed"), Literal(True))


@pytest.mark.parametrize(
    ("text", "structured", "expected"),
    [
        (
            "amount >= 50000 and budget_confirmed",
            {
                "all": [
                    {"field": "amount", "op": ">=", "value": 50000},
                    {"field": "budget_confirmed", "op": "==", "value": True},
                ]
            },
            And((AMOUNT_GE, BUDGET)),
        ),
        (
            "industry in ['energy', \"chemicals\"] or has(referral)",
            {
                "any": [
                    {"field": "industry", "op": "in", "value": ["energy", "chemicals"]},
                    {"required": ["referral"]},
                ]
            },
            Or((In(ref("industry"), ("energy", "chemicals")), Has(ref("referral")))),
        ),
        (
            "not (risk == 'high')",
            {"not": {"field": "risk", "op": "==", "value": "high"}},
            Not(Compare("==", ref("risk"), Literal("high"))),
        ),
        (
            "expected_close <= '2026-12-31'",
            {"field": "expected_close", "op": "<=", "value": "2026-12-31"},
            Compare("<=", ref("expected_close"), Literal(date(2026, 12, 31))),
        ),
        (
            "len(competitors) >= 2",
            {"len": "competitors", "op": ">=", "value": 2},
            Compare(">=", Len(ref("competitors")), Literal(2)),
        ),
        (
            "competitors contains 'abb'",
            {"field": "competitors", "op": "contains", "value": "abb"},
            Contains(ref("competitors"), "abb"),
        ),
        (
            "collected <= invoiced",
            {"field": "collected", "op": "<=", "value": {"field": "invoiced"}},
            Compare("<=", ref("collected"), ref("invoiced")),
        ),
        (
            "industry not in ['energy']",
            {"field": "industry", "op": "not_in", "value": ["energy"]},
            In(ref("industry"), ("energy",), negated=True),
        ),
        (
            "has(decision_maker) and has(industry)",
            {"required": ["decision_maker", "industry"]},
            And((Has(ref("decision_maker")), Has(ref("industry")))),
        ),
        ("has(referral)", {"required": "referral"}, Has(ref("referral"))),
        ("true", True, TRUE),
        ("false", False, FALSE),
        ("amount >= 50000", {"all": ["amount >= 50000"]}, AMOUNT_GE),
        ("true", {"all": []}, TRUE),
        ("false", {"any": []}, FALSE),
    ],
)
def test_both_forms_give_the_same_ir(text: str, structured: object, expected: Expr) -> None:
    """The string form and the structured form of one condition parse to the same IR."""
    assert parse(text) == expected
    assert parse(structured) == expected


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        (
            "budget_confirmed or amount >= 50000 and has(referral)",
            "budget_confirmed or (amount >= 50000 and has(referral))",
        ),
        ("not budget_confirmed and has(referral)", "(not budget_confirmed) and has(referral)"),
        ("not has(referral) or budget_confirmed", "(not has(referral)) or budget_confirmed"),
        ("not amount >= 50000", "not (amount >= 50000)"),
        (
            "has(referral) and (budget_confirmed and amount >= 50000)",
            "has(referral) and budget_confirmed and amount >= 50000",
        ),
        ("((budget_confirmed))", "budget_confirmed"),
        ("50000 <= amount", "amount >= 50000"),
        ("'energy' == industry", "industry == 'energy'"),
        ("2 < len(competitors)", "len(competitors) > 2"),
    ],
)
def test_precedence_and_normal_form(text: str, same_as: str) -> None:
    """`not` binds tighter than `and`, `and` tighter than `or`; a literal on the left flips."""
    assert parse(text) == parse(same_as)


def test_or_of_and_has_the_expected_shape() -> None:
    """`a or b and c` is Or(a, And(b, c)), with flat n-ary nodes."""
    expr = parse("budget_confirmed or amount >= 50000 and has(referral)")
    assert expr == Or((BUDGET, And((AMOUNT_GE, Has(ref("referral"))))))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("amount >= 1000000.50", Decimal("1000000.50")),
        ("amount == -3", Decimal(-3)),
        ("satisfaction > 7", 7.0),
        ("satisfaction > 7.25", 7.25),
        ("visits >= 3", 3),
        ("visits >= 3.0", 3),
        ("expected_close == '2026-02-28'", date(2026, 2, 28)),
        ("signed_at >= '2026-03-01T09:30:00+08:00'", datetime(2026, 3, 1, 1, 30, tzinfo=UTC)),
        ("signed_at >= '2026-03-01T09:30:00Z'", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("signed_at >= '2026-03-01 09:30'", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("signed_at >= '2026-03-01'", datetime(2026, 3, 1, tzinfo=UTC)),
        ("decision_maker == '王经理'", "王经理"),
        ("decision_maker == 'O\\'Brien'", "O'Brien"),
        ('decision_maker == "say \\"hi\\""', 'say "hi"'),
        ("decision_maker == 'C:\\\\temp'", "C:\\temp"),
        ("industry == '能源'", "能源"),
    ],
)
def test_literals_take_the_python_type_of_their_field(text: str, value: object) -> None:
    """Literals are converted once, at parse time, to the field's Python type."""
    expr = parse(text)
    assert isinstance(expr, Compare)
    assert isinstance(expr.right, Literal)
    assert expr.right.value == value
    assert type(expr.right.value) is type(value)


@pytest.mark.parametrize(
    ("raw", "value"),
    [(0.1, Decimal("0.1")), (50000, Decimal(50000)), (1000000.5, Decimal("1000000.5"))],
)
def test_yaml_floats_become_exact_decimals(raw: object, value: Decimal) -> None:
    """A float from YAML goes through str(): 0.1 stays 0.1 for a decimal field."""
    expr = parse({"field": "amount", "op": "==", "value": raw})
    assert expr == Compare("==", ref("amount"), Literal(value))
    assert str(expr.right.value) == str(value)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Shanghai", datetime(2026, 3, 1, 1, 30, tzinfo=UTC)),
        ("UTC", datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 3, 1, 14, 30, tzinfo=UTC)),
    ],
)
def test_naive_datetimes_are_read_in_the_playbook_timezone(zone: str, expected: datetime) -> None:
    """A datetime literal without an offset is local to the playbook, then normalised to UTC."""
    expr = parse_condition("signed_at >= '2026-03-01T09:30'", FIELDS, tz=ZoneInfo(zone))
    assert expr == Compare(">=", ref("signed_at"), Literal(expected))


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("amount >= 50000 and budget_confirmed", {"amount", "budget_confirmed"}),
        ("collected <= invoiced or not has(referral)", {"collected", "invoiced", "referral"}),
        ("len(competitors) > visits", {"competitors", "visits"}),
        ("true", set()),
    ],
)
def test_referenced_fields(text: str, fields: set[str]) -> None:
    """referenced_fields lists every field a condition reads, and nothing else."""
    assert referenced_fields(parse(text)) == fields


@pytest.mark.parametrize(
    "text",
    [
        "amount>=50000 and budget_confirmed",
        "  amount   >=\t50000   and budget_confirmed  ",
        "amount >= 50000 and budget_confirmed",
    ],
)
def test_whitespace_does_not_matter(text: str) -> None:
    """Spaces and tabs between tokens are optional."""
    assert parse(text) == And((AMOUNT_GE, BUDGET))
