"""Decision tables: hit policies, derived fields read by the engine, copies, runtime errors.

Expected outputs come from plain Python written out here from the example's
rows (tests/examples/valid/decision-tables.yaml), not from the evaluator.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playbook.conditions import to_python
from playbook.conditions.codegen import compile_first, compile_matching
from playbook.definition.validate import load, load_text
from playbook.errors import TableOverlapError, UnknownTableError
from playbook.model import Playbook
from playbook.runtime.engine import Engine
from playbook.runtime.tables import decide, decide_all, stored_fields, table, with_derived

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_conditions_strategies import conditions, deals

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "valid" / "decision-tables.yaml"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def graded() -> Playbook:
    """The decision-table example of the docs."""
    return load(EXAMPLE)


def _grade(score: int | None, industry: str | None) -> tuple[str, int]:
    """lead_grading written out by hand: (grade, 0-based row)."""
    if score is not None and score >= 80:
        return "sql", 0
    if score is not None and 60 <= score < 80 and industry in ("energy", "chemicals"):
        return "sql", 1
    if score is not None and 40 <= score < 80:
        return "mql", 2
    return "cold", 3


def _tier(amount: Decimal | None, grade: str) -> str:
    if amount is None:
        return "potential"
    if amount >= 1_000_000:
        return "key"
    return "normal" if grade == "sql" else "potential"


def _forecast(probability: float | None, budget: bool | None, met: bool | None) -> str:
    if probability is not None and probability >= 0.8 and budget is True and met is True:
        return "commit"
    if probability is not None and probability >= 0.5:
        return "best_case"
    return "pipeline"


def _fit(industry: str | None, budget: bool | None, met: bool | None) -> int:
    return (
        (40 if industry in ("energy", "chemicals") else 0)
        + (30 if budget is True else 0)
        + (30 if met is True else 0)
    )


DEALS: list[dict[str, Any]] = [
    {},
    {"lead_score": 85},
    {"lead_score": 80, "industry": "retail"},
    {"lead_score": 79, "industry": "energy", "amount": Decimal("1000000")},
    {"lead_score": 79, "industry": "retail", "amount": Decimal("999999.99")},
    {"lead_score": 60, "industry": "chemicals", "amount": Decimal("5")},
    {"lead_score": 59, "industry": "chemicals", "budget_confirmed": True},
    {"lead_score": 40, "probability": 0.8, "budget_confirmed": True, "decision_maker_met": True},
    {"lead_score": 39, "probability": 0.8, "budget_confirmed": True},
    {"lead_score": -5, "probability": 0.5, "decision_maker_met": False},
    {"lead_score": None, "industry": None, "probability": 0.49},
]


@pytest.mark.parametrize("deal", DEALS)
def test_every_table_decides_as_its_rows_say(graded: Playbook, deal: dict[str, Any]) -> None:
    """Each hit policy (first, unique, priority, collect sum) gives the hand-written answer."""
    grade, row = _grade(deal.get("lead_score"), deal.get("industry"))
    budget, met = deal.get("budget_confirmed"), deal.get("decision_maker_met")
    decisions = {d.table: d for d in decide_all(graded, deal)}
    assert decisions["lead_grading"].outputs == {"lead_grade": grade}
    assert decisions["lead_grading"].rows == (row + 1,)
    assert decisions["customer_tiers"].outputs == {
        "customer_tier": _tier(deal.get("amount"), grade)
    }
    assert len(decisions["customer_tiers"].matched) == 1
    assert decisions["forecast"].outputs == {
        "forecast_category": _forecast(deal.get("probability"), budget, met)
    }
    assert decisions["fit_score"].outputs == {"fit": _fit(deal.get("industry"), budget, met)}
    view = with_derived(graded, deal)
    assert view.get("lead_grade") == grade
    assert dict(view) == deal  # derived values are read, never stored


def test_collect_names_every_matching_row(graded: Playbook) -> None:
    """A collect table's decision lists every row that matched, in table order."""
    deal = {"industry": "energy", "budget_confirmed": True, "decision_maker_met": True}
    decision = decide(table(graded, "fit_score"), deal)
    assert decision.rows == (1, 2, 3)
    assert decision.to_dict() == {"table": "fit_score", "rows": [1, 2, 3], "outputs": {"fit": 100}}


COLLECT = """
playbook: collect
version: 1
title: Collect
fields:
  visits: {type: integer}
  region: {type: enum, values: [east, west]}
tables:
  - id: biggest
    hit: collect
    aggregate: {aggregate}
    inputs: [visits, region]
    outputs:
      score: {type: integer}
    rows:
{rows}
stages:
  - {id: lead, title: Lead, entry: ["score >= 0"]}
  - {id: won, title: Won, outcome: won}
"""


