"""Benchmark of the escalation sweep on SQLite and PostgreSQL, against a naive loop.

    python bench/sweep.py [--deals N] [--skip-postgres]

N generated deals (default 1,000,000; 20,000 with PLAYBOOK_BENCH_QUICK=1), 5%
of them past a 30-day ``in_stage`` rule with a ``when`` condition, are swept:

1. the naive loop: load every deal, build the engine's view of it, evaluate the
   rule in Python (the baseline, same run, same data);
2. the sweep: candidates selected in SQL, levels recorded once (target < 10 s
   on SQLite, >= 10x faster than the naive loop);
3. the same sweep again, when nothing is due any more (target < 2 s).

Each figure is measured in a child process, which also reports its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = datetime(2026, 3, 18, 6, 0, tzinfo=UTC)
PLAYBOOK = """\
playbook: bench-sweep
version: 1
title: Sweep benchmark
timezone: Asia/Shanghai
calendar: {holidays: CN}
fields:
  amount: {type: decimal, min: 0}
stages:
  - {id: lead, title: Lead}
  - {id: offer, title: Offer}
  - {id: won, title: Won, outcome: won}
  - {id: lost, title: Lost, outcome: lost}
escalations:
  - id: stuck_30
    trigger: {in_stage: {days: 30}}
    stages: [lead, offer]
    when: "amount > 0"
    levels:
      - notify: [owner]
"""


def main() -> int:
    """Run the three measurements on each database; print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick = os.environ.get("PLAYBOOK_BENCH_QUICK") == "1"
    parser.add_argument("--deals", type=int, default=20_000 if quick else 1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "PLAYBOOK"))
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        print(json.dumps(_measure(*args.child)))
        return 0
    ok = True
    with tempfile.TemporaryDirectory(prefix="playbook-bench-sweep-") as folder:
        work = Path(folder)
        playbook = work / "bench.yaml"
        playbook.write_text(PLAYBOOK, encoding="utf-8")
        ok &= _run("sqlite", f"sqlite:///{work / 'sweep.db'}", playbook, args.deals, 10.0)
        if not args.skip_postgres:
            ok &= _postgres(playbook, args.deals)
    return 0 if ok else 1


def _postgres(playbook: Path, deals: int) -> bool:
    from playbook.store.testing import ThrowawayPostgres, find_postgres_bin, fresh_database

    given = os.environ.get("PLAYBOOK_TEST_POSTGRES_URL")
    if given:
        with fresh_database(given) as url:
            return _run("postgres", url, playbook, deals, None)
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        print("PostgreSQL binaries not found: PostgreSQL sweep skipped")
        return True
    with ThrowawayPostgres(bin_dir) as server, fresh_database(server.url) as url:
        return _run("postgres", url, playbook, deals, None)


def _run(name: str, url: str, playbook: Path, deals: int, target: float | None) -> bool:
    due = _generate(url, playbook, deals)
    size = f"{deals // 1000}k" if deals < 1_000_000 else f"{deals // 1_000_000}m"
    naive = _child("naive", url, playbook)
    swept = _child("sweep", url, playbook)
    idle = _child("sweep", url, playbook)
    assert naive["due"] == swept["fired"] == due, (naive, swept, due)
    assert idle["fired"] == 0
    ratio = naive["seconds"] / swept["seconds"]
    ok = ratio >= 10 and (target is None or swept["seconds"] < target) and idle["seconds"] < 2
    sweep_target = f"target < {target:g}; " if target is not None else ""
    print(
        f"sweep.{name}_{size}_s {swept['seconds']:.2f} ({sweep_target}{ratio:.1f}x faster than "
        f"naive loop {naive['seconds']:.1f} s; {due} fired; peak RSS {swept['rss_mb']:.0f} MB, "
        f"naive {naive['rss_mb']:.0f} MB)"
    )
    print(
        f"sweep.{name}_{size}_nothing_due_s {idle['seconds']:.2f} (target < 2; "
        f"{naive['seconds'] / idle['seconds']:.0f}x faster than naive loop; "
        f"peak RSS {idle['rss_mb']:.0f} MB)"
    )
    return ok


def _generate(url: str, playbook_path: Path, count: int) -> int:
    """Write ``count`` deals straight into the tables; return how many are due at NOW."""
    from sqlalchemy import insert

    from playbook.store.db import open_database
    from playbook.store.models import Deal
    from playbook.store.schema import upgrade

    database = open_database(url, check_schema=False)
    upgrade(database)
    rng = random.Random(1)
    due = 0
    table: Any = Deal.__table__
    with database.engine.begin() as connection:
        for start in range(0, count, 20_000):
            rows = []
            for n in range(start, min(count, start + 20_000)):
                late = rng.random() < 0.05
                days = rng.uniform(45, 90) if late else rng.uniform(0, 25)
                entered = NOW - timedelta(days=days)
                stage = "lead" if n % 2 else "offer"
                due += late
                rows.append(_row(n, stage, entered))
            connection.execute(insert(table), rows)
    with database.engine.begin() as connection:
        # A store in use has planner statistics; a table bulk-loaded a second ago does not.
        connection.exec_driver_sql("ANALYZE")
    database.dispose()
    return due


def _row(n: int, stage: str, entered: datetime) -> dict[str, Any]:
    return {
        "external_id": f"B-{n}",
        "playbook_id": "bench-sweep",
        "playbook_version": 1,
        "stage": stage,
        "owner": f"rep{n % 50}",
        "team": None,
        "manager": f"manager{n % 7}",
        "region": None,
        "fields": {"amount": f"{1000 + n % 997}.00"},
        "actions": {},
        "created_at": entered - timedelta(days=1),
        "updated_at": entered,
        "updated_by": "bench",
        "stage_entered_at": entered,
        "last_activity_at": entered,
        "closed_at": None,
        "version": 1,
    }


def _child(mode: str, url: str, playbook: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, url, str(playbook)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} on {url} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _measure(mode: str, url: str, playbook_path: str) -> dict[str, Any]:
    """(in a child process) One timed run: the sweep, or the naive loop."""
    from playbook.escalation import sweep
    from playbook.store.db import open_database
    from playbook.store.playbooks import playbook_from_file

    playbook = playbook_from_file(playbook_path)[0]
    database = open_database(url)
    started = time.perf_counter()
    if mode == "naive":
        figures: dict[str, Any] = {"due": _naive(database, playbook)}
    else:
        figures = {"fired": len(sweep(database, playbook, now=NOW).fired)}
    figures["seconds"] = time.perf_counter() - started
    figures["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    database.dispose()
    return figures


def _naive(database: Any, playbook: Any) -> int:
    """Load every deal and evaluate the rule in Python, as a plain loop would."""
    from playbook.calendar import WorkingCalendar
    from playbook.escalation import due_at
    from playbook.store.repository import DealStore

    calendar = WorkingCalendar.from_playbook(playbook)
    rule = playbook.escalations[0]
    stages = set(rule.stages or ())
    due = 0
    for deal in DealStore(database).list_deals(playbook_id=playbook.id):
        state = deal.state(playbook)
        if state.stage not in stages or not rule.when.test(state.fields):
            continue
        at = due_at(calendar, deal.stage_entered_at, rule.trigger.duration, rule.levels[0].after)
        due += at <= NOW
    return due


if __name__ == "__main__":
    sys.exit(main())
