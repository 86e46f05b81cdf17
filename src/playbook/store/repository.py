"""Reading and writing deals: the store persists what the engine decided, atomically.

Every write is one transaction and one *version step* of the deal: the deal
row is updated with ``WHERE id = :id AND version = :read_version`` (optimistic
locking) together with the row that records the step (a stage change or an
activity), so a concurrent writer never loses an update silently: it gets a
:class:`~playbook.errors.ConflictError` saying who changed the deal last and
when, and may read the deal again and let the engine decide again.

Moves and completed actions are decided by the engine and persisted through
:mod:`playbook.services`, which turns the engine's result into a
:class:`DealChange`; this module never decides whether a move is allowed and
never imports the engine. Logging a call, meeting,
email, note or visit changes nothing the engine decides, so it is recorded
directly, with an atomic version increment that cannot conflict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, case, func, insert, select, update
from sqlalchemy.orm import Session

from playbook.diagnostics import did_you_mean
from playbook.errors import (
    ConflictError,
    DealNotFoundError,
    StoreError,
    UnknownActivityKindError,
)
from playbook.i18n import Message
from playbook.store import activations
from playbook.store.approval_rows import approval_history, has_approvals, with_approvals
from playbook.store.db import Database
from playbook.store.lifecycle import DealLifecycle
from playbook.store.lifecycle import find_deal as _find
from playbook.store.models import Activity, Assignment, Deal, PlaybookRecord, StageChange
from playbook.store.records import (
    ActionDone,
    DealChange,
    HistoryEntry,
    StageMove,
    StoredDeal,
)
from playbook.values import Actor, coerce_fields, require_now, to_json_value, utc_iso

if TYPE_CHECKING:
    from playbook.model import Playbook

__all__ = [
    "FIELDS_KIND",
    "LOG_KINDS",
    "ActionDone",
    "DealChange",
    "DealStore",
    "HistoryEntry",
    "StageMove",
    "StoredDeal",
    "json_fields",
]

LOG_KINDS: tuple[str, ...] = ("call", "meeting", "email", "note", "visit")
"""Activities a user logs by hand (``action`` rows come from completed required actions)."""
FIELDS_KIND = "fields"
"""The activity kind recording field values set in the tool (``deals set``)."""

IMPORT_ACTOR = "import"
"""The actor recorded on stage changes read from an imported file."""


class DealStore(DealLifecycle):
    """Deals, their history and the playbook versions they follow, in one database.

    Reassigning and deleting deals come from :class:`~playbook.store.lifecycle.DealLifecycle`.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    # --- playbooks ------------------------------------------------------------------------

    def register_playbook(
        self, playbook: Playbook, source: str, *, path: str | None = None, now: datetime
    ) -> None:
        """Keep ``source`` as the text of ``playbook``'s version, so deals can be read later.

        Registering the same version again with the same text does nothing; a
        different text for a version already registered is refused: bump the
        playbook's ``version`` when it changes. A version higher than every
        registered one becomes the active version (:meth:`active_version`)
        unless a version was activated by hand (:meth:`activate`).
        """
        digest = hashlib.sha256(source.encode()).hexdigest()
        with self.database.transaction(write=True) as session:
            known = session.get(PlaybookRecord, (playbook.id, playbook.version))
            if known is None:
                session.add(
                    PlaybookRecord(
                        id=playbook.id,
                        version=playbook.version,
                        source=source,
                        sha256=digest,
                        path=path,
                        registered_at=require_now(now),
                    )
                )
            elif known.sha256 != digest:
                raise StoreError(
                    Message("error.repository.playbook_already_store_different", key=playbook.key),
                    hint=Message("error.repository.deals_are_pinned_version"),
                    details={"playbook": playbook.key},
                )

    def playbook_source(self, playbook_id: str, version: int) -> str | None:
        """The registered text of a playbook version, or None."""
        with self.database.transaction() as session:
            record = session.get(PlaybookRecord, (playbook_id, version))
            return None if record is None else record.source

    def active_version(self, playbook_id: str) -> int | None:
        """The version new deals of ``playbook_id`` follow, or None when none is registered.

        The version activated last (:meth:`activate`), else the highest
        registered one. Read from the database every time (never cached).
        """
        with self.database.transaction() as session:
            return activations.active_version(session, playbook_id)

    def activate(
        self, playbook_id: str, version: int, *, actor: str, reason: str, now: datetime
    ) -> None:
        """Make the registered ``playbook_id@version`` active for new deals (who, when, why kept).

        Raises :class:`~playbook.errors.VersionNotRegisteredError` (PB614),
        writing nothing, when that version is not registered. Versions
        registered later do not move an activated version.
        """
        activations.activate(
            self.database, playbook_id, version, actor=actor, reason=reason, now=now
        )

    def playbook_versions(self) -> list[tuple[str, int]]:
        """Every (playbook id, version) registered, in order."""
        with self.database.transaction() as session:
            rows = session.execute(
                select(PlaybookRecord.id, PlaybookRecord.version).order_by(
                    PlaybookRecord.id, PlaybookRecord.version
                )
            )
            return [(row.id, row.version) for row in rows]

    # --- reading deals --------------------------------------------------------------------

    def get(self, ref: str | int, *, playbook_id: str | None = None) -> StoredDeal:
        """The deal named ``ref``: an external id, or the store id (a number).

        Raises :class:`~playbook.errors.DealNotFoundError` when no deal matches.
        """
        with self.database.transaction() as session:
            return with_approvals(session, _stored(_find(session, ref, playbook_id)))

    def list_deals(
        self,
        *,
        playbook_id: str | None = None,
        stage: str | None = None,
        owner: str | None = None,
        where: ColumnElement[bool] | None = None,
        limit: int | None = None,
        batch: int = 1000,
    ) -> Iterator[StoredDeal]:
        """Deals matching every filter given, in store-id order, streamed in batches.

        ``where`` is a clause on :class:`~playbook.store.models.Deal`, for
        example a compiled condition (see :mod:`playbook.store.fields`).
        """
        query = select(Deal).order_by(Deal.id)
        query = _filtered(query, playbook_id=playbook_id, stage=stage, owner=owner, where=where)
        if limit is not None:
            query = query.limit(limit)
        with self.database.transaction() as session:
            # Approval events are rare: read them per deal only when the store has any.
            events = has_approvals(session)
            for row in session.scalars(query.execution_options(yield_per=batch)):
                yield with_approvals(session, _stored(row)) if events else _stored(row)

    def count(
        self,
        *,
        playbook_id: str | None = None,
        stage: str | None = None,
        owner: str | None = None,
        where: ColumnElement[bool] | None = None,
    ) -> int:
        """How many deals match every filter given."""
        query = _filtered(
            select(func.count(Deal.id)),
            playbook_id=playbook_id,
            stage=stage,
            owner=owner,
            where=where,
        )
        with self.database.transaction() as session:
            return int(session.scalar(query) or 0)

    def history(self, ref: str | int, *, playbook_id: str | None = None) -> list[HistoryEntry]:
        """Every stage change, activity, reassignment and approval event of the deal, in order."""
        with self.database.transaction() as session:
            deal = _find(session, ref, playbook_id)
            changes = session.scalars(
                select(StageChange).where(StageChange.deal_id == deal.id)
            ).all()
            activities = session.scalars(select(Activity).where(Activity.deal_id == deal.id)).all()
            moves = session.scalars(select(Assignment).where(Assignment.deal_id == deal.id)).all()
            entries = approval_history(session, deal.id)
        entries += [_change_entry(row) for row in changes]
        entries += [_activity_entry(row) for row in activities]
        entries += [_assignment_entry(row) for row in moves]
        return sorted(entries, key=lambda entry: entry.deal_version)

    # --- writing deals --------------------------------------------------------------------

    def add_deal(
        self,
        playbook: Playbook,
        *,
        actor: Actor,
        now: datetime,
        fields: Mapping[str, Any] | None = None,
        external_id: str | None = None,
        owner: str | None = None,
        team: str | None = None,
        manager: str | None = None,
        region: str | None = None,
    ) -> StoredDeal:
        """Create a deal in the playbook's first stage; its first history row records that."""
        at = require_now(now)
        typed = coerce_fields(playbook, fields or {})
        first = playbook.first_stage.id
        with self.database.transaction(write=True) as session:
            deal = Deal(
                external_id=external_id,
                playbook_id=playbook.id,
                playbook_version=playbook.version,
                stage=first,
                owner=owner,
                team=team,
                manager=manager,
                region=region,
                fields=json_fields(typed),
                actions={},
                created_at=at,
                updated_at=at,
                updated_by=actor.id,
                stage_entered_at=at,
                last_activity_at=at,
                closed_at=None,
                version=1,
            )
            session.add(deal)
            session.flush()
            session.add(
                StageChange(
                    deal_id=deal.id,
                    from_stage=None,
                    to_stage=first,
                    actor=actor.id,
                    actor_roles=sorted(actor.roles),
                    at=at,
                    override_reason=None,
                    playbook_version=playbook.version,
                    deal_version=1,
                    source="live",
                )
            )
            session.flush()
            return _stored(deal)

    def update_fields(
        self,
        deal: StoredDeal,
        playbook: Playbook,
        changes: Mapping[str, Any],
        *,
        actor: Actor,
        now: datetime,
        reason: str | None = None,
    ) -> StoredDeal:
        """Set (or, with None, clear) field values of ``deal`` as read; one version step.

        The step is recorded in the deal's history as an activity of kind
        ``fields`` (who, when, ``reason`` as its note, the values set and the
        values before), and each changed field's ``fields_set_at`` moves to
        ``now``: an import that keeps the newer value reads it. Raises
        :class:`~playbook.errors.ConflictError` when the deal changed since
        ``deal`` was read.
        """
        at = require_now(now)
        typed = json_fields(coerce_fields(playbook, changes))
        merged = {key: value for key, value in deal.fields.items() if key not in changes}
        merged.update(typed)
        values = {
            "fields": merged,
            "fields_set_at": fields_set_at(deal, merged, at),
            "updated_at": at,
            "updated_by": actor.id,
        }
        before = {key: deal.fields.get(key) for key in changes}
        record = Activity(
            deal_id=deal.id,
            kind=FIELDS_KIND,
            actor=actor.id,
            at=at,
            note=reason,
            stage=deal.stage,
            action_id=None,
            evidence={"set": {key: typed.get(key) for key in changes}, "was": before},
            deal_version=deal.version + 1,
        )
        with self.database.transaction(write=True) as session:
            compare_and_set(session, deal, deal.version + 1, values)
            session.add(record)
        return self.get(deal.id)

    def apply(
        self,
        deal: StoredDeal,
        change: DealChange,
        playbook: Playbook,
        *,
        actor: Actor,
        now: datetime,
    ) -> StoredDeal:
        """Persist ``change`` of ``deal`` (as read): its new state and one row per event.

        One transaction: the deal row moves to the new state only if nobody
        changed it since it was read, and one history row per event is added,
        each one version step. Raises :class:`~playbook.errors.ConflictError` otherwise.
        """
        at = require_now(now)
        steps = max(1, len(change.events))
        stage = change.stage
        fields = json_fields(change.fields)
        values = {
            "stage": stage,
            "fields": fields,
            "fields_set_at": fields_set_at(deal, fields, at),
            "actions": dict(change.actions),
            "stage_entered_at": change.stage_entered_at or deal.stage_entered_at,
            "last_activity_at": _last_activity(deal, change),
            "closed_at": _closed_at(deal, stage, playbook, at),
            "updated_at": at,
            "updated_by": actor.id,
        }
        with self.database.transaction(write=True) as session:
            compare_and_set(session, deal, deal.version + steps, values)
            for offset, item in enumerate(change.events, start=1):
                _record_event(session, deal, item, deal.version + offset)
        return self.get(deal.id)

    def log_activity(
        self,
        ref: str | int,
        kind: str,
        *,
        actor: Actor | str,
        now: datetime,
        note: str | None = None,
        playbook_id: str | None = None,
        kinds: Sequence[str] = LOG_KINDS,
    ) -> HistoryEntry:
        """Record an activity of one of ``kinds`` on a deal (by default a call, meeting, email,
        note or visit; a playbook declares its own); it never conflicts.

        The deal's version grows by one and its ``last_activity_at`` moves to
        ``now`` unless it is already later. Raises
        :class:`~playbook.errors.UnknownActivityKindError` for another kind.
        """
        if kind not in kinds or kind in (FIELDS_KIND, "action"):
            raise UnknownActivityKindError(
                Message("error.repository.unknown_activity_kind", kind=kind),
                hint=did_you_mean(kind, kinds) or Message("error.repository.use_one", names=kinds),
                details={"kind": kind, "kinds": list(kinds)},
            )
        at = require_now(now)
        actor_id = actor.id if isinstance(actor, Actor) else actor
        with self.database.transaction(write=True) as session:
            deal = _find(session, ref, playbook_id)
            later = case(
                (Deal.last_activity_at.is_(None) | (Deal.last_activity_at < at), at),
                else_=Deal.last_activity_at,
            )
            step = session.execute(
                update(Deal)
                .where(Deal.id == deal.id)
                .values(
                    version=Deal.version + 1,
                    last_activity_at=later,
                    updated_at=at,
                    updated_by=actor_id,
                )
                .returning(Deal.version, Deal.stage)
            ).one()
            row = Activity(
                deal_id=deal.id,
                kind=kind,
                actor=actor_id,
                at=at,
                note=note,
                stage=step.stage,
                action_id=None,
                evidence=None,
                deal_version=step.version,
            )
            session.add(row)
            session.flush()
            return _activity_entry(row)


