"""Approvals end to end on SQLite and PostgreSQL: gate, grants, delegation, invalidation, races.

The playbook is the golden example tests/examples/valid/approvals.yaml: a
discount over 15% or an amount of CNY 1,000,000 or more needs the sales
director, then finance (a finance role holder or the deal's finance
contact), before a deal enters ``quote``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from playbook import approving, services
from playbook.definition.files import playbook_from_file
from playbook.errors import (
    ApprovalRefusedError,
    ApprovalStateError,
    ConflictError,
    MoveBlockedError,
    PlaybookError,
)
from playbook.model import Playbook
from playbook.runtime.engine import Engine
from playbook.store.approval_rows import ApprovalEventRecord
from playbook.store.approvals import NewApprovalEvent, record_approval_event
from playbook.store.audit import list_refusals
from playbook.store.models import Deal
from playbook.store.repository import DealStore
from playbook.values import Actor

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "valid" / "approvals.yaml"
T0 = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
APPROVAL = "large_or_discounted"

REP = Actor("wang", frozenset({"sales_rep"}))
DIRECTOR = Actor("zhou", frozenset({"sales_director"}))
OTHER_DIRECTOR = Actor("wu", frozenset({"sales_director"}))
FINANCE = Actor("qian", frozenset({"finance"}))


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    """The golden approvals example."""
    return playbook_from_file(EXAMPLE)[0]


def _deal(store: DealStore, playbook: Playbook, ref: str, **fields: object) -> None:
    values = {"amount": "2000000", "discount": 0.1, "finance_contact": "sun", **fields}
    store.add_deal(
        playbook, actor=REP, now=T0, external_id=ref, fields=values, owner="wang", manager="li"
    )


def _advance(store: DealStore, playbook: Playbook, ref: str, at: datetime) -> None:
    services.advance(store, ref, "quote", engine=Engine(playbook), actor=REP, now=at)


def _act(kind: str, store: DealStore, playbook: Playbook, ref: str, actor: Actor, **kw: object):  # type: ignore[no-untyped-def]
    run = getattr(approving, kind)
    return run(store, ref, APPROVAL, actor=actor, now=kw.pop("now", T0), playbook=playbook, **kw)


def test_the_whole_flow_with_delegation(store: DealStore, playbook: Playbook) -> None:
    """Blocked with PB580 naming step and approver; refused grant recorded; delegate; granted."""
    _deal(store, playbook, "D-1")
    with pytest.raises(MoveBlockedError) as blocked:
        _advance(store, playbook, "D-1", T0)
    (reason,) = blocked.value.decision.reasons
    assert reason.code == "PB580"
    assert reason.rule == f"approvals[{APPROVAL}].steps[director]"
    assert "Sales director" in reason.text("en")
    assert "销售总监" in reason.text("zh")

    with pytest.raises(ApprovalRefusedError):
        _act("grant", store, playbook, "D-1", REP)
    refused = [r for r in list_refusals(store.database) if r.code == "PB582"]
    assert [(r.actor, r.action, r.subject) for r in refused] == [
        ("wang", "approval_grant", APPROVAL)
    ]

    _act("request", store, playbook, "D-1", REP, now=T0 + timedelta(minutes=1))
    _act("delegate", store, playbook, "D-1", DIRECTOR, to="chen", reason="on leave")
    delegate = Actor("chen", frozenset({"sales_rep"}))
    after_director = _act("grant", store, playbook, "D-1", delegate)
    assert after_director.status.state == "pending"
    assert after_director.status.step is not None
    assert after_director.status.step.id == "finance"
    # The finance step: the deal's finance contact (a person field) may grant it.
    done = _act("grant", store, playbook, "D-1", Actor("sun", frozenset({"sales_rep"})))
    assert done.status.state == "granted"
    _advance(store, playbook, "D-1", T0 + timedelta(hours=1))
    assert store.get("D-1").stage == "quote"

    history = [e for e in store.history("D-1") if e.kind == "approval"]
    assert [(e.actor, (e.changes or {})["event"]) for e in history] == [
        ("wang", "request"),
        ("zhou", "delegate"),
        ("chen", "grant"),
        ("sun", "grant"),
    ]
    # Listed deals carry their events too (what the weekly review decides on).
    listed = [deal for deal in store.list_deals(batch=1) if deal.ref == "D-1"]
    assert [event["kind"] for event in listed[0].approvals] == [
        "request",
        "delegate",
        "grant",
        "grant",
    ]
    versions = [entry.deal_version for entry in store.history("D-1")]
    assert versions == list(range(1, store.get("D-1").version + 1))


def test_a_change_of_approved_values_invalidates_the_grant(
    store: DealStore, playbook: Playbook
) -> None:
    """A discount changed after the grants voids them: blocked again, naming the field."""
    _deal(store, playbook, "D-2", amount="100000", discount=0.2)
    _act("request", store, playbook, "D-2", REP)
    _act("grant", store, playbook, "D-2", DIRECTOR)
    _act("grant", store, playbook, "D-2", FINANCE)
    services.set_fields(
        store, "D-2", {"discount": "0.22"}, playbook=playbook, actor=REP, now=T0, reason="x"
    )
    _deal_after, _book, statuses = approving.approval_statuses(store, "D-2", playbook=playbook)
    status = next(s for s in statuses if s.approval.id == APPROVAL)
    assert status.state == "pending"
    assert status.invalidated == ("discount",)
    with pytest.raises(MoveBlockedError) as blocked:
        _advance(store, playbook, "D-2", T0 + timedelta(hours=1))
    assert "Discount" in blocked.value.decision.reasons[0].text("en")
    # Back below every threshold: the approval is not needed at all.
    services.set_fields(
        store, "D-2", {"discount": "0.1"}, playbook=playbook, actor=REP, now=T0, reason="y"
    )
    _advance(store, playbook, "D-2", T0 + timedelta(hours=2))


def test_a_rejection_stops_the_round_until_requested_again(
    store: DealStore, playbook: Playbook
) -> None:
    """Rejected with a reason; grants are refused as a state error; a new request reopens."""
    _deal(store, playbook, "D-3")
    _act("request", store, playbook, "D-3", REP)
    with pytest.raises(ApprovalStateError):
        _act("reject", store, playbook, "D-3", DIRECTOR, reason="  ")
    rejected = _act("reject", store, playbook, "D-3", DIRECTOR, reason="margin too thin")
    assert rejected.status.state == "rejected"
    assert rejected.status.rejection is not None
    assert rejected.status.rejection.reason == "margin too thin"
    with pytest.raises(ApprovalStateError):
        _act("grant", store, playbook, "D-3", DIRECTOR)
    again = _act("request", store, playbook, "D-3", REP)
    assert again.status.state == "pending"
    assert again.status.step is not None
    assert again.status.step.id == "director"


def test_a_stale_write_writes_nothing(store: DealStore, playbook: Playbook) -> None:
    """An event recorded on a deal as read before another write conflicts, all or nothing."""
    _deal(store, playbook, "D-4")
    read = store.get("D-4")
    event = NewApprovalEvent(APPROVAL, "request")
    record_approval_event(store.database, read, event, actor=REP, now=T0)
    with pytest.raises(ConflictError):
        record_approval_event(store.database, read, event, actor=REP, now=T0)
    with store.database.transaction() as session:
        rows = session.scalar(select(func.count()).select_from(ApprovalEventRecord))
        version = session.scalar(select(Deal.version).where(Deal.external_id == "D-4"))
    assert (rows, version) == (1, 2)


def test_two_directors_granting_at_once_complete_the_step_once(
    store: DealStore, playbook: Playbook
) -> None:
    """Two approvers race on the same step: one grant counts, the other is decided again."""
    for n in range(5):
        ref = f"R-{n}"
        _deal(store, playbook, ref)
        _act("request", store, playbook, ref, REP)
        barrier = threading.Barrier(2)
        outcomes: list[object] = []

        def grant(
            actor: Actor,
            ref: str = ref,
            barrier: threading.Barrier = barrier,
            outcomes: list[object] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                outcomes.append(_act("grant", store, playbook, ref, actor, retries=2))
            except PlaybookError as error:
                outcomes.append(error)

        threads = [threading.Thread(target=grant, args=(a,)) for a in (DIRECTOR, OTHER_DIRECTOR)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        errors = [o for o in outcomes if isinstance(o, PlaybookError)]
        # The loser either lost the race (and, deciding again, is no finance approver)
        # or came second: refused either way, never a second grant of the step.
        assert len(errors) == 1
        assert isinstance(errors[0], ApprovalRefusedError | ConflictError)
        with store.database.transaction() as session:
            grants = session.scalars(
                select(ApprovalEventRecord.step).where(
                    ApprovalEventRecord.kind == "grant",
                    ApprovalEventRecord.deal_id == store.get(ref).id,
                )
            ).all()
        assert grants == ["director"]


def test_an_unanswered_step_escalates_once_per_level_and_resolves_when_granted(
    store: DealStore, playbook: Playbook
) -> None:
    """Director step due 2 working days after the request; levels at +0 h and +1 working day."""
    from playbook.escalation.sweep import sweep
    from playbook.store.escalation_models import EscalationRecord

    _deal(store, playbook, "E-1")
    _act("request", store, playbook, "E-1", REP)  # Monday 10:00 in Shanghai
    shanghai = timedelta(hours=8)
    due = datetime(2026, 11, 18, 10, 0, tzinfo=UTC) - shanghai  # Wednesday 10:00
    second = datetime(2026, 11, 19, 10, 0, tzinfo=UTC) - shanghai  # Thursday 10:00

    assert sweep(store.database, playbook, now=due - timedelta(minutes=1)).fired == []
    first = sweep(store.database, playbook, now=due + timedelta(hours=2)).fired
    assert [(f.rule, f.level, f.fired_at) for f in first] == [
        (f"approval.{APPROVAL}.director", 1, due)
    ]
    assert [(r.role, r.name) for r in first[0].notified] == [("manager", "li")]
    later = sweep(store.database, playbook, now=second + timedelta(hours=1)).fired
    assert [(f.level, f.fired_at) for f in later] == [(2, second)]
    again = sweep(store.database, playbook, now=second + timedelta(hours=2))
    assert again.fired == []  # exactly once per level and episode

    _act("grant", store, playbook, "E-1", DIRECTOR, now=second + timedelta(hours=3))
    resolved = sweep(store.database, playbook, now=second + timedelta(hours=4))
    assert resolved.resolved == 2
    with store.database.transaction() as session:
        states = session.scalars(select(EscalationRecord.status)).all()
    assert sorted(states) == ["resolved", "resolved"]


def test_deleting_a_deal_erases_its_approval_events(store: DealStore, playbook: Playbook) -> None:
    """A hard delete takes the approval events with the deal (SQLite may not cascade)."""
    _deal(store, playbook, "X-1")
    _act("request", store, playbook, "X-1", REP)
    store.delete("X-1", reason="duplicate", actor=REP, now=T0)
    with store.database.transaction() as session:
        left = session.scalar(select(func.count()).select_from(ApprovalEventRecord))
    assert left == 0
