"""Each CRM preset imports its documented sample file, on SQLite and PostgreSQL.

The stage each deal ends in is counted here in plain Python from the raw CSV
and a stage table written out again below (not read from the preset), and
compared with what the store holds; HubSpot's "Date entered" columns are
checked as the times of the stage changes.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from playbook.cli import main
from playbook.definition.files import playbook_from_text
from playbook.errors import PresetNotFoundError
from playbook.store.importer import import_deals
from playbook.store.mapping import read_mapping
from playbook.store.presets import preset_names
from playbook.store.repository import DealStore

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "examples" / "crm-presets"
PLAYBOOK = ROOT / "playbooks" / "smb-standard-funnel.yaml"
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

ZOHO = {
    "Qualification": "lead_qualification",
    "Needs Analysis": "needs_analysis",
    "Value Proposition": "needs_analysis",
    "Identify Decision Makers": "needs_analysis",
    "Proposal/Price Quote": "proposal",
    "Negotiation/Review": "negotiation",
    "Closed Won": "closed_won",
    "Closed Lost": "lost",
    "Closed Lost to Competition": "lost",
}
SALESFORCE = {
    **ZOHO,
    "Prospecting": "lead_qualification",
    "Id. Decision Makers": "needs_analysis",
    "Perception Analysis": "needs_analysis",
}
FXIAOKE = {
    "初步接洽": "lead_qualification",
    "验证客户": "lead_qualification",
    "需求确定": "needs_analysis",
    "方案/报价": "proposal",
    "谈判审核": "negotiation",
    "赢单": "closed_won",
    "输单": "lost",
    "无效": "lost",
}
HUBSPOT = {
    "Appointment scheduled": "lead_qualification",
    "Qualified to buy": "needs_analysis",
    "Presentation scheduled": "proposal",
    "Decision maker bought-in": "negotiation",
    "Contract sent": "negotiation",
    "Closed won": "closed_won",
    "Closed lost": "lost",
}
CASES = {
    "zoho": ("zoho-deals.csv", "Record Id", "Stage", ZOHO),
    "fxiaoke": ("fxiaoke-opportunities.csv", "商机编号", "商机阶段", FXIAOKE),
    "salesforce": ("salesforce-opportunities.csv", "Id", "StageName", SALESFORCE),
    "hubspot": ("hubspot-deals.csv", "Record ID", "Deal Stage", HUBSPOT),
}


def _rows(name: str) -> list[dict[str, str]]:
    with (SAMPLES / name).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _imported(store: DealStore, preset: str) -> DealStore:
    text = PLAYBOOK.read_text("utf-8")
    playbook = playbook_from_text(text, str(PLAYBOOK))
    store.register_playbook(playbook, text, now=NOW)
    report = import_deals(
        store,
        playbook,
        SAMPLES / CASES[preset][0],
        now=NOW,
        mapping=read_mapping(f"preset:{preset}"),
    )
    assert report.errors == []
    assert report.created == len(_rows(CASES[preset][0]))
    return store


def test_every_preset_has_a_case_and_a_sample() -> None:
    assert sorted(CASES) == preset_names()
    for name, *_ in CASES.values():
        assert (SAMPLES / name).is_file()


@pytest.mark.parametrize("preset", sorted(CASES))
def test_a_preset_imports_its_sample_into_the_right_stages(store: DealStore, preset: str) -> None:
    name, id_column, stage_column, stages = CASES[preset]
    _imported(store, preset)
    expected = Counter(stages[row[stage_column]] for row in _rows(name))
    assert Counter(deal.stage for deal in store.list_deals()) == expected
    for row in _rows(name):
        assert store.get(row[id_column]).stage == stages[row[stage_column]]


def test_hubspot_date_entered_columns_are_the_stage_dates(store: DealStore) -> None:
    """Each filled "Date entered <stage>" cell is when the deal entered the mapped stage."""
    _imported(store, "hubspot")
    zone = ZoneInfo("Asia/Shanghai")
    checked = 0
    for row in _rows("hubspot-deals.csv"):
        entered = {
            entry.stage: entry.at
            for entry in store.history(row["Record ID"])
            if entry.kind == "stage_change"
        }
        for label, stage in HUBSPOT.items():
            cell = row[f'Date entered "{label} (Sales Pipeline)"']
            if (
                cell and label != "Contract sent"
            ):  # negotiation's date is "Decision maker bought-in"
                when = datetime.strptime(cell, "%Y-%m-%d %H:%M").replace(tzinfo=zone)
                assert entered[stage] == when, (row["Record ID"], stage)
                checked += 1
    assert checked > len(_rows("hubspot-deals.csv"))


def test_an_unknown_preset_is_pb656_with_the_known_ones() -> None:
    with pytest.raises(PresetNotFoundError) as caught:
        read_mapping("preset:pipedrive")
    assert caught.value.code == "PB656"
    assert caught.value.details["presets"] == preset_names()


def test_the_cli_takes_preset_and_mapping_preset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["db", "init", "--db", url]) == 0
    sample = str(SAMPLES / "zoho-deals.csv")
    base = [
        "deals",
        "import",
        sample,
        "--playbook",
        str(PLAYBOOK),
        "--db",
        url,
        "--now",
        NOW.isoformat(),
    ]
    assert main([*base, "--preset", "zoho"]) == 0
    assert main([*base, "--mapping", "preset:zoho"]) == 0
    assert main([*base, "--preset", "nope"]) == 2
