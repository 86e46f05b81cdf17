"""Engine checks: decisions per second, memory per deal, and the state machine's own cost.

Uses the sample playbook ``playbooks/b2b-project-sales.yaml`` (China's calendar,
so due dates skip public holidays) and prints one figure per line
(``engine_check.<name> <value>``), with its target where the project has one:

- ``check()`` on a blocked deal, reasons included (four reasons: a failing
  entry criterion, two open actions with due dates, a failing exit criterion),
  best of several runs on one core; target >= 100,000 per second. A deal with
  one reason and an allowed deal are timed too, for scale.
- 1,000,000 generated deals, read from their JSON form and checked one by one
  from a generator (never a list); the peak RSS of the whole process must stay
  under 200 MB.
- Engine memory per deal: tracemalloc growth over 100,000 further checks once
  warm, which is ~0 because the engine keeps nothing per deal.
- For reference, the ``transitions`` machine itself: one trigger on a
  throw-away model, and the cost of attaching models to a machine (what the
  engine avoids).

``main()`` returns 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playbook.definition.validate import validate_file
from playbook.model import Playbook
from playbook.runtime.deals import DealState, as_deal
from playbook.runtime.engine import Engine
from playbook.values import Actor

REPO = Path(__file__).resolve().parents[1]
PLAYBOOK = REPO / "playbooks" / "b2b-project-sales.yaml"
NOW = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
CHECK_TARGET = 100_000
RSS_TARGET_MB = 200.0
STREAM_DEALS = 1_000_000
GROWTH_CHECKS = 100_000
RUNS = 7
BATCH = 20_000

REP = Actor("bench", frozenset({"sales_rep"}))
_INDUSTRIES = ["manufacturing", "energy", "chemicals", "automotive", "electronics"]


def load_playbook() -> Playbook:
    """The sample playbook, validated."""
    result = validate_file(PLAYBOOK)
    if result.playbook is None:
        problems = "; ".join(f"{d.line}: {d.message}" for d in result.diagnostics)
        raise SystemExit(f"{PLAYBOOK} does not validate: {problems}")
    return result.playbook


def blocked_deals(model: Playbook, count: int) -> list[DealState]:
    """``count`` deals in needs analysis that four reasons keep out of the solution stage."""
    base = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    return [
        as_deal(
            {
                "id": f"B-{number}",
                "stage": "needs_analysis",
                "stage_entered_at": (base + timedelta(hours=number % 97)).isoformat(),
                "fields": {
                    "amount": str(1_000_000 + number),
                    "decision_maker": "王总",
                    "industry": _INDUSTRIES[number % len(_INDUSTRIES)],
                },
            },
            model,
        )
        for number in range(count)
    ]


def one_reason_deals(model: Playbook, count: int) -> list[DealState]:
    """Deals in needs analysis blocked only by their unconfirmed budget (an exit criterion)."""
    return _ready_deals(model, count, {"decision_maker": "Li"})


def allowed_deals(model: Playbook, count: int) -> list[DealState]:
    """Deals that may move from needs analysis to the solution stage."""
    return _ready_deals(model, count, {"budget_confirmed": True})


def _ready_deals(model: Playbook, count: int, fields: dict[str, Any]) -> list[DealState]:
    """Small deals in needs analysis with their actions done, plus ``fields``."""
    return [
        as_deal(
            {
                "id": f"R-{number}",
                "stage": "needs_analysis",
                "stage_entered_at": "2026-03-02T09:30:00+08:00",
                "fields": {"amount": str(50_000 + number), **fields},
                "completed_actions": ["technical_exchange", "confirm_requirements"],
            },
            model,
        )
        for number in range(count)
    ]


def checks_per_second(engine: Engine, deals: Sequence[DealState], codes: int) -> float:
    """Best of :data:`RUNS` passes of ``check(deal, "solution")`` over ``deals``, per second.

    Asserts first that each deal gets ``codes`` reasons, so the figure is for what it says.
    """
    check = engine.check
    sample = check(deals[0], "solution", actor=REP, now=NOW)
    assert len(sample.reasons) == codes, sample.codes
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        for deal in deals:
            # Reasons are worked out when read: read them, so the figure includes them.
            _ = check(deal, "solution", actor=REP, now=NOW).reasons
        best = min(best, time.perf_counter() - start)
    return len(deals) / best


def generated_deals(
    model: Playbook, count: int, seed: int = 11
) -> Iterator[tuple[dict[str, Any], str]]:
    """``count`` deals in their JSON form with a target stage each, made one at a time."""
    rnd = random.Random(seed)
    stages = ["lead_identification", "initial_contact", "needs_analysis", "solution"]
    targets = ["initial_contact", "needs_analysis", "solution", "quote_negotiation"]
    actions = {sid: [a.id for a in model.stages[i].actions] for i, sid in enumerate(stages)}
    for number in range(count):
        index = rnd.randrange(len(stages))
        fields: dict[str, Any] = {
            "amount": str(rnd.randrange(10_000, 3_000_000)),
            "industry": rnd.choice(_INDUSTRIES),
            "customer_tier": rnd.choice(["key", "normal", "potential"]),
            "decision_maker": rnd.choice(["王总", "Li Wei", ""]),
            "budget_confirmed": rnd.random() < 0.6,
            "site_visits": rnd.randrange(3),
        }
        for name in list(fields):
            if rnd.random() < 0.2:
                del fields[name]
        entered = NOW - timedelta(hours=rnd.randrange(24 * 60))
        done = [action for action in actions[stages[index]] if rnd.random() < 0.7]
        deal = {
            "id": f"G-{number}",
            "stage": stages[index],
            "stage_entered_at": entered.isoformat(),
            "fields": fields,
            "completed_actions": done,
        }
        yield deal, targets[index]


def stream(engine: Engine, count: int) -> tuple[float, int]:
    """Read and check ``count`` generated deals one by one: (seconds, how many were allowed)."""
    model = engine.playbook
    allowed = 0
    start = time.perf_counter()
    for raw, target in generated_deals(model, count):
        decision = engine.check(as_deal(raw, model), target, actor=REP, now=NOW)
        allowed += decision.allowed
        # Read what a caller would show, so that lazy parts are paid for too.
        for reason in decision.reasons:
            _ = reason.message, reason.values
    return time.perf_counter() - start, allowed


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def memory_growth_bytes(engine: Engine, deals: Sequence[DealState], checks: int) -> float:
    """Bytes the process keeps per check once warm (tracemalloc): the engine's state per deal."""
    check = engine.check

    def run(times: int) -> None:
        for number in range(times):
            check(deals[number % len(deals)], "solution", actor=REP, now=NOW)

    tracemalloc.start()
    run(BATCH)
    gc.collect()
    before, _ = tracemalloc.get_traced_memory()
    run(checks)
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (after - before) / checks


