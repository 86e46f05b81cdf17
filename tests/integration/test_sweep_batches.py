"""How the sweep writes: many escalations per statement, stored exactly as reported.

The sweep records each batch of due levels with one ``INSERT ... SELECT`` over a
JSON document and resolves with one ``UPDATE`` joined to the deals. These tests
shrink the batch to a few rows so that several batches run, and check on SQLite
and PostgreSQL that ids, times (to the microsecond), Chinese text and outbox
rows come back as the sweep reported them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite

from playbook.definition.files import playbook_from_text
from playbook.escalation import sweep as escalation
from playbook.escalation.admin import list_escalations
from playbook.escalation.sinks import JsonLinesSink
from playbook.escalation.sweep import sweep
from playbook.escalation.times import sqlite_time
from playbook.model import Playbook
from playbook.store.db import Database
from playbook.store.escalation_models import Delivery, EscalationRecord
from playbook.store.models import Deal, Person, UtcDateTime
from playbook.store.repository import DealStore
from playbook.values import Actor

BATCH_PLAYBOOK = """\
playbook: batch-test
version: 1
title: {en: Batch test, zh: 批量测试}
language: zh
timezone: Asia/Shanghai
roles:
  rep: {title: Rep}
calendar: {weekdays: [mon, tue, wed, thu, fri, sat, sun]}
fields:
  amount: {type: decimal}
stages:
  - {id: lead, title: {en: Lead, zh: 线索}}
  - {id: offer, title: {en: Offer, zh: 报价}}
  - {id: won, title: Won, outcome: won}
escalations:
  - id: stuck
    title: {en: Stuck, zh: 停滞}
    trigger: {in_stage: {days: 3}}
    stages: [lead]
    when: "amount > 0"
    levels:
      - notify: [owner]
        message: {en: Move it, zh: 请推进}
      - notify: [manager]
        after: {days: 1}
