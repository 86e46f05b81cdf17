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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, insert, select, update

from playbook.deals import coerce_field, require_now
from playbook.errors import DealFieldError, ImportRowError, MappingError
from playbook.model import FieldSpec, Playbook, Stage
from playbook.store.mapping import ColumnMap, ImportMapping, Join, default_mapping
from playbook.store.models import Deal, Person, StageChange
from playbook.store.repository import IMPORT_ACTOR, DealStore, json_fields
from playbook.store.sources import Row, RowSource, open_source

__all__ = ["ImportReport", "ImportedDeal", "import_deals", "read_rows"]

DEFAULT_BATCH = 2000
_TRUE = frozenset({"true", "yes", "y", "t", "1", "是", "真"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "否", "假"})
_DEALS = cast(Table, Deal.__table__)
_CHANGES = cast(Table, StageChange.__table__)
_PEOPLE = cast(Table, Person.__table__)


@dataclass(frozen=True, slots=True)
class ImportedDeal:
    """A deal as one row of a file describes it; ``history`` times None mean "undated"."""

    number: int
    external_id: str
    stage: str
    fields: Mapping[str, Any]
    people: Mapping[str, str | None]
    history: tuple[tuple[str, datetime | None], ...]
    closed: bool


@dataclass(slots=True)
class ImportReport:
    """What an import did: rows read, deals created/updated/unchanged, and the bad rows."""

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
) -> tuple[RowSource, ImportMapping, _RowConverter]:
    source = _open(path, mapping)
    if mapping is None:
        mapping = default_mapping(source.columns, playbook)
    mapping.check(playbook, source.columns)
    return source, mapping, _RowConverter(playbook, mapping, _join_tables(mapping.joins, mapping))


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
    called with the number of rows read after each batch. The file is read
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
    writer = _BatchWriter(store, playbook, at, report)
    batch: list[ImportedDeal] = []
    for item in source:
        report.rows += 1
        converted = converter.convert(item)
        if isinstance(converted, ImportRowError):
            report.errors.append(converted)
            continue
        batch.append(converted)
        if len(batch) >= batch_size:
            writer.write(batch)
            batch = []
            if progress is not None:
                progress(report.rows)
    if batch:
        writer.write(batch)
    if progress is not None:
        progress(report.rows)
    report.seconds = time.perf_counter() - started
    return report


def _open(path: str | Path, mapping: ImportMapping | None) -> RowSource:
    if mapping is None:
        return open_source(path)
    return open_source(
        path, fmt=mapping.format, encoding=mapping.encoding, delimiter=mapping.delimiter
    )


def _prescan(source: RowSource, converter: _RowConverter | None, path: str | Path) -> None:
    """Read the whole file once before writing: a broken file raises before any write."""
    bad: list[ImportRowError] = []
    for item in source:
        converted = converter.convert(item) if converter is not None else None
        if isinstance(converted, ImportRowError):
            bad.append(converted)
    if bad:
        first = bad[0]
        raise ImportRowError(
            f"{len(bad)} bad row(s); nothing was imported (--strict). First: {first.message}",
            line=first.line,
            file=str(path),
            hint="fix the rows, or import without --strict to skip them",
            details={"errors": [error.to_dict() for error in bad[:100]], "count": len(bad)},
        )


# --- rows to deals ------------------------------------------------------------------------


def _join_tables(
    joins: Sequence[Join], mapping: ImportMapping
) -> list[tuple[Join, dict[str, dict[str, Any]]]]:
    tables = []
    for join in joins:
        source = open_source(join.file, encoding=mapping.encoding)
        for column in (join.key, *join.columns.values()):
            if column not in source.columns:
                raise MappingError(
                    f"{join.file.name} has no column {column!r}",
                    file=mapping.file,
                    line=join.line or None,
                    hint="columns: " + ", ".join(source.columns),
                )
        table: dict[str, dict[str, Any]] = {}
        for item in source:
            if isinstance(item, Row):
                key = str(item.values[join.key]).strip()
                table.setdefault(
                    key, {name: item.values[column] for name, column in join.columns.items()}
                )
        tables.append((join, table))
    return tables


