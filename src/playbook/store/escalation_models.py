"""The tables of escalations: what fired, its notifications (an outbox) and held conditions.

Exactly once is a property of the database, not of the sweep: the unique
constraint on ``(deal_id, rule, level, episode)`` lets any number of sweeps,
in any number of processes, try to record the same escalation; one insert
wins and the others do nothing. Notifications are rows of an outbox
(:class:`Delivery`), written in the same transaction as the escalation that
needs them, so an escalation is never recorded without its notifications nor
notified without being recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from playbook.store.models import Base

__all__ = [
    "DELIVERY_STATES",
    "ESCALATION_STATES",
    "ConditionHold",
    "Delivery",
    "EscalationRecord",
]

ESCALATION_STATES: tuple[str, ...] = ("open", "acked", "resolved", "dropped")
"""``open`` notified and unresolved; ``acked`` someone took it; ``resolved`` the cause went
away; ``dropped`` found later than the rule's ``max_lateness`` allows, so nobody was told."""

DELIVERY_STATES: tuple[str, ...] = ("pending", "sending", "sent", "failed")
"""An outbox row is ``pending`` until a sweep claims it (``sending``, with a lease),
then ``sent`` or ``failed`` (retried by the next sweep)."""

_Key = BigInteger().with_variant(Integer(), "sqlite")


class EscalationRecord(Base):
    """One level of one escalation rule that fired (or was dropped) for one deal episode.

    ``episode`` names the spell of time the rule measures (the stage visit, the
    time since one activity, one value of a date field, one run of a held
    condition): when the cause goes away and comes back, the episode is new and
    the rule may fire again. ``fired_at`` is when the level was due, which is
    earlier than ``swept_at`` when a sweep catches up after downtime.
    """

    __tablename__ = "playbook_escalations"
    __table_args__ = (
        UniqueConstraint(
            "deal_id", "rule", "level", "episode", name="uq_playbook_escalations_once"
        ),
        Index("ix_playbook_escalations_rule_status", "rule", "status"),
        Index("ix_playbook_escalations_snoozed_until", "snoozed_until"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(_Key, ForeignKey("playbook_deals.id", ondelete="CASCADE"))
    playbook_id: Mapped[str] = mapped_column(String(100))
    rule: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer)
    episode: Mapped[str] = mapped_column(String(100))
    stage: Mapped[str] = mapped_column(String(100))
    anchor_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    swept_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    trigger: Mapped[dict[str, Any]]
    notified: Mapped[list[Any]]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    acked_by: Mapped[str | None] = mapped_column(String(200))
    acked_at: Mapped[datetime | None]
    ack_reason: Mapped[str | None] = mapped_column(Text)
    snoozed_by: Mapped[str | None] = mapped_column(String(200))
    snoozed_until: Mapped[datetime | None]
    snooze_reason: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One notification of one escalation through one sink: the outbox row.

    A sweep claims a row by moving it to ``sending`` with a lease
    (``lease_until``); a sweep killed while sending leaves a lease that the
    next sweep after its expiry takes over. ``sent`` rows are never sent again.
    """

    __tablename__ = "playbook_escalation_deliveries"
    __table_args__ = (
        UniqueConstraint("escalation_id", "sink", name="uq_playbook_escalation_deliveries_sink"),
        Index("ix_playbook_escalation_deliveries_status", "status", "sink"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    escalation_id: Mapped[int] = mapped_column(
        _Key, ForeignKey("playbook_escalations.id", ondelete="CASCADE")
    )
    sink: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


class ConditionHold(Base):
    """Since when a ``condition`` trigger has held for a deal, as sweeps observed it.

    The row appears at the first sweep that sees the condition hold and goes
    away at the first sweep that sees it fail: that is the reset that starts a
    new episode.
    """

    __tablename__ = "playbook_escalation_conditions"

    deal_id: Mapped[int] = mapped_column(
        _Key, ForeignKey("playbook_deals.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str] = mapped_column(String(100), primary_key=True)
    since: Mapped[datetime]
