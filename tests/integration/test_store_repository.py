"""The deal store on SQLite and PostgreSQL: writes go through the engine, atomically."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from playbook import services
from playbook.conditions import parse_condition
from playbook.errors import (
    ConflictError,
    DealFieldError,
    DealNotFoundError,
    MoveBlockedError,
    StoreError,
)
from playbook.model import Playbook
from playbook.runtime.engine import Engine
from playbook.services import deal_state
from playbook.store.fields import where
from playbook.store.models import StageChange
from playbook.store.repository import DealStore
from playbook.values import Actor

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REP = Actor("wang.li", frozenset({"rep"}))
MANAGER = Actor("zhao.m", frozenset({"manager"}))


def _condition(playbook: Playbook, text: str) -> object:
    types = {name: spec.type for name, spec in playbook.fields.items()}
    return parse_condition(text, types)


def test_add_deal_records_creation_as_first_version(
    store: DealStore, sales_playbook: Playbook
) -> None:
    """A new deal starts in the first stage at version 1, with one history row for that."""
    deal = store.add_deal(
        sales_playbook, actor=REP, now=T0, external_id="D-1", fields={"amount": "1200.50"}
    )
    assert (deal.stage, deal.version, deal.fields["amount"]) == ("lead", 1, "1200.50")
    history = store.history("D-1")
    assert [(h.kind, h.stage, h.deal_version) for h in history] == [("stage_change", "lead", 1)]


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("amount", Decimal("0.10"), "0.10"),
        ("amount", "12345678901234567890.12", "12345678901234567890.12"),
        ("signed_on", "2026-03-01", "2026-03-01"),
        ("met_at", "2026-03-02T17:30:00+08:00", "2026-03-02T09:30:00.000000+00:00"),
        ("tags", ["海外", "repeat"], ["海外", "repeat"]),
        ("visits", 3, 3),
    ],
)
def test_field_values_are_stored_exactly(
    store: DealStore, sales_playbook: Playbook, field: str, value: object, stored: object
) -> None:
    """Decimals stay exact text, datetimes become fixed-width UTC, lists and text survive."""
    store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1", fields={field: value})
    assert store.get("D-1").fields[field] == stored


def test_times_come_back_aware_in_utc(store: DealStore, sales_playbook: Playbook) -> None:
    """A time given with an offset is stored in UTC and read back timezone-aware."""
    shanghai = datetime(2026, 3, 2, 17, 30, tzinfo=UTC) + timedelta(hours=0)
    store.add_deal(sales_playbook, actor=REP, now=shanghai, external_id="D-1")
    deal = store.get("D-1")
    assert deal.created_at == shanghai
    assert deal.created_at.tzinfo is not None
    assert deal.created_at.utcoffset() == timedelta(0)


def test_advance_persists_the_move_and_its_history(
    store: DealStore, sales_playbook: Playbook, sales_engine: Engine
) -> None:
    """An allowed move updates the deal and appends one stage change, one version step."""
    store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1")
    later = T0 + timedelta(days=1)
    services.complete_action(
        store, "D-1", "first_call", engine=sales_engine, actor=REP, now=later, evidence="called"
    )
    deal = store.get("D-1")
    assert deal.actions["first_call"]["by"] == "wang.li"
    store.update_fields(deal, sales_playbook, {"amount": "500"}, actor=REP, now=later)
    moved, result = services.advance(
        store, "D-1", "offer", engine=sales_engine, actor=REP, now=later
    )
    assert (moved.stage, moved.version, moved.stage_entered_at) == ("offer", 4, later)
    assert moved.actions == {}  # a new stage visit starts with no completed actions
    kinds = [(h.kind, h.deal_version) for h in store.history("D-1")]
    # every version step is in the history, field edits included (kind "fields")
    assert kinds == [("stage_change", 1), ("action", 2), ("fields", 3), ("stage_change", 4)]
    assert result.events[0].to_stage == "offer"  # type: ignore[union-attr]


def test_blocked_move_writes_nothing(
    store: DealStore, sales_playbook: Playbook, sales_engine: Engine
) -> None:
    """A move the engine blocks raises its decision and leaves the deal untouched."""
    store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1")
    with pytest.raises(MoveBlockedError) as blocked:
        services.advance(store, "D-1", "offer", engine=sales_engine, actor=REP, now=T0)
    assert {"PB544", "PB545"} <= set(blocked.value.decision.codes)
    assert store.get("D-1").version == 1
    assert len(store.history("D-1")) == 1


def test_override_is_recorded_with_its_reason(
    store: DealStore, sales_playbook: Playbook, sales_engine: Engine
) -> None:
    """A manager's override passes the gates and is kept in the history."""
    store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1")
    services.advance(
        store, "D-1", "offer", engine=sales_engine, actor=MANAGER, now=T0, override="verbal order"
    )
    last = store.history("D-1")[-1]
    assert (last.stage, last.actor, last.override_reason) == ("offer", "zhao.m", "verbal order")