class _RowConverter:
    """Turns one row into an :class:`ImportedDeal`, or an ImportRowError saying why not."""

    def __init__(
        self,
        playbook: Playbook,
        mapping: ImportMapping,
        joins: list[tuple[Join, dict[str, dict[str, Any]]]],
    ) -> None:
        self.playbook = playbook
        self.mapping = mapping
        self.joins = joins
        self.tz: tzinfo = ZoneInfo(playbook.timezone)
        self.fields = [
            (field_id, column_map, playbook.fields[field_id])
            for field_id, column_map in mapping.fields.items()
        ]
        self.stages = {stage.id: stage for stage in playbook.stages}
        self.first = playbook.first_stage.id
        self.paths = {stage.id: _candidates(playbook, stage) for stage in playbook.stages}

    def convert(self, item: Row | ImportRowError) -> ImportedDeal | ImportRowError:
        if isinstance(item, ImportRowError):
            return item
        try:
            return self._deal(item)
        except ImportRowError as error:
            return error

    def _deal(self, row: Row) -> ImportedDeal:
        values = self._joined(row.values)
        external_id = _text(values.get(self.mapping.external_id))
        if external_id is None:
            raise self._error(row, f"no external id in column {self.mapping.external_id!r}")
        stage = self._stage(row, values)
        return ImportedDeal(
            number=row.number,
            external_id=external_id,
            stage=stage.id,
            fields=self._fields(row, values),
            people={
                role: _text(values.get(column)) for role, column in self.mapping.people.items()
            },
            history=self._history(row, values, stage),
            closed=stage.is_closed,
        )

    def _joined(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        if not self.joins:
            return values
        merged = dict(values)
        for join, table in self.joins:
            found = table.get(str(values.get(join.on) or "").strip())
            for name in join.columns:
                merged[name] = None if found is None else found[name]
        return merged

    def _stage(self, row: Row, values: Mapping[str, Any]) -> Stage:
        column_map = self.mapping.stage
        if column_map is None:
            return self.playbook.first_stage
        raw = _text(values.get(column_map.column))
        if raw is None:
            raise self._error(row, f"no stage in column {column_map.column!r}")
        stage_id = column_map.values.get(raw) or column_map.values.get(raw.lower()) or raw
        stage = self.stages.get(stage_id)
        if stage is None:
            known = ", ".join([*column_map.values, *self.stages][:12])
            raise self._error(
                row,
                f"{column_map.column}: {raw!r} is not a stage of {self.playbook.key}",
                hint=f"map it under stage.values in the mapping; known: {known}",
            )
        return stage

    def _fields(self, row: Row, values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field_id, column_map, spec in self.fields:
            raw = values.get(column_map.column)
            try:
                out[field_id] = self._field_value(raw, column_map, spec)
            except DealFieldError as error:
                raise self._error(row, f"{column_map.column}: {error.message}") from error
        return json_fields(out) | {key: None for key, value in out.items() if value is None}

    def _field_value(self, raw: Any, column_map: ColumnMap, spec: FieldSpec) -> Any:
        if raw is None:
            return None
        if isinstance(raw, str):
            text = raw.strip()
            if not text:
                return None
            raw = _from_text(column_map.translate(text), spec, column_map.separator)
        return coerce_field(spec, raw, self.tz)

    def _history(
        self, row: Row, values: Mapping[str, Any], target: Stage
    ) -> tuple[tuple[str, datetime | None], ...]:
        dated = [(stage, self._date(row, values, stage)) for stage in self.paths[target.id]]
        if target.outcome == "lost":
            last = max((i for i, (_, at) in enumerate(dated) if at is not None), default=0)
            dated = dated[: last + 1]
        if not dated or dated[0][0] != self.first:
            dated.insert(0, (self.first, None))
        own = self._date(row, values, target.id)
        if own is None and self.mapping.stage_entered:
            own = self._moment(row, values, self.mapping.stage_entered)
        if target.id != self.first:
            dated.append((target.id, own))
        elif own is not None:
            dated[0] = (self.first, own)
        return self._timed(row, values, dated)

    def _timed(
        self,
        row: Row,
        values: Mapping[str, Any],
        dated: list[tuple[str, datetime | None]],
    ) -> tuple[tuple[str, datetime | None], ...]:
        known = [at for _, at in dated if at is not None]
        created = None
        if self.mapping.created:
            created = self._moment(row, values, self.mapping.created)
        start = created or dated[0][1] or (min(known) if known else None)
        out: list[tuple[str, datetime | None]] = [(dated[0][0], start)]
        previous = start
        for stage, at in dated[1:]:
            if at is not None and previous is not None and at < previous:
                raise self._error(
                    row,
                    f"{stage} was entered on {at.date().isoformat()}, "
                    f"before the stage before it ({previous.date().isoformat()})",
                    hint="check the date columns of this row",
                )
            previous = at or previous
            out.append((stage, previous))
        return tuple(out)

    def _date(self, row: Row, values: Mapping[str, Any], stage: str) -> datetime | None:
        column = self.mapping.stage_dates.get(stage)
        return None if column is None else self._moment(row, values, column)

    def _moment(self, row: Row, values: Mapping[str, Any], column: str) -> datetime | None:
        raw = values.get(column)
        text = _text(raw)
        if text is None:
            return None
        try:
            return _to_moment(text, self.tz)
        except ValueError:
            raise self._error(
                row,
                f"{column}: {text!r} is not a date",
                hint="write ISO dates (2017-03-01) or times (2017-03-01T09:30:00+08:00)",
            ) from None

    def _error(self, row: Row, message: str, hint: str | None = None) -> ImportRowError:
        return ImportRowError(
            f"row {row.number}: {message}",
            line=row.number,
            hint=hint,
            details={"row": row.number},
        )


def _candidates(playbook: Playbook, target: Stage) -> list[str]:
    """The open stages a deal passes through, in order, before reaching ``target``."""
    return (
        [s.id for s in playbook.stages if s.is_open and s.index < target.index]
        if (target.outcome != "lost")
        else [s.id for s in playbook.stages if s.is_open]
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _from_text(text: str, spec: FieldSpec, separator: str) -> Any:
    """A cell's text as the JSON-like value the field's kind expects (checked afterwards)."""
    kind = spec.kind
    try:
        if kind == "integer":
            return int(text.replace(",", ""))
        if kind == "number":
            return float(text.replace(",", ""))
        if kind == "decimal":
            return Decimal(text.replace(",", ""))
    except (ValueError, ArithmeticError):
        return text  # coerce_field reports it with the field's expected type
    if kind == "boolean":
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else text
    if kind == "list":
        return [item.strip() for item in text.split(separator) if item.strip()]
    return text


def _to_moment(text: str, tz: tzinfo) -> datetime:
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


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
    """Writes batches of imported deals, one transaction each."""

    def __init__(
        self, store: DealStore, playbook: Playbook, now: datetime, report: ImportReport
    ) -> None:
        self.database = store.database
        self.playbook = playbook
        self.now = now
        self.report = report
        self.closed = {stage.id for stage in playbook.stages if stage.is_closed}

    def write(self, batch: list[ImportedDeal]) -> None:
        unique = self._unique(batch)
        with self.database.transaction(write=True) as session:
            connection = session.connection()
            existing = self._existing(connection, [deal.external_id for deal in unique])
            paths = self._paths(connection, [found.id for found in existing.values()])
            fresh = [deal for deal in unique if deal.external_id not in existing]
            if fresh:
                self._insert(connection, fresh)
            for deal in unique:
                found = existing.get(deal.external_id)
                if found is not None:
                    self._update(connection, deal, found, paths.get(found.id, []))
            self._people(connection, unique)

    def _unique(self, batch: list[ImportedDeal]) -> list[ImportedDeal]:
        last: dict[str, ImportedDeal] = {}
        for deal in batch:
            earlier = last.get(deal.external_id)
            if earlier is not None:
                self.report.errors.append(
                    ImportRowError(
                        f"row {earlier.number}: external id {deal.external_id!r} appears again "
                        f"on row {deal.number}; the later row is used",
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
            _DEALS.c.playbook_id == self.playbook.id, _DEALS.c.external_id.in_(ids)
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
            .where(_CHANGES.c.deal_id.in_(deal_ids))
            .order_by(_CHANGES.c.deal_id, _CHANGES.c.deal_version)
        )
        paths: dict[int, list[str]] = {}
        for row in connection.execute(query):
            paths.setdefault(row.deal_id, []).append(row.to_stage)
        return paths

    def _insert(self, connection: Connection, fresh: list[ImportedDeal]) -> None:
        rows = [self._new_row(deal) for deal in fresh]
        inserted = connection.execute(
            insert(_DEALS).returning(
                _DEALS.c.id, _DEALS.c.external_id, sort_by_parameter_order=True
            ),
            rows,
        ).all()
        ids = {row.external_id: row.id for row in inserted}
        changes = [
            change
            for deal in fresh
            for change in self._changes(ids[deal.external_id], deal.history, 0, None)
        ]
        connection.execute(insert(_CHANGES), changes)
        self.report.created += len(fresh)
        self.report.stage_changes += len(changes)

    def _new_row(self, deal: ImportedDeal) -> dict[str, Any]:
        times = [at or self.now for _, at in deal.history]
        return {
            "external_id": deal.external_id,
            "playbook_id": self.playbook.id,
            "playbook_version": self.playbook.version,
            "stage": deal.stage,
            "owner": deal.people.get("owner"),
            "team": deal.people.get("team"),
            "manager": deal.people.get("manager"),
            "region": deal.people.get("region"),
            "fields": {key: value for key, value in deal.fields.items() if value is not None},
            "actions": {},
            "created_at": times[0],
            "updated_at": self.now,
            "updated_by": IMPORT_ACTOR,
            "stage_entered_at": times[-1],
            "last_activity_at": max(times),
            "closed_at": times[-1] if deal.closed else None,
            "version": len(deal.history),
        }

    def _changes(
        self,
        deal_id: int,
        history: Iterable[tuple[str, datetime | None]],
        version: int,
        from_stage: str | None,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for stage, at in history:
            version += 1
            rows.append(
                {
                    "deal_id": deal_id,
                    "from_stage": from_stage,
                    "to_stage": stage,
                    "actor": IMPORT_ACTOR,
                    "actor_roles": [],
                    "at": at or self.now,
                    "override_reason": None,
                    "playbook_version": self.playbook.version,
                    "deal_version": version,
                    "source": "import",
                }
            )
            from_stage = stage
        return rows

    def _update(
        self, connection: Connection, deal: ImportedDeal, found: _Existing, path: list[str]
    ) -> None:
        stages = [stage for stage, _ in deal.history]
        if stages[: len(path)] != path and path[: len(stages)] != stages:
            self.report.errors.append(
                ImportRowError(
                    f"row {deal.number}: deal {deal.external_id!r} went "
                    f"{' → '.join(path)} in the store, the file says {' → '.join(stages)}; "
                    "the row was not applied",
                    line=deal.number,
                    hint="the store keeps its history; move the deal with `playbook deals advance`",
                )
            )
            return
        appended = list(deal.history[len(path) :])
        values = self._changed(deal, found)
        if not appended and not values:
            self.report.unchanged += 1
            return
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
                    f"row {deal.number}: deal {deal.external_id!r} changed during the import; "
                    "run the import again",
                    line=deal.number,
                )
            )
            return
        if appended:
            rows = self._changes(found.id, appended, found.version, found.stage)
            connection.execute(insert(_CHANGES), rows)
            self.report.stage_changes += len(rows)
        self.report.updated += 1

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
        people = {
            owner: deal.people
            for deal in deals
            if (owner := deal.people.get("owner")) is not None
            and any(deal.people.get(key) for key in ("manager", "team", "region"))
        }
        if not people:
            return
        table = _PEOPLE
        known = {
            row.name: row
            for row in connection.execute(select(table).where(table.c.name.in_(list(people))))
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


def _present(value: datetime | None) -> list[datetime]:
    return [] if value is None else [value]
