"""Reading deals for decisions (runtime/reading.py): only what a gate reads, once per view.

The expected answers are worked out here in plain Python over the raw deal
(the four criteria of the ``lead -> qualified`` gate below), never by the engine.
"""

from __future__ import annotations

import copy
import pickle
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from playbook.definition.files import playbook_from_text
from playbook.errors import DealError, DealFieldError
from playbook.model import Playbook
from playbook.runtime.deals import as_deal
from playbook.runtime.engine import Engine
from playbook.runtime.reading import DealReader, DealView, field_reader

NOW = datetime(2026, 3, 4, 2, tzinfo=UTC)

PLAYBOOK = """\
playbook: reading-test
version: 1
title: {en: Reading, zh: 读取}
language: en
timezone: UTC
roles:
  rep: {title: {en: Sales rep, zh: 销售代表}}
fields:
  amount: {type: decimal, min: 0}
  budget_confirmed: {type: boolean}
  industry: {type: enum, values: [energy, chemicals, manufacturing]}
  decision_maker: {type: string}
  visits: {type: integer, min: 0}
stages:
  - id: lead
    title: {en: Lead, zh: 线索}
  - id: qualified
    title: {en: Qualified, zh: 已确认}
    entry:
      - {id: big_enough, condition: "amount >= 50000"}
      - {id: budget, condition: budget_confirmed}
      - {id: industry, condition: "industry in ['energy', 'chemicals']"}
      - {id: decider, condition: "has(decision_maker)"}
  - id: won
    title: {en: Won, zh: 赢单}
    outcome: won
"""

RULES = ["big_enough", "budget", "industry", "decider"]


@pytest.fixture(scope="module")
def model() -> Playbook:
    """The test playbook: ``visits`` is declared but read by no rule of lead -> qualified."""
    return playbook_from_text(textwrap.dedent(PLAYBOOK), "reading-test.yaml")


def expected_failing(fields: dict[str, Any]) -> list[str]:
    """The failing criteria of lead -> qualified, by hand over the raw JSON values."""
    amount = fields.get("amount")
    failed = []
    if amount is None or Decimal(str(amount)) < 50000:
        failed.append("big_enough")
    if fields.get("budget_confirmed") is not True:
        failed.append("budget")
    if fields.get("industry") not in ("energy", "chemicals"):
        failed.append("industry")
    if fields.get("decision_maker") in (None, ""):
        failed.append("decider")
    return [f"stages[qualified].entry.{rule}" for rule in failed]


def _deal(**fields: Any) -> dict[str, Any]:
    return {"id": "D-1", "stage": "lead", "fields": fields}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"amount": "70000", "budget_confirmed": True, "industry": "energy", "decision_maker": "W"},
        {"amount": "10", "budget_confirmed": False, "industry": "manufacturing"},
        {"amount": "50000", "decision_maker": "", "industry": None},
        {"budget_confirmed": True, "decision_maker": "李伟"},
    ],
)
def test_check_answers_what_the_hand_written_gate_answers(
    model: Playbook, fields: dict[str, Any]
) -> None:
    """The fast path (views, per-mask plans, shared reasons) gives the criteria found by hand."""
    engine = Engine(model)
    for deal in (_deal(**fields), as_deal(_deal(**fields), model)):
        decision = engine.check(deal, "qualified", actor=None, now=NOW)
        assert [reason.rule for reason in decision.reasons] == expected_failing(fields)
        assert decision.allowed == (not expected_failing(fields))


def test_a_decision_converts_only_the_fields_its_gate_reads(model: Playbook) -> None:
    """A wrong value in a field no rule of the move reads does not stop the decision;
    the full conversion (``as_deal``) and a gate that reads it still refuse it."""
    fields = {"amount": "90000", "budget_confirmed": True, "industry": "energy", "visits": "many"}
    deal = _deal(**fields, decision_maker="Wang")
    decision = Engine(model).check(deal, "qualified", actor=None, now=NOW)
    assert decision.allowed
    with pytest.raises(DealFieldError, match="visits"):
        as_deal(deal, model)
    with pytest.raises(DealFieldError, match="amount"):
        Engine(model).check(_deal(amount="lots"), "qualified", actor=None, now=NOW)


def test_a_view_converts_each_read_once(model: Playbook) -> None:
    """The values a gate reads are converted on first read and kept by the view."""
    view = DealReader(model).read(_deal(amount="12.50", visits=3))
    assert isinstance(view, DealView)
    read = field_reader(model, ["amount"])
    first = view.values(read)
    assert first == {"amount": Decimal("12.50")}
    assert view.values(read) is first
    assert view.fields == {"amount": Decimal("12.50"), "visits": 3}
    assert view.values(field_reader(model, ["visits"])) is view.fields


