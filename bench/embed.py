"""Embedding the engine: what a decision costs against the same rule written by hand.

A small playbook whose ``lead -> qualified`` gate has four entry criteria
(``amount >= 50000``, ``budget_confirmed``, ``industry in [...]``,
``has(decision_maker)``) decides 100,000 generated deals. Every figure is a
best-of-runs throughput and is printed with its ratio to a baseline measured
in the same run (the machine is shared: ratios are what compare across runs):

- ``engine.check`` on the JSON form (a dict with the amount as text), against
  a hand-written function over the same dicts that converts the amount and
  returns the same failing criteria (target ratio >= 0.25);
- ``engine.check`` on prepared states (``as_deal`` done beforehand) and on the
  developer's own dataclass read through the deal protocol, against the
  hand-written function over typed values (targets >= 0.4);
- the compiled predicate of the four criteria on a plain dict of typed values,
  against a hand-written lambda (target >= 0.8);
- memory (tracemalloc): bytes allocated per ``Decision`` for an allowed move,
  and the memory of 100,000 kept decisions for blocked deals (target < 10 MiB).

Every engine answer is checked against the hand-written one first, so that the
figures are for the same work. ``main()`` returns 0 when every target is met.
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from playbook.conditions import all_of, to_python
from playbook.definition.validate import load_text
from playbook.model import Playbook
from playbook.runtime.deals import as_deal
from playbook.runtime.engine import Engine

DEALS = 100_000
RUNS = 5
NOW = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
TARGETS = {"json": 0.25, "prepared": 0.4, "dataclass": 0.4, "predicate": 0.8}
KEPT_TARGET_MIB = 10.0

PLAYBOOK = """\
playbook: embed-bench
version: 1
title: {en: Embedding benchmark, zh: 嵌入基准}
language: en
timezone: UTC
roles:
  rep: {title: {en: Sales rep, zh: 销售代表}}
fields:
  amount: {type: decimal, min: 0, title: {en: Amount, zh: 金额}}
  budget_confirmed: {type: boolean, title: {en: Budget confirmed, zh: 预算已确认}}
  industry: {type: enum, values: [energy, chemicals, manufacturing]}
  decision_maker: {type: string, title: {en: Decision maker, zh: 关键决策人}}
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

_LIMIT = Decimal(50000)
_INDUSTRIES = frozenset({"energy", "chemicals"})
_RULES = (
    "stages[qualified].entry.big_enough",
    "stages[qualified].entry.budget",
    "stages[qualified].entry.industry",
    "stages[qualified].entry.decider",
)


@dataclass(slots=True)
class MyDeal:
    """The developer's own deal class: the stage and the field values as attributes."""

    id: str
    stage: str
    amount: Decimal | None
    budget_confirmed: bool | None
    industry: str | None
    decision_maker: str | None


def failing_typed(values: Mapping[str, Any]) -> list[str]:
    """The hand-written gate over typed values: the rules that fail, in order."""
    failed = []
    amount = values.get("amount")
    if amount is None or amount < _LIMIT:
        failed.append(_RULES[0])
    if values.get("budget_confirmed") is not True:
        failed.append(_RULES[1])
    if values.get("industry") not in _INDUSTRIES:
        failed.append(_RULES[2])
    if values.get("decision_maker") in (None, ""):
        failed.append(_RULES[3])
    return failed


def failing_json(deal: Mapping[str, Any]) -> list[str]:
    """The hand-written gate over the JSON form: converts the amount, then as above."""
    fields = deal["fields"]
    amount = fields.get("amount")
    typed = dict(fields)
    typed["amount"] = None if amount is None else Decimal(amount)
    return failing_typed(typed)


def hand_lambda() -> Callable[[Mapping[str, Any]], bool]:
    """The four criteria as one hand-written lambda."""
    return lambda d: (
        d.get("amount") is not None
        and d.get("amount") >= _LIMIT
        and d.get("budget_confirmed") is True
        and d.get("industry") in _INDUSTRIES
        and d.get("decision_maker") not in (None, "")
    )


def make_deals(count: int, seed: int = 13) -> list[dict[str, Any]]:
    """``count`` deals in the JSON form; most fail one criterion or more, some pass."""
    rnd = random.Random(seed)
    deals = []
    for number in range(count):
        fields: dict[str, Any] = {
            "amount": str(rnd.randrange(0, 200_000)),
            "budget_confirmed": rnd.random() < 0.7,
            "industry": rnd.choice(["energy", "chemicals", "manufacturing"]),
            "decision_maker": rnd.choice(["Wang", "Li Wei", "", "Zhang"]),
        }
        for name in list(fields):
            if rnd.random() < 0.05:
                del fields[name]
        deals.append({"id": f"D-{number}", "stage": "lead", "fields": fields})
    return deals


def my_deal(raw: Mapping[str, Any]) -> MyDeal:
    """The same deal as the developer's dataclass."""
    fields = raw["fields"]
    amount = fields.get("amount")
    return MyDeal(
        raw["id"],
        raw["stage"],
        None if amount is None else Decimal(amount),
        fields.get("budget_confirmed"),
        fields.get("industry"),
        fields.get("decision_maker"),
    )


def best_rate(call: Callable[[Any], Any], items: Sequence[Any]) -> float:
    """Best of :data:`RUNS` passes of ``call`` over ``items``, in calls per second."""
    return best_rates([(call, items)])[0]