def test_closing_sets_closed_at_and_reopening_clears_it(
    store: DealStore, sales_playbook: Playbook, sales_engine: Engine
) -> None:
    """Entering a won or lost stage records when the deal closed."""
    store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1")
    moved, _ = services.advance(store, "D-1", "lost", engine=sales_engine, actor=REP, now=T0)
    assert moved.closed_at == T0


def test_stale_write_raises_conflict_naming_the_last_writer(
    store: DealStore, sales_playbook: Playbook, sales_engine: Engine
) -> None:
    """Writing a deal read before someone else's change fails with who and when."""
    store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1")
    stale = store.get("D-1")
    store.log_activity("D-1", "call", actor=MANAGER, now=T0 + timedelta(hours=1))
    result = sales_engine.advance(
        deal_state(stale, sales_playbook), "lost", actor=REP, now=T0 + timedelta(hours=2)
    )
    with pytest.raises(ConflictError) as conflict:
        services.apply(store, stale, result, sales_playbook, actor=REP, now=T0 + timedelta(hours=2))
    assert conflict.value.details["changed_by"] == "zhao.m"
    assert "zhao.m" in conflict.value.message
    assert store.get("D-1").stage == "lead"
    with store.database.transaction() as session:
        assert session.scalar(select(func.count(StageChange.id))) == 1


def test_log_activity_moves_last_activity_forward_only(
    store: DealStore, sales_playbook: Playbook
) -> None:
    """An activity logged with an earlier time never moves last_activity_at back."""
    store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1")
    store.log_activity("D-1", "meeting", actor="wang.li", now=T0 + timedelta(days=2), note="见面")
    store.log_activity("D-1", "note", actor="wang.li", now=T0 + timedelta(days=1))
    deal = store.get("D-1")
    assert (deal.last_activity_at, deal.version) == (T0 + timedelta(days=2), 3)
    assert [h.note for h in store.history("D-1")][1] == "见面"


@pytest.mark.parametrize("ref", ["missing", "999999"])
def test_unknown_deal_is_reported(store: DealStore, ref: str) -> None:
    """An id that matches no deal raises DealNotFoundError (PB601)."""
    with pytest.raises(DealNotFoundError) as missing:
        store.get(ref)
    assert missing.value.code == "PB601"


def test_unknown_activity_kind_is_refused(store: DealStore, sales_playbook: Playbook) -> None:
    """Only call, meeting, email, note and visit can be logged by hand."""
    store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1")
    with pytest.raises(StoreError, match="unknown activity kind"):
        store.log_activity("D-1", "lunch", actor="x", now=T0)


def test_store_id_finds_a_deal_without_external_id(
    store: DealStore, sales_playbook: Playbook
) -> None:
    """A deal without external id is named by its store id."""
    deal = store.add_deal(sales_playbook, actor=REP, now=T0)
    assert store.get(str(deal.id)).id == deal.id
    assert deal.ref == str(deal.id)


