"""Decision tables: a 50-row table against the same rules written as an ``if`` chain.

A ``first``-hit table of 50 rows (a score band, a set of industries and an
amount floor per row, and a last catch-all row) grades 100,000 generated
deals. Figures are best-of-runs throughputs with their ratio to a baseline
measured in the same run (the machine is shared: ratios are what compare):

- ``decide`` (the public API: the matching row and the outputs as a
  ``TableDecision``) against a hand-written ``if`` chain over the same dicts
  returning the grade: 49 ``if`` statements, each field read once (target
  ratio >= 0.5); a loop over a list of the rules is reported too;
- the table's compiled evaluator alone (``table.match``: the position of the
  first matching row) against the same chain (reported, no target).

Every answer of the table is checked against the chain first, so the figures
are for the same work. ``main()`` returns 0 when the target is met.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from playbook.definition.validate import load_text
from playbook.runtime.tables import decide

DEALS = 100_000
RUNS = 5
ROWS = 50
TARGET = 0.5
INDUSTRIES = ("energy", "chemicals", "retail", "finance")
GRADES = ("a", "b", "c", "d")


def _row(index: int) -> tuple[int, int, tuple[str, ...], int, str]:
    """Row ``index``: score band [low, high), its industries, amount floor, grade."""
    low, high = index * 2, index * 2 + 2
    industries = INDUSTRIES[: 2 + index % 3]
    return low, high, industries, (index % 5) * 10_000, GRADES[index % 4]


def _playbook_text() -> str:
    lines = [
        "playbook: tables-bench",
        "version: 1",
        "title: Tables benchmark",
        "fields:",
        "  lead_score: {type: integer}",
        f"  industry: {{type: enum, values: [{', '.join(INDUSTRIES)}]}}",
        "  amount: {type: decimal}",
        "tables:",
        "  - id: grading",
        "    hit: first",
        "    inputs: [lead_score, industry, amount]",
        "    outputs:",
        f"      grade: {{type: enum, values: [{', '.join(GRADES)}, none]}}",
        "    rows:",
    ]
    for index in range(ROWS - 1):
        low, high, industries, floor, grade = _row(index)
        lines.append(
            f'      - ["[{low}..{high})", [{", ".join(industries)}], ">= {floor}", {grade}]'
        )
    lines.append('      - ["-", "-", "-", none]')
    lines += [
        "stages:",
        "  - {id: lead, title: Lead, entry: [\"grade != 'none'\"]}",
        "  - {id: won, title: Won, outcome: won}",
    ]
    return "\n".join(lines) + "\n"


def hand_chain(deal: Mapping[str, Any]) -> str:
    """The table as a person writes it: each field read once, then the rows in order."""
    score, industry, amount = deal.get("lead_score"), deal.get("industry"), deal.get("amount")
    for low, high, industries, floor, grade in _RULES:
        if (
            score is not None
            and low <= score < high
            and industry in industries
            and amount is not None
            and amount >= floor
        ):
            return grade
    return "none"


def _unrolled_chain() -> Callable[[Mapping[str, Any]], str]:
    """The ``if`` chain written out row by row, as a person would type 50 ``if`` statements.

    The source is built here from this file's own constants (never from a
    playbook) so that the 50 statements need not be pasted in.
    """
    lines = [
        "def chain(deal):",
        "    score = deal.get('lead_score')",
        "    industry = deal.get('industry')",
        "    amount = deal.get('amount')",
    ]
    for index in range(ROWS - 1):
        low, high, industries, floor, grade = _row(index)
        lines.append(
            f"    if score is not None and {low} <= score < {high} and industry in {industries!r}"
            f" and amount is not None and amount >= {floor}:"
        )
        lines.append(f"        return {grade!r}")
    lines.append("    return 'none'")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines) + "\n", namespace)  # constants of this file only
    return namespace["chain"]  # type: ignore[no-any-return]


_RULES = [
    (low, high, frozenset(ind), Decimal(floor), g)
    for low, high, ind, floor, g in map(_row, range(ROWS - 1))
]


def _deals(count: int) -> list[dict[str, Any]]:
    rng = random.Random(15)
    out: list[dict[str, Any]] = []
    for _ in range(count):
        deal: dict[str, Any] = {
            "lead_score": rng.randrange(0, 110),
            "industry": rng.choice(INDUSTRIES),
            "amount": Decimal(rng.randrange(0, 60_000)),
        }
        if rng.random() < 0.05:
            deal.pop(rng.choice(list(deal)))
        out.append(deal)
    return out


def _best_rate(function: Callable[[Any], Any], deals: Sequence[Any]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        for deal in deals:
            function(deal)
        best = min(best, time.perf_counter() - started)
    return len(deals) / best


def main() -> int:
    """Print the throughputs and ratios; 0 when ``decide`` reaches the target ratio."""
    model = load_text(_playbook_text(), "bench-tables.yaml")
    table = model.tables[0]
    deals = _deals(DEALS)
    unrolled = _unrolled_chain()
    for deal in deals:
        assert decide(table, deal).outputs["grade"] == hand_chain(deal) == unrolled(deal), deal
    looped = _best_rate(hand_chain, deals)
    chain = _best_rate(unrolled, deals)
    # partial, not a lambda: the chain is called directly, without a wrapper frame.
    decided = _best_rate(partial(decide, table), deals)
    matched = _best_rate(table.match, deals)
    print(f"  rows: {len(table.rows)}, deals: {DEALS:,}")
    print(f"  hand_loop_over_rules_per_s: {looped:,.0f}/s")
    print(f"  hand_if_chain_per_s: {chain:,.0f}/s (baseline)")
    print(f"  decide_per_s: {decided:,.0f}/s (ratio {decided / chain:.2f}, target >= {TARGET})")
    print(f"  compiled_match_per_s: {matched:,.0f}/s (ratio {matched / chain:.2f})")
    met = decided / chain >= TARGET
    print(f"  targets_met: {'yes' if met else 'NO'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
