"""Changing who owns a deal, deleting a deal, and finding a deal by how users name it.

A reassignment (owner and/or team) is one version step of the deal, recorded in
``playbook_assignments`` with who, when, why and from what to what; like a
logged activity it is an atomic increment that never conflicts (the engine
does not decide it), and a concurrent engine write that read the old version
gets a :class:`~playbook.errors.ConflictError` and decides again.

Deleting is a *hard* delete: the deal row and its history (stage changes,
activities, assignments, escalations) go, so it is gone from every list, sweep
and KPI without a filter to forget anywhere, and its personal data can really
be erased; refusals outlive it (``deal_id`` set to NULL). What stays is a row
in ``playbook_deletions``: which deal (ids, playbook, stage, owner, team,
version), who deleted it, when and why — not its field values. Looking the
deal up afterwards says who deleted it and why.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CTE, bindparam, delete, func, select, update
from sqlalchemy.orm import Session, aliased

from playbook.errors import DealNotFoundError, StoreError
from playbook.i18n import Message
from playbook.store.approval_rows import ApprovalEventRecord
from playbook.store.db import Database
from playbook.store.escalation_models import ConditionHold, Delivery, EscalationRecord
from playbook.store.models import (
    Activity,
    Assignment,
    Deal,
    Deletion,
    Person,
    Refusal,
    StageChange,
)
from playbook.values import Actor, require_now

__all__ = ["DealLifecycle", "DeletedDeal", "Reassignment", "find_deal"]


@dataclass(frozen=True, slots=True)
class Reassignment:
    """An owner/team change as recorded: the deal, its new version, from what to what."""

    deal_id: int
    deal_ref: str
    deal_version: int
    actor: str
    at: datetime
    reason: str | None
    from_owner: str | None
    to_owner: str | None
    from_team: str | None
    to_team: str | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, times in ISO 8601 UTC."""
        return {
            "deal": self.deal_ref,
            "deal_version": self.deal_version,
            "actor": self.actor,
            "at": self.at.astimezone(UTC).isoformat(),
            "reason": self.reason,
            "owner": {"from": self.from_owner, "to": self.to_owner},
            "team": {"from": self.from_team, "to": self.to_team},
        }


