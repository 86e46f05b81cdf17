"""Importing and exporting deals on SQLite and PostgreSQL, with the real Maven CRM data."""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import EXAMPLE, MAVEN
from playbook.definition.files import playbook_from_file
from playbook.errors import ImportRowError
from playbook.model import Playbook
from playbook.store.exporter import export_deals
from playbook.store.importer import import_deals
from playbook.store.mapping import read_mapping
from playbook.store.repository import DealStore

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def maven(tmp_path: Path) -> Path:
    """The Maven CSV files next to the example's playbook and mapping, as the README says."""
    if not (MAVEN / "sales_pipeline.csv").exists():
        pytest.skip(f"the Maven CRM data set is not at {MAVEN} (the shared folder is absent)")
    for source in [*MAVEN.glob("*.csv"), *EXAMPLE.glob("*.yaml")]:
        shutil.copy(source, tmp_path / source.name)
    return tmp_path


@pytest.mark.slow
def test_maven_import_gives_the_published_counts(store: DealStore, maven: Path) -> None:
    """8,800 opportunities: 4,238 won and 2,473 lost, history from the dates, joins applied."""
    playbook, _ = playbook_from_file(maven / "playbook.yaml")
    mapping = read_mapping(maven / "mapping.yaml")
    report = import_deals(store, playbook, maven / "sales_pipeline.csv", mapping=mapping, now=NOW)
    assert (report.rows, report.created, report.failed) == (8800, 8800, 0)
    stages = Counter(deal.stage for deal in store.list_deals())
    assert stages == {"won": 4238, "lost": 2473, "engaging": 1589, "prospecting": 500}
    won = store.get("1C1I7A6R")
    assert (won.manager, won.region, won.fields["sector"]) == (
        "Dustin Brinkmann",
        "Central",
        "retail",
    )
    assert store.get("Z063OYW0").fields["product"] == "GTX Pro"  # GTXPro in the file
    history = [(h.stage, h.at.date().isoformat()) for h in store.history("1C1I7A6R")]
    assert history == [
        ("prospecting", "2016-10-20"),
        ("engaging", "2016-10-20"),
        ("won", "2017-03-01"),
    ]
    prospect = next(store.list_deals(stage="prospecting", limit=1))
    assert prospect.created_at == NOW  # no dates at all: created at import time

    again = import_deals(store, playbook, maven / "sales_pipeline.csv", mapping=mapping, now=NOW)
    assert (again.created, again.updated, again.unchanged, again.stage_changes) == (0, 0, 8800, 0)
    assert store.count() == 8800


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reimport_appends_new_history_only(
    store: DealStore, sales_playbook: Playbook, tmp_path: Path
) -> None:
    """A deal that moved on in the source system gets the new stage changes, once."""
    first = _write(tmp_path / "a.csv", "external_id,stage,amount\nD-1,lead,10\nD-2,lead,\n")
    moved = _write(tmp_path / "b.csv", "external_id,stage,amount\nD-1,offer,10\nD-2,lead,5\n")
    import_deals(store, sales_playbook, first, now=NOW)
    report = import_deals(store, sales_playbook, moved, now=NOW)
    assert (report.updated, report.stage_changes) == (2, 1)
    assert [h.stage for h in store.history("D-1")] == ["lead", "offer"]
    assert store.get("D-2").fields == {"amount": "5"}
    report = import_deals(store, sales_playbook, moved, now=NOW)
    assert (report.unchanged, report.stage_changes) == (2, 0)


