"""Recorded escalations for people: list them, acknowledge one, snooze one.

An acknowledgement stops the higher levels of the episode; a snooze holds the
rule back for the deal until a given time (levels due meanwhile fire at the
first working moment after it, see :mod:`playbook.escalation.candidate`).
Both record who and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from playbook.errors import EscalationError, EscalationNotFoundError
from playbook.escalation.rules import Recipient, deal_label, json_form
from playbook.escalation.times import utc_iso
from playbook.i18n import Message
from playbook.store.db import Database
from playbook.store.escalation_models import EscalationRecord
from playbook.store.models import Deal
from playbook.values import require_now

__all__ = [
    "EscalationView",
    "acknowledge",
    "list_escalations",
    "read_escalation",
    "snooze",
]

_E = EscalationRecord


@dataclass(frozen=True, slots=True)
class EscalationView:
    """An escalation as stored, for ``playbook escalations list``."""

    id: int
    deal: str
    rule: str
    level: int
    stage: str
    status: str
    fired_at: datetime
    reason: str
    notified: tuple[Recipient, ...]
    resolved_at: datetime | None = None
    resolution: str | None = None
    acked_by: str | None = None
    ack_reason: str | None = None
    snoozed_by: str | None = None
    snoozed_until: datetime | None = None
    snooze_reason: str | None = None
    playbook_id: str = ""

    @classmethod
    def of(cls, record: EscalationRecord, external_id: str | None) -> EscalationView:
        """The view of a stored escalation whose deal has ``external_id``."""
        return cls(
            id=record.id,
            deal=deal_label(external_id, record.deal_id),
            rule=record.rule,
            level=record.level,
            stage=record.stage,
            status=record.status,
            fired_at=record.fired_at,
            reason=record.reason,
            notified=Recipient.from_stored(record.notified),
            resolved_at=record.resolved_at,
            resolution=record.resolution,
            acked_by=record.acked_by,
            ack_reason=record.ack_reason,
            snoozed_by=record.snoozed_by,
            snoozed_until=record.snoozed_until,
            snooze_reason=record.snooze_reason,
            playbook_id=record.playbook_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (times in ISO 8601 UTC)."""
        return json_form(self, _VIEW_KEYS)


_VIEW_KEYS = (
    *("id", "deal", "rule", "level", "stage", "status", "fired_at", "reason", "notified"),
    *("resolved_at", "resolution", "acked_by", "ack_reason"),
    *("snoozed_by", "snoozed_until", "snooze_reason"),
)


def list_escalations(
    database: Database,
    *,
    playbook_id: str | None = None,
    status: str | None = None,
    deal: str | None = None,
    rule: str | None = None,
    limit: int | None = None,
) -> list[EscalationView]:
    """Escalations matching every filter given, newest first."""
    query = select(_E, Deal.external_id).join(Deal, Deal.id == _E.deal_id).order_by(_E.id.desc())
    for column, wanted in ((_E.playbook_id, playbook_id), (_E.status, status), (_E.rule, rule)):
        if wanted is not None:
            query = query.where(column == wanted)
    if deal is not None:
        by_id = _E.deal_id == int(deal) if deal.isdigit() and len(deal) < 19 else sa.false()
        query = query.where(sa.or_(Deal.external_id == deal, by_id))
    if limit is not None:
        query = query.limit(limit)
    with database.transaction() as session:
        return [
            EscalationView.of(row.EscalationRecord, row.external_id)
            for row in session.execute(query)
        ]


def acknowledge(
    database: Database, escalation_id: int, *, actor: str, reason: str, now: datetime
) -> EscalationView:
    """Record that ``actor`` took charge of an open escalation, and why.

    Higher levels of the same episode no longer fire. Raises
    :class:`~playbook.errors.EscalationNotFoundError` for an unknown id and
    :class:`~playbook.errors.EscalationError` for one that is not open or without a reason.
    """
    at = require_now(now)
    _need_reason(reason, "ack")
    with database.transaction(write=True) as session:
        record = _get(session, escalation_id)
        if record.status != "open":
            raise EscalationError(
                Message(
                    "error.admin.escalation_not_open_nothing",
                    escalation_id=escalation_id,
                    status=record.status,
                ),
                hint=Message("error.admin.playbook_escalations_list_status"),
            )
        record.status, record.acked_by, record.acked_at = "acked", actor, at
        record.ack_reason = reason
    return read_escalation(database, escalation_id)


def snooze(
    database: Database,
    escalation_id: int,
    *,
    actor: str,
    until: datetime,
    reason: str,
    now: datetime,
) -> EscalationView:
    """Hold back the escalation's rule for its deal until ``until``, recording who and why.

    No level of the rule fires for the deal before ``until``; levels that fall
    due meanwhile fire at the first working moment after it. Raises
    :class:`~playbook.errors.EscalationError` when ``until`` is not after
    ``now`` or the reason is empty.
    """
    at = require_now(now)
    end = require_now(until)
    _need_reason(reason, "snooze")
    if end <= at:
        raise EscalationError(
            Message("error.admin.until_not_future_now", utc_iso=utc_iso(end), utc_iso2=utc_iso(at)),
            hint=Message("error.admin.give_later_time_e"),
        )
    with database.transaction(write=True) as session:
        record = _get(session, escalation_id)
        record.snoozed_by, record.snoozed_until, record.snooze_reason = actor, end, reason
    return read_escalation(database, escalation_id)


def _need_reason(reason: str, verb: str) -> None:
    if not reason.strip():
        raise EscalationError(
            Message("error.admin.needs_reason", verb=verb),
            hint=Message("error.admin.add_reason_text"),
        )


def _get(session: Session, escalation_id: int) -> EscalationRecord:
    record = session.get(EscalationRecord, escalation_id)
    if record is None:
        raise EscalationNotFoundError(
            Message("error.admin.no_escalation", escalation_id=escalation_id),
            hint=Message("error.admin.playbook_escalations_list_shows"),
            details={"escalation": escalation_id},
        )
    return record


def read_escalation(database: Database, escalation_id: int) -> EscalationView:
    """The escalation ``escalation_id``; raises EscalationNotFoundError when there is none."""
    with database.transaction() as session:
        record = _get(session, escalation_id)
        deal = session.get(Deal, record.deal_id)
        return EscalationView.of(record, deal.external_id if deal else None)
