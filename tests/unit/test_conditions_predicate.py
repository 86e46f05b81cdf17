"""The Python predicate: values, null semantics, and atom-by-atom explanations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from playbook.conditions import FieldType, evaluate_atoms, parse_condition, to_python

FIELDS = {
    "amount": FieldType("decimal"),
    "invoiced": FieldType("decimal"),
    "collected": FieldType("decimal"),
    "satisfaction": FieldType("number"),
    "visits": FieldType("integer"),
    "budget_confirmed": FieldType("boolean"),
    "industry": FieldType("enum", ("manufacturing", "energy", "chemicals")),
    "expected_close": FieldType("date"),
    "signed_at": FieldType("datetime"),
    "competitors": FieldType("list", ("siemens", "abb", "schneider")),
    "decision_maker": FieldType("string"),
}

GOOD: dict[str, Any] = {
    "amount": Decimal("60000.50"),
    "budget_confirmed": True,
    "industry": "energy",
    "decision_maker": "王经理",
    "competitors": ["abb", "siemens"],
    "expected_close": date(2026, 6, 30),
    "signed_at": datetime(2026, 3, 1, 8, tzinfo=UTC),
    "visits": 3,
    "satisfaction": 8.5,
    "invoiced": Decimal(1000),
    "collected": Decimal(400),
}


def holds(text: str, deal: dict[str, Any]) -> bool:
    """Whether ``text`` holds for ``deal``."""
    return to_python(parse_condition(text, FIELDS))(deal)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount >= 50000 and budget_confirmed", True),
        ("amount >= 60000.50", True),
        ("amount > 60000.50", False),
        ("industry in ['energy', 'chemicals'] and has(decision_maker)", True),
        ("industry not in ['energy']", False),
        ("expected_close <= '2026-12-31'", True),
        ("expected_close < '2026-06-30'", False),
        ("signed_at == '2026-03-01T16:00:00+08:00'", True),
        ("len(competitors) >= 2 and competitors contains 'abb'", True),
        ("competitors contains 'schneider'", False),
        ("collected <= invoiced", True),
        ("collected > invoiced", False),
        ("len(decision_maker) == 3", True),
        ("decision_maker == '王经理'", True),
        ("decision_maker > 'Z'", True),
        ("visits >= 3 and satisfaction > 8", True),
        ("len(competitors) < visits", True),
        ("budget_confirmed == false", False),
        ("budget_confirmed != false", True),
        ("not budget_confirmed", False),
        ("true", True),
        ("false", False),
        ("visits == 1 or visits == 2 or visits == 3 or visits == 4 or visits == 5", True),
        ("visits != 1 and visits != 2 and visits != 4 and visits != 5 and has(amount)", True),
        ("visits == 1 or visits == 2 or visits == 4 or visits == 5 or visits == 6", False),
    ],
)
def test_predicate_on_a_complete_deal(text: str, expected: bool) -> None:
    """The compiled predicate computes the condition on typed values."""
    assert holds(text, GOOD) is expected


@pytest.mark.parametrize(
    ("text", "on_missing"),
    [
        # Every atom with a null operand is false...
        ("amount >= 0", False),
        ("amount < 0", False),
        ("amount == 0", False),
        ("amount != 0", False),
        ("industry in ['energy']", False),
        ("industry not in ['energy']", False),
        ("competitors contains 'abb'", False),
        ("len(competitors) == 0", False),
        ("len(competitors) != 0", False),
        ("collected <= invoiced", False),
        ("collected > invoiced", False),
        ("budget_confirmed", False),
        ("budget_confirmed == false", False),
        ("budget_confirmed != true", False),
        ("has(amount)", False),
        # ...and `not` negates the result, so the negation of an atom holds.
        ("not (amount >= 0)", True),
        ("not (industry in ['energy'])", True),
        ("not (industry not in ['energy'])", True),
        ("not budget_confirmed", True),
        ("not has(decision_maker)", True),
        ("not (collected <= invoiced)", True),
    ],
)
@pytest.mark.parametrize("missing", ["absent", "none"])
def test_null_semantics(text: str, on_missing: bool, missing: str) -> None:
    """A missing key and None are the same null: atoms are false, their negations true."""
    deal: dict[str, Any] = {} if missing == "absent" else dict.fromkeys(FIELDS)
    assert holds(text, deal) is on_missing


@pytest.mark.parametrize(
    ("field", "value", "has"),
    [
        ("decision_maker", "", False),
        ("decision_maker", " ", True),
        ("decision_maker", "Li", True),
        ("competitors", [], False),
        ("competitors", ["abb"], True),
        ("amount", Decimal(0), True),
        ("visits", 0, True),
        ("budget_confirmed", False, True),
        ("amount", None, False),
    ],
)
def test_has_is_false_only_for_null_empty_text_and_empty_list(
    field: str, value: object, has: bool
) -> None:
    """has() means filled in: zero and false are values, "" and [] are not."""
    assert holds(f"has({field})", {field: value}) is has


def test_one_side_missing_in_field_comparisons() -> None:
    """Field against field is false when either side is null."""
    assert holds("collected <= invoiced", {"collected": Decimal(1)}) is False
    assert holds("collected <= invoiced", {"invoiced": Decimal(1)}) is False
    assert holds("collected <= invoiced", {"collected": Decimal(1), "invoiced": Decimal(1)})


@pytest.mark.parametrize(
    ("decimal", "number", "equal"),
    [(Decimal("0.07"), 0.07, True), (Decimal("1.10"), 1.1, True), (Decimal("1.1"), 1.2, False)],
)
def test_decimal_and_float_fields_compare_as_floats(
    decimal: Decimal, number: float, equal: bool
) -> None:
    """A decimal field against a float field compares as floats, as SQL databases do."""
    assert holds("amount == satisfaction", {"amount": decimal, "satisfaction": number}) is equal


def test_the_predicate_reads_any_mapping() -> None:
    """Deals may be any Mapping, not only dicts."""
    from types import MappingProxyType

    assert holds("amount >= 50000 and budget_confirmed", MappingProxyType(GOOD)) is True  # type: ignore[arg-type]


def test_evaluate_atoms_explains_each_comparison() -> None:
    """Every atom is reported with its text, the values it read and its own result."""
    expr = parse_condition(
        "amount >= 50000 and (budget_confirmed or not has(decision_maker))"
        " and collected <= invoiced",
        FIELDS,
    )
    deal = {"amount": Decimal(70000), "budget_confirmed": False, "collected": Decimal(5)}
    found = [(a.text, dict(a.values), a.result) for a in evaluate_atoms(expr, deal)]
    assert found == [
        ("amount >= 50000", {"amount": Decimal(70000)}, True),
        ("budget_confirmed", {"budget_confirmed": False}, False),
        ("has(decision_maker)", {"decision_maker": None}, False),
        ("collected <= invoiced", {"collected": Decimal(5), "invoiced": None}, False),
    ]


def test_evaluate_atoms_of_a_constant_is_empty() -> None:
    """A condition without atoms has nothing to explain."""
    assert evaluate_atoms(parse_condition("true", FIELDS), {}) == []


def test_a_value_past_the_float_range_compares_like_an_infinity() -> None:
    """An integer beyond any float against a number field: no OverflowError (found by make fuzz)."""
    huge = 10**400
    assert holds("visits > satisfaction", {"visits": huge, "satisfaction": 1.0}) is True
    assert holds("visits < satisfaction", {"visits": -huge, "satisfaction": 1.0}) is True
