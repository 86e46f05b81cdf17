"""Importing deals from CSV, JSON and JSON Lines files, with their stage history.

The rows of a file become deals through an :class:`~playbook.store.mapping.ImportMapping`.
Rows that cannot be used are reported (row number and reason) and skipped; the
good rows are imported. With ``strict`` a single bad row stops the import
before anything is written. Rows are written in batches, one transaction per
batch, so an interrupted import can simply be run again: deals are matched by
their external id, existing ones are updated and no history is duplicated.

**Imported history is not gate-checked.** A file records what happened in
another system; the engine did not decide it, so the stage changes it implies
are recorded as imported history (actor ``import``, source ``import``) without
running entry criteria or required actions. Every later, live move goes
through the engine. For a row in stage S, the history is the forward path of
open stages from the first stage to S (for a lost deal: up to the last open
stage that has a date in the row), each entered at its date column
(``stage_dates``). A stage without a date is taken as entered together with
the one before it; the first stage is entered at the ``created`` column, else
at the earliest date of the row, else - a row with no dates at all, like
Maven's Prospecting deals - at the time of the import.

On re-import the stored history is compared by its stages: the same path
changes nothing, a longer path in the file appends the new stage changes, a
longer path in the store (the deal moved on live) keeps the store's stage, and
two different paths are reported as a row error.

**Writing in bulk.** The file is streamed: memory holds one batch, whatever
the size of the file. Each batch looks up its external ids in one query,
updates the deals it already knows one by one (through optimistic locking,
like every other write), and appends the new deals and all stage changes
without the ORM: rows are tuples already in the driver's form, new deals get
ids reserved up front (SQLite: above the largest id, under the write lock the
batch holds; PostgreSQL: from the id sequence), and they are written with one
prepared INSERT run by ``executemany`` on SQLite and with ``COPY`` on
PostgreSQL. On SQLite the import's connection gets a 64 MiB page cache for
its duration; durability settings are left alone (WAL, ``synchronous =
NORMAL``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

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
from playbook.store.bulk import CHANGE_COLUMNS, DEAL_COLUMNS, BulkRows, bulk_connection
from playbook.store.mapping import ImportMapping, default_mapping
from playbook.store.models import Deal, Person, StageChange
from playbook.store.repository import IMPORT_ACTOR, DealStore
from playbook.store.rows import ImportedDeal, RowConverter, join_tables
from playbook.store.sources import RowSource, open_source
from playbook.values import require_now

if TYPE_CHECKING:
    pass

__all__ = ["ImportReport", "ImportedDeal", "import_deals", "read_rows"]

DEFAULT_BATCH = 25_000
_DEALS = cast(Table, Deal.__table__)
_CHANGES = cast(Table, StageChange.__table__)
_PEOPLE = cast(Table, Person.__table__)
_to_json = json.JSONEncoder(check_circular=False).encode
"""``json.dumps`` with its defaults (the text SQLAlchemy writes), minus the cycle check."""
_PLACES = frozenset({"manager", "team", "region"})


@dataclass(slots=True)
class ImportReport:
    """What an import did: rows read, deals created/updated/unchanged, and the bad rows.

    ``errors`` are in row order.
    """

    file: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stage_changes: int = 0
    seconds: float = 0.0
    errors: list[ImportRowError] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """How many rows were not imported."""
        return len(self.errors)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with every row error."""
        return {
            "file": self.file,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "stage_changes": self.stage_changes,
            "seconds": round(self.seconds, 3),
            "errors": [error.to_dict() for error in self.errors],
        }


def read_rows(
    playbook: Playbook,
    path: str | Path,
    mapping: ImportMapping | None = None,
) -> tuple[ImportMapping, Iterator[ImportedDeal | ImportRowError]]:
    """Open ``path``, check the mapping against it, and convert its rows lazily.

    Raises :class:`~playbook.errors.ImportFileError` for an unusable file and
    :class:`~playbook.errors.MappingError` for a mapping that names unknown
    columns, fields or stages; a bad row is yielded as an ImportRowError.
    """
    source, mapping, converter = _prepare(playbook, path, mapping)
    return mapping, (converter.convert(item) for item in source)


