"""Benchmark of the deal store: imports on SQLite and PostgreSQL, and `deals show`.

    python bench/store_import.py [--deals N] [--repeat R] [--skip-postgres]

Prints one figure per line, each with its target and its baseline:

1. ``store_import.maven_sqlite_s``: the 8,800 Maven CRM opportunities into
   SQLite (target < 3 s), next to a bare ``csv.reader`` pass over the same
   file measured in the same run.
2. ``store_import.sqlite_<N>_s`` and ``store_import.postgresql_<N>_s``: N
   generated deals with history (default 1,000,000; 50,000 with
   PLAYBOOK_BENCH_QUICK=1) into SQLite and into PostgreSQL (a throwaway server,
   or $PLAYBOOK_TEST_POSTGRES_URL), target < 3 min each. Each import runs in a
   child process that reports its peak RSS after a tenth of the rows and at
   the end: the two stay close because rows are streamed in batches. The
   line also gives the CPU time of that process and the machine's load
   average when it started: on a busy machine the wall time grows, the CPU
   time much less. With ``--repeat R`` the best of R runs is shown.
3. ``store_import.deals_show_ms``: ``deals show`` of a deal with 1,000 history
   rows (target < 100 ms).

``main()`` returns 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playbook.services import deal_state

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


MAVEN_TARGET_S = 3.0
BIG_TARGET_S = 180.0
SHOW_TARGET_MS = 100.0


def main() -> int:
    """Run every benchmark and print one line per figure; 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick = os.environ.get("PLAYBOOK_BENCH_QUICK") == "1"
    parser.add_argument("--deals", type=int, default=50_000 if quick else 1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of this many big imports")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--child", nargs=3, metavar=("URL", "CSV", "FOLDER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        _big_import(*args.child)
        return 0
    work = Path(tempfile.mkdtemp(prefix="playbook-bench-"))
    ok = True
    try:
        ok &= _maven(work)
        generated = _generate(work, args.deals)
        ok &= _big("sqlite", args.repeat, lambda: _sqlite_url(work), generated, work)
        if not args.skip_postgres:
            ok &= _postgres(args.repeat, generated, work)
        ok &= _show(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def _store(url: str):  # type: ignore[no-untyped-def]
    from playbook.store.db import open_database
    from playbook.store.repository import DealStore
    from playbook.store.schema import upgrade

    database = open_database(url, check_schema=False)
    upgrade(database)
    return DealStore(database)


def _maven(work: Path) -> bool:
    if not (MAVEN / "sales_pipeline.csv").exists():
        print(f"store_import.maven_sqlite_s skipped: the Maven data set is not at {MAVEN}")
        return True
    from playbook.definition.files import playbook_from_file
    from playbook.store.importer import import_deals
    from playbook.store.mapping import read_mapping

    for source in [*MAVEN.glob("*.csv"), *EXAMPLE.glob("*.yaml")]:
        shutil.copy(source, work / source.name)
    rows, baseline = _csv_pass(work / "sales_pipeline.csv")
    store = _store(f"sqlite:///{work / 'maven.db'}")
    started = time.perf_counter()
    playbook, _ = playbook_from_file(work / "playbook.yaml")
    mapping = read_mapping(work / "mapping.yaml")
    report = import_deals(store, playbook, work / "sales_pipeline.csv", mapping=mapping, now=NOW)
    seconds = time.perf_counter() - started
    store.database.dispose()
    print(
        f"store_import.maven_sqlite_s {seconds:.2f} (target < {MAVEN_TARGET_S:g}; "
        f"{report.created:,} deals, {report.stage_changes:,} stage changes; "
        f"{seconds / baseline:.0f}x a bare csv.reader pass over the {rows:,} rows, "
        f"{baseline * 1000:.1f} ms)"
    )
    return report.created == rows and seconds < MAVEN_TARGET_S


def _csv_pass(path: Path) -> tuple[int, float]:
    """The baseline: how many data rows a bare ``csv.reader`` pass finds, and its seconds."""
    started = time.perf_counter()
    with path.open(newline="") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    return rows, time.perf_counter() - started


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
    from playbook.definition.files import playbook_from_file
    from playbook.store.importer import import_deals
    from playbook.store.mapping import read_mapping

    store = _store(url)
    playbook, _ = playbook_from_file(Path(work) / "playbook.yaml")
    mapping = read_mapping(Path(work) / "generated.yaml")
    with Path(generated).open("rb") as handle:
        rows = sum(1 for _ in handle) - 1
    early: list[tuple[int, float]] = []

    def progress(done: int) -> None:
        if not early and done >= rows // 10:
            early.append((done, _peak_rss_mib()))

    load = os.getloadavg()[0]
    cpu = time.process_time()
    report = import_deals(store, playbook, generated, mapping=mapping, now=NOW, progress=progress)
    cpu = time.process_time() - cpu
    store.database.dispose()
    figures = {
        "seconds": report.seconds,
        "cpu": cpu,
        "load": load,
        "created": report.created,
        "changes": report.stage_changes,
        "failed": report.failed,
        "early_rows": early[0][0] if early else rows,
        "early_rss": early[0][1] if early else _peak_rss_mib(),
        "rss": _peak_rss_mib(),
    }
    print(json.dumps(figures))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_child(url: str, generated: Path, work: Path) -> dict[str, Any] | None:
    """Run an import in a fresh process, so that its peak RSS is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, str(generated), str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"import into {url} failed:\n{done.stderr[-3000:]}")
        return None
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _big(
    dialect: str,
    repeat: int,
    fresh_url: Callable[[], AbstractContextManager[str]],
    generated: Path,
    work: Path,
) -> bool:
    """The best of ``repeat`` imports of the generated file, each into an empty database."""
    runs = []
    for _ in range(max(1, repeat)):
        with fresh_url() as url:
            figures = _in_child(url, generated, work)
        if figures is None:
            return False
        runs.append(figures)
    best = min(runs, key=lambda figures: float(figures["seconds"]))
    seconds, deals = float(best["seconds"]), int(best["created"])
    _rows, baseline = _csv_pass(generated)
    tries = f"best of {len(runs)}: " + ", ".join(f"{run['seconds']:.1f}" for run in runs) + " s; "
    print(
        f"store_import.{dialect}_{_size(deals)}_s {seconds:.1f} (target < {BIG_TARGET_S:g}: "
        f"{seconds / BIG_TARGET_S:.2f} of it; {tries if len(runs) > 1 else ''}"
        f"{deals:,} deals, {best['changes']:,} stage changes, {deals / seconds:,.0f} deals/s; "
        f"CPU {best['cpu']:.0f} s in the importing process, load average {best['load']:.1f} "
        f"at the start; peak RSS {best['early_rss']:.0f} MiB after {best['early_rows']:,} rows, "
        f"{best['rss']:.0f} MiB after all; {seconds / baseline:.0f}x a bare csv.reader pass "
        f"over the file, {baseline:.2f} s)"
    )
    return int(best["failed"]) == 0 and seconds < BIG_TARGET_S


def _size(count: int) -> str:
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}m"
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


@contextlib.contextmanager
def _sqlite_url(work: Path) -> Iterator[str]:
    path = work / "big.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _postgres(repeat: int, generated: Path, work: Path) -> bool:
    from playbook.store.testing import ThrowawayPostgres, find_postgres_bin, fresh_database

    given = os.environ.get("PLAYBOOK_TEST_POSTGRES_URL")
    if given:
        return _big("postgresql", repeat, lambda: fresh_database(given), generated, work)
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        print("store_import.postgresql skipped: PostgreSQL binaries not found")
        return True
    with ThrowawayPostgres(bin_dir) as server:
        return _big("postgresql", repeat, lambda: fresh_database(server.url), generated, work)


def _show(work: Path) -> bool:
    from playbook.cli.deals import render_history
    from playbook.definition.files import playbook_from_file
    from playbook.runtime.engine import Engine
    from playbook.values import Actor

    store = _store(f"sqlite:///{work / 'show.db'}")
    playbook, _ = playbook_from_file(work / "playbook.yaml")
    actor = Actor("rep", frozenset({"sales_agent"}))
    deal = store.add_deal(playbook, actor=actor, now=NOW, external_id="D-1")
    for n in range(999):
        store.log_activity("D-1", "call", actor="rep", now=NOW + timedelta(minutes=n))
    engine = Engine(playbook)
    started = time.perf_counter()
    found = store.get("D-1")
    steps = engine.next_steps(deal_state(found, playbook), now=NOW)
    text = render_history(store.history("D-1"))
    seconds = time.perf_counter() - started
    store.database.dispose()
    assert deal.id == found.id
    assert steps.stage == "prospecting"
    assert text.count("\n") == 1000
    print(
        f"store_import.deals_show_ms {seconds * 1000:.1f} (target < {SHOW_TARGET_MS:g}: "
        f"{seconds * 1000 / SHOW_TARGET_MS:.2f} of it; a deal with 1,000 history rows, SQLite)"
    )
    return seconds * 1000 < SHOW_TARGET_MS


if __name__ == "__main__":
    sys.exit(main())
