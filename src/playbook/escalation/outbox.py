"""The outbox: notifications recorded with their escalations, then sent once through the sinks.

The sweep that records an escalation creates one outbox row (``deliveries``)
per sink in the same transaction; :func:`deliver_pending` then sends them.
Each row is claimed with a lease before it is sent, so concurrent sweeps
never send the same row twice, and a failed row is kept for the next sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select, update

from playbook.errors import EscalationError
from playbook.escalation.notice import CardFacts, Notification, chat_card
from playbook.escalation.rules import Recipient, deal_label
from playbook.escalation.sinks import Sink
from playbook.escalation.times import utc_iso
from playbook.i18n import join, say, spoken
from playbook.model import Playbook
from playbook.store.db import Database
from playbook.store.escalation_models import Delivery, EscalationRecord
from playbook.store.models import Deal

__all__ = ["DEFAULT_LEASE", "DeliveryTally", "deliver_pending"]

DEFAULT_LEASE = timedelta(minutes=5)
"""How long a sweep owns a notification it is sending before another sweep may take it over."""

_CLAIM_BATCH = 20
_E = EscalationRecord


@dataclass(slots=True)
class DeliveryTally:
    """What happened to the outbox in one sweep: sent, failed (kept for retry), left pending."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "pending": self.pending,
            "errors": list(self.errors),
        }


def deliver_pending(
    database: Database,
    playbook: Playbook,
    sinks: Sequence[Sink],
    *,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    clock: Callable[[], datetime] | None = None,
    lang: str | None = None,
) -> DeliveryTally:
    """Send every pending or failed notification of ``playbook`` through the given ``sinks``.

    Each outbox row is claimed before it is sent (``sending``, with a lease
    until ``clock() + lease``), so concurrent sweeps never send the same row
    twice; a row is marked ``sent`` right after its sink accepted it and is
    never sent again. A failure marks it ``failed`` with the error and the
    number of attempts; the next call tries it again. Rows for sinks not given
    here stay pending and are counted.
    """
    stamp = clock or (lambda: now)
    by_name = {sink.name: sink for sink in sinks}
    tally = DeliveryTally()
    cursor = 0
    while True:
        claimed = _claim(database, playbook, tuple(by_name), cursor, stamp(), lease)
        if claimed is None:
            break
        cursor, rows = claimed
        for row in rows:
            _deliver(database, by_name[row.sink], row, playbook, lang, stamp(), tally)
    with database.transaction() as session:
        tally.pending = int(
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .join(_E, _E.id == Delivery.escalation_id)
                .where(_E.playbook_id == playbook.id, Delivery.status.in_(("pending", "failed")))
            )
            or 0
        )
    return tally


def _claim(
    database: Database,
    playbook: Playbook,
    sinks: tuple[str, ...],
    cursor: int,
    at: datetime,
    lease: timedelta,
) -> tuple[int, list[Any]] | None:
    """Claim the next batch of deliverable outbox rows after id ``cursor``; None when done."""
    claimable = sa.or_(
        Delivery.status.in_(("pending", "failed")),
        sa.and_(Delivery.status == "sending", Delivery.lease_until < at),
    )
    with database.transaction(write=True) as session:
        ids = session.scalars(
            select(Delivery.id)
            .join(_E, _E.id == Delivery.escalation_id)
            .where(
                Delivery.id > cursor,
                Delivery.sink.in_(sinks),
                _E.playbook_id == playbook.id,
                claimable,
            )
            .order_by(Delivery.id)
            .limit(_CLAIM_BATCH)
        ).all()
        if not ids:
            return None
        taken = (
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), claimable)
                .values(status="sending", lease_until=at + lease, attempts=Delivery.attempts + 1)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        rows = session.execute(
            select(Delivery.id, Delivery.sink, _E, Deal.external_id, Deal.fields)
            .join(_E, _E.id == Delivery.escalation_id)
            .join(Deal, Deal.id == _E.deal_id)
            .where(Delivery.id.in_(taken))
            .order_by(Delivery.id)
        ).all()
    return max(ids), list(rows)


def _deliver(
    database: Database,
    sink: Sink,
    row: Any,
    playbook: Playbook,
    lang: str | None,
    at: datetime,
    tally: DeliveryTally,
) -> None:
    """Send one claimed row through ``sink`` and record the outcome (sent, or failed)."""
    notification = _notification(row, playbook, lang)
    error: str | None = None
    try:
        sink.send(notification)
    except EscalationError as failure:
        error = failure.message
    with database.transaction(write=True) as session:
        values: dict[str, Any] = (
            {"status": "sent", "sent_at": at, "last_error": None}
            if error is None
            else {"status": "failed", "last_error": error[:2000]}
        )
        values["lease_until"] = None
        session.execute(
            update(Delivery)
            .where(Delivery.id == row.id, Delivery.status == "sending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if error is None:
        tally.sent += 1
    else:
        tally.failed += 1
        tally.errors.append(f"{sink.name}: {error}")


def _notification(row: Any, playbook: Playbook, lang: str | None) -> Notification:
    """The notification of a claimed row, in ``lang`` (texts from the playbook as it is now)."""
    lang = spoken(lang or playbook.language)
    record: EscalationRecord = row.EscalationRecord
    deal = deal_label(row.external_id, record.deal_id)
    rule = next((r for r in playbook.escalations if r.id == record.rule), None)
    title = playbook.label(rule.title if rule else None, lang, fallback=record.rule)
    level = rule.levels[record.level - 1] if rule and record.level <= len(rule.levels) else None
    message = playbook.label(level.message if level else None, lang, fallback="")
    people = Recipient.from_stored(record.notified)
    tell = join([person.shown(playbook, lang) for person in people], lang, last=None)
    heading = {"playbook": playbook.id, "deal": deal, "title": title, "level": record.level}
    first = say("escalation.notification", lang, **heading)
    text = first + (f"\n{message}" if message else "")
    text += "\n" + say("escalation.why", lang, reason=record.reason)
    text += "\n" + say("escalation.notify", lang, people=tell)
    body = {
        "id": record.id,
        "playbook": playbook.id,
        "deal": deal,
        "rule": record.rule,
        "rule_title": title,
        "level": record.level,
        "stage": record.stage,
        "fired_at": utc_iso(record.fired_at),
        "reason": record.reason,
        "trigger": dict(record.trigger or {}),
        "notified": [person.to_dict() for person in people],
        "message": message,
    }
    facts = CardFacts(record.deal_id, deal, row.fields or {}, record.stage, record.reason, tell)
    return Notification(
        delivery_id=f"{playbook.id}-escalation-{record.id}-delivery-{row.id}",
        text=text,
        escalation=body,
        subject=say("escalation.subject", lang, playbook=playbook.id, title=title, deal=deal),
        card=chat_card(playbook, facts, first, message, lang),
    )
