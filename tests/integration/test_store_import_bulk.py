"""Bulk imports write the same deals as the rest of the store, on SQLite and PostgreSQL.

The importer appends rows without the ORM (executemany on SQLite, COPY on
PostgreSQL) and reserves deal ids itself; these tests read the rows back
through the repository and mix imports with live writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from playbook import services
from playbook.model import Playbook
from playbook.runtime.engine import Engine
from playbook.services import deal_state
from playbook.store.importer import import_deals
from playbook.store.repository import DealStore
from playbook.values import Actor

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
REP = Actor("王丽", frozenset({"rep"}))


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_imported_deals_read_back_like_live_ones(
    store: DealStore, sales_playbook: Playbook, tmp_path: Path
) -> None:
    """Times come back aware in UTC, decimals exact, history in version order, Chinese intact."""
    file = _csv(
        tmp_path,
        "deals.csv",
        "external_id,stage,amount,owner,tags\nD-1,offer,1054.50,王丽,a;b\nD-2,lead,,,\n",
    )
    report = import_deals(store, sales_playbook, file, now=NOW)
    assert (report.created, report.stage_changes, report.failed) == (2, 3, 0)
    offer = store.get("D-1")
    assert (offer.stage, offer.owner, offer.version, offer.actions) == ("offer", "王丽", 2, {})
    assert offer.fields == {"amount": "1054.50", "tags": ["a", "b"]}
    assert deal_state(offer, sales_playbook).fields["amount"] == Decimal("1054.50")
    assert (offer.created_at, offer.stage_entered_at, offer.last_activity_at) == (NOW, NOW, NOW)
    assert offer.closed_at is None
    history = store.history("D-1")
    assert [(h.deal_version, h.from_stage, h.stage, h.source) for h in history] == [
        (1, None, "lead", "import"),
        (2, "lead", "offer", "import"),
    ]
    assert all(h.at == NOW and h.at.tzinfo is UTC for h in history)
    assert store.get("D-2").fields == {}


def test_imports_and_live_writes_share_the_deal_ids(
    store: DealStore, sales_playbook: Playbook, sales_engine: Engine, tmp_path: Path
) -> None:
    """Ids reserved by an import never collide with deals added live before or after it."""
    before = store.add_deal(sales_playbook, actor=REP, now=NOW, external_id="L-1")
    rows = "".join(f"I-{n},lead,{n}\n" for n in range(30))
    file = _csv(tmp_path, "deals.csv", "external_id,stage,amount\n" + rows)
    import_deals(store, sales_playbook, file, now=NOW, batch_size=7)
    after = store.add_deal(sales_playbook, actor=REP, now=NOW, external_id="L-2")
    ids = [deal.id for deal in store.list_deals()]
    assert len(ids) == len(set(ids)) == 32
    assert before.id < min(store.get(f"I-{n}").id for n in range(30)) < after.id
    manager = Actor("boss", frozenset({"manager"}))
    moved, _ = services.advance(
        store, "I-3", "offer", engine=sales_engine, actor=manager, now=NOW, override="imported"
    )
    assert (moved.stage, moved.version) == ("offer", 2)
    assert [h.stage for h in store.history("I-3")] == ["lead", "offer"]


@pytest.mark.parametrize("batch_size", [1, 3, 10_000])
def test_bad_rows_and_repeated_ids_are_reported_in_row_order(
    store: DealStore, sales_playbook: Playbook, tmp_path: Path, batch_size: int
) -> None:
    """Whatever the batch size, errors come out sorted by row and the good rows are kept."""
    file = _csv(
        tmp_path,
        "deals.csv",
        "external_id,stage,amount\nD-1,lead,1\nD-2,nowhere,1\nD-1,offer,2\nD-3,lead,x\n",
    )
    report = import_deals(store, sales_playbook, file, now=NOW, batch_size=batch_size)
    lines = [error.line for error in report.errors]
    assert lines == sorted(lines)
    assert {3, 5} <= set(lines)  # the unknown stage and the text amount
    assert store.get("D-1").stage == "offer"
    assert store.count() == 1