@pytest.mark.parametrize(
    ("aggregate", "rows", "deal", "expected"),
    [
        ("max", ['[">= 1", "-", 5]', '[">= 2", east, 9]', '["-", west, 7]'], {"visits": 3}, 5),
        ("max", ['[">= 1", "-", 5]', '[">= 2", east, 9]'], {"visits": 3, "region": "east"}, 9),
        ("max", ['[">= 1", "-", 5]'], {}, None),
        ("count", ['[">= 1", "-"]', '["-", east]', '["-", "-"]'], {"visits": 1}, 2),
        ("count", ['[">= 1", "-"]', '["-", east]'], {"region": "west"}, 0),
        ("sum", ['[">= 1", "-", 5]', '["-", east, -2]'], {"visits": 1, "region": "east"}, 3),
        ("sum", ['[">= 1", "-", 5]'], {}, 0),
    ],
)
def test_collect_aggregates(
    aggregate: str, rows: list[str], deal: dict[str, Any], expected: int | None
) -> None:
    """collect with max, count and sum: none matched is null for max, 0 for count and sum."""
    text = COLLECT.replace("{aggregate}", aggregate).replace(
        "{rows}", "\n".join(f"      - {row}" for row in rows)
    )
    model = load_text(text)
    assert decide(model.tables[0], deal).outputs == {"score": expected}


def test_the_engine_reads_derived_fields_in_entry_criteria(graded: Playbook) -> None:
    """A gate on lead_grade blocks a cold lead, says which value failed, and lets an SQL lead in."""
    engine = Engine(graded)
    cold = {"id": "D-1", "stage": "lead", "fields": {"lead_score": 30}}
    blocked = engine.check(cold, "qualified", actor=None, now=NOW)
    assert not blocked.allowed
    assert [dict(reason.values) for reason in blocked.reasons] == [{"lead_grade": "cold"}]
    hot = {"id": "D-2", "stage": "lead", "fields": {"lead_score": 90}}
    assert engine.check(hot, "qualified", actor=None, now=NOW).allowed


def test_a_unique_table_refuses_two_matching_rows_at_run_time(graded: Playbook) -> None:
    """Two matching rows of a unique table are PB570, naming the rows (never a silent pick)."""
    grading = table(graded, "lead_grading")
    exprs = [row.condition.expr for row in grading.rows]
    loose = dataclasses.replace(grading, hit="unique", match=compile_matching(exprs))
    with pytest.raises(TableOverlapError) as caught:
        decide(loose, {"lead_score": 70, "industry": "energy"})
    assert caught.value.code == "PB570"
    assert "rows 2, 3, 4 of unique decision table 'lead_grading'" in caught.value.message
    assert "第 2, 3, 4 行" in caught.value.message_in("zh")


def test_an_unknown_table_is_pb571(graded: Playbook) -> None:
    """Asking for a table the playbook lacks names the known ones."""
    with pytest.raises(UnknownTableError) as caught:
        table(graded, "grading")
    assert caught.value.code == "PB571"
    assert "lead_grading" in str(caught.value.hint_msg)


def test_tables_survive_pickle_and_deep_copy(graded: Playbook) -> None:
    """A copied playbook compiles its own evaluators and decides the same."""
    for copied in (pickle.loads(pickle.dumps(graded)), copy.deepcopy(graded)):
        for deal in DEALS:
            assert decide_all(copied, deal) == decide_all(graded, deal)


def test_stored_fields_replace_derived_ones_by_their_inputs(graded: Playbook) -> None:
    """A condition on customer_tier needs amount, lead_score and industry from the store."""
    assert stored_fields(graded, {"customer_tier", "probability"}) == {
        "amount",
        "lead_score",
        "industry",
        "probability",
    }


@settings(max_examples=400, deadline=None)
@given(
    rows=st.lists(conditions(max_leaves=6), min_size=1, max_size=4),
    deal=deals(),
)
def test_compiled_rows_agree_with_each_condition_alone(
    rows: list[Any], deal: dict[str, Any]
) -> None:
    """The table compilers (fields read once, null checks an earlier test proved skipped)
    answer as each row's own predicate does: first match, and the mask of all matches."""
    alone = [to_python(expr)(deal) for expr in rows]
    first = next((position for position, holds in enumerate(alone) if holds), -1)
    assert compile_first(rows)(deal) == first
    assert compile_matching(rows)(deal) == sum(1 << k for k, holds in enumerate(alone) if holds)


GAPPY = """
playbook: gappy
version: 1
title: Gappy
fields:
  lead_score: {type: integer}
  industry: {type: enum, values: [energy, retail]}
tables:
  - id: grading
    hit: first
    inputs: [lead_score, industry]
    outputs:
      lead_grade: {type: enum, values: [sql, mql]}
    rows:
      - [">= 80", "-", sql]
      - ["-", energy, mql]
stages:
  - {id: lead, title: Lead}
  - {id: qualified, title: Qualified, entry: ["has(lead_grade)"]}
  - {id: won, title: Won, outcome: won}
"""


@pytest.mark.parametrize(
    ("fields", "missing"),
    [({}, ["lead_score", "industry"]), ({"lead_score": 10}, ["industry"])],
)
def test_next_steps_ask_for_the_inputs_of_an_empty_derived_field(
    fields: dict[str, Any], missing: list[str]
) -> None:
    """Nobody can fill lead_grade: the next steps name the empty fields it is graded from."""
    engine = Engine(load_text(GAPPY))
    steps = engine.next_steps({"id": "D-1", "stage": "lead", "fields": fields}, now=NOW)
    (qualified,) = [m for m in steps.missing_for_next if m.stage == "qualified"]
    assert list(qualified.fields) == missing
