"""Issue #12: version drift is loud, and a sweep evaluates each deal by its pinned version.

Version 1 of the playbook flags a lead after 3 days in the stage, version 2
after 10. Some deals are pinned to version 1, the others to version 2 (as
after ``playbook migrate``); both texts are registered in the store. A sweep
run with the old file must warn and must not fire version 1's rule on the
deals pinned to version 2.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from playbook.cli import cli
from playbook.definition.files import playbook_from_text
from playbook.escalation.sweep import sweep
from playbook.services import pinned_playbooks, version_drift
from playbook.store.db import Database
from playbook.store.repository import DealStore
from playbook.values import Actor

V1 = """\
playbook: drift
version: {version}
title: {{en: Drift, zh: 版本漂移}}
timezone: UTC
stages:
  - {{id: lead, title: {{en: Lead, zh: 线索}}}}
  - {{id: won, title: Won, outcome: won}}
  - {{id: lost, title: Lost, outcome: lost}}
escalations:
  - id: stale
    title: {{en: Stale lead, zh: 线索停滞}}
    trigger: {{in_stage: {{days: {days}}}}}
    stages: [lead]
    levels:
      - notify: [owner]
kpis:
  - {{id: leads, metric: stage_entries, stage: lead, period: quarter, target: {{min: 1}}}}
"""
OLD = V1.format(version=1, days=3)
NEW = V1.format(version=2, days=10)
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SWEEP_AT = START + timedelta(days=5)  # past version 1's 3 days, short of version 2's 10
REP = Actor("rep", frozenset({"rep"}))
PINNED = {"A1": 1, "A2": 1, "B1": 2, "B2": 2, "B3": 2}


@pytest.fixture
def drifted(database: Database) -> Database:
    """Both versions registered; deals A* pinned to version 1, B* to version 2."""
    store = DealStore(database)
    models = {1: playbook_from_text(OLD, "drift-v1.yaml"), 2: playbook_from_text(NEW, "drift.yaml")}
    for version, text in ((1, OLD), (2, NEW)):
        store.register_playbook(models[version], text, now=START)
    for ref, version in PINNED.items():
        store.add_deal(models[version], actor=REP, now=START, external_id=ref, owner="ann")
    return database


def _expected_fired() -> set[str]:
    """The deals 5 days in lead that their own version's rule flags: 3 days < 5 < 10."""
    days = {1: 3, 2: 10}
    waited = (SWEEP_AT - START).total_seconds() / 86400
    return {ref for ref, version in PINNED.items() if waited >= days[version]}


def test_drift_counts_the_deals_per_version(drifted: Database) -> None:
    """The old file drifts: 2 deals on version 1, 3 on version 2, both texts registered."""
    store = DealStore(drifted)
    drift = version_drift(store, playbook_from_text(OLD, "drift-v1.yaml"))
    assert drift is not None
    counts = {v: sum(1 for x in PINNED.values() if x == v) for v in set(PINNED.values())}
    assert drift.deals == counts
    assert drift.registered == frozenset(counts)
    assert sorted(pinned_playbooks(store, drift)) == sorted(counts)


def test_sweep_evaluates_each_deal_by_its_pinned_version(drifted: Database) -> None:
    """With the old file and the pinned versions, only version 1's deals fire."""
    old = playbook_from_text(OLD, "drift-v1.yaml")
    store = DealStore(drifted)
    pinned = pinned_playbooks(store, version_drift(store, old))
    report = sweep(drifted, old, now=SWEEP_AT, pinned=pinned)
    refs = {item.deal for item in report.fired}
    assert refs == _expected_fired() == {"A1", "A2"}
    # A second sweep, now with the new file: nothing more fires, nothing is resolved.
    new = playbook_from_text(NEW, "drift.yaml")
    again = sweep(
        drifted, new, now=SWEEP_AT, pinned=pinned_playbooks(store, version_drift(store, new))
    )
    assert (again.fired, again.resolved) == ([], 0)


def test_sweep_cli_warns_and_keeps_the_exit_code(
    drifted: Database, db_url: str, tmp_path: Path
) -> None:
    """`playbook sweep` with the old file says which versions the deals are on (stderr) and
    fires only the deals its version applies to; exit code 0."""
    path = tmp_path / "drift-v1.yaml"
    path.write_text(OLD, encoding="utf-8")
    args = ["sweep", "--playbook", str(path), "--db", db_url, "--now", SWEEP_AT.isoformat()]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "drift version 1" in result.stderr
    assert "version 1 (2 deals) and version 2 (3 deals)" in result.stderr
    assert "evaluated by that version's rules" in result.stderr
    fired = {item["deal"] for item in json.loads(result.stdout)["fired"]}
    assert fired == _expected_fired()


@pytest.mark.parametrize("command", ["kpi", "review"])
def test_kpi_and_review_warn_on_drift(
    drifted: Database, db_url: str, tmp_path: Path, command: str
) -> None:
    """`kpi` and `review` with the old file warn on stderr, in Chinese with --lang zh, and
    exit as they would have."""
    path = tmp_path / "drift-v1.yaml"
    path.write_text(OLD, encoding="utf-8")
    args = [command, "--playbook", str(path), "--db", db_url, "--lang", "zh"]
    args += ["--now", SWEEP_AT.isoformat()]
    args += ["--owner", "ann"] if command == "review" else ["--period", "2026-Q1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "第 1 版（2 个商机）、第 2 版（3 个商机）" in result.stderr
    assert "playbook migrate" in result.stderr


def test_no_warning_when_every_deal_is_on_the_file_version(
    drifted: Database, db_url: str, tmp_path: Path
) -> None:
    """A playbook whose every deal is pinned to the file's version does not drift: no warning."""
    text = NEW.replace("playbook: drift", "playbook: steady")
    steady = playbook_from_text(text, "steady.yaml")
    store = DealStore(drifted)
    store.add_deal(steady, actor=REP, now=START, external_id="S1", owner="ann")
    assert version_drift(store, steady) is None
    path = tmp_path / "steady.yaml"
    path.write_text(text, encoding="utf-8")
    args = ["sweep", "--playbook", str(path), "--db", db_url, "--now", SWEEP_AT.isoformat()]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
