"""Benchmark of ``playbook kpi``: every KPI of a playbook for one quarter, grouped by owner.

    python bench/kpi.py [--deals N] [--skip-sqlite] [--skip-postgres]

N deals (default 1,000,000; 20,000 with PLAYBOOK_BENCH_QUICK=1) with five
stage changes each on average (skips, backward moves, reopened deals) and half
an activity each, on SQLite and on PostgreSQL (a throwaway server, or
$PLAYBOOK_TEST_POSTGRES_URL). Target: under 10 s per database. The baseline,
measured in the same run, is a pure-Python pass over the exported rows: fetch
every deal, stage change and activity, then compute the same 13 figures per
owner; every figure of the report is checked against it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

NOW = datetime(2018, 1, 15, tzinfo=UTC)
OWNERS = 400
TARGET_S = 10.0

PLAYBOOK = """\
playbook: bench-kpi
version: 1
title: KPI benchmark
fields:
  amount: {type: decimal, min: 0}
  segment: {type: enum, values: [smb, mid, enterprise]}
stages:
  - {id: lead, title: Lead, probability: 0.1}
  - {id: qualified, title: Qualified, probability: 0.3}
  - {id: proposal, title: Proposal, probability: 0.6}
  - {id: won, title: Won, outcome: won}
  - {id: lost, title: Lost, outcome: lost}
kpis:
  - {id: leads, metric: stage_entries, stage: lead, target: {min: 100}, period: quarter}
  - {id: conversion, metric: conversion, from_stage: lead, to_stage: proposal}
  - {id: win_rate, metric: win_rate, target: {min: 0.3}}
  - {id: cycle, metric: cycle_time, outcome: won, statistic: mean, target: {max: 60}}
  - {id: cycle_p90, metric: cycle_time, outcome: won, statistic: p90}
  - {id: qualified_days, metric: time_in_stage, stage: qualified, statistic: median}
  - {id: pipeline, metric: pipeline_value, field: amount}
  - {id: weighted, metric: weighted_pipeline, field: amount}
  - {id: won_deals, metric: won_deals}
  - {id: won_value, metric: won_value, field: amount}
  - {id: activities, metric: activity_count}
  - {id: mean_amount, metric: field_aggregate, field: amount, aggregate: mean}
  - {id: amount_ratio, metric: field_ratio, field: amount, denominator: amount}
"""
QUARTER = "2017-Q3"


def main() -> int:
    """Generate, measure on each database, print one line per figure; 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick = os.environ.get("PLAYBOOK_BENCH_QUICK") == "1"
    parser.add_argument("--deals", type=int, default=20_000 if quick else 1_000_000)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args([a for a in sys.argv[1:] if a.startswith("--")])
    work = Path(tempfile.mkdtemp(prefix="playbook-bench-kpi-"))
    ok = True
    try:
        if not args.skip_sqlite:
            ok &= _run(f"sqlite:///{work / 'kpi.db'}", args.deals)
        if not args.skip_postgres:
            ok &= _postgres(args.deals)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def _postgres(count: int) -> bool:
    from playbook.store.testing import ThrowawayPostgres, find_postgres_bin, fresh_database

    given = os.environ.get("PLAYBOOK_TEST_POSTGRES_URL")
    if given:
        with fresh_database(given) as url:
            return _run(url, count)
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        print("kpi.postgres skipped: PostgreSQL binaries not found")
        return True
    with ThrowawayPostgres(bin_dir) as server, fresh_database(server.url) as url:
        return _run(url, count)


def _run(url: str, count: int) -> bool:
    from playbook.definition.files import playbook_from_text
    from playbook.kpi.metrics import compute_kpis
    from playbook.kpi.periods import parse_period
    from playbook.store.db import open_database
    from playbook.store.schema import upgrade

    database = open_database(url, check_schema=False)
    upgrade(database)
    dialect = database.dialect
    started = time.perf_counter()
    changes = _fill(database, count)
    _analyze(database)
    print(f"kpi.{dialect}_generate_s {time.perf_counter() - started:.1f} ({count:,} deals, "
          f"{changes:,} stage changes; not timed against the target)", flush=True)  # fmt: skip
    playbook = playbook_from_text(PLAYBOOK, "bench-kpi.yaml")
    period = parse_period(QUARTER)
    started = time.perf_counter()
    report = compute_kpis(database, playbook, period, now=NOW, by=("owner",))
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    baseline = _python_pass(database, playbook, period)
    naive = time.perf_counter() - started
    database.dispose()
    _agree(report, baseline)
    size = f"{count // 1000}k" if count < 1_000_000 else f"{count // 1_000_000}m"
    verdict = "ok" if seconds < TARGET_S else "SLOW"
    print(
        f"kpi.{dialect}_{size}_s {seconds:.2f} (target < {TARGET_S:g}; {len(playbook.kpis)} KPIs x "
        f"{len(report.results) // len(playbook.kpis)} owners; {naive / seconds:.1f}x faster than "
        f"a pure-Python pass over the exported rows, {naive:.1f} s) {verdict}",
        flush=True,
    )
    return seconds < TARGET_S