def machine_costs(model: Playbook) -> tuple[float, float, float]:
    """The transitions machine alone: µs per trigger on a throw-away model; µs and bytes per
    model when models are attached to a machine instead (what the engine never does)."""
    from transitions import Machine

    class Cursor:
        __slots__ = ("state",)

        def __init__(self, state: str) -> None:
            self.state = state

    stages = [stage.id for stage in model.stages]
    machine = Machine(
        model=None, states=stages, initial=stages[0], auto_transitions=False, send_event=True
    )
    machine.add_transition("advance", stages[0], stages[1])
    fire: Callable[..., Any] = machine.events["advance"].trigger
    runs = 20_000
    start = time.perf_counter()
    for _ in range(runs):
        fire(Cursor(stages[0]))
    trigger_us = (time.perf_counter() - start) / runs * 1e6

    class Row:
        pass

    attached = Machine(
        model=None, states=stages, initial=stages[0], auto_transitions=False, send_event=True
    )
    attached.add_transition("advance", stages[0], stages[1])
    models = 2_000
    tracemalloc.start()
    start = time.perf_counter()
    attached.add_model([Row() for _ in range(models)])
    attach_us = (time.perf_counter() - start) / models * 1e6
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return trigger_us, attach_us, size / models


def _line(name: str, value: str) -> None:
    print(f"engine_check.{name} {value}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the engine benchmark and print its figures; 0 when every target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", type=int, default=STREAM_DEALS, help="deals to stream")
    args = parser.parse_args(argv)
    model = load_playbook()
    engine = Engine(model)
    blocked = blocked_deals(model, BATCH)
    rate = checks_per_second(engine, blocked, codes=4)
    target = f"target >= {CHECK_TARGET:,}, ratio {rate / CHECK_TARGET:.2f}"
    _line("blocked_checks_per_s", f"{rate:,.0f} (4 reasons; {target})")
    one = checks_per_second(engine, one_reason_deals(model, BATCH), codes=1)
    _line("one_reason_checks_per_s", f"{one:,.0f} (ratio {one / CHECK_TARGET:.2f})")
    ok = checks_per_second(engine, allowed_deals(model, BATCH), codes=0)
    _line("allowed_checks_per_s", f"{ok:,.0f} (ratio {ok / CHECK_TARGET:.2f})")
    growth = memory_growth_bytes(engine, blocked, GROWTH_CHECKS)
    _line("engine_bytes_per_deal", f"{growth:.2f} (growth over {GROWTH_CHECKS:,} checks)")
    trigger_us, attach_us, model_bytes = machine_costs(model)
    _line("machine_trigger_us", f"{trigger_us:.1f} (transitions, one trigger, reference)")
    _line("machine_attach_per_model", f"{attach_us:.0f} us, {model_bytes:,.0f} bytes (avoided)")
    baseline = peak_rss_mb()
    seconds, allowed = stream(engine, args.stream)
    peak = peak_rss_mb()
    _line("stream_deals", f"{args.stream:,} ({allowed:,} allowed)")
    _line("stream_deals_per_s", f"{args.stream / seconds:,.0f} (read from JSON form + check)")
    ratio = peak / RSS_TARGET_MB
    _line(
        "peak_rss_mb",
        f"{peak:.1f} (before the stream {baseline:.1f}; target < {RSS_TARGET_MB:g}, "
        f"ratio {ratio:.2f})",
    )
    met = rate >= CHECK_TARGET and peak < RSS_TARGET_MB
    _line("targets_met", "yes" if met else "NO")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