@dataclass(frozen=True, slots=True)
class DeletedDeal:
    """The lasting record of a deleted deal: which deal, where it stood, who, when, why."""

    deal_id: int
    external_id: str | None
    playbook_id: str
    playbook_version: int
    stage: str
    owner: str | None
    team: str | None
    deal_version: int
    actor: str
    at: datetime
    reason: str

    @property
    def ref(self) -> str:
        """How users named the deal: its external id, else its store id."""
        return self.external_id if self.external_id is not None else str(self.deal_id)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, times in ISO 8601 UTC."""
        return {
            "deal_id": self.deal_id,
            "external_id": self.external_id,
            "playbook": self.playbook_id,
            "playbook_version": self.playbook_version,
            "stage": self.stage,
            "owner": self.owner,
            "team": self.team,
            "deal_version": self.deal_version,
            "deleted_by": self.actor,
            "deleted_at": self.at.astimezone(UTC).isoformat(),
            "reason": self.reason,
        }


class DealLifecycle:
    """Reassigning and deleting deals: part of :class:`~playbook.store.repository.DealStore`."""

    database: Database

    def reassign(
        self,
        ref: str | int,
        *,
        owner: str,
        team: str | None = None,
        reason: str | None = None,
        actor: Actor,
        now: datetime,
        playbook_id: str | None = None,
    ) -> Reassignment:
        """Give the deal to ``owner`` (and ``team``); one version step, recorded with ``reason``.

        Without ``team``, the new owner's team in the people table is taken,
        else the deal keeps its team; the manager and region follow the people
        table when it knows the new owner. Raises
        :class:`~playbook.errors.DealNotFoundError` for an unknown deal and
        :class:`~playbook.errors.StoreError` for an empty owner.
        """
        at = require_now(now)
        if not owner.strip():
            raise StoreError(
                Message("error.lifecycle.reassign_needs_owner"),
                hint=Message("error.lifecycle.reassign_needs_owner_hint"),
            )
        with self.database.transaction(write=True) as session:
            deal = find_deal(session, ref, playbook_id)
            values = _assignment(session, deal, owner.strip(), team)
            before = (deal.owner, deal.team)
            step = session.execute(
                update(Deal)
                .where(Deal.id == deal.id)
                .values(**values, version=Deal.version + 1, updated_at=at, updated_by=actor.id)
                .returning(Deal.version, Deal.stage, Deal.owner, Deal.team)
            ).one()
            session.add(
                Assignment(
                    deal_id=deal.id,
                    actor=actor.id,
                    actor_roles=sorted(actor.roles),
                    at=at,
                    reason=reason,
                    stage=step.stage,
                    from_owner=before[0],
                    to_owner=step.owner,
                    from_team=before[1],
                    to_team=step.team,
                    deal_version=step.version,
                )
            )
            return Reassignment(
                deal_id=deal.id,
                deal_ref=deal.external_id if deal.external_id is not None else str(deal.id),
                deal_version=step.version,
                actor=actor.id,
                at=at,
                reason=reason,
                from_owner=before[0],
                to_owner=step.owner,
                from_team=before[1],
                to_team=step.team,
            )

    def delete(
        self,
        ref: str | int,
        *,
        reason: str,
        actor: Actor,
        now: datetime,
        playbook_id: str | None = None,
    ) -> DeletedDeal:
        """Delete the deal and its history; keep and return the record of who did it, when, why.

        Raises :class:`~playbook.errors.StoreError` without a reason and
        :class:`~playbook.errors.DealNotFoundError` for an unknown (or already
        deleted) deal.
        """
        at = require_now(now)
        if not reason.strip():
            raise StoreError(
                Message("error.lifecycle.delete_needs_reason"),
                hint=Message("error.lifecycle.delete_needs_reason_hint"),
            )
        with self.database.transaction(write=True) as session:
            deal = find_deal(session, ref, playbook_id)
            record = _deletion(deal, actor, at, reason.strip())
            session.add(record)
            _erase(session, deal.id)
            session.flush()
            return _deleted(record)

    def deletions(self, *, playbook_id: str | None = None) -> list[DeletedDeal]:
        """Every recorded deletion (of one playbook's deals if given), newest first."""
        query = select(Deletion).order_by(Deletion.at.desc(), Deletion.id.desc())
        if playbook_id is not None:
            query = query.where(Deletion.playbook_id == playbook_id)
        with self.database.transaction() as session:
            return [_deleted(row) for row in session.scalars(query)]


def find_deal(session: Session, ref: str | int, playbook_id: str | None) -> Deal:
    """The deal named ``ref`` (an external id, or the store id), else DealNotFoundError.

    For a deleted deal the error says who deleted it, when and why.
    """
    text = str(ref).strip()
    if playbook_id is None:
        found = session.scalars(_BY_EXTERNAL_ID, {"ref": text}).all()
    else:
        found = session.scalars(_IN_PLAYBOOK, {"ref": text, "playbook": playbook_id}).all()
    if len(found) > 1:
        raise StoreError(
            Message("error.repository.more_than_one_playbook", text=text),
            hint=Message("error.repository.name_playbook_playbook_use"),
        )
    if found:
        return found[0]
    if text.isdigit() and len(text) < 19:  # a store id is a 64-bit integer
        deal = session.get(Deal, int(text))
        if deal is not None and (playbook_id is None or deal.playbook_id == playbook_id):
            return deal
    raise _not_found(session, text, playbook_id)


def _playbook_ids() -> CTE:
    """The distinct playbook ids of the deals, one index seek per id (a loose index scan)."""
    first = select(func.min(Deal.playbook_id).label("id")).cte("playbook_ids", recursive=True)
    later = aliased(Deal)
    following = select(func.min(later.playbook_id)).where(later.playbook_id > first.c.id)
    return first.union_all(select(following.scalar_subquery()).where(first.c.id.is_not(None)))


# Built once with bound parameters: a statement object keeps its cache key, which costs
# more to compute than the lookup itself. External ids are unique per playbook and the
# index leads with playbook_id, so naming every playbook id (a few) makes it a seek.
_BY_EXTERNAL_ID = (
    select(Deal)
    .where(Deal.external_id == bindparam("ref"))
    .where(Deal.playbook_id.in_(select(_playbook_ids().c.id)))
    .limit(2)
)
_IN_PLAYBOOK = (
    select(Deal)
    .where(Deal.external_id == bindparam("ref"), Deal.playbook_id == bindparam("playbook"))
    .limit(2)
)


def _not_found(session: Session, text: str, playbook_id: str | None) -> DealNotFoundError:
    match = Deletion.external_id == text
    if text.isdigit() and len(text) < 19:
        match = match | (Deletion.deal_id == int(text))
    query = select(Deletion).where(match).order_by(Deletion.at.desc()).limit(1)
    if playbook_id is not None:
        query = query.where(Deletion.playbook_id == playbook_id)
    gone = session.scalars(query).first()
    if gone is None:
        return DealNotFoundError(
            Message("error.repository.no_deal_store", text=text),
            hint=Message("error.repository.playbook_deals_list_shows"),
            details={"deal": text},
        )
    return DealNotFoundError(
        Message(
            "error.lifecycle.deal_deleted",
            deal=text,
            actor=gone.actor,
            at=gone.at.isoformat(timespec="seconds"),
            reason=gone.reason,
        ),
        hint=Message("error.lifecycle.deal_deleted_hint"),
        details={"deal": text, "deleted_by": gone.actor, "reason": gone.reason},
    )


def _assignment(session: Session, deal: Deal, owner: str, team: str | None) -> dict[str, Any]:
    """The deal's new owner, team, manager and region (the people table fills what it knows)."""
    person = session.get(Person, owner)
    values: dict[str, Any] = {"owner": owner}
    if person is not None:
        values.update(manager=person.manager, region=person.region)
    chosen = team if team is not None else (person.team if person is not None else None)
    values["team"] = chosen if chosen is not None else deal.team
    return values


def _deletion(deal: Deal, actor: Actor, at: datetime, reason: str) -> Deletion:
    return Deletion(
        deal_id=deal.id,
        external_id=deal.external_id,
        playbook_id=deal.playbook_id,
        playbook_version=deal.playbook_version,
        stage=deal.stage,
        owner=deal.owner,
        team=deal.team,
        deal_version=deal.version,
        created_at=deal.created_at,
        actor=actor.id,
        actor_roles=sorted(actor.roles),
        at=at,
        reason=reason,
    )


def _erase(session: Session, deal_id: int) -> None:
    """Delete the deal and every row of its history, children first.

    The foreign keys cascade too, but a host application's SQLite connection
    (:meth:`~playbook.store.db.Database.from_connection`) may not enforce them.
    """
    escalations = select(EscalationRecord.id).where(EscalationRecord.deal_id == deal_id)
    session.execute(delete(Delivery).where(Delivery.escalation_id.in_(escalations)))
    tables = (EscalationRecord, ConditionHold, StageChange, Activity, Assignment)
    for table in (*tables, ApprovalEventRecord):
        session.execute(delete(table).where(table.deal_id == deal_id))
    session.execute(update(Refusal).where(Refusal.deal_id == deal_id).values(deal_id=None))
    session.execute(delete(Deal).where(Deal.id == deal_id))


def _deleted(row: Deletion) -> DeletedDeal:
    return DeletedDeal(**{item.name: getattr(row, item.name) for item in fields(DeletedDeal)})
