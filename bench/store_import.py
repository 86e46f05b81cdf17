"""Benchmark of the deal store: imports on SQLite and PostgreSQL, and `deals show`.

    python bench/store_import.py [--deals N] [--skip-postgres]

1. The 8,800 Maven CRM opportunities into SQLite (target < 3 s), next to a
   plain ``csv.reader`` pass over the same file as a baseline.
2. N generated deals with history (default 1,000,000; 50,000 with
   PLAYBOOK_BENCH_QUICK=1) into SQLite and into PostgreSQL (a throwaway server,
   or $PLAYBOOK_TEST_POSTGRES_URL), target < 3 min each, with the peak RSS of
   the importing process (it must stay flat: rows are streamed in batches).
3. ``deals show`` of a deal with 1,000 history rows (target < 100 ms).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAVEN = ROOT / ".." / "shared" / "datasets" / "maven-crm"
EXAMPLE = ROOT / "examples" / "maven-crm"
NOW = datetime(2025, 1, 6, tzinfo=UTC)
GENERATED_MAPPING = """\
external_id: opportunity_id
owner: sales_agent
stage:
  column: deal_stage
  values: {Prospecting: prospecting, Engaging: engaging, Won: won, Lost: lost}
stage_dates: {engaging: engage_date, won: close_date, lost: close_date}
fields:
  product: {column: product, values: {GTXPro: GTX Pro}}
  account: account
  close_value: close_value