def test_changed_playbook_text_for_same_version_is_refused(
    store: DealStore, sales_playbook: Playbook
) -> None:
    """A version's text is fixed once registered: changes need a new version."""
    store.register_playbook(sales_playbook, "text one", now=T0)
    store.register_playbook(sales_playbook, "text one", now=T0)
    with pytest.raises(StoreError, match="bump `version`"):
        store.register_playbook(sales_playbook, "text two", now=T0)
    assert store.playbook_source("store-test", 1) == "text one"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("amount > 1000", ["D-big"]),
        ("amount >= 0.10", ["D-big", "D-small"]),
        ("not (amount > 1000)", ["D-none", "D-small"]),
        ("signed_on < '2026-02-01'", ["D-small"]),
        ("met_at >= '2026-03-02T09:30:00+00:00'", ["D-big"]),
        ("tags contains '海外'", ["D-big"]),
        ("len(tags) == 0", []),
        ("has(tags)", ["D-big"]),
        ("visits == 2", ["D-small"]),
        ("has(amount) and minutes == 'ok'", ["D-small"]),
    ],
)
def test_conditions_run_in_sql(
    store: DealStore, sales_playbook: Playbook, condition: str, expected: list[str]
) -> None:
    """A condition compiled to SQL selects exactly the deals it holds for, on both databases."""
    rows = {
        "D-big": {
            "amount": "5000.00",
            "signed_on": "2026-03-01",
            "met_at": "2026-03-02T17:30:00+08:00",
            "tags": ["海外"],
        },
        "D-small": {
            "amount": "0.10",
            "signed_on": "2026-01-15",
            "met_at": "2026-03-02T09:29:59+00:00",
            "visits": 2,
            "minutes": "ok",
        },
        "D-none": {},
    }
    for ref, fields in rows.items():
        store.add_deal(sales_playbook, actor=REP, now=T0, external_id=ref, fields=fields)
    clause = where(_condition(sales_playbook, condition))  # type: ignore[arg-type]
    assert sorted(d.ref for d in store.list_deals(where=clause)) == expected


def test_list_filters_and_count(store: DealStore, sales_playbook: Playbook) -> None:
    """Deals can be listed and counted by stage and owner."""
    for index, owner in enumerate(["王丽", "王丽", "li"]):
        store.add_deal(sales_playbook, actor=REP, now=T0, external_id=f"D-{index}", owner=owner)
    assert [d.ref for d in store.list_deals(owner="王丽")] == ["D-0", "D-1"]
    assert store.count(stage="lead") == 3
    assert store.count(stage="offer") == 0
    assert [d.ref for d in store.list_deals(limit=1)] == ["D-0"]


def test_dates_are_not_datetimes(sales_playbook: Playbook) -> None:
    """(sanity) The test playbook's date field is a date: conditions compare days."""
    assert sales_playbook.fields["signed_on"].kind == "date"
    assert date(2026, 3, 1).isoformat() == "2026-03-01"


def test_update_naming_an_undeclared_field_is_refused_and_writes_nothing(
    store: DealStore, sales_playbook: Playbook
) -> None:
    """{"amout": 5} is a typo of amount: refused with a did-you-mean, the deal unchanged."""
    deal = store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1")
    with pytest.raises(DealFieldError, match="amout") as caught:
        store.update_fields(deal, sales_playbook, {"amout": 5}, actor=REP, now=T0)
    assert "amount" in (caught.value.hint or "")
    again = store.get("D-1")
    assert (again.version, dict(again.fields)) == (1, {})
    with pytest.raises(DealFieldError, match="amout"):
        store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-2", fields={"amout": 5})
    assert store.count() == 1


def test_a_stored_deal_is_read_by_the_engine_with_its_ref_and_completed_actions(
    store: DealStore, sales_playbook: Playbook, sales_engine: Engine
) -> None:
    """engine.check(StoredDeal) reads its external id and the actions it has done."""
    store.add_deal(sales_playbook, actor=REP, now=T0, external_id="D-1")
    later = T0 + timedelta(days=1)
    services.complete_action(
        store, "D-1", "first_call", engine=sales_engine, actor=REP, now=later, evidence="called"
    )
    stored = store.get("D-1")
    decision = sales_engine.check(stored, "offer", actor=REP, now=later)
    assert decision.deal_id == "D-1"
    assert "PB545" not in decision.codes
    assert decision == sales_engine.check(
        deal_state(stored, sales_playbook), "offer", actor=REP, now=later
    )
