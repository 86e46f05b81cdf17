"""is_satisfiable: False only for conditions that provably never hold."""

from __future__ import annotations

import pytest

from playbook.conditions import FieldType, is_satisfiable, parse_condition

FIELDS = {
    "amount": FieldType("decimal"),
    "satisfaction": FieldType("number"),
    "visits": FieldType("integer"),
    "budget_confirmed": FieldType("boolean"),
    "industry": FieldType("enum", ("manufacturing", "energy", "chemicals")),
    "expected_close": FieldType("date"),
    "signed_at": FieldType("datetime"),
    "competitors": FieldType("list", ("siemens", "abb", "schneider")),
    "decision_maker": FieldType("string"),
    "collected": FieldType("decimal"),
}


@pytest.mark.parametrize(
    ("text", "satisfiable"),
    [
        # numbers: intervals
        ("amount > 10 and amount < 5", False),
        ("amount >= 5 and amount <= 5", True),
        ("amount > 5 and amount <= 5", False),
        ("amount >= 5 and amount <= 5 and amount != 5", False),
        ("amount > 5 and amount < 5.01", True),
        ("satisfaction > 1 and satisfaction < 2", True),
        ("visits > 1 and visits < 2", False),
        ("visits >= 1 and visits <= 2 and visits != 1 and visits != 2", False),
        ("visits >= 1 and visits <= 3 and visits != 1 and visits != 2", True),
        ("amount == 1 and amount == 2", False),
        ("amount == 1 and amount in [1, 2]", True),
        ("amount in [1, 2] and amount > 2", False),
        ("amount in [1, 2] and amount not in [1, 2]", False),
        ("amount > 10 and amount < 5 or has(decision_maker)", True),
        ("(amount > 10 or amount < 0) and amount > 3 and amount < 4", False),
        # sets: enums and booleans
        ("industry in []", False),
        ("industry not in []", True),
        ("industry == 'energy' and industry != 'energy'", False),
        ("industry != 'energy' and industry != 'chemicals'", True),
        (
            "industry != 'energy' and industry != 'chemicals' and industry != 'manufacturing'",
            False,
        ),
        ("budget_confirmed and not budget_confirmed", False),
        ("budget_confirmed == true and budget_confirmed == false", False),
        ("budget_confirmed != true and budget_confirmed != false", False),
        ("not budget_confirmed and not (budget_confirmed == false)", True),
        # dates and datetimes
        ("expected_close > '2026-12-31' and expected_close < '2027-01-01'", False),
        ("expected_close > '2026-12-30' and expected_close < '2027-01-01'", True),
        ("signed_at > '2026-01-01T00:00:00Z' and signed_at < '2026-01-01T00:00:01Z'", True),
        ("signed_at > '2026-01-02' and signed_at < '2026-01-01'", False),
        # null: a negated atom constrains only a field that must be present
        ("not (amount > 5) and not (amount <= 5)", True),
        ("not (amount > 5) and amount > 6", False),
        ("not has(amount) and amount > 2", False),
        ("not has(amount) and not (amount > 2)", True),
        ("not (industry in ['energy']) and industry == 'energy'", False),
        # lists and text
        ("competitors contains 'abb' and not (competitors contains 'abb')", False),
        ("competitors contains 'abb' and len(competitors) == 0", False),
        (
            "competitors contains 'abb' and competitors contains 'siemens'"
            " and len(competitors) < 2",
            False,
        ),
        ("competitors contains 'abb' and len(competitors) == 1", True),
        ("has(competitors) and len(competitors) == 0", False),
        ("len(competitors) < 0", False),
        ("decision_maker == '' and has(decision_maker)", False),
        ("decision_maker == 'Li' and len(decision_maker) > 2", False),
        ("decision_maker in ['Li', 'Wang'] and len(decision_maker) > 2", True),
        ("not has(decision_maker) and decision_maker == ''", True),
        ("has(decision_maker) and not has(decision_maker)", False),
        ("has(amount) and not has(amount)", False),
        # beyond the reasoning: field against field is assumed possible, except x against x
        ("collected < amount and amount < collected", True),
        ("amount < amount", False),
        ("amount <= amount", True),
        # constants
        ("false", False),
        ("true", True),
        ("not false", True),
        ("not true or false", False),
    ],
)
def test_is_satisfiable(text: str, satisfiable: bool) -> None:
    """Contradictions of intervals, sets, presence and lengths are found; the rest is possible."""
    assert is_satisfiable(parse_condition(text, FIELDS), FIELDS) is satisfiable


def test_a_huge_normal_form_is_assumed_satisfiable() -> None:
    """Past the size cap the answer is the safe True, even for a contradiction."""
    choice = " and ".join(f"(visits == {i} or visits == {i + 100})" for i in range(12))
    expr = parse_condition(f"({choice}) and amount > 10 and amount < 5", FIELDS)
    assert is_satisfiable(expr, FIELDS) is True


def test_a_small_disjunction_is_examined_in_full() -> None:
    """Below the cap every conjunction is examined."""
    expr = parse_condition("(visits == 1 or visits == 2) and amount > 10 and amount < 5", FIELDS)
    assert is_satisfiable(expr, FIELDS) is False
