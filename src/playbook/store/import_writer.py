"""Writing batches of imported deals: new deals appended in bulk, known ones updated.

Used by :mod:`playbook.store.importer`. Each batch is one transaction (in a dry
run, every batch runs inside one transaction that is rolled back at the end).
What a re-import does to a stored deal:

- **stages**: the file's path of stages is compared with the stored one; the
  file's new stages are appended, a deal that moved on in the tool keeps its
  stage, and two paths that disagree are a row error;
- **fields**: a value in the file replaces the stored one, unless the field
  keeps the newer value (``keep_newer``) and the tool set it after the row's
  ``updated`` time; an empty cell keeps the stored value (``on_empty: keep``,
  the default) or clears it (``on_empty: clear``);
- **follow-ups**: a ``last_activity`` date later than the deal's last activity
  is recorded as an activity (one version step) and moves ``last_activity_at``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from playbook.errors import ImportRowError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.store.bulk import CHANGE_COLUMNS, DEAL_COLUMNS, BulkRows
from playbook.store.mapping import ImportMapping
from playbook.store.models import Activity, Deal, Person, StageChange
from playbook.store.repository import IMPORT_ACTOR
from playbook.store.rows import ImportedDeal

__all__ = ["BatchWriter", "DealPlan", "ImportCounts"]

_DEALS = cast(Table, Deal.__table__)
_CHANGES = cast(Table, StageChange.__table__)
_ACTIVITIES = cast(Table, Activity.__table__)
_PEOPLE = cast(Table, Person.__table__)
_ACTIVITY_COLUMNS = tuple(column.name for column in _ACTIVITIES.columns if column.name != "id")
_to_json = json.JSONEncoder(check_circular=False).encode
"""``json.dumps`` with its defaults (the text SQLAlchemy writes), minus the cycle check."""
_PLACES = frozenset({"manager", "team", "region"})


@dataclass(frozen=True, slots=True)
class DealPlan:
    """What an import does (or, in a dry run, would do) to one deal."""

    external_id: str
    line: int
    action: str
    """``create`` or ``update``."""
    stages: tuple[str, ...] = ()
    """The stages entered (appended to the history, for an update)."""
    set: tuple[str, ...] = ()
    cleared: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    """Fields whose newer value in the tool was kept over the file's."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "external_id": self.external_id,
            "line": self.line,
            "action": self.action,
            "stages": list(self.stages),
            "set": list(self.set),
            "cleared": list(self.cleared),
            "kept": list(self.kept),
        }


