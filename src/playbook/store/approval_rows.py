"""The ``playbook_approval_events`` table (revision 0011) and how the store reads it.

Each row is one approval event of a deal — a request, a grant, a rejection or
a delegation — and one version step of the deal (unique ``deal_id,
deal_version``). Writing is :mod:`playbook.store.approvals`; the store never
interprets the events (:mod:`playbook.runtime.approval_state` does).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from playbook.store.models import Base, JsonDocument
from playbook.store.records import HistoryEntry, StoredDeal

__all__ = [
    "ApprovalEventRecord",
    "approval_history",
    "has_approvals",
    "load_approvals",
    "with_approvals",
]

_KEY = BigInteger().with_variant(Integer(), "sqlite")


class ApprovalEventRecord(Base):
    """One approval event of a deal (append-only); ``deal_version`` is the step it made."""

    __tablename__ = "playbook_approval_events"
    __table_args__ = (
        UniqueConstraint(
            "deal_id", "deal_version", name="uq_playbook_approval_events_deal_version"
        ),
        Index("ix_playbook_approval_events_approval", "approval", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(_KEY, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(_KEY, ForeignKey("playbook_deals.id", ondelete="CASCADE"))
    approval: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    step: Mapped[str | None] = mapped_column(String(100))
    approver: Mapped[str | None] = mapped_column(String(200))
    delegate: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    actor_roles: Mapped[list[str]] = mapped_column(JsonDocument)
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    approved_values: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    stage: Mapped[str] = mapped_column(String(100))
    deal_version: Mapped[int] = mapped_column(Integer)


def load_approvals(session: Session, deal_id: int) -> tuple[dict[str, Any], ...]:
    """The deal's approval events in version order, in the engine's JSON form."""
    return _events(session, deal_id)


def has_approvals(session: Session) -> bool:
    """True when any deal of the store has an approval event (one indexed probe)."""
    return session.scalar(select(ApprovalEventRecord.id).limit(1)) is not None


def with_approvals(session: Session, deal: StoredDeal) -> StoredDeal:
    """``deal`` with its approval events read (one query)."""
    return replace(deal, approvals=_events(session, deal.id))


def _events(session: Session, deal_id: int) -> tuple[dict[str, Any], ...]:
    rows = session.scalars(
        select(ApprovalEventRecord)
        .where(ApprovalEventRecord.deal_id == deal_id)
        .order_by(ApprovalEventRecord.deal_version)
    ).all()
    return tuple(_event(row) for row in rows)


def _event(row: ApprovalEventRecord) -> dict[str, Any]:
    return {
        "approval": row.approval,
        "kind": row.kind,
        "actor": row.actor,
        "at": row.at,
        "step": row.step,
        "approver": row.approver,
        "delegate": row.delegate,
        "values": dict(row.approved_values or {}),
        "reason": row.reason,
    }


def approval_history(session: Session, deal_id: int) -> list[HistoryEntry]:
    """The deal's approval events as history entries (kind ``approval``)."""
    rows = session.scalars(
        select(ApprovalEventRecord).where(ApprovalEventRecord.deal_id == deal_id)
    ).all()
    return [
        HistoryEntry(
            deal_version=row.deal_version,
            kind="approval",
            at=row.at,
            actor=row.actor,
            stage=row.stage,
            note=row.reason,
            actor_roles=tuple(row.actor_roles or ()),
            changes={
                "approval": row.approval,
                "event": row.kind,
                "step": row.step,
                "approver": row.approver,
                "delegate": row.delegate,
            },
        )
        for row in rows
    ]