# --- helpers ------------------------------------------------------------------------------


def json_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Typed field values in the store's JSON form (None values dropped).

    Decimals become text (exact), dates ISO text, and datetimes ISO text in UTC
    with microseconds, so that every stored datetime has the same width and
    SQLite can compare them as text.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            out[key] = value.astimezone(UTC).isoformat(timespec="microseconds")
        else:
            out[key] = to_json_value(value)
    return out


def _filtered(
    query: Select[Any],
    *,
    playbook_id: str | None,
    stage: str | None,
    owner: str | None,
    where: ColumnElement[bool] | None,
) -> Select[Any]:
    if playbook_id is not None:
        query = query.where(Deal.playbook_id == playbook_id)
    if stage is not None:
        query = query.where(Deal.stage == stage)
    if owner is not None:
        query = query.where(Deal.owner == owner)
    if where is not None:
        query = query.where(where)
    return query


def compare_and_set(
    session: Session, deal: StoredDeal, new_version: int, values: Mapping[str, Any]
) -> None:
    """Write ``values`` if the deal is still at the version read, else raise ConflictError."""
    result = session.execute(
        update(Deal)
        .where(Deal.id == deal.id, Deal.version == deal.version)
        .values(**values, version=new_version)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 1:
        return
    current = session.get(Deal, deal.id)
    if current is None:
        raise DealNotFoundError(
            Message("error.repository.deal_was_deleted", ref=deal.ref), details={"deal": deal.ref}
        )
    raise ConflictError(
        Message(
            "error.repository.deal_was_changed_by",
            ref=deal.ref,
            updated_by=current.updated_by,
            isoformat=current.updated_at.isoformat(timespec="seconds"),
            version=deal.version,
            version2=current.version,
        ),
        hint=Message("error.repository.read_deal_again_decide"),
        details={
            "deal": deal.ref,
            "read_version": deal.version,
            "version": current.version,
            "changed_by": current.updated_by,
            "changed_at": utc_iso(current.updated_at),
        },
    )


def _record_event(
    session: Session, deal: StoredDeal, event: StageMove | ActionDone, version: int
) -> None:
    if isinstance(event, StageMove):
        session.execute(
            insert(StageChange).values(
                deal_id=deal.id,
                from_stage=event.from_stage,
                to_stage=event.to_stage,
                actor=event.actor_id,
                actor_roles=sorted(event.actor_roles),
                at=event.at,
                override_reason=event.override_reason,
                playbook_version=event.playbook_version,
                deal_version=version,
                source="live",
            )
        )
        return
    evidence = to_json_value(event.evidence)
    session.execute(
        insert(Activity).values(
            deal_id=deal.id,
            kind="action",
            actor=event.actor_id,
            at=event.at,
            note=None,
            stage=event.stage,
            action_id=event.action_id,
            evidence=None if evidence is None else {"value": evidence},
            deal_version=version,
        )
    )


def fields_set_at(deal: StoredDeal, fields: Mapping[str, Any], at: datetime) -> dict[str, str]:
    """``deal.fields_set_at`` with ``at`` for every field whose value ``fields`` changes."""
    stamped = dict(deal.fields_set_at)
    when = at.astimezone(UTC).isoformat()
    for name in set(fields) | set(deal.fields):
        if fields.get(name) != deal.fields.get(name):
            stamped[name] = when
    return stamped


def _closed_at(deal: StoredDeal, stage: str, playbook: Playbook, at: datetime) -> datetime | None:
    """When the deal closed; kept while it stays closed with one outcome (won → after-sales)."""
    target = playbook.stage(stage)
    if target is None or not target.is_closed:
        return None
    before = playbook.stage(deal.stage)
    same = before is not None and before.outcome == target.outcome
    return deal.closed_at if same and deal.closed_at is not None else at


def _last_activity(deal: StoredDeal, change: DealChange) -> datetime | None:
    """The later of the engine's last activity and any action completed now."""
    times = [t for t in (change.last_activity_at, deal.last_activity_at) if t is not None]
    times += [event.at for event in change.events if isinstance(event, ActionDone)]
    return max(times) if times else None


def _stored(row: Deal) -> StoredDeal:
    return StoredDeal(
        id=row.id,
        external_id=row.external_id,
        playbook_id=row.playbook_id,
        playbook_version=row.playbook_version,
        stage=row.stage,
        owner=row.owner,
        team=row.team,
        manager=row.manager,
        region=row.region,
        fields=dict(row.fields or {}),
        actions=dict(row.actions or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        stage_entered_at=row.stage_entered_at,
        last_activity_at=row.last_activity_at,
        closed_at=row.closed_at,
        version=row.version,
        fields_set_at=dict(row.fields_set_at or {}),
    )


def _change_entry(row: StageChange) -> HistoryEntry:
    return HistoryEntry(
        deal_version=row.deal_version,
        kind="stage_change",
        at=row.at,
        actor=row.actor,
        stage=row.to_stage,
        from_stage=row.from_stage,
        override_reason=row.override_reason,
        source=row.source,
        actor_roles=tuple(row.actor_roles or ()),
    )


def _activity_entry(row: Activity) -> HistoryEntry:
    return HistoryEntry(
        deal_version=row.deal_version,
        kind=row.kind,
        at=row.at,
        actor=row.actor,
        stage=row.stage,
        note=row.note,
        action_id=row.action_id,
        evidence=row.evidence,
    )


def _assignment_entry(row: Assignment) -> HistoryEntry:
    """A reassignment: ``note`` is its reason, ``changes`` the owner and team before and after."""
    owner, team = [row.from_owner, row.to_owner], [row.from_team, row.to_team]
    return HistoryEntry(
        deal_version=row.deal_version,
        kind="reassign",
        at=row.at,
        actor=row.actor,
        stage=row.stage,
        note=row.reason,
        actor_roles=tuple(row.actor_roles or ()),
        changes={"owner": owner, "team": team},
    )
