"""Gate checks: how fast a compiled stage entry criterion runs over many deals.

Builds 100,000 in-memory deals and times (best of 5) three ways of evaluating
the same 4-clause entry criterion on all of them:

- the predicate compiled by ``playbook.conditions.to_python``;
- a hand-written Python lambda (the floor: target, compiled <= 2x its time);
- the ``rule-engine`` library (a general expression library: target, compiled
  >= 10x faster), skipped with a message when it is not installed.

Prints one figure per line (``gate_check.<name> <value>``); ``main()`` returns
0, or 1 when the three disagree on which deals pass.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from playbook.conditions import FieldType, parse_condition, to_python

DEALS = 100_000
RUNS = 5
RULE = (
    "amount >= 50000 and budget_confirmed and industry in ['energy', 'chemicals']"
    " and has(decision_maker)"
)
RULE_ENGINE_RULE = (
    "amount != null and amount >= 50000 and budget_confirmed == true"
    " and industry in ['energy', 'chemicals'] and decision_maker != null and decision_maker != ''"
)
FIELDS = {
    "amount": FieldType("decimal"),
    "budget_confirmed": FieldType("boolean"),
    "industry": FieldType("enum", ("manufacturing", "energy", "chemicals")),
    "decision_maker": FieldType("string"),
}
RATIO_TARGET = 2.0
SPEEDUP_TARGET = 10.0

Deal = Mapping[str, Any]

_LIMIT = Decimal(50000)
_INDUSTRIES = frozenset({"energy", "chemicals"})


def hand_written(deal: Deal) -> bool:
    """The criterion written by hand, with the same null handling as the compiled one."""
    amount = deal.get("amount")
    return (
        amount is not None
        and amount >= _LIMIT
        and deal.get("budget_confirmed") is True
        and deal.get("industry") in _INDUSTRIES
        and deal.get("decision_maker") not in (None, "")
    )


def make_deals(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` deals where each clause passes for most deals, and some fields are missing."""
    rnd = random.Random(seed)
    deals: list[dict[str, Any]] = []
    for _ in range(count):
        deal: dict[str, Any] = {
            "amount": Decimal(rnd.randint(0, 2_000_000)) / 10,
            "budget_confirmed": rnd.random() < 0.8,
            "industry": rnd.choice(["energy", "chemicals", "chemicals", "manufacturing"]),
            "decision_maker": rnd.choice(["王经理", "Li Wei", "", "Zhang"]),
        }
        for name in list(deal):
            if rnd.random() < 0.05:
                del deal[name]
        deals.append(deal)
    return deals


def best_seconds(predicate: Callable[[Deal], bool], deals: Sequence[Deal], runs: int) -> float:
    """The fastest of ``runs`` passes of ``predicate`` over ``deals``, in seconds."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for deal in deals:
            predicate(deal)
        best = min(best, time.perf_counter() - start)
    return best


def _rule_engine_predicate() -> Callable[[Deal], bool] | None:
    try:
        import rule_engine  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    rule = rule_engine.Rule(RULE_ENGINE_RULE, context=rule_engine.Context(default_value=None))
    matches: Callable[[Deal], bool] = rule.matches
    return matches


def _agree(deals: Sequence[Deal], *predicates: Callable[[Deal], bool]) -> bool:
    sample = deals[:5_000]
    answers = [[predicate(deal) for deal in sample] for predicate in predicates]
    return all(answer == answers[0] for answer in answers)


def main() -> int:
    """Run the gate-check benchmark and print its figures; 0 when all evaluators agree."""
    deals = make_deals(DEALS)
    compiled = to_python(parse_condition(RULE, FIELDS))
    compiled_s = best_seconds(compiled, deals, RUNS)
    lambda_s = best_seconds(hand_written, deals, RUNS)
    print(f"gate_check.deals {len(deals):,}")
    print(f"gate_check.compiled_evals_per_s {len(deals) / compiled_s:,.0f}")
    print(f"gate_check.lambda_evals_per_s {len(deals) / lambda_s:,.0f}")
    print(f"gate_check.ratio_vs_lambda {compiled_s / lambda_s:.2f} (target <= {RATIO_TARGET})")
    checks = [compiled, hand_written]
    rule_engine = _rule_engine_predicate()
    if rule_engine is None:
        print("gate_check.speedup_vs_rule_engine skipped: pip install rule-engine")
    else:
        engine_s = best_seconds(rule_engine, deals, RUNS)
        print(f"gate_check.rule_engine_evals_per_s {len(deals) / engine_s:,.0f}")
        speedup = engine_s / compiled_s
        print(f"gate_check.speedup_vs_rule_engine {speedup:.1f} (target >= {SPEEDUP_TARGET:g})")
        checks.append(rule_engine)
    agree = _agree(deals, *checks)
    print(f"gate_check.evaluators_agree {'yes' if agree else 'NO'}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
