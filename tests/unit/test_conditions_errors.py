"""Condition errors: every code, with the right place and a hint that helps."""

from __future__ import annotations

import pytest

from playbook.conditions import FieldType, parse_condition
from playbook.errors import ConditionError

FIELDS = {
    "amount": FieldType("decimal"),
    "visits": FieldType("integer"),
    "budget_confirmed": FieldType("boolean"),
    "industry": FieldType("enum", ("manufacturing", "energy", "chemicals")),
    "expected_close": FieldType("date"),
    "signed_at": FieldType("datetime"),
    "competitors": FieldType("list", ("siemens", "abb", "schneider")),
    "decision_maker": FieldType("string"),
}


def error_of(source: object) -> ConditionError:
    """The ConditionError that parsing ``source`` against FIELDS raises."""
    with pytest.raises(ConditionError) as caught:
        parse_condition(source, FIELDS)
    return caught.value


@pytest.mark.parametrize(
    ("text", "code", "offset", "length"),
    [
        # PB401: syntax
        ("", "PB401", 0, 0),
        ("amount >=", "PB401", 9, 0),
        ("amount = 5", "PB401", 7, 1),
        ("amount >= 50000 budget_confirmed", "PB401", 16, 16),
        ("(amount > 5", "PB401", 11, 0),
        ("amount > 5)", "PB401", 10, 1),
        ("amount > 1_000", "PB401", 9, 5),
        ("amount > 1e3", "PB401", 9, 3),
        ("decision_maker == 'open", "PB401", 18, 5),
        ("decision_maker == 'a\\n'", "PB401", 20, 2),
        ("industry in [energy]", "PB401", 13, 6),
        ("industry in 'energy'", "PB401", 12, 8),
        ("amount > 5 AND visits > 2", "PB401", 11, 3),
        ("amount > 5 && visits > 2", "PB401", 11, 2),
        ("1 < visits < 3", "PB401", 11, 1),
        ("decision_maker == 王经理", "PB401", 18, 3),
        ("has（decision_maker)", "PB401", 3, 1),
        ("has(decision_maker) == true", "PB401", 20, 2),
        ("has('decision_maker')", "PB401", 4, 16),
        ("amount == has(x)", "PB401", 10, 3),
        ("competitors contains [abb]", "PB401", 21, 1),
        # PB402: unknown field
        ("amout >= 5", "PB402", 0, 5),
        ("budget_confirmed and has(decison_maker)", "PB402", 25, 13),
        ("len(competitor) > 1", "PB402", 4, 10),
        # PB403: type mismatch
        ("amount >= '50000'", "PB403", 10, 7),
        ("expected_close > 5", "PB403", 17, 1),
        ("amount", "PB403", 0, 6),
        ("len(amount) > 2", "PB403", 4, 6),
        ("amount <= expected_close", "PB403", 10, 14),
        ("budget_confirmed == 'yes'", "PB403", 20, 5),
        ("decision_maker == 5", "PB403", 18, 1),
        ("1 == 1", "PB403", 0, 6),
        ("5", "PB403", 0, 1),
        # PB404: unknown function
        ("exists(decision_maker)", "PB404", 0, 6),
        ("lenght(competitors) > 1", "PB404", 0, 6),
        # PB405: operator for the wrong type
        ("industry < 'energy'", "PB405", 9, 1),
        ("budget_confirmed > false", "PB405", 17, 1),
        ("competitors == 'abb'", "PB405", 12, 2),
        ("competitors in ['abb']", "PB405", 12, 2),
        ("decision_maker contains 'Li'", "PB405", 15, 8),
        ("budget_confirmed in [true]", "PB405", 17, 2),
        ("industry not in ['energy'] and len(decision_maker) contains 'x'", "PB405", 51, 8),
        # PB406: bad literal
        ("industry == 'energ'", "PB406", 12, 7),
        ("expected_close <= '2026-02-30'", "PB406", 18, 12),
        ("expected_close <= '31/12/2026'", "PB406", 18, 12),
        ("signed_at > 'tomorrow'", "PB406", 12, 10),
        ("visits > 2.5", "PB406", 9, 3),
        ("decision_maker == null", "PB406", 18, 4),
        ("competitors contains 'ab'", "PB406", 21, 4),
        ("industry in ['energy', 'oil']", "PB406", 23, 5),
    ],
)
def test_string_errors_point_at_the_problem(text: str, code: str, offset: int, length: int) -> None:
    """Each problem in a string has its code and the character offset and length of the culprit."""
    error = error_of(text)
    assert (error.code, error.details["offset"], error.details["length"]) == (code, offset, length)
    assert "subpath" not in error.details
    assert error.message