def _analyze(database: Any) -> None:
    """After the bulk load, do what autovacuum does: refresh the planner's statistics and, on
    PostgreSQL, the visibility map (without which no index-only scan is possible)."""
    from sqlalchemy import text

    if database.dialect == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
        return
    with database.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


# --- data ----------------------------------------------------------------------------------


def _path(rng: random.Random) -> list[str]:
    """A deal's stages: skips, backward moves and reopened deals; 5.0 steps on average."""
    path = ["lead"]
    while len(path) < 9:
        here, roll = path[-1], rng.random()
        if here == "lead":
            step = "qualified" if roll < 0.8 else "proposal"
        elif here == "qualified":
            step = "proposal" if roll < 0.75 else "lost"
        elif here == "proposal":
            step = "won" if roll < 0.4 else "lost" if roll < 0.55 else "qualified"
        else:
            step = "proposal" if roll < 0.25 else ""
        if not step or rng.random() < 0.02:
            break
        path.append(step)
    return path


def _fill(database: Any, count: int, batch: int = 50_000) -> int:
    """Insert ``count`` deals with histories in batches (the fastest path of each driver)."""
    rng = random.Random(3)
    start = datetime(2016, 10, 1, tzinfo=UTC)
    total = 0
    raw = database.engine.raw_connection()
    if database.dialect == "sqlite":
        raw.execute("BEGIN")  # the store's SQLite connections run in autocommit mode
    try:
        for first in range(0, count, batch):
            deals, changes, activities = _batch(rng, start, first, min(batch, count - first))
            _write(raw, database.dialect, deals, changes, activities)
            total += len(changes)
        raw.commit()
    finally:
        raw.close()
    return total


def _batch(rng: random.Random, start: datetime, first: int, size: int) -> tuple[list[Any], ...]:
    deals, changes, activities = [], [], []
    for deal_id in range(first + 1, first + size + 1):
        at = start + timedelta(days=rng.uniform(0, 480))
        steps = []
        previous = None
        for stage in _path(rng):
            steps.append((previous, stage, at))
            previous, at = stage, at + timedelta(days=rng.uniform(0, 40))
        amount = str(rng.randrange(1000, 90000))
        fields = f'{{"amount": "{amount}", "segment": "{rng.choice(["smb", "mid"])}"}}'
        closed = steps[-1][2] if previous in ("won", "lost") else None
        deals.append(
            (deal_id, f"B{deal_id}", "bench-kpi", 1, previous, f"rep {deal_id % OWNERS}", fields,
             "{}", steps[0][2], steps[-1][2], "bench", steps[-1][2], steps[-1][2], closed,
             len(steps) + 1)
        )  # fmt: skip
        for version, (source, target, moment) in enumerate(steps, start=1):
            changes.append((deal_id, source, target, "bench", "[]", moment, 1, version, "live"))
        if rng.random() < 0.5:
            moment = steps[0][2] + timedelta(days=rng.uniform(0, 30))
            activities.append((deal_id, "call", "bench", moment, "lead", len(steps) + 1))
    return deals, changes, activities


_DEAL_COLUMNS = (
    "id, external_id, playbook_id, playbook_version, stage, owner, fields, actions, created_at, "
    "updated_at, updated_by, stage_entered_at, last_activity_at, closed_at, version"
)
_CHANGE_COLUMNS = (
    "deal_id, from_stage, to_stage, actor, actor_roles, at, playbook_version, deal_version, source"
)
_ACTIVITY_COLUMNS = "deal_id, kind, actor, at, stage, deal_version"


def _write(raw: Any, dialect: str, *tables: list[Any]) -> None:
    names = (("playbook_deals", _DEAL_COLUMNS), ("playbook_stage_changes", _CHANGE_COLUMNS))
    names += (("playbook_activities", _ACTIVITY_COLUMNS),)
    cursor = raw.cursor()
    for (table, columns), rows in zip(names, tables, strict=True):
        if dialect == "sqlite":
            # The store keeps UTC wall times as text on SQLite.
            rows = [tuple(_sqlite(v) for v in row) for row in rows]
            marks = ", ".join("?" * len(rows[0]))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        else:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    cursor.close()


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


# --- the baseline: export every row, compute in Python -------------------------------------

_Figures = dict[tuple[str, str], tuple[float | None, int]]


def _python_pass(database: Any, playbook: Any, period: Any) -> _Figures:
    """The 13 figures per owner from every exported row, computed in Python (docs/kpis.md)."""
    deals, history, activities = _export(database)
    units: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for deal_id, rows in history.items():
        owner, amount = deals[deal_id]
        for kpi_id, value in _deal_units(playbook, period, rows, amount):
            units[(kpi_id, owner)].append(value)
    for deal_id, at in activities:
        if period.start <= at < period.end:
            units[("activities", deals[deal_id][0])].append(1)
    return {key: _aggregate(key[0], values) for key, values in units.items()}


