"""Benchmark of the escalation sweep on SQLite and PostgreSQL, against a naive loop.

    python bench/sweep.py [--deals N] [--skip-postgres]

N generated deals (default 1,000,000; 20,000 with PLAYBOOK_BENCH_QUICK=1) under
one 30-day ``in_stage`` rule with a ``when`` condition. On each database:

1. *nothing due*: every deal entered its stage 0-25 days ago; the sweep finds
   nothing to fire (target < 2 s);
2. 5% of the deals are then moved 45-90 days back into their stage, and
3. *naive loop* (the baseline, same run, same data): load every deal, build
   the engine's view of it, evaluate the rule in Python;
4. *sweep*: candidates selected in SQL, each level recorded once (target
   < 10 s on SQLite and at least 10x faster than the naive loop; its peak RSS
   is compared with the naive loop's);
5. *repeat*: the same sweep again, when everything due has fired already and
   nothing new is due (target < 2 s).

The naive loop reads and evaluates every deal whatever is due, so its time
also serves as the baseline of the two "nothing due" figures. Each figure is
measured in a child process, which reports its own peak RSS. Every line is one
figure with its ratio to the baseline; the PostgreSQL server's settings are
printed before its figures.
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

from playbook.services import deal_state

NOW = datetime(2026, 3, 18, 6, 0, tzinfo=UTC)
DUE_SHARE = 0.05
SQLITE_TARGET_S = 10.0
NOTHING_DUE_TARGET_S = 2.0
MIN_RATIO = 10.0
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
_SERVER_SETTINGS = ("shared_buffers", "work_mem", "effective_cache_size", "max_wal_size", "fsync")


def main() -> int:
    """Measure on each database and print one line per figure; 1 when a target is missed."""
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
        ok &= _run("sqlite", f"sqlite:///{work / 'sweep.db'}", playbook, args.deals)
        if not args.skip_postgres:
            ok &= _postgres(playbook, args.deals)
    return 0 if ok else 1


def _postgres(playbook: Path, deals: int) -> bool:
    from playbook.store.testing import ThrowawayPostgres, find_postgres_bin, fresh_database

    given = os.environ.get("PLAYBOOK_TEST_POSTGRES_URL")
    if given:
        with fresh_database(given) as url:
            return _run("postgres", url, playbook, deals)
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        print("sweep.postgres skipped: PostgreSQL binaries not found")
        return True
    with ThrowawayPostgres(bin_dir) as server, fresh_database(server.url) as url:
        return _run("postgres", url, playbook, deals)


def _run(name: str, url: str, playbook: Path, deals: int) -> bool:
    """Generate, measure and print the figures of one database; False when a target is missed."""
    size = f"{deals // 1000}k" if deals < 1_000_000 else f"{deals // 1_000_000}m"
    figure = f"sweep.{name}_{size}"
    if name == "postgres":
        print(f"{figure}_server {_server_settings(url)}", flush=True)
    _generate(url, deals)
    idle = _child("sweep", url, playbook)
    due = _age(url, deals)
    naive = _child("naive", url, playbook)
    swept = _child("sweep", url, playbook)
    again = _child("sweep", url, playbook)
    assert idle["fired"] == 0, idle
    assert again["fired"] == 0, again
    assert naive["due"] == swept["fired"] == due, (naive, swept, due)
    base, seconds = naive["seconds"], swept["seconds"]
    limit = SQLITE_TARGET_S if name == "sqlite" else None
    checks = [
        (
            f"{figure}_naive_s {base:.1f} (the baseline: loads every deal and evaluates the rule "
            f"in Python; {due} due; peak RSS {naive['rss_mb']:.0f} MB)",
            None,
        ),
        (
            f"{figure}_s {seconds:.2f} ({base / seconds:.1f}x faster than the naive loop, target "
            f">= {MIN_RATIO:g}x{f' and < {limit:g} s' if limit else ''}; {due} fired)",
            base / seconds >= MIN_RATIO and (limit is None or seconds < limit),
        ),
        (
            f"{figure}_peak_rss_mb {swept['rss_mb']:.0f} ({swept['rss_mb'] / naive['rss_mb']:.1f}x "
            f"the naive loop's {naive['rss_mb']:.0f} MB, which keeps no deal; the sweep's report "
            f"holds all {due} escalations)",
            None,
        ),
        _nothing_due(f"{figure}_nothing_due_s", idle, base, "no deal is due at all"),
        _nothing_due(f"{figure}_repeat_s", again, base, f"all {due} fired already, none new"),
    ]
    full = deals >= 1_000_000
    for line, met in checks:
        verdict = "" if met is None or not full else " ok" if met else " MISSED"
        print(line + verdict, flush=True)
    if not full:
        print(f"{figure}: the targets are for 1,000,000 deals, not checked at {deals:,}")
    return not full or all(met for _line, met in checks if met is not None)


def _nothing_due(figure: str, run: dict[str, Any], naive: float, what: str) -> tuple[str, bool]:
    seconds = run["seconds"]
    line = (
        f"{figure} {seconds:.2f} ({naive / seconds:.0f}x faster than the naive loop, target "
        f"< {NOTHING_DUE_TARGET_S:g} s; {what}; peak RSS {run['rss_mb']:.0f} MB)"
    )
    return line, seconds < NOTHING_DUE_TARGET_S


def _server_settings(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            shown = [
                f"{name}={connection.execute(text(f'SHOW {name}')).scalar()}"
                for name in _SERVER_SETTINGS
            ]
            version = connection.execute(text("SHOW server_version")).scalar()
    finally:
        engine.dispose()
    return f"PostgreSQL {version}, " + ", ".join(shown)


# --- data ----------------------------------------------------------------------------------

_DEAL_COLUMNS = (
    "external_id", "playbook_id", "playbook_version", "stage", "owner", "manager", "fields",
    "actions", "created_at", "updated_at", "updated_by", "stage_entered_at", "last_activity_at",
    "version",
)  # fmt: skip


def _generate(url: str, count: int) -> None:
    """Write ``count`` deals, each 0-25 days in its stage: nothing is due.

    Rows go in through each driver's fastest path (COPY on PostgreSQL).
    """
    from playbook.store.db import open_database
    from playbook.store.schema import upgrade

    database = open_database(url, check_schema=False)
    upgrade(database)
    rng = random.Random(1)
    raw = database.engine.raw_connection()
    try:
        if database.dialect == "sqlite":
            raw.execute("BEGIN")  # the store's SQLite connections run in autocommit mode
        for start in range(0, count, 50_000):
            rows = [_deal(n, rng) for n in range(start, min(count, start + 50_000))]
            _write(raw, database.dialect, rows)
        raw.commit()
    finally:
        raw.close()
    _analyze(database)
    database.dispose()


def _deal(n: int, rng: random.Random) -> tuple[Any, ...]:
    entered = NOW - timedelta(days=rng.uniform(0, 25))
    return (
        f"B-{n}", "bench-sweep", 1, "lead" if n % 2 else "offer", f"rep{n % 50}",
        f"manager{n % 7}", json.dumps({"amount": f"{1000 + n % 997}.00"}), "{}",
        entered - timedelta(days=1), entered, "bench", entered, entered, 1,
    )  # fmt: skip


def _write(raw: Any, dialect: str, rows: list[tuple[Any, ...]]) -> None:
    columns = ", ".join(_DEAL_COLUMNS)
    cursor = raw.cursor()
    if dialect == "sqlite":
        marks = ", ".join("?" * len(_DEAL_COLUMNS))
        cursor.executemany(
            f"INSERT INTO playbook_deals ({columns}) VALUES ({marks})",
            [tuple(_sqlite(value) for value in row) for row in rows],
        )
    else:
        with cursor.copy(f"COPY deals ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    cursor.close()


def _age(url: str, count: int) -> int:
    """Move :data:`DUE_SHARE` of the deals 45-90 days back into their stage; return how many."""
    from playbook.store.db import open_database

    rng = random.Random(2)
    aged = []
    for n in range(count):
        if rng.random() < DUE_SHARE:
            entered = NOW - timedelta(days=rng.uniform(45, 90))
            aged.append((entered - timedelta(days=1), entered, entered, entered, f"B-{n}"))
    database = open_database(url)
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        mark = "?" if database.dialect == "sqlite" else "%s"
        if database.dialect == "sqlite":
            raw.execute("BEGIN")
            aged_rows = [tuple(_sqlite(value) for value in row) for row in aged]
        else:
            aged_rows = aged
        cursor.executemany(
            f"UPDATE playbook_deals SET created_at = {mark}, updated_at = {mark}, "
            f"stage_entered_at = {mark}, last_activity_at = {mark} "
            f"WHERE playbook_id = 'bench-sweep' AND external_id = {mark}",
            aged_rows,
        )
        raw.commit()
    finally:
        raw.close()
    _analyze(database)
    database.dispose()
    return len(aged)


def _analyze(database: Any) -> None:
    """Fresh planner statistics (and on PostgreSQL no dead rows), as autovacuum would leave them."""
    if database.dialect == "sqlite":
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        return
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")  # VACUUM cannot run inside a transaction


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # the store's UTC text
    return value


# --- one timed run, in a child process -----------------------------------------------------


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
    from playbook.definition.files import playbook_from_file
    from playbook.escalation.sweep import sweep
    from playbook.store.db import open_database

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
    from playbook.escalation.rules import due_at
    from playbook.runtime.calendar import WorkingCalendar
    from playbook.store.repository import DealStore

    calendar = WorkingCalendar.from_playbook(playbook)
    rule = playbook.escalations[0]
    stages = set(rule.stages or ())
    due = 0
    for deal in DealStore(database).list_deals(playbook_id=playbook.id):
        state = deal_state(deal, playbook)
        if state.stage not in stages or not rule.when.test(state.fields):
            continue
        at = due_at(calendar, deal.stage_entered_at, rule.trigger.duration, rule.levels[0].after)
        due += at <= NOW
    return due


if __name__ == "__main__":
    sys.exit(main())
