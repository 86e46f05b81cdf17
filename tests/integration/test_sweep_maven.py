"""``playbook sweep --format json`` on the real Maven CRM export (8,800 deals).

The example playbook's ``engaging_60_days`` rule escalates deals that sat in
Engaging for 60 days to the agent's manager, read from ``sales_teams.csv``
through the people table. Skipped when the shared data set is absent.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from playbook.cli import main
from playbook.definition.files import playbook_from_file
from playbook.store.db import Database
from playbook.store.importer import import_deals
from playbook.store.mapping import read_mapping
from playbook.store.repository import DealStore

ROOT = Path(__file__).resolve().parents[2]
MAVEN = ROOT / ".." / "shared" / "datasets" / "maven-crm"
EXAMPLE = ROOT / "examples" / "maven-crm"


@pytest.fixture
def maven_db(database: Database, tmp_path: Path) -> tuple[str, Path]:
    """The store with the Maven pipeline imported; returns its URL and the playbook path."""
    if not (MAVEN / "sales_pipeline.csv").exists():
        pytest.skip(f"the Maven CRM data set is not at {MAVEN}")
    for name in ("sales_pipeline.csv", "sales_teams.csv", "accounts.csv"):
        shutil.copy(MAVEN / name, tmp_path / name)
    for name in ("playbook.yaml", "mapping.yaml"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    playbook, text = playbook_from_file(tmp_path / "playbook.yaml")
    store = DealStore(database)
    now = datetime(2018, 1, 1, tzinfo=UTC)
    store.register_playbook(playbook, text, now=now)
    mapping = read_mapping(tmp_path / "mapping.yaml")
    import_deals(store, playbook, tmp_path / "sales_pipeline.csv", now=now, mapping=mapping)
    return database.engine.url.render_as_string(hide_password=False), tmp_path / "playbook.yaml"


@pytest.mark.slow
def test_maven_sweep_lists_each_escalation_with_the_manager_by_name(
    maven_db: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Every deal 60 days in Engaging goes to its manager, named; a second sweep adds nothing."""
    url, playbook = maven_db
    args = ["sweep", "--playbook", str(playbook), "--db", url, "--now", "2017-12-31T18:00:00Z"]
    assert main([*args, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    sixty = [item for item in report["fired"] if item["rule"] == "engaging_60_days"]
    assert len(sixty) > 1000
    managers = {item["notified"][0]["name"] for item in sixty}
    assert managers <= {
        "Dustin Brinkmann",
        "Melvin Marxen",
        "Cara Losch",
        "Rocco Neubert",
        "Celia Rouche",
        "Summer Sewald",
    }
    assert len(managers) == 6
    first = sixty[0]
    assert first["notified"][0]["as"] == "manager"
    assert first["trigger"]["kind"] == "in_stage"
    assert first["trigger"]["duration"] == "60 days"
    assert first["stage"] == "engaging"
    assert main([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["fired"] == []