def _export(database: Any) -> tuple[dict[int, Any], dict[int, list[Any]], list[Any]]:
    """Every deal (owner, amount), stage change (in version order) and activity, as a script
    reading an export would have them."""
    import json

    from sqlalchemy import select

    from playbook.store.models import Activity, Deal, StageChange

    deals: dict[int, Any] = {}
    history: dict[int, list[Any]] = defaultdict(list)
    with database.engine.connect() as connection:
        for row in connection.execute(select(Deal.id, Deal.owner, Deal.fields)):
            fields = json.loads(row.fields) if isinstance(row.fields, str) else row.fields
            amount = fields.get("amount")
            deals[row.id] = (row.owner, None if amount is None else Decimal(amount))
        query = select(
            StageChange.deal_id,
            StageChange.from_stage,
            StageChange.to_stage,
            StageChange.at,
            StageChange.deal_version,
        ).order_by(StageChange.deal_id, StageChange.deal_version)
        for row in connection.execute(query):
            history[row.deal_id].append(row)
        activities = list(connection.execute(select(Activity.deal_id, Activity.at)))
    return deals, history, activities


def _deal_units(
    playbook: Any, period: Any, rows: list[Any], amount: Decimal | None
) -> Iterator[tuple[str, Any]]:
    """What one deal contributes to each KPI of the benchmark playbook."""
    inside = lambda at: period.start <= at < period.end  # noqa: E731
    leads = [r for r in rows if r.to_stage == "lead" and inside(r.at)]
    if leads:
        yield "leads", 1
        first = leads[0].deal_version
        # Converted before the report's instant (the quarter's end: NOW is after it).
        reached = any(
            r.deal_version > first and r.to_stage in ("proposal", "won") and r.at < period.end
            for r in rows
        )
        yield "conversion", int(reached)
    for earlier, row in itertools.pairwise(rows):
        if row.from_stage == "qualified" and inside(row.at):
            yield "qualified_days", _days(row.at, earlier.at)
    yield from _closing_units(rows, amount, inside)
    before = [r for r in rows if r.at < period.end]
    stage = playbook.stage(before[-1].to_stage) if before else None
    if stage is not None and stage.is_open:
        yield "pipeline", amount
        yield "weighted", None if amount is None else float(amount) * (stage.probability or 0)


def _closing_units(rows: list[Any], amount: Decimal | None, inside: Any) -> Iterator[Any]:
    closes = [
        r
        for r in rows
        if r.to_stage in ("won", "lost") and r.from_stage not in ("won", "lost") and inside(r.at)
    ]
    if not closes:
        return
    close = closes[-1]
    won = close.to_stage == "won"
    yield from (("win_rate", int(won)), ("mean_amount", amount), ("amount_ratio", amount))
    if won:
        yield from (("won_deals", 1), ("won_value", amount))
        starts = [
            r.at for r in rows if r.to_stage == "lead" and r.deal_version < close.deal_version
        ]
        if starts:
            days = _days(close.at, min(starts))
            yield from (("cycle", days), ("cycle_p90", days))


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


_PERCENTILES = {"qualified_days": (1, 2), "cycle_p90": (9, 10)}


def _aggregate(kpi_id: str, values: list[Any]) -> tuple[float | None, int]:
    present = [v for v in values if v is not None]
    if kpi_id in ("leads", "won_deals", "activities"):
        return len(values), len(values)
    if kpi_id in ("pipeline", "weighted", "won_value"):
        return float(sum(present)), len(values)
    if kpi_id == "amount_ratio":
        return (1.0 if sum(present) else None), len(present)
    if kpi_id in _PERCENTILES:
        return _percentile(sorted(present), *_PERCENTILES[kpi_id]), len(present)
    return (float(sum(present)) / len(present) if present else None), len(present)


def _percentile(ordered: list[float], numerator: int, denominator: int) -> float | None:
    if not ordered:
        return None
    low, rest = divmod((len(ordered) - 1) * numerator, denominator)
    high = ordered[min(low + 1, len(ordered) - 1)]
    return ordered[low] + (high - ordered[low]) * rest / denominator


def _agree(report: Any, baseline: _Figures) -> None:
    """Every figure of the report equals the baseline's (groups with nothing to measure aside)."""
    for result in report.results:
        expected, n = baseline.get((result.kpi.id, result.group.get("owner")), (None, 0))
        assert result.n == n, (result.kpi.id, result.group, result.n, n)
        if n and expected is not None:
            assert abs(result.value - expected) <= 1e-5 + 1e-9 * abs(expected), (
                result.kpi.id,
                result.group,
                result.value,
                expected,
            )
        elif n:
            assert result.value is None, (result.kpi.id, result.group)


if __name__ == "__main__":
    sys.exit(main())
