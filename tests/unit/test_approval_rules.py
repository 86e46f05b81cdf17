"""Approvals without a database: the section's model, where an approval stands, the gate's PB580."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from playbook.definition.files import playbook_from_file, playbook_from_text
from playbook.errors import DealError, OverrideError
from playbook.model import Playbook
from playbook.runtime.approval_state import ApprovalEvent, approval_status, read_events
from playbook.runtime.engine import Engine
from playbook.values import Actor

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "valid" / "approvals.yaml"
T0 = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
BIG = {"amount": "2000000", "discount": 0.1}


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    """The golden approvals example."""
    return playbook_from_file(EXAMPLE)[0]


def _event(kind: str, actor: str, minutes: int, **extra: Any) -> ApprovalEvent:
    return ApprovalEvent(
        "large_or_discounted", kind, actor, T0 + timedelta(minutes=minutes), **extra
    )  # type: ignore[arg-type]


def _grant(step: str, approver: str, minutes: int, **values: Any) -> ApprovalEvent:
    shown = {"discount": 0.1, "amount": "2000000", **values}
    return _event("grant", "x", minutes, step=step, approver=approver, values=shown)


def test_the_section_is_built_into_the_model(playbook: Playbook) -> None:
    """Steps in order, approvers by kind, the due time, escalation levels, invalidate_on."""
    first, second = playbook.approvals
    assert first.stages == ("quote",)
    assert first.invalidate_on == ("discount", "amount")
    assert [step.id for step in first.steps] == ["director", "finance"]
    assert [a.key for a in first.steps[1].approvers] == [
        "role:finance",
        "person_field:finance_contact",
    ]
    assert str(first.steps[0].due) == "2 working days"
    assert [level.notify for level in first.steps[0].escalate] == [("manager",), ("executive",)]
    assert second.fields == ("discount",)
    assert second.stages == ()
    assert first.when is not None
    assert first.when.test({"discount": 0.16, "amount": 0})


D = "role:sales_director"
F = "role:finance"


@pytest.mark.parametrize(
    ("values", "events", "state", "step", "invalidated"),
    [
        ({"amount": "5", "discount": 0.1}, [], "not_needed", None, ()),
        ({"amount": "5", "discount": 0.16}, [], "pending", "director", ()),
        (BIG, [], "pending", "director", ()),
        (BIG, [_grant("director", D, 1)], "pending", "finance", ()),
        (BIG, [_grant("director", D, 1), _grant("finance", F, 2)], "granted", None, ()),
        # A grant for a later step does not skip the earlier one.
        (BIG, [_grant("finance", F, 1)], "pending", "director", ()),
        # Values changed since the grant: it no longer counts.
        (
            {"amount": "2500000", "discount": 0.1},
            [_grant("director", D, 1), _grant("finance", F, 2)],
            "pending",
            "director",
            ("amount",),
        ),
        # A rejection stops the round; a new request starts a fresh one.
        (
            BIG,
            [_grant("director", D, 1), _event("reject", "q", 2, step="finance")],
            "rejected",
            "finance",
            (),
        ),
        (
            BIG,
            [_grant("director", D, 1), _event("reject", "q", 2), _event("request", "w", 3)],
            "pending",
            "director",
            (),
        ),
    ],
)
def test_where_an_approval_stands(
    playbook: Playbook,
    values: dict[str, Any],
    events: list[ApprovalEvent],
    state: str,
    step: str | None,
    invalidated: tuple[str, ...],
) -> None:
    """State, current step and the fields that voided grants, for hand-made histories."""
    from playbook.values import coerce_fields

    typed = coerce_fields(playbook, {"finance_contact": "sun", **values})
    status = approval_status(playbook.approvals[0], events, typed)
    assert status.state == state
    assert (status.step.id if status.step else None) == step
    assert status.invalidated == invalidated


def test_all_needs_every_approver() -> None:
    """``require: all``: one grant per listed approver before the step completes."""
    book = playbook_from_text(
        """
playbook: all-of
version: 1
title: T
roles: {legal: {}, finance: {}}
stages:
  - {id: a, title: A}
  - {id: won, title: Won, outcome: won}
approvals:
  - id: both
    stages: won
    steps: [{id: s, role: [legal, finance], require: all}]
""",
        "all-of.yaml",
    )
    approval = book.approvals[0]
    one = ApprovalEvent("both", "grant", "l", T0, step="s", approver="role:legal")
    two = ApprovalEvent("both", "grant", "f", T0, step="s", approver="role:finance")
    assert approval_status(approval, [one], {}).state == "pending"
    assert [a.key for a in approval_status(approval, [one], {}).missing] == ["role:finance"]
    assert approval_status(approval, [one, two], {}).state == "granted"


def test_the_gate_blocks_with_pb580_and_an_override_does_not_pass_it(playbook: Playbook) -> None:
    """The reason names the approval, the step and who; due time from the request; no override."""
    engine = Engine(playbook)
    request = {"approval": "large_or_discounted", "kind": "request", "actor": "w", "at": T0}
    deal = {"id": "D", "stage": "qualification", "fields": BIG, "approvals": [request]}
    rep = Actor("wang", frozenset({"sales_rep"}))
    decision = engine.check(deal, "quote", now=T0 + timedelta(days=3), actor=rep)
    (reason,) = decision.reasons
    assert (reason.code, reason.kind, reason.overridable) == ("PB580", "approval", False)
    assert reason.text("en") == (
        "approval Large deal or deep discount is missing: step Sales director waits for "
        "Sales director; overdue since 2026-11-18 10:00 +08:00"
    )
    assert reason.text("zh").startswith(
        "缺少审批「大额或高折扣审批」：步骤「销售总监审批」待销售总监审批"
    )
    steps = engine.next_steps(deal, now=T0, actor=rep)
    assert [r.code for m in steps.missing_for_next for r in m.failing] == ["PB580"]
    with pytest.raises(OverrideError):
        engine.advance(deal, "quote", actor=rep, now=T0, override="urgent")


def test_malformed_events_are_a_deal_error() -> None:
    """A deal's approvals must be a list of events with their keys."""
    with pytest.raises(DealError):
        read_events({"kind": "grant"}, "D")
    with pytest.raises(DealError):
        read_events([{"kind": "bribe", "approval": "a", "actor": "x", "at": T0}], "D")
