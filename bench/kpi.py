"""Benchmark of ``playbook kpi``: every KPI of a playbook for one quarter, grouped by owner.

    python bench/kpi.py [--deals N] [--skip-postgres]

N deals (default 1,000,000; 20,000 with PLAYBOOK_BENCH_QUICK=1) with about
five stage changes each (skips, backward moves, reopened deals) and half an
activity each, on SQLite and on PostgreSQL (a throwaway server, or
$PLAYBOOK_TEST_POSTGRES_URL). Target: under 10 s per database. The baseline,
measured in the same run, is a pure-Python pass over the exported rows
(fetch every deal, stage change and activity, then compute the same figures).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
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
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args([a for a in sys.argv[1:] if a.startswith("--")])
    work = Path(tempfile.mkdtemp(prefix="playbook-bench-kpi-"))
    ok = True
    try:
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
    from playbook.kpi import compute_kpis, parse_period
    from playbook.store.db import open_database
    from playbook.store.playbooks import playbook_from_text
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
    """Refresh the planner's statistics after the bulk load, as autovacuum would."""
    from sqlalchemy import text

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
    names = (("deals", _DEAL_COLUMNS), ("stage_changes", _CHANGE_COLUMNS))
    names += (("activities", _ACTIVITY_COLUMNS),)
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


def _python_pass(database: Any, playbook: Any, period: Any) -> dict[tuple[str, str], Any]:
    """A few of the same figures by owner, from every exported row (the way a script would)."""
    from sqlalchemy import select

    from playbook.store.models import Activity, Deal, StageChange

    history: dict[int, list[Any]] = defaultdict(list)
    with database.engine.connect() as connection:
        owners = {row.id: (row.owner, row.fields) for row in connection.execute(
            select(Deal.id, Deal.owner, Deal.fields))}  # fmt: skip
        query = select(
            StageChange.deal_id, StageChange.from_stage, StageChange.to_stage, StageChange.at
        ).order_by(StageChange.deal_id, StageChange.deal_version)
        for row in connection.execute(query):
            history[row.deal_id].append(row)
        calls = list(connection.execute(select(Activity.deal_id, Activity.at)))
    inside = lambda at: period.start <= at < period.end  # noqa: E731
    closed = {"won", "lost"}
    figures: dict[tuple[str, str], Any] = defaultdict(lambda: [0, 0])
    for deal_id, rows in history.items():
        owner = owners[deal_id][0]
        if any(r.to_stage == "lead" and inside(r.at) for r in rows):
            figures[("leads", owner)][0] += 1
        close = [
            r for r in rows if r.to_stage in closed and r.from_stage not in closed and inside(r.at)
        ]
        if close:
            figures[("win_rate", owner)][0] += close[-1].to_stage == "won"
            figures[("win_rate", owner)][1] += 1
    for deal_id, at in calls:
        if inside(at):
            figures[("activities", owners[deal_id][0])][0] += 1
    return figures


def _agree(report: Any, baseline: dict[tuple[str, str], Any]) -> None:
    for result in report.results:
        key = (result.kpi.id, result.group.get("owner"))
        if result.kpi.id in ("leads", "activities") and key in baseline:
            assert result.value == baseline[key][0], key
        if result.kpi.id == "win_rate" and key in baseline:
            won, closed = baseline[key]
            assert abs(result.value - won / closed) < 1e-5, key


if __name__ == "__main__":
    sys.exit(main())
