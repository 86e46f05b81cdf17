"""Refused gated attempts, kept for supervision (授权与监督): who tried what, and why not.

Every gated action that the rules refuse — a blocked move, an action completed
by a role that may not, an edited copy of a registered playbook, an
acknowledgement, snooze or migration by a role not allowed — is recorded in its
own short transaction, after the refusal and apart from the refused write (which
wrote nothing). The deal's history shows its refusals; :func:`list_refusals`
lists them across deals (``playbook audit``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from playbook.store.db import Database
from playbook.store.models import Deal, Refusal
from playbook.values import require_now, to_json_value

__all__ = ["RefusalEntry", "list_refusals", "record_refusal"]

_TEXT_LIMIT = 200  # the width of the actor, deal_ref and subject columns


@dataclass(frozen=True, slots=True)
class RefusalEntry:
    """One refused attempt, as recorded."""

    id: int
    at: datetime
    actor: str
    actor_roles: tuple[str, ...]
    action: str
    deal_ref: str | None
    subject: str | None
    code: str
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``at`` in ISO 8601 UTC."""
        return {
            "id": self.id,
            "at": self.at.astimezone(UTC).isoformat(),
            "actor": self.actor,
            "actor_roles": list(self.actor_roles),
            "action": self.action,
            "deal": self.deal_ref,
            "subject": self.subject,
            "code": self.code,
            "reason": self.reason,
            "details": dict(self.details),
        }


def record_refusal(
    database: Database,
    *,
    at: datetime,
    actor: str,
    actor_roles: Iterable[str],
    action: str,
    code: str,
    reason: str,
    deal_ref: str | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Keep one refused attempt; the deal is looked up by its external or store id."""
    moment = require_now(at)
    with database.transaction(write=True) as session:
        session.add(
            Refusal(
                at=moment,
                actor=_clip(actor) or "?",
                actor_roles=sorted({str(role) for role in actor_roles}),
                action=action,
                deal_id=_deal_id(session, deal_ref),
                deal_ref=_clip(deal_ref),
                subject=_clip(subject),
                code=code,
                reason=reason,
                details={str(k): to_json_value(v) for k, v in (details or {}).items()},
            )
        )


def list_refusals(
    database: Database,
    *,
    deal: str | None = None,
    since: datetime | None = None,
    action: str | None = None,
    limit: int | None = 100,
) -> list[RefusalEntry]:
    """Refused attempts, oldest first (the newest ``limit`` of them when a limit is given).

    ``deal`` is an external id or a store id, as the user names it.
    """
    query = select(Refusal)
    if since is not None:
        query = query.where(Refusal.at >= require_now(since))
    if action is not None:
        query = query.where(Refusal.action == action)
    query = query.order_by(Refusal.at.desc(), Refusal.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with database.transaction() as session:
        if deal is not None:
            deal_id = _deal_id(session, deal)
            query = query.where(
                Refusal.deal_ref == deal if deal_id is None else Refusal.deal_id == deal_id
            )
        rows: Sequence[Refusal] = session.scalars(query).all()
        entries = [_entry(row) for row in rows]
    return entries[::-1]


def _entry(row: Refusal) -> RefusalEntry:
    return RefusalEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        actor_roles=tuple(row.actor_roles or ()),
        action=row.action,
        deal_ref=row.deal_ref,
        subject=row.subject,
        code=row.code,
        reason=row.reason,
        details=dict(row.details or {}),
    )


def _deal_id(session: Session, ref: str | None) -> int | None:
    if ref is None:
        return None
    found = session.scalars(select(Deal.id).where(Deal.external_id == ref).limit(2)).all()
    if len(found) == 1:
        return found[0]
    if not found and ref.isdigit() and len(ref) < 19:
        return session.scalar(select(Deal.id).where(Deal.id == int(ref)))
    return None


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:_TEXT_LIMIT]