"""

# Microseconds on purpose: the recorded anchor must equal the deal's time exactly.
START = datetime(2026, 3, 2, 2, 0, 0, 123457, tzinfo=UTC)  # 10:00:00.123457 in Shanghai
LATER = START + timedelta(days=5)
REP = Actor("张伟", frozenset({"rep"}))
OWNERS = ("张伟", "李娜", "王芳", "刘洋", "陈静", "杨磊", "赵敏")


@pytest.fixture(scope="module")
def batch_playbook() -> Playbook:
    """The model of :data:`BATCH_PLAYBOOK`."""
    return playbook_from_text(BATCH_PLAYBOOK, "batch-test.yaml")


@pytest.fixture
def deals(database: Database, batch_playbook: Playbook) -> DealStore:
    """Seven deals with Chinese owners (managed by 周经理), one of them worth nothing."""
    store = DealStore(database)
    with database.transaction(write=True) as session:
        for name in OWNERS:
            session.add(Person(name=name, manager="周经理", team="华东", updated_at=START))
    for number, owner in enumerate(OWNERS, start=1):
        amount = "0" if number == 4 else f"{number}000.50"
        store.add_deal(
            batch_playbook,
            actor=REP,
            now=START + timedelta(microseconds=number),
            external_id=f"合同-{number}",
            owner=owner,
            fields={"amount": amount},
        )
    return store


@pytest.mark.parametrize("batch", [1, 2, 5000])
def test_every_batch_records_each_level_once_with_its_own_id_and_outbox_rows(
    database: Database,
    deals: DealStore,
    batch_playbook: Playbook,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch: int,
) -> None:
    """Six deals x two levels across batches: ids match the stored rows, one delivery per sink."""
    monkeypatch.setattr(escalation, "_INSERT_BATCH", batch)
    sinks = [JsonLinesSink(tmp_path / "a.jsonl", name="a"), JsonLinesSink(tmp_path / "b.jsonl")]
    report = sweep(database, batch_playbook, now=LATER, sinks=sinks)
    stored = {view.id: view for view in list_escalations(database)}
    assert sorted((item.deal, item.level) for item in report.fired) == sorted(
        (f"合同-{number}", level) for number in (1, 2, 3, 5, 6, 7) for level in (1, 2)
    )
    for item in report.fired:
        assert item.id is not None
        view = stored[item.id]
        assert (view.deal, view.level, view.fired_at, view.reason, view.notified) == (
            item.deal,
            item.level,
            item.fired_at,
            item.reason,
            item.notified,
        )
    assert report.deliveries.sent == 2 * len(report.fired)
    with database.transaction() as session:
        per_sink = dict(
            session.execute(select(Delivery.sink, func.count()).group_by(Delivery.sink)).all()
        )
    assert per_sink == {"a": 12, "jsonl": 12}
    again = sweep(database, batch_playbook, now=LATER + timedelta(hours=1), sinks=sinks)
    assert (again.fired, again.resolved, again.deliveries.sent) == ([], 0, 0)


def test_stored_times_and_chinese_text_read_back_as_reported(
    database: Database, deals: DealStore, batch_playbook: Playbook, tmp_path: Path
) -> None:
    """Anchors keep their microseconds (same episode next sweep); reasons and names stay Chinese.

    The playbook is a Chinese one: its reasons are written in Chinese, times on its clock.
    """
    sink = JsonLinesSink(tmp_path / "out.jsonl")
    report = sweep(database, batch_playbook, now=LATER, sinks=[sink])
    first = next(item for item in report.fired if item.deal == "合同-1" and item.level == 1)
    assert first.anchor_at == START + timedelta(microseconds=1)
    assert first.reason.startswith("自 2026-03-02 10:00 +08:00 起停留在「线索」阶段")
    assert first.message == "请推进"
    assert Decimal(first.trigger["fields"]["amount"]) == Decimal("1000.50")
    assert [person.to_dict() for person in first.notified] == [{"as": "owner", "name": "张伟"}]
    with database.transaction() as session:
        record = session.get(EscalationRecord, first.id)
        deal = session.get(Deal, first.deal_id)
        assert record is not None
        assert deal is not None
        assert record.anchor_at == deal.stage_entered_at == first.anchor_at
        assert (record.trigger, record.notified) == (
            dict(first.trigger),
            [{"as": "owner", "name": "张伟"}],
        )
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()]
    told = {
        (body["level"], body["notified"][0]["name"])
        for body in (line["escalation"] for line in lines)
        if body["deal"] == "合同-1"
    }
    assert told == {(1, "张伟"), (2, "周经理")}


def test_one_update_resolves_each_escalation_for_its_own_reason(
    database: Database, deals: DealStore, batch_playbook: Playbook
) -> None:
    """A deal that moved and a deal whose `when` stopped holding resolve; the others stay open."""
    sweep(database, batch_playbook, now=LATER)
    moved, emptied = deals.get("合同-1"), deals.get("合同-2")
    with database.transaction(write=True) as session:
        row = session.get(Deal, moved.id)
        assert row is not None
        row.stage, row.stage_entered_at = "offer", LATER
    deals.update_fields(emptied, batch_playbook, {"amount": "0"}, actor=REP, now=LATER)
    report = sweep(database, batch_playbook, now=LATER + timedelta(hours=1))
    assert report.resolved == 4
    resolutions = {
        (view.deal, view.level): (view.status, view.resolution)
        for view in list_escalations(database)
    }
    # A Chinese playbook: the resolutions are recorded in Chinese.
    left = ("resolved", "商机已离开该阶段")
    moot = ("resolved", "规则已不再适用于该商机（阶段或 `when` 条件已变化）")
    assert resolutions[("合同-1", 1)] == resolutions[("合同-1", 2)] == left
    assert resolutions[("合同-2", 1)] == resolutions[("合同-2", 2)] == moot
    assert {resolutions[(f"合同-{n}", 1)] for n in (3, 5, 6, 7)} == {("open", None)}


@given(
    moment=st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_times_in_the_document_are_the_text_sqlite_columns_store(moment: datetime) -> None:
    """The sweep's own formatting equals the column type's, so stored times compare as equal."""
    dialect = sqlite.dialect()
    convert = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert convert is not None
    assert sqlite_time(moment) == convert(moment)
