"""``activities import`` on SQLite and PostgreSQL: matching, all-or-nothing, re-imports, follow-ups.

The expected figures are counted here in plain Python over the raw CSV files
(phones matched on their last eight digits, contacts by name, kinds through a
table written out below), never with the importer's own code.
"""

from __future__ import annotations

import csv
import unicodedata
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from playbook.definition.files import playbook_from_text
from playbook.errors import ActivityMappingError
from playbook.escalation.sweep import sweep
from playbook.kpi.periods import parse_week
from playbook.kpi.review import weekly_review
from playbook.model import Playbook
from playbook.store.activity_import import import_activities
from playbook.store.activity_mapping import read_activity_mapping
from playbook.store.importer import import_deals
from playbook.store.models import Activity, ActivityKey
from playbook.store.repository import DealStore

DATA = Path(__file__).parent / "data" / "activities"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=SHANGHAI)
NOTE_KINDS = {"拜访": "visit", "会议": "meeting", "备注": "note", "电话": "call"}


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _expected() -> list[tuple[str, str, datetime]]:
    """(deal, kind, local time) of every distinct activity of both files, counted by hand."""
    deals = _rows("deals.csv")
    by_phone = {row["contact_phone"].replace("-", "")[-8:]: row["external_id"] for row in deals}
    by_name = {row["contact_name"]: row["external_id"] for row in deals}
    found = []
    for row in _rows("calls.csv"):
        digits = "".join(ch for ch in _plain(row["客户电话"]) if ch.isdigit())
        when = datetime.strptime(_plain(row["开始时间"]), "%Y-%m-%d %H:%M")
        found.append((by_phone[digits[-8:]], "call", when))
    seen = set()
    for row in _rows("worknotes.csv"):
        cells = tuple(row.values())
        if cells in seen:
            continue
        seen.add(cells)
        deal = row["商机编号"] or by_name[row["联系人"]]
        found.append((deal, NOTE_KINDS[row["类型"]], datetime.strptime(row["日期"], "%Y/%m/%d")))
    return found


@pytest.fixture
def playbook() -> Playbook:
    return playbook_from_text((DATA / "playbook.yaml").read_text("utf-8"), "playbook.yaml")


@pytest.fixture
def deals(store: DealStore, playbook: Playbook) -> DealStore:
    store.register_playbook(playbook, (DATA / "playbook.yaml").read_text("utf-8"), now=NOW)
    report = import_deals(store, playbook, DATA / "deals.csv", now=NOW)
    assert report.created == 6
    assert not report.errors
    return store


def _import(store: DealStore, name: str, mapping: str, *, dry_run: bool = False):  # type: ignore[no-untyped-def]
    return import_activities(
        store, DATA / name, read_activity_mapping(DATA / mapping), now=NOW, dry_run=dry_run
    )


def _stored(store: DealStore) -> Counter[tuple[str, str]]:
    with store.database.connect() as connection:
        rows = connection.execute(select(Activity.deal_id, Activity.kind)).all()
    names = {deal.id: deal.external_id for deal in store.list_deals()}
    return Counter((names[deal_id], kind) for deal_id, kind in rows)


def test_calls_and_notes_land_on_their_deals_once(deals: DealStore) -> None:
    """Phones (full-width, +86, dashes), ids and contacts find the deals; a re-import adds none."""
    calls = _import(deals, "calls.csv", "calls.yaml")
    notes = _import(deals, "worknotes.csv", "worknotes.yaml")
    expected = Counter((deal, kind) for deal, kind, _ in _expected())
    assert _stored(deals) == expected
    assert calls.imported + notes.imported == sum(expected.values())
    assert notes.repeated == len(_rows("worknotes.csv")) - len(
        {tuple(r.values()) for r in _rows("worknotes.csv")}
    )
    again = [
        _import(deals, "calls.csv", "calls.yaml"),
        _import(deals, "worknotes.csv", "worknotes.yaml"),
    ]
    assert [r.imported for r in again] == [0, 0]
    assert again[0].already == len(_rows("calls.csv"))
    assert _stored(deals) == expected
    with deals.database.connect() as connection:
        keys = connection.scalar(select(func.count()).select_from(ActivityKey))
    assert keys == sum(expected.values())


def test_durations_and_outcomes_are_kept(deals: DealStore) -> None:
    """A call's duration (seconds, 3分20秒, h:mm:ss) and outcome are in its evidence."""
    _import(deals, "calls.csv", "calls.yaml")
    with deals.database.connect() as connection:
        evidence = sorted(
            (row.at, row.evidence["duration_seconds"], row.evidence["outcome"])
            for row in connection.execute(select(Activity.at, Activity.evidence))
        )
    assert [item[1] for item in evidence] == [45, 75, 185, 200, 3723, 60]
    assert Counter(item[2] for item in evidence) == Counter(
        r["通话结果"] for r in _rows("calls.csv")
    )