def best_rates(pairs: Sequence[tuple[Callable[[Any], Any], Sequence[Any]]]) -> list[float]:
    """Best of :data:`RUNS` passes of each ``call`` over its ``items``, in calls per second.

    The passes take turns (one of each per round), so that a figure and its
    baseline see the same load on a shared machine.
    """
    best = [float("inf")] * len(pairs)
    for _ in range(RUNS):
        for index, (call, items) in enumerate(pairs):
            start = time.perf_counter()
            for item in items:
                call(item)
            best[index] = min(best[index], time.perf_counter() - start)
    return [len(items) / seconds for (_, items), seconds in zip(pairs, best, strict=True)]


def engine_rules(engine: Engine) -> Callable[[Any], list[str]]:
    """``engine.check`` to ``qualified``, answered as the rules that fail."""
    check = engine.check

    def rules(deal: Any) -> list[str]:
        decision = check(deal, "qualified", actor=None, now=NOW)
        return [reason.rule for reason in decision.reasons]

    return rules


def engine_decide(engine: Engine) -> Callable[[Any], Any]:
    """``engine.check`` to ``qualified`` with no reasons read (what a gate in a web form does)."""
    check = engine.check
    return lambda deal: check(deal, "qualified", actor=None, now=NOW).allowed


def agree(left: Callable[[Any], Any], right: Callable[[Any], Any], items: Sequence[Any]) -> None:
    """Raise unless both give the same answer on every item."""
    for item in items:
        if left(item) != right(item):
            raise SystemExit(f"disagreement on {item!r}: {left(item)} != {right(item)}")


def decision_bytes(engine: Engine, deals: Sequence[Any], keep: bool) -> float:
    """Bytes traced per decision made on ``deals``: kept in a list, or dropped at once."""
    check = engine.check
    kept: list[Any] = []
    for deal in deals[:100]:  # warm caches first
        check(deal, "qualified", actor=None, now=NOW)
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    if keep:
        kept = [check(deal, "qualified", actor=None, now=NOW) for deal in deals]
    else:
        for deal in deals:
            kept.append(check(deal, "qualified", actor=None, now=NOW))
            kept.pop()
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = (after - before) - (kept.__sizeof__() if keep else 0)
    del kept
    return size / len(deals)


def _line(name: str, value: str) -> None:
    print(f"embed.{name} {value}", flush=True)


def _rated(name: str, rate: float, base: float, target: float | None, what: str) -> bool:
    ratio = rate / base
    goal = f"; target >= {target:g}" if target is not None else ""
    _line(name, f"{rate:,.0f}/s (ratio {ratio:.3f} to {what}{goal})")
    return target is None or ratio >= target


def load_playbook() -> Playbook:
    """The benchmark's playbook."""
    return load_text(PLAYBOOK, "embed-bench.yaml")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the embedding benchmark and print its figures; 0 when every target is met."""
    model = load_playbook()
    engine = Engine(model)
    raw = make_deals(DEALS)
    prepared = [as_deal(item, model) for item in raw]
    mine = [my_deal(item) for item in raw]
    typed = [dict(state.fields) for state in prepared]
    rules = engine_rules(engine)
    agree(rules, failing_json, raw[:2000])
    agree(lambda i: rules(prepared[i]), lambda i: failing_typed(typed[i]), range(2000))
    agree(lambda i: rules(mine[i]), lambda i: failing_typed(typed[i]), range(2000))
    hand_json, hand_typed, on_json, on_prepared, on_mine = best_rates(
        [
            (failing_json, raw),
            (failing_typed, typed),
            (rules, raw),
            (rules, prepared),
            (rules, mine),
        ]
    )
    _line("hand_written_json_per_s", f"{hand_json:,.0f}/s (baseline: JSON form)")
    _line("hand_written_typed_per_s", f"{hand_typed:,.0f}/s (baseline: typed values)")
    met = [
        _rated("check_json", on_json, hand_json, TARGETS["json"], "hand, JSON"),
        _rated("check_prepared", on_prepared, hand_typed, TARGETS["prepared"], "hand, typed"),
        _rated("check_dataclass", on_mine, hand_typed, TARGETS["dataclass"], "hand, typed"),
    ]
    decide = engine_decide(engine)
    gate = model.stage("qualified")
    assert gate is not None
    compiled = to_python(all_of([item.condition.expr for item in gate.entry]))
    lam = hand_lambda()
    agree(compiled, lam, typed)
    only_json, only_prepared, lam_rate, compiled_rate = best_rates(
        [(decide, raw), (decide, prepared), (lam, typed), (compiled, typed)]
    )
    _rated("allowed_only_json", only_json, hand_json, None, "hand, JSON")
    _rated("allowed_only_prepared", only_prepared, hand_typed, None, "hand, typed")
    _line("hand_lambda_per_s", f"{lam_rate:,.0f}/s (baseline: predicate)")
    met.append(_rated("predicate", compiled_rate, lam_rate, TARGETS["predicate"], "lambda"))
    allowed = [deal for deal in prepared if not failing_typed(deal.fields)]
    blocked = [deal for deal in prepared if failing_typed(deal.fields)][: DEALS // 2]
    per_allowed = decision_bytes(engine, allowed, keep=True)
    _line("allowed_decision_bytes", f"{per_allowed:.1f} per kept decision")
    scale = DEALS / len(blocked)
    kept_mib = decision_bytes(engine, blocked, keep=True) * len(blocked) * scale / 2**20
    _line(
        "kept_blocked_decisions_mib",
        f"{kept_mib:.1f} per {DEALS:,} (target < {KEPT_TARGET_MIB:g}, "
        f"ratio {kept_mib / KEPT_TARGET_MIB:.2f})",
    )
    met.append(kept_mib < KEPT_TARGET_MIB)
    _line("targets_met", "yes" if all(met) else "NO")
    return 0 if all(met) else 1


if __name__ == "__main__":
    raise SystemExit(main())