def test_interrupted_import_completes_without_duplicates(
    store: DealStore, sales_playbook: Playbook, tmp_path: Path
) -> None:
    """Batches already written are recognised when the import runs again."""
    rows = "".join(f"D-{n},lead\n" for n in range(25))
    file = _write(tmp_path / "deals.csv", "external_id,stage\n" + rows)
    calls = []

    def stop_after_two(done: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_deals(store, sales_playbook, file, now=NOW, batch_size=10, progress=stop_after_two)
    assert store.count() == 20
    report = import_deals(store, sales_playbook, file, now=NOW, batch_size=10)
    assert (report.created, report.unchanged) == (5, 20)
    assert store.count() == 25


def test_bad_rows_are_reported_and_good_rows_kept(
    store: DealStore, sales_playbook: Playbook, tmp_path: Path
) -> None:
    """Bad rows carry their line and reason; the others are imported (unless strict)."""
    file = _write(
        tmp_path / "deals.csv",
        "external_id,stage,amount\nD-1,lead,10\nD-2,nowhere,1\nD-3,lead,abc\nD-4,lead\n",
    )
    report = import_deals(store, sales_playbook, file, now=NOW)
    assert [(e.line, e.code) for e in report.errors] == [(3, "PB612"), (4, "PB612"), (5, "PB612")]
    assert "nowhere" in report.errors[0].message
    assert store.count() == 1


def test_export_then_import_restores_the_deals(
    store: DealStore, sales_playbook: Playbook, tmp_path: Path
) -> None:
    """An export read back with no mapping recreates the same deals and fields."""
    file = _write(tmp_path / "a.csv", "external_id,stage,amount,owner\nD-1,offer,10.50,王丽\n")
    import_deals(store, sales_playbook, file, now=NOW)
    for fmt in ("csv", "json", "jsonl"):
        out = io.StringIO()
        assert export_deals(store.list_deals(), out, fmt, field_names=["amount"]) == 1
        copy = _write(tmp_path / f"copy.{fmt}", out.getvalue())
        other = DealStore(store.database)
        report = import_deals(other, sales_playbook, copy, now=NOW)
        assert (report.failed, report.unchanged) == (0, 1), report.errors
    deal = store.get("D-1")
    assert (deal.stage, deal.owner, deal.fields) == ("offer", "王丽", {"amount": "10.50"})


@pytest.mark.parametrize(
    "tags",
    [["tender", "中标", "a b"], ["with;separator", "x"], [" padded ", "[bracketed]"], []],
)
def test_list_fields_survive_an_export_and_import_in_every_format(
    store: DealStore, sales_playbook: Playbook, tmp_path: Path, tags: list[str]
) -> None:
    """A list field reads back item for item from CSV, JSON and JSON Lines.

    CSV writes plain items as ``a;b`` (what a person types and the importer splits)
    and falls back to a JSON array when an item holds the separator or spaces at its ends.
    """
    source = _write(
        tmp_path / "a.jsonl",
        json.dumps({"external_id": "D-1", "stage": "lead", "tags": tags}, ensure_ascii=False)
        + "\n",
    )
    import_deals(store, sales_playbook, source, now=NOW)
    assert store.get("D-1").fields.get("tags", []) == tags
    for fmt in ("csv", "json", "jsonl"):
        out = io.StringIO()
        export_deals(store.list_deals(), out, fmt, field_names=["tags"])
        copy = _write(tmp_path / f"copy.{fmt}", out.getvalue())
        other = DealStore(store.database)
        report = import_deals(other, sales_playbook, copy, now=NOW)
        assert (report.failed, report.unchanged) == (0, 1), (fmt, out.getvalue(), report.errors)
        if fmt == "csv" and tags == ["tender", "中标", "a b"]:
            assert out.getvalue().splitlines()[1].endswith(",tender;中标;a b")


def test_strict_import_writes_nothing_when_a_row_is_bad(
    store: DealStore, sales_playbook: Playbook, tmp_path: Path
) -> None:
    """With strict, one bad row stops the import before any write, naming every bad row."""
    file = _write(tmp_path / "deals.csv", "external_id,stage,amount\nD-1,lead,10\nD-2,lead,x\n")
    with pytest.raises(ImportRowError) as stopped:
        import_deals(store, sales_playbook, file, now=NOW, strict=True)
    assert (stopped.value.line, stopped.value.details["count"]) == (3, 1)
    assert store.count() == 0


def test_values_a_column_cannot_hold_fail_their_row_only(
    store: DealStore, sales_playbook: Playbook, tmp_path: Path
) -> None:
    """An owner over 200 characters or a NUL is that row's PB612, on both databases alike.

    On PostgreSQL either used to reject the whole batch of 2,000 rows.
    """
    long_owner = "王" * 201
    file = _write(
        tmp_path / "deals.jsonl",
        "\n".join(
            json.dumps(row, ensure_ascii=False)
            for row in [
                {"external_id": "D-1", "stage": "lead", "owner": "li"},
                {"external_id": "D-2", "stage": "lead", "owner": long_owner},
                {"external_id": "D-3", "stage": "lead", "owner": "a\u0000b"},
                {"external_id": "D-4\u0000", "stage": "lead"},
                {"external_id": "D-5", "stage": "lead", "owner": "王" * 200},
            ]
        )
        + "\n",
    )
    report = import_deals(store, sales_playbook, file, now=NOW)
    assert [(e.line, e.code) for e in report.errors] == [(2, "PB612"), (3, "PB612"), (4, "PB612")]
    assert "201 characters" in report.errors[0].message
    assert "NUL" in report.errors[1].message
    assert sorted(d.ref for d in store.list_deals()) == ["D-1", "D-5"]
    assert store.get("D-5").owner == "王" * 200
