"""Exactly once across processes: concurrent sweeps, sweeps killed with SIGKILL, the worker.

Every test drives the real command line (``python -m playbook``) in separate
processes against SQLite and PostgreSQL. 60 deals each have three levels due,
so 180 escalations must be recorded, and each one delivered to a JSON Lines
sink, whatever happens to the processes on the way.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from playbook.definition.files import playbook_from_text
from playbook.escalation.admin import list_escalations
from playbook.store.db import Database
from playbook.store.escalation_models import Delivery
from playbook.store.repository import DealStore
from playbook.values import Actor

PLAYBOOK = """\
playbook: once-test
version: 1
title: Once test
timezone: Asia/Shanghai
calendar: {holidays: CN}
roles:
  executive: {title: Executive}
stages:
  - {id: lead, title: Lead}
  - {id: won, title: Won, outcome: won}
  - {id: lost, title: Lost, outcome: lost}
escalations:
  - id: stale
    trigger: {in_stage: {days: 3}}
    levels:
      - notify: [owner]
      - notify: [manager]
        after: {working_days: 2}
      - notify: [executive]
        after: {working_days: 4}
"""

DEALS = 60
EXPECTED = DEALS * 3
CREATED = datetime.now(UTC).replace(microsecond=0) - timedelta(days=60)
NOW = (CREATED + timedelta(days=20)).isoformat()  # every level of every deal is due


@pytest.fixture
def setup(database: Database, tmp_path: Path) -> tuple[Path, str]:
    """A playbook file and a store holding :data:`DEALS` deals, all with every level due."""
    path = tmp_path / "once.yaml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    playbook = playbook_from_text(PLAYBOOK, str(path))
    store = DealStore(database)
    actor = Actor("ann", frozenset({"executive"}))
    for n in range(DEALS):
        created = CREATED + timedelta(minutes=n)
        store.add_deal(playbook, actor=actor, now=created, external_id=f"D-{n}", owner="ann")
    return path, database.engine.url.render_as_string(hide_password=False)


def command(path: Path, url: str, jsonl: Path, *extra: str) -> list[str]:
    """``playbook sweep`` with a JSON Lines sink, as a subprocess argument list."""
    return [
        sys.executable,
        "-m",
        "playbook",
        "sweep",
        "--playbook",
        str(path),
        "--db",
        url,
        "--now",
        NOW,
        "--sink",
        f"jsonl:{jsonl}",
        *extra,
    ]


def delivered(jsonl: Path) -> list[int]:
    """The escalation ids in the JSON Lines file, one per line written."""
    if not jsonl.exists():
        return []
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["escalation"]["id"] for line in lines]


def assert_exactly_once(database: Database) -> set[int]:
    """Every (deal, level) recorded once and every delivery sent; return the escalation ids."""
    views = list_escalations(database, limit=None)
    keys = [(view.deal, view.rule, view.level) for view in views]
    assert len(keys) == len(set(keys)) == EXPECTED
    with database.transaction() as session:
        states = [row.status for row in session.query(Delivery)]
    assert states == ["sent"] * EXPECTED
    return {view.id for view in views}


@pytest.mark.slow
def test_four_concurrent_sweeps_fire_and_deliver_each_escalation_once(
    database: Database, setup: tuple[Path, str], tmp_path: Path
) -> None:
    """Four processes sweep at the same moment: together they report 180, each once."""
    path, url = setup
    jsonl = tmp_path / "out.jsonl"
    processes = [
        subprocess.Popen(
            command(path, url, jsonl, "--format", "json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    reported = [(f["deal"], f["level"]) for report in reports for f in report["fired"]]
    assert len(reported) == len(set(reported)) == EXPECTED
    ids = assert_exactly_once(database)
    assert sorted(delivered(jsonl)) == sorted(ids)  # no crash: not one duplicate


@pytest.mark.slow
def test_sweeps_killed_at_random_points_then_finished_fire_each_once(
    database: Database, setup: tuple[Path, str], tmp_path: Path
) -> None:
    """50 sweeps die by SIGKILL at random moments; a last one finishes: nothing twice, none lost."""
    path, url = setup
    jsonl = tmp_path / "out.jsonl"
    rng = random.Random(5)
    for _ in range(50):
        process = subprocess.Popen(
            command(path, url, jsonl, "--delivery-lease", "0s"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    done = subprocess.run(
        command(path, url, jsonl, "--delivery-lease", "0s"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ids = assert_exactly_once(database)
    sent = delivered(jsonl)
    assert set(sent) == ids  # none lost
    # A repeat only happens for a delivery whose sweep died between sending and marking it.
    assert len(sent) - len(ids) <= 50


@pytest.mark.slow
def test_the_worker_stops_cleanly_on_sigterm(
    database: Database, setup: tuple[Path, str], tmp_path: Path
) -> None:
    """SIGTERM during the schedule: the worker finishes its sweep and exits 0."""
    path, url = setup
    jsonl = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "playbook",
            "worker",
            "--playbook",
            str(path),
            "--db",
            url,
            "--every",
            "1s",
            "--sink",
            f"jsonl:{jsonl}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # the first sweep's summary
    assert "fired" in first
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopped by signal" in err
    assert_exactly_once(database)