def test_field_reader_reads_only_the_names_asked(model: Playbook) -> None:
    """Only ``names`` are read; None and missing keys are left out; unknown names skipped."""
    read = field_reader(model, ["amount", "budget_confirmed", "not_a_field"])
    raw = {"amount": 5, "budget_confirmed": None, "visits": "not read", "industry": "x"}
    assert read(raw) == {"amount": Decimal(5)}
    with pytest.raises(DealFieldError, match="amount"):
        read({"amount": "-1"})


@dataclass(slots=True)
class _Mine:
    id: str
    stage: str
    amount: Decimal | None
    budget_confirmed: bool | None
    industry: str | None
    decision_maker: str | None


@dataclass
class _Typo:
    id: str
    stage: str
    amout: Decimal


def test_a_dataclass_is_read_like_its_json_form(model: Playbook) -> None:
    """The developer's dataclass (laid out once per class) decides like the JSON form."""
    engine = Engine(model)
    cases = [
        ("D-1", Decimal(60000), True, "energy", "Wang"),
        ("D-2", Decimal(10), None, "manufacturing", ""),
        ("D-3", None, False, None, None),
    ]
    for deal_id, amount, budget, industry, decider in cases:
        mine = _Mine(deal_id, "lead", amount, budget, industry, decider)
        raw = {"amount": amount, "budget_confirmed": budget, "industry": industry}
        raw["decision_maker"] = decider
        decision = engine.check(mine, "qualified", actor=None, now=NOW)
        assert [r.rule for r in decision.reasons] == expected_failing(raw)
        assert decision.deal_id == deal_id
    for _ in range(2):  # a refused class is refused every time, never remembered as good
        with pytest.raises(DealFieldError, match="amout"):
            engine.check(_Typo("D-9", "lead", Decimal(1)), "qualified", actor=None, now=NOW)


def test_a_dataclass_with_a_bad_stage_or_id_is_refused(model: Playbook) -> None:
    """The id and the stage of an attribute deal are checked like those of the JSON form."""
    engine = Engine(model)
    with pytest.raises(DealError):
        engine.check(_Mine("", "lead", None, None, None, None), "won", actor=None, now=NOW)
    with pytest.raises(DealError):
        engine.check(_Mine("D-1", 3, None, None, None, None), "won", actor=None, now=NOW)  # type: ignore[arg-type]


def test_shared_reasons_are_read_only_and_equal_fresh_ones(model: Playbook) -> None:
    """Decisions share a reason for a value of a small domain; it is read-only, equal to the
    one next_steps builds on its own, pickles and deep-copies."""
    engine = Engine(model)
    deals = [_deal(amount="90000", industry="energy", decision_maker=name) for name in "AB"]
    first, second = (
        engine.check(deal, "qualified", actor=None, now=NOW).reasons[0] for deal in deals
    )
    assert first.rule == "stages[qualified].entry.budget"
    assert first is second
    assert dict(first.values) == {"budget_confirmed": None}
    with pytest.raises(TypeError):
        first.values["budget_confirmed"] = True  # type: ignore[index]
    (missing,) = engine.next_steps(deals[0], now=NOW).missing_for_next
    assert missing.failing == (first,)
    assert pickle.loads(pickle.dumps(first)) == first
    assert copy.deepcopy(first) == first
    assert first.text("zh") != first.text("en")


def test_generated_readers_hold_no_name_from_the_playbook_or_the_class(
    model: Playbook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source of the generated readers names no field, attribute or value: all bound."""
    from playbook.conditions import codegen

    sources: list[str] = []
    compiled = codegen._code.__wrapped__

    def spy(source: str, function: str) -> Any:
        sources.append(source)
        return compiled(source, function)

    monkeypatch.setattr(codegen, "_code", spy)
    read = field_reader(model, ["amount", "budget_confirmed", "decision_maker"])
    assert read({"amount": "7", "decision_maker": "Wang"}) == {
        "amount": Decimal(7),
        "decision_maker": "Wang",
    }
    view = DealReader(model).read(_Mine("D-5", "lead", Decimal(3), True, None, "Li"))
    assert isinstance(view, DealView)
    assert view.fields == {
        "amount": Decimal(3),
        "budget_confirmed": True,
        "industry": None,
        "decision_maker": "Li",
    }
    assert len(sources) == 2
    words = [*model.fields, "fields", "stage", "Wang", "'", '"']
    assert not [word for word in words for source in sources if word in source]