def test_a_file_with_bad_rows_writes_nothing(deals: DealStore) -> None:
    """No deal, an undeclared kind, a bad date: each row told by line and code, nothing written."""
    before = deals.get("D-1").version
    report = _import(deals, "bad.csv", "worknotes.yaml")
    assert [(e.line, e.code) for e in report.errors] == [(3, "PB651"), (4, "PB653"), (5, "PB654")]
    assert not report.written
    assert report.refusal() is not None
    assert report.refusal().code == "PB650"
    assert _stored(deals) == Counter()
    assert deals.get("D-1").version == before


def test_a_dry_run_writes_nothing_and_counts_what_would_be(deals: DealStore) -> None:
    report = _import(deals, "calls.csv", "calls.yaml", dry_run=True)
    assert report.imported == len(_rows("calls.csv"))
    assert not report.written
    assert _stored(deals) == Counter()


def test_a_phone_shared_by_two_deals_is_ambiguous(
    deals: DealStore, playbook: Playbook, tmp_path: Path
) -> None:
    twin = tmp_path / "twin.csv"
    twin.write_text("external_id,stage,owner,contact_phone\nD-7,lead,wang,13800138001\n", "utf-8")
    import_deals(deals, playbook, twin, now=NOW)
    report = _import(deals, "calls.csv", "calls.yaml")
    digits = ["".join(c for c in _plain(r["客户电话"]) if c.isdigit()) for r in _rows("calls.csv")]
    shared = [n + 2 for n, phone in enumerate(digits) if phone.endswith("13800138001")]
    assert shared
    assert [(e.line, e.code) for e in report.errors] == [(line, "PB652") for line in shared]


def test_a_field_no_playbook_declares_is_a_mapping_error(deals: DealStore, tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "deal: {column: 客户电话, field: phone}\nkind: call\nat: 开始时间\n", encoding="utf-8"
    )
    with pytest.raises(ActivityMappingError) as caught:
        import_activities(deals, DATA / "calls.csv", read_activity_mapping(mapping), now=NOW)
    assert caught.value.code == "PB655"
    assert caught.value.line == 1


def test_imported_activities_are_follow_ups_for_escalations(
    deals: DealStore, playbook: Playbook
) -> None:
    """The 15-day follow-up rule fires only for deals whose last activity is older than 15 days."""
    bound = NOW.replace(tzinfo=None) - timedelta(days=15)
    last: dict[str, datetime] = {r["external_id"]: datetime(2026, 9, 1) for r in _rows("deals.csv")}
    for deal, _kind, when in _expected():
        last[deal] = max(last[deal], when)
    open_deals = {r["external_id"] for r in _rows("deals.csv") if r["stage"] in ("lead", "offer")}
    before = sweep(deals.database, playbook, now=NOW, dry_run=True)
    assert {item.deal for item in [*before.fired, *before.dropped]} == open_deals
    _import(deals, "calls.csv", "calls.yaml")
    _import(deals, "worknotes.csv", "worknotes.yaml")
    after = sweep(deals.database, playbook, now=NOW)
    due = {deal for deal in open_deals if last[deal] <= bound}
    assert {item.deal for item in [*after.fired, *after.dropped]} == due
    assert due
    assert due != open_deals


def test_imported_activities_appear_in_the_weekly_review(
    deals: DealStore, playbook: Playbook
) -> None:
    _import(deals, "calls.csv", "calls.yaml")
    _import(deals, "worknotes.csv", "worknotes.yaml")
    week = parse_week("2026-W47", NOW, "Asia/Shanghai")
    review = weekly_review(deals.database, playbook, week, now=NOW, owner="wang")
    owners = {r["external_id"]: r["owner"] for r in _rows("deals.csv")}
    start, end = date(2026, 11, 16), date(2026, 11, 22)
    expected: dict[str, Counter[str]] = {}
    for deal, kind, when in _expected():
        if owners[deal] == "wang" and start <= when.date() <= end:
            expected.setdefault(deal, Counter())[kind] += 1
    shown = {item.deal.external_id: Counter(item.activities) for item in review.deals}
    assert {deal: counts for deal, counts in shown.items() if counts} == expected
    assert review.summary()["activities"] == sum(sum(c.values()) for c in expected.values())