@dataclass(slots=True)
class ImportCounts:
    """Running totals of an import, and (when asked for) each deal's plan."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    cleared: int = 0
    kept: int = 0
    stage_changes: int = 0
    activities: int = 0
    errors: list[ImportRowError] = field(default_factory=list)
    plans: list[DealPlan] | None = None

    def plan(self, item: DealPlan) -> None:
        """Keep ``item`` when plans are collected (a dry run)."""
        if self.plans is not None:
            self.plans.append(item)


@dataclass(frozen=True, slots=True)
class _Existing:
    id: int
    version: int
    stage: str
    fields: Mapping[str, Any]
    fields_set_at: Mapping[str, str]
    people: Mapping[str, str | None]
    last_activity_at: datetime | None
    closed_at: datetime | None


@dataclass(slots=True)
class _FieldMerge:
    """The fields of a stored deal after a row: values, their tool times, what changed."""

    fields: dict[str, Any]
    set_at: dict[str, str]
    set: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class BatchWriter:
    """Writes batches of imported deals on one connection, one transaction each.

    With ``dry_run`` the caller holds one transaction around every batch and
    rolls it back: the batches then run inside it. ``origin`` is the actor and
    the source the history records (``import`` for a file; a CRM webhook names
    the token's person and ``webhook``).
    """

    def __init__(
        self,
        rows: BulkRows,
        playbook: Playbook,
        mapping: ImportMapping,
        now: datetime,
        counts: ImportCounts,
        *,
        dry_run: bool = False,
        origin: tuple[str, str] = (IMPORT_ACTOR, "import"),
    ) -> None:
        self.connection = rows.connection
        self.actor, self.source = origin
        self.rows = rows
        self.playbook = playbook
        self.mapping = mapping
        self.now = now
        self.counts = counts
        self.dry_run = dry_run

    def write(self, batch: list[ImportedDeal]) -> None:
        """Write ``batch``: new deals appended, known ones updated."""
        if self.dry_run:
            self._write(batch)
            return
        with self.connection.begin():
            self._write(batch)

    def _write(self, batch: list[ImportedDeal]) -> None:
        unique = self._unique(batch)
        connection, rows = self.connection, self.rows
        existing = self._existing(connection, [deal.external_id for deal in unique])
        paths = self._paths(connection, [found.id for found in existing.values()])
        fresh = [deal for deal in unique if deal.external_id not in existing]
        changes: list[tuple[Any, ...]] = []
        activities: list[tuple[Any, ...]] = []
        if fresh:
            self._insert(rows, fresh, changes, activities)
        for deal in unique:
            found = existing.get(deal.external_id)
            if found is not None:
                path = paths.get(found.id, [])
                self._update(connection, rows, deal, found, path, changes, activities)
        if changes:
            rows.append(_CHANGES, CHANGE_COLUMNS, changes)
        if activities:
            rows.append(_ACTIVITIES, _ACTIVITY_COLUMNS, activities)
        self.counts.stage_changes += len(changes)
        self.counts.activities += len(activities)
        self._people(connection, unique)

    def _unique(self, batch: list[ImportedDeal]) -> list[ImportedDeal]:
        last: dict[str, ImportedDeal] = {}
        for deal in batch:
            earlier = last.get(deal.external_id)
            if earlier is not None:
                self.counts.errors.append(
                    ImportRowError(
                        Message(
                            "error.importer.row_external_id_appears",
                            number=earlier.number,
                            external_id=deal.external_id,
                            number2=deal.number,
                        ),
                        line=earlier.number,
                    )
                )
            last[deal.external_id] = deal
        return list(last.values())

    def _existing(self, connection: Connection, ids: list[str]) -> dict[str, _Existing]:
        columns = (
            _DEALS.c.id,
            _DEALS.c.external_id,
            _DEALS.c.version,
            _DEALS.c.stage,
            _DEALS.c.fields,
            _DEALS.c.fields_set_at,
            _DEALS.c.owner,
            _DEALS.c.team,
            _DEALS.c.manager,
            _DEALS.c.region,
            _DEALS.c.last_activity_at,
            _DEALS.c.closed_at,
        )
        query = select(*columns).where(
            _DEALS.c.playbook_id == self.playbook.id,
            _one_of(connection, _DEALS.c.external_id, ids),
        )
        return {
            row.external_id: _Existing(
                id=row.id,
                version=row.version,
                stage=row.stage,
                fields=row.fields or {},
                fields_set_at=row.fields_set_at or {},
                people={
                    "owner": row.owner,
                    "team": row.team,
                    "manager": row.manager,
                    "region": row.region,
                },
                last_activity_at=row.last_activity_at,
                closed_at=row.closed_at,
            )
            for row in connection.execute(query)
        }

    def _paths(self, connection: Connection, deal_ids: list[int]) -> dict[int, list[str]]:
        if not deal_ids:
            return {}
        query = (
            select(_CHANGES.c.deal_id, _CHANGES.c.to_stage)
            .where(_one_of(connection, _CHANGES.c.deal_id, deal_ids))
            .order_by(_CHANGES.c.deal_id, _CHANGES.c.deal_version)
        )
        paths: dict[int, list[str]] = {}
        for row in connection.execute(query):
            paths.setdefault(row.deal_id, []).append(row.to_stage)
        return paths

    # --- new deals ------------------------------------------------------------------------

    def _insert(
        self,
        rows: BulkRows,
        fresh: list[ImportedDeal],
        changes: list[tuple[Any, ...]],
        activities: list[tuple[Any, ...]],
    ) -> None:
        """Append the new deals; add the rows of their stage changes and follow-ups."""
        deals: list[tuple[Any, ...]] = []
        for deal_id, deal in zip(rows.reserve_ids(len(fresh)), fresh, strict=True):
            deals.append(self._deal_row(rows, deal_id, deal))
            changes += self._changes(rows, deal_id, deal.history, 0, None)
            if deal.last_activity is not None:
                activities.append(
                    self._follow_up(rows, deal_id, deal, deal.last_activity, len(deal.history) + 1)
                )
            self.counts.plan(
                DealPlan(
                    deal.external_id,
                    deal.number,
                    "create",
                    stages=tuple(stage for stage, _ in deal.history),
                    set=tuple(key for key, value in deal.fields.items() if value is not None),
                )
            )
        rows.append(_DEALS, DEAL_COLUMNS, deals)
        self.counts.created += len(fresh)

    def _deal_row(self, rows: BulkRows, deal_id: int, deal: ImportedDeal) -> tuple[Any, ...]:
        """The values of a new deal, in the order of :data:`DEAL_COLUMNS`."""
        now = self.now
        times = [at or now for _, at in deal.history]
        people = deal.people
        fields = {key: value for key, value in deal.fields.items() if value is not None}
        closed = deal.closed_index
        active = max([*times, *_present(deal.last_activity)])
        return (
            deal_id,
            deal.external_id,
            self.playbook.id,
            self.playbook.version,
            deal.stage,
            people.get("owner"),
            people.get("team"),
            people.get("manager"),
            people.get("region"),
            _to_json(fields),
            "{}",
            rows.time(times[0]),
            rows.time(now),
            self.actor,
            rows.time(times[-1]),
            rows.time(active),
            None if closed is None else rows.time(times[closed]),
            len(times) + (deal.last_activity is not None),
            "{}",
        )

    def _changes(
        self,
        rows: BulkRows,
        deal_id: int,
        history: Iterable[tuple[str, datetime | None]],
        version: int,
        from_stage: str | None,
    ) -> list[tuple[Any, ...]]:
        """The stage changes of ``history``, in the order of :data:`CHANGE_COLUMNS`."""
        out: list[tuple[Any, ...]] = []
        playbook_version = self.playbook.version
        for stage, at in history:
            version += 1
            out.append(
                (
                    deal_id,
                    from_stage,
                    stage,
                    self.actor,
                    "[]",
                    rows.time(at or self.now),
                    None,
                    playbook_version,
                    version,
                    self.source,
                )
            )
            from_stage = stage
        return out

    def _follow_up(
        self, rows: BulkRows, deal_id: int, deal: ImportedDeal, at: datetime, version: int
    ) -> tuple[Any, ...]:
        """The activity row of the row's last follow-up, in the order of the activity columns."""
        values = {
            "deal_id": deal_id,
            "kind": self.mapping.last_activity_kind,
            "actor": self.actor,
            "at": rows.time(at),
            "note": None,
            "stage": deal.stage,
            "action_id": None,
            "evidence": None,
            "deal_version": version,
        }
        return tuple(values[name] for name in _ACTIVITY_COLUMNS)

    # --- known deals ----------------------------------------------------------------------

    def _update(
        self,
        connection: Connection,
        rows: BulkRows,
        deal: ImportedDeal,
        found: _Existing,
        path: list[str],
        changes: list[tuple[Any, ...]],
        activities: list[tuple[Any, ...]],
    ) -> None:
        """Update a stored deal from its row; add the stage changes and follow-ups to append."""
        appended = self._appended(deal, path)
        if appended is None:
            return
        merge = self._merged(deal, found)
        values = self._changed(deal, found, merge)
        follow_up = deal.last_activity
        if follow_up is not None and found.last_activity_at is not None:
            follow_up = follow_up if follow_up > found.last_activity_at else None
        if not appended and not values and follow_up is None:
            self.counts.unchanged += 1
            return
        if appended:
            values.update(self._moved(deal, found, appended))
        if follow_up is not None:
            latest = values.get("last_activity_at", found.last_activity_at)
            values["last_activity_at"] = max([follow_up, *_present(latest)])
        version = found.version + len(appended) + (follow_up is not None)
        version = max(version, found.version + 1)
        values.update(updated_at=self.now, updated_by=self.actor, version=version)
        done = connection.execute(
            update(_DEALS)
            .where(_DEALS.c.id == found.id, _DEALS.c.version == found.version)
            .values(**values)
        )
        if getattr(done, "rowcount", 0) != 1:
            self.counts.errors.append(
                ImportRowError(
                    Message(
                        "error.importer.row_deal_changed_during",
                        number=deal.number,
                        external_id=deal.external_id,
                    ),
                    line=deal.number,
                )
            )
            return
        self.counts.updated += 1
        self.counts.cleared += len(merge.cleared)
        self.counts.kept += len(merge.kept)
        changes += self._changes(rows, found.id, appended, found.version, found.stage)
        if follow_up is not None:
            activities.append(self._follow_up(rows, found.id, deal, follow_up, version))
        self.counts.plan(
            DealPlan(
                deal.external_id,
                deal.number,
                "update",
                stages=tuple(stage for stage, _ in appended),
                set=tuple(merge.set),
                cleared=tuple(merge.cleared),
                kept=tuple(merge.kept),
            )
        )

    def _appended(
        self, deal: ImportedDeal, path: list[str]
    ) -> list[tuple[str, datetime | None]] | None:
        """The file's stages the store does not have yet; None when the two histories disagree.

        The file's path is matched as a subsequence of the stored one (a store
        written by an older import may hold stages the file now says were skipped).
        """
        matched = 0
        stages = [stage for stage, _ in deal.history]
        for stage in path:
            if matched < len(stages) and stages[matched] == stage:
                matched += 1
        if matched and path and path[-1] == stages[matched - 1]:
            return list(deal.history[matched:])
        if matched == len(stages):
            return []  # the deal moved on in the tool: the store keeps its stage
        self.counts.errors.append(
            ImportRowError(
                Message(
                    "error.importer.row_deal_went_store",
                    number=deal.number,
                    external_id=deal.external_id,
                    join=" → ".join(path),
                    join2=" → ".join(stages),
                ),
                line=deal.number,
                hint=Message("error.importer.store_keeps_history_move"),
            )
        )
        return None

    def _moved(
        self, deal: ImportedDeal, found: _Existing, appended: list[tuple[str, datetime | None]]
    ) -> dict[str, Any]:
        times = [at or self.now for _, at in appended]
        closed_at = None
        index = deal.closed_index
        if index is not None:
            start = len(deal.history) - len(appended)
            closed_at = times[index - start] if index >= start else found.closed_at
            closed_at = closed_at or times[-1]
        return {
            "stage": deal.stage,
            "actions": {},
            "stage_entered_at": times[-1],
            "closed_at": closed_at,
            "last_activity_at": max([*times, *_present(found.last_activity_at)]),
        }

    def _merged(self, deal: ImportedDeal, found: _Existing) -> _FieldMerge:
        """The stored fields after the row, following ``on_empty`` and ``keep_newer``."""
        merge = _FieldMerge(dict(found.fields), dict(found.fields_set_at))
        for key, value in deal.fields.items():
            stored = found.fields.get(key)
            if value == stored:
                continue
            if self._tool_is_newer(key, deal, found):
                merge.kept.append(key)
                continue
            if value is None:
                if stored is None or self.mapping.empty_policy(key) == "keep":
                    continue
                del merge.fields[key]
                merge.cleared.append(key)
            else:
                merge.fields[key] = value
                merge.set.append(key)
            merge.set_at.pop(key, None)  # the value is the file's now, not the tool's
        return merge

    def _tool_is_newer(self, key: str, deal: ImportedDeal, found: _Existing) -> bool:
        column_map = self.mapping.fields.get(key)
        set_at = found.fields_set_at.get(key)
        if column_map is None or not column_map.keep_newer or set_at is None:
            return False
        if deal.updated is None:
            return True  # the row does not say when it changed: the person's value stands
        return datetime.fromisoformat(set_at).astimezone(UTC) > deal.updated

    def _changed(self, deal: ImportedDeal, found: _Existing, merge: _FieldMerge) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if merge.fields != dict(found.fields):
            values["fields"] = merge.fields
            values["fields_set_at"] = merge.set_at
        for role, person in deal.people.items():
            if found.people.get(role) != person:
                values[role] = person
        return values

    def _people(self, connection: Connection, deals: list[ImportedDeal]) -> None:
        if not deals or _PLACES.isdisjoint(deals[0].people):
            return  # the mapping names no manager, team or region
        people = {
            owner: deal.people
            for deal in deals
            if (owner := deal.people.get("owner")) is not None
            and any(deal.people.get(key) for key in _PLACES)
        }
        if not people:
            return
        table = _PEOPLE
        known = {
            row.name: row
            for row in connection.execute(
                select(table).where(_one_of(connection, table.c.name, list(people)))
            )
        }
        for name, where in people.items():
            values = {key: where.get(key) for key in ("manager", "team", "region")}
            row = known.get(name)
            if row is None:
                connection.execute(insert(table).values(name=name, updated_at=self.now, **values))
            elif any(getattr(row, key) != value for key, value in values.items()):
                connection.execute(
                    update(table).where(table.c.name == name).values(updated_at=self.now, **values)
                )


def _one_of(connection: Connection, column: ColumnElement[Any], values: Sequence[Any]) -> Any:
    """``column IN values``; on PostgreSQL one array parameter instead of one per value."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam("values", list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _present(value: datetime | None) -> list[datetime]:
    return [] if value is None else [value]