def _prepare(
    playbook: Playbook, path: str | Path, mapping: ImportMapping | None
) -> tuple[RowSource, ImportMapping, RowConverter]:
    source = _open(path, mapping)
    if mapping is None:
        mapping = default_mapping(source.columns, playbook)
    mapping.check(playbook, source.columns)
    return source, mapping, RowConverter(playbook, mapping, join_tables(mapping.joins, mapping))


def import_deals(
    store: DealStore,
    playbook: Playbook,
    path: str | Path,
    *,
    now: datetime,
    mapping: ImportMapping | None = None,
    strict: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import the deals of the file at ``path`` into ``store``, following ``playbook``.

    ``now`` is the time recorded for history without dates. ``progress`` is
    called with the number of rows read after each batch; memory holds one
    batch of ``batch_size`` rows, whatever the size of the file. The file is read
    once before anything is written, so that a broken file writes nothing;
    with ``strict`` that first pass also converts every row and raises the
    first bad one (:class:`~playbook.errors.ImportRowError`, with every bad row
    in ``details``).
    """
    started = time.perf_counter()
    at = require_now(now)
    report = ImportReport(str(path))
    source, mapping, converter = _prepare(playbook, path, mapping)
    _prescan(source, converter if strict else None, path)
    with bulk_connection(store.database) as rows:
        writer = _BatchWriter(rows, playbook, at, report)
        for batch, read in _batches(source, converter, report, batch_size):
            writer.write(batch)
            if progress is not None:
                progress(read)
    if progress is not None:
        progress(report.rows)
    report.errors.sort(key=lambda error: error.line or 0)
    report.seconds = time.perf_counter() - started
    return report


def _batches(
    source: RowSource, converter: RowConverter, report: ImportReport, size: int
) -> Iterator[tuple[list[ImportedDeal], int]]:
    """Batches of converted rows, each with the number of rows read so far; bad rows reported."""
    batch: list[ImportedDeal] = []
    for item in source:
        report.rows += 1
        converted = converter.convert(item)
        if isinstance(converted, ImportRowError):
            report.errors.append(converted)
            continue
        batch.append(converted)
        if len(batch) >= size:
            yield batch, report.rows
            batch = []
    if batch:
        yield batch, report.rows


def _open(path: str | Path, mapping: ImportMapping | None) -> RowSource:
    if mapping is None:
        return open_source(path)
    return open_source(
        path, fmt=mapping.format, encoding=mapping.encoding, delimiter=mapping.delimiter
    )


def _prescan(source: RowSource, converter: RowConverter | None, path: str | Path) -> None:
    """Read the whole file once before writing: a broken file raises before any write."""
    bad: list[ImportRowError] = []
    for item in source:
        converted = converter.convert(item) if converter is not None else None
        if isinstance(converted, ImportRowError):
            bad.append(converted)
    if bad:
        first = bad[0]
        raise ImportRowError(
            Message("error.importer.bad_row_nothing_was", count=len(bad), message=first.msg),
            line=first.line,
            file=str(path),
            hint=Message("error.importer.fix_rows_import_without"),
            details={"errors": [error.to_dict() for error in bad[:100]], "count": len(bad)},
        )


# --- batches to the database --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Existing:
    id: int
    version: int
    stage: str
    fields: Mapping[str, Any]
    people: Mapping[str, str | None]
    last_activity_at: datetime | None
    closed_at: datetime | None


class _BatchWriter:
    """Writes batches of imported deals on one connection, one transaction each."""

    def __init__(
        self, rows: BulkRows, playbook: Playbook, now: datetime, report: ImportReport
    ) -> None:
        self.connection = rows.connection
        self.rows = rows
        self.playbook = playbook
        self.now = now
        self.report = report

    def write(self, batch: list[ImportedDeal]) -> None:
        """Write ``batch`` in one transaction: new deals appended, known ones updated."""
        unique = self._unique(batch)
        connection, rows = self.connection, self.rows
        with connection.begin():
            existing = self._existing(connection, [deal.external_id for deal in unique])
            paths = self._paths(connection, [found.id for found in existing.values()])
            fresh = [deal for deal in unique if deal.external_id not in existing]
            changes = self._insert(rows, fresh) if fresh else []
            for deal in unique:
                found = existing.get(deal.external_id)
                if found is not None:
                    changes += self._update(connection, rows, deal, found, paths.get(found.id, []))
            if changes:
                rows.append(_CHANGES, CHANGE_COLUMNS, changes)
            self.report.stage_changes += len(changes)
            self._people(connection, unique)

    def _unique(self, batch: list[ImportedDeal]) -> list[ImportedDeal]:
        last: dict[str, ImportedDeal] = {}
        for deal in batch:
            earlier = last.get(deal.external_id)
            if earlier is not None:
                self.report.errors.append(
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

    def _insert(self, rows: BulkRows, fresh: list[ImportedDeal]) -> list[tuple[Any, ...]]:
        """Append the new deals; return the rows of their stage changes."""
        deals: list[tuple[Any, ...]] = []
        changes: list[tuple[Any, ...]] = []
        for deal_id, deal in zip(rows.reserve_ids(len(fresh)), fresh, strict=True):
            deals.append(self._deal_row(rows, deal_id, deal))
            changes += self._changes(rows, deal_id, deal.history, 0, None)
        rows.append(_DEALS, DEAL_COLUMNS, deals)
        self.report.created += len(fresh)
        return changes

    def _deal_row(self, rows: BulkRows, deal_id: int, deal: ImportedDeal) -> tuple[Any, ...]:
        """The values of a new deal, in the order of :data:`DEAL_COLUMNS`."""
        now = self.now
        times = [at or now for _, at in deal.history]
        people = deal.people
        fields = {key: value for key, value in deal.fields.items() if value is not None}
        entered = rows.time(times[-1])
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
            IMPORT_ACTOR,
            entered,
            rows.time(max(times)),
            entered if deal.closed else None,
            len(times),
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
                    IMPORT_ACTOR,
                    "[]",
                    rows.time(at or self.now),
                    None,
                    playbook_version,
                    version,
                    "import",
                )
            )
            from_stage = stage
        return out

    def _update(
        self,
        connection: Connection,
        rows: BulkRows,
        deal: ImportedDeal,
        found: _Existing,
        path: list[str],
    ) -> list[tuple[Any, ...]]:
        """Update a stored deal from its row; return the stage changes to append."""
        stages = [stage for stage, _ in deal.history]
        if stages[: len(path)] != path and path[: len(stages)] != stages:
            self.report.errors.append(
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
            return []
        appended = list(deal.history[len(path) :])
        values = self._changed(deal, found)
        if not appended and not values:
            self.report.unchanged += 1
            return []
        if appended:
            times = [at or self.now for _, at in appended]
            values.update(
                stage=deal.stage,
                actions={},
                stage_entered_at=times[-1],
                closed_at=times[-1] if deal.closed else None,
                last_activity_at=max([*times, *_present(found.last_activity_at)]),
            )
        version = found.version + max(1, len(appended))
        values.update(updated_at=self.now, updated_by=IMPORT_ACTOR, version=version)
        done = connection.execute(
            update(_DEALS)
            .where(_DEALS.c.id == found.id, _DEALS.c.version == found.version)
            .values(**values)
        )
        if getattr(done, "rowcount", 0) != 1:
            self.report.errors.append(
                ImportRowError(
                    Message(
                        "error.importer.row_deal_changed_during",
                        number=deal.number,
                        external_id=deal.external_id,
                    ),
                    line=deal.number,
                )
            )
            return []
        self.report.updated += 1
        return self._changes(rows, found.id, appended, found.version, found.stage)

    def _changed(self, deal: ImportedDeal, found: _Existing) -> dict[str, Any]:
        values: dict[str, Any] = {}
        merged = dict(found.fields)
        for key, value in deal.fields.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged != dict(found.fields):
            values["fields"] = merged
        for role, person in deal.people.items():
            if found.people.get(role) != person:
                values[role] = person
        return values

    def _people(self, connection: Connection, deals: list[ImportedDeal]) -> None:
        if _PLACES.isdisjoint(deals[0].people):
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
