"""Approval events in the store: requests, grants, rejections and delegations of a deal.

Each event is one version step of its deal, like a stage change or an
activity: :func:`record_approval_event` writes the row and raises the deal's
version in one transaction, *only if* the deal is still at the version the
caller read (else :class:`~playbook.errors.ConflictError`, nothing written).
So two approvers granting at once cannot both complete a step on the same
reading: the second decides again on what the first wrote. The rows are
``playbook_approval_events`` (revision 0011); the store never interprets them
(:mod:`playbook.runtime.approval_state` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from playbook.store.approval_rows import ApprovalEventRecord, load_approvals
from playbook.store.db import Database
from playbook.store.records import StoredDeal
from playbook.store.repository import compare_and_set
from playbook.values import Actor, require_now

__all__ = ["NewApprovalEvent", "record_approval_event"]


@dataclass(frozen=True, slots=True)
class NewApprovalEvent:
    """What an approval event records (the deal, actor and time are given separately)."""

    approval: str
    kind: str
    step: str | None = None
    approver: str | None = None
    delegate: str | None = None
    reason: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


def record_approval_event(
    database: Database, deal: StoredDeal, event: NewApprovalEvent, *, actor: Actor, now: datetime
) -> StoredDeal:
    """Record ``event`` on ``deal`` as read; one version step, all or nothing.

    Raises :class:`~playbook.errors.ConflictError` when the deal changed
    since it was read (nothing is written) and
    :class:`~playbook.errors.DealNotFoundError` when it was deleted.
    """
    at = require_now(now)
    version = deal.version + 1
    with database.transaction(write=True) as session:
        compare_and_set(session, deal, version, {"updated_at": at, "updated_by": actor.id})
        session.add(
            ApprovalEventRecord(
                deal_id=deal.id,
                approval=event.approval,
                kind=event.kind,
                step=event.step,
                approver=event.approver,
                delegate=event.delegate,
                actor=actor.id,
                actor_roles=sorted(actor.roles),
                at=at,
                reason=event.reason,
                approved_values=dict(event.values),
                stage=deal.stage,
                deal_version=version,
            )
        )
        events = load_approvals(session, deal.id)
    return replace(deal, version=version, updated_at=at, updated_by=actor.id, approvals=events)
