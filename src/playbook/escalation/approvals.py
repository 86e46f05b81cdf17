"""Overdue approval steps as escalations: what ``playbook sweep`` fires for an unanswered step.

An approval step with ``due`` and ``escalate`` levels is an escalation
candidate once it is the current step of a pending approval (see
:func:`~playbook.runtime.approval_state.approval_status`): level *n* is due at
the step's due time plus the level's ``after``, on the playbook's calendar.
The sweep records each (deal, ``approval.<approval>.<step>``, level, episode)
once — the episode is the time the step became current, so a new request or
a completed earlier step starts a new one — through the same insert and
outbox as every other rule; an escalation whose step is no longer waiting is
resolved.

Only deals with approval events are read (a step without a request has no
time to count from), one query for the deals and one for their events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from playbook.escalation.rules import Recipient, deal_label
from playbook.escalation.times import utc_iso
from playbook.i18n import say
from playbook.model import Approval, ApprovalStep, EscalationLevel, Playbook
from playbook.runtime.approval_state import ApprovalEvent, approval_status, read_events
from playbook.runtime.calendar import WorkingCalendar
from playbook.store.approval_rows import ApprovalEventRecord, load_approvals
from playbook.store.escalation_models import EscalationRecord
from playbook.store.models import Deal
from playbook.values import coerce_fields, playbook_zone, shown_time

__all__ = ["RULE_PREFIX", "OverdueStep", "overdue_steps", "resolve_answered", "rule_id"]

RULE_PREFIX = "approval."
"""The ``rule`` of an approval step's escalations starts with this."""


def rule_id(approval: Approval, step: ApprovalStep) -> str:
    """``approval.<approval id>.<step id>``: the rule an overdue step's escalations are under."""
    return f"{RULE_PREFIX}{approval.id}.{step.id}"[:100]


@dataclass(frozen=True, slots=True)
class OverdueStep:
    """One level of one overdue approval step of one deal, as the sweep records it."""

    rule: str
    level: int
    item: dict[str, Any]


def overdue_steps(
    session: Session, playbook: Playbook, calendar: WorkingCalendar, now: datetime, lang: str
) -> Iterator[OverdueStep]:
    """Every escalate level of every waiting approval step that is due at ``now``."""
    if not any(step.escalate for a in playbook.approvals for step in a.steps):
        return
    for deal, events in _deals_with_events(session, playbook):
        values = coerce_fields(playbook, deal.fields or {}, strict=False)
        for approval in playbook.approvals:
            yield from _levels_due(playbook, calendar, approval, deal, events, values, now, lang)


def resolve_answered(
    session: Session, playbook: Playbook, calendar: WorkingCalendar, now: datetime, lang: str
) -> int:
    """Resolve the live escalations of approval steps that no longer wait; return how many."""
    live = session.execute(
        select(
            EscalationRecord.id,
            EscalationRecord.deal_id,
            EscalationRecord.rule,
            EscalationRecord.episode,
        ).where(
            EscalationRecord.playbook_id == playbook.id,
            EscalationRecord.rule.startswith(RULE_PREFIX),
            EscalationRecord.status.in_(("open", "acked")),
        )
    ).all()
    if not live:
        return 0
    waiting = _waiting(session, playbook, {int(row.deal_id) for row in live})
    done = [row.id for row in live if (int(row.deal_id), row.rule, row.episode) not in waiting]
    if done:
        session.execute(
            update(EscalationRecord)
            .where(EscalationRecord.id.in_(done))
            .values(
                status="resolved",
                resolved_at=now,
                resolution=say("escalation.resolved.approval", lang),
            )
            .execution_options(synchronize_session=False)
        )
    return len(done)


def _waiting(session: Session, playbook: Playbook, deal_ids: set[int]) -> set[tuple[int, str, str]]:
    """(deal, rule, episode) of every approval step waiting now among ``deal_ids``."""
    out: set[tuple[int, str, str]] = set()
    rows = session.scalars(select(Deal).where(Deal.id.in_(deal_ids))).all()
    for deal in rows:
        events = read_events(list(load_approvals(session, deal.id)), str(deal.id))
        values = coerce_fields(playbook, deal.fields or {}, strict=False)
        for approval in playbook.approvals:
            status = approval_status(approval, events, values)
            if status.state == "pending" and status.step is not None and status.since is not None:
                out.add((deal.id, rule_id(approval, status.step), _episode(status.since)))
    return out


def _deals_with_events(
    session: Session, playbook: Playbook
) -> Iterator[tuple[Deal, tuple[ApprovalEvent, ...]]]:
    has_events = exists().where(ApprovalEventRecord.deal_id == Deal.id)
    deals = session.scalars(
        select(Deal)
        .where(
            Deal.playbook_id == playbook.id,
            Deal.playbook_version == playbook.version,
            Deal.closed_at.is_(None),
            has_events,
        )
        .order_by(Deal.id)
    ).all()
    for deal in deals:
        yield deal, read_events(list(load_approvals(session, deal.id)), str(deal.id))


def _levels_due(
    playbook: Playbook,
    calendar: WorkingCalendar,
    approval: Approval,
    deal: Deal,
    events: tuple[ApprovalEvent, ...],
    values: Mapping[str, Any],
    now: datetime,
    lang: str,
) -> Iterator[OverdueStep]:
    status = approval_status(approval, events, values)
    step, since = status.step, status.since
    if status.state != "pending" or step is None or step.due is None or since is None:
        return
    due = calendar.add(since, step.due)
    for number, level in enumerate(step.escalate, start=1):
        fired_at = calendar.add(due, level.after)
        if fired_at > now:
            return
        yield OverdueStep(
            rule_id(approval, step),
            number,
            _item(
                playbook, (approval, step, level, number), deal, (since, due, fired_at, now), lang
            ),
        )


def _item(
    playbook: Playbook,
    what: tuple[Approval, ApprovalStep, EscalationLevel, int],
    deal: Deal,
    times: tuple[datetime, datetime, datetime, datetime],
    lang: str,
) -> dict[str, Any]:
    approval, step, level, number = what
    since, due, fired_at, now = times
    zone = playbook_zone(playbook)
    reason = say(
        "escalation.approval_overdue",
        lang,
        approval=playbook.label(approval.title, lang, approval.id),
        step=playbook.label(step.title, lang, step.id),
        due=shown_time(due, zone),
    )
    return {
        "deal_id": deal.id,
        "deal": deal_label(deal.external_id, deal.id),
        "rule": rule_id(approval, step),
        "rule_title": playbook.label(approval.title, lang, approval.id),
        "level": number,
        "episode": _episode(since),
        "stage": deal.stage,
        "owner": deal.owner,
        "anchor_at": since,
        "fired_at": fired_at,
        "swept_at": now,
        "status": "open",
        "reason": reason,
        "trigger": {"approval": approval.id, "step": step.id, "due": utc_iso(due)},
        "notified": _recipients(level, deal),
        "message": playbook.label(level.message, lang, fallback=""),
    }


def _episode(since: datetime) -> str:
    return f"approval@{utc_iso(since)}"


def _recipients(level: EscalationLevel, deal: Deal) -> tuple[Recipient, ...]:
    """``owner`` and ``manager`` by the deal's names; a role as itself (the sink names holders)."""
    names = {"owner": deal.owner, "manager": deal.manager}
    return tuple(Recipient(who, names.get(who)) for who in level.notify)