"""
PRODUCTS = ["GTX Basic", "GTXPro", "MG Special", "MG Advanced", "GTX Plus Pro", "GTK 500"]


def main() -> int:
    """Run every benchmark and print one line per figure; 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick = os.environ.get("PLAYBOOK_BENCH_QUICK") == "1"
    parser.add_argument("--deals", type=int, default=50_000 if quick else 1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--child", nargs=3, metavar=("URL", "CSV", "FOLDER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        _big_import(*args.child)
        return 0
    work = Path(tempfile.mkdtemp(prefix="playbook-bench-"))
    ok = True
    try:
        ok &= _maven(work)
        generated = _generate(work, args.deals)
        ok &= _in_child(f"sqlite:///{work / 'big.db'}", generated, work)
        if not args.skip_postgres:
            ok &= _postgres(generated, work)
        ok &= _show(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def _report(name: str, seconds: float, target: float, extra: str = "") -> bool:
    verdict = "ok" if seconds < target else "SLOW"
    print(f"{name:<48} {seconds:8.2f} s  (target < {target:g} s) {verdict} {extra}".rstrip())
    return seconds < target


def _store(url: str):  # type: ignore[no-untyped-def]
    from playbook.store.db import open_database
    from playbook.store.repository import DealStore
    from playbook.store.schema import upgrade

    database = open_database(url, check_schema=False)
    upgrade(database)
    return DealStore(database)


def _maven(work: Path) -> bool:
    if not (MAVEN / "sales_pipeline.csv").exists():
        print(f"Maven data set not found at {MAVEN}: skipped")
        return True
    from playbook.store.importer import import_deals
    from playbook.store.mapping import read_mapping
    from playbook.store.playbooks import playbook_from_file

    for source in [*MAVEN.glob("*.csv"), *EXAMPLE.glob("*.yaml")]:
        shutil.copy(source, work / source.name)
    started = time.perf_counter()
    with (work / "sales_pipeline.csv").open(newline="") as handle:
        rows = sum(1 for _ in csv.reader(handle))
    baseline = time.perf_counter() - started
    store = _store(f"sqlite:///{work / 'maven.db'}")
    started = time.perf_counter()
    playbook, _ = playbook_from_file(work / "playbook.yaml")
    mapping = read_mapping(work / "mapping.yaml")
    report = import_deals(store, playbook, work / "sales_pipeline.csv", mapping=mapping, now=NOW)
    seconds = time.perf_counter() - started
    store.database.dispose()
    print(f"{'csv.reader baseline (' + str(rows - 1) + ' rows)':<48} {baseline:8.3f} s")
    return _report(f"Maven import, SQLite ({report.created:,} deals)", seconds, 3.0)


def _generate(work: Path, count: int) -> Path:
    """A Maven-shaped CSV of ``count`` deals with dates (so each has 1-3 stage changes)."""
    path = work / "generated.csv"
    shutil.copy(EXAMPLE / "playbook.yaml", work / "playbook.yaml")
    (work / "generated.yaml").write_text(GENERATED_MAPPING, encoding="utf-8")
    rng = random.Random(7)
    start = datetime(2016, 1, 1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "opportunity_id",
                "sales_agent",
                "product",
                "account",
                "deal_stage",
                "engage_date",
                "close_date",
                "close_value",
            ]
        )
        for n in range(count):
            stage = rng.choice(["Prospecting", "Engaging", "Won", "Won", "Lost"])
            engaged = start + timedelta(days=rng.randrange(700))
            closed = engaged + timedelta(days=rng.randrange(1, 120))
            writer.writerow(
                [
                    f"G{n:09d}",
                    f"agent {n % 97}",
                    rng.choice(PRODUCTS),
                    f"account {n % 1000}",
                    stage,
                    "" if stage == "Prospecting" else engaged.date().isoformat(),
                    closed.date().isoformat() if stage in ("Won", "Lost") else "",
                    rng.randrange(50, 30000) if stage == "Won" else "",
                ]
            )
    return path


def _big_import(url: str, generated: str, work: str) -> None:
    """(in a child process) Import the generated file and print the figures as JSON."""
    from playbook.store.importer import import_deals
    from playbook.store.mapping import read_mapping
    from playbook.store.playbooks import playbook_from_file

    store = _store(url)
    playbook, _ = playbook_from_file(Path(work) / "playbook.yaml")
    mapping = read_mapping(Path(work) / "generated.yaml")
    report = import_deals(store, playbook, generated, mapping=mapping, now=NOW, batch_size=5000)
    store.database.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = [report.seconds, report.created, report.stage_changes, rss, store.database.dialect]
    print(json.dumps(figures))


def _in_child(url: str, generated: Path, work: Path) -> bool:
    """Run an import in a fresh process, so that its peak RSS is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, str(generated), str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"import into {url} failed:\n{done.stderr[-3000:]}")
        return False
    seconds, created, changes, rss, dialect = json.loads(done.stdout.strip().splitlines()[-1])
    extra = f"{changes:,} stage changes, peak RSS {rss:,.0f} MiB"
    return _report(f"generated import, {dialect} ({created:,} deals)", seconds, 180.0, extra)


def _postgres(generated: Path, work: Path) -> bool:
    from playbook.store.testing import ThrowawayPostgres, find_postgres_bin, fresh_database

    given = os.environ.get("PLAYBOOK_TEST_POSTGRES_URL")
    if given:
        with fresh_database(given) as url:
            return _in_child(url, generated, work)
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        print("PostgreSQL binaries not found: PostgreSQL import skipped")
        return True
    with ThrowawayPostgres(bin_dir) as server, fresh_database(server.url) as url:
        return _in_child(url, generated, work)


def _show(work: Path) -> bool:
    from playbook.cli.deals import render_history
    from playbook.deals import Actor
    from playbook.engine import Engine
    from playbook.store.playbooks import playbook_from_file

    store = _store(f"sqlite:///{work / 'show.db'}")
    playbook, _ = playbook_from_file(work / "playbook.yaml")
    actor = Actor("rep", frozenset({"sales_agent"}))
    deal = store.add_deal(playbook, actor=actor, now=NOW, external_id="D-1")
    for n in range(999):
        store.log_activity("D-1", "call", actor="rep", now=NOW + timedelta(minutes=n))
    engine = Engine(playbook)
    started = time.perf_counter()
    found = store.get("D-1")
    steps = engine.next_steps(found.state(playbook), now=NOW)
    text = render_history(store.history("D-1"))
    seconds = time.perf_counter() - started
    store.database.dispose()
    assert deal.id == found.id
    assert steps.stage == "prospecting"
    assert text.count("\n") == 1000
    return _report("deals show, 1,000 history rows", seconds, 0.1)


if __name__ == "__main__":
    sys.exit(main())