@pytest.mark.parametrize(
    ("source", "code", "subpath"),
    [
        ({"al": []}, "PB401", ("al",)),
        ({"all": "amount > 5"}, "PB401", ("all",)),
        (
            {"all": ["amount > 5", {"field": "amount", "op": "=>", "value": 5}]},
            "PB401",
            ("all", 1, "op"),
        ),
        ({"any": [{"field": "amount", "op": ">="}]}, "PB401", ("any", 0)),
        ({"field": "amount", "op": ">=", "value": 5, "unit": "CNY"}, "PB401", ("unit",)),
        ({"not": [{"required": ["amount"]}]}, "PB401", ("not",)),
        ({"all": [], "any": []}, "PB401", ()),
        (["amount > 5"], "PB401", ()),
        (5, "PB401", ()),
        ({"required": ["amount", "desicion_maker"]}, "PB402", ("required", 1)),
        ({"required": [5]}, "PB401", ("required", 0)),
        ({"all": [{"field": "amout", "op": ">=", "value": 5}]}, "PB402", ("all", 0, "field")),
        (
            {"field": "amount", "op": "<=", "value": {"field": "expected_close"}},
            "PB403",
            ("value", "field"),
        ),
        ({"field": "amount", "op": ">=", "value": "50000"}, "PB403", ("value",)),
        ({"field": "amount", "op": "in", "value": 5}, "PB403", ("value",)),
        ({"field": "industry", "op": "<", "value": "energy"}, "PB405", ("op",)),
        ({"field": "industry", "op": "in", "value": ["energy", "oil"]}, "PB406", ("value", 1)),
        ({"field": "amount", "op": "==", "value": None}, "PB406", ("value",)),
        ({"field": "amount", "op": ">=", "value": float("inf")}, "PB406", ("value",)),
        ({"len": "amount", "op": ">=", "value": 1}, "PB403", ("len",)),
    ],
)
def test_structured_errors_carry_the_subpath(
    source: object, code: str, subpath: tuple[object, ...]
) -> None:
    """Each problem in the structured form has its code and the path to the culprit."""
    error = error_of(source)
    assert (error.code, error.details.get("subpath", ())) == (code, subpath)
    assert "offset" not in error.details


def test_an_error_inside_an_embedded_string_has_subpath_and_offset() -> None:
    """A string condition inside the structured form reports both where it is and where in it."""
    error = error_of({"any": ["has(decision_maker)", "amount >= 5 and amout < 9"]})
    assert error.code == "PB402"
    assert error.details == {"subpath": ("any", 1), "offset": 16, "length": 5}


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("amout >= 5", "did you mean 'amount'?"),
        ("Amount >= 5", "did you mean 'amount'?"),
        ("industry == 'energ'", "did you mean 'energy'?"),
        ("industry == 'oil'", "the values are: manufacturing, energy, chemicals"),
        ("competitors contains 'ab'", "did you mean 'abb'?"),
        ("lenght(competitors) > 1", "did you mean 'len'?"),
        ("amount", "did you mean has(amount)?"),
        ("decision_maker == null", "write: not has(decision_maker)"),
        ("decision_maker != null", "write: has(decision_maker)"),
        ("amount = 5", "write == to compare"),
        ("amount > 5 AND visits > 2", "keywords are lowercase: write 'and'"),
        ("amount >= '50000'", "write the number without quotes: 50000"),
        ("budget_confirmed == 'true'", "write true without quotes"),
        ("decision_maker == 5", "quote it: '5'"),
        ("industry in [energy]", "quote text values: 'energy'"),
        ("decision_maker == 王经理", "write '王经理'"),
        ("has（decision_maker)", "write the ASCII character ( instead"),
        ("expected_close > '2026/01/01'", "write dates as 'YYYY-MM-DD'"),
        ("industry < 'energy'", "enum values have no order; use in [...]"),
        ({"field": "amount", "op": "=", "value": 5}, "write '=='"),
        ({"field": "amount", "op": "nin", "value": [5]}, "write 'not_in'"),
        ({"alll": []}, "did you mean 'all'?"),
    ],
)
def test_hints_say_what_to_write(source: object, hint: str) -> None:
    """Errors carry a hint: a did-you-mean, or the fix for a common slip."""
    error = error_of(source)
    assert error.hint is not None
    assert hint in error.hint


def test_error_is_a_playbook_error_with_a_readable_message() -> None:
    """ConditionError renders with its code, message and hint, and serialises its details."""
    error = error_of("amout >= 5")
    assert str(error) == "PB402 unknown field 'amout' (did you mean 'amount'?)"
    assert error.to_dict()["details"] == {"offset": 0, "length": 5}
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("source", [None, 3.5, ["a"], {"not": None}])
def test_non_conditions_are_refused_not_crashed_on(source: object) -> None:
    """Anything that is not a condition raises ConditionError, never another exception."""
    assert error_of(source).code == "PB401"
