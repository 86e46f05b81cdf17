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
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from playbook.errors import DealFieldError, ImportRowError, MappingError
from playbook.model import FieldSpec, Playbook, Stage
from playbook.store.db import Database
from playbook.store.mapping import ColumnMap, ImportMapping, Join, default_mapping
from playbook.store.models import Deal, Person, StageChange
from playbook.store.repository import IMPORT_ACTOR, DealStore, json_fields
from playbook.store.sources import Row, RowSource, open_source
from playbook.values import coerce_fields, require_now

if TYPE_CHECKING:
    import psycopg

__all__ = ["ImportReport", "ImportedDeal", "import_deals", "read_rows"]

DEFAULT_BATCH = 25_000
_TRUE = frozenset({"true", "yes", "y", "t", "1", "是", "真"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "否", "假"})
_DEALS = cast(Table, Deal.__table__)
_CHANGES = cast(Table, StageChange.__table__)
_PEOPLE = cast(Table, Person.__table__)
_to_json = json.JSONEncoder(check_circular=False).encode
"""``json.dumps`` with its defaults (the text SQLAlchemy writes), minus the cycle check."""
_PLACES = frozenset({"manager", "team", "region"})


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
    with _bulk_connection(store.database) as rows:
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
    source: RowSource, converter: _RowConverter, report: ImportReport, size: int
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
            _FieldColumn(playbook, field_id, column_map)
            for field_id, column_map in mapping.fields.items()
        ]
        self.moments: dict[str, datetime | None] = {}
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
        for column in self.fields:
            try:
                out[column.field_id] = column.json_value(values.get(column.name))
            except DealFieldError as error:
                raise self._error(row, f"{column.name}: {error.message}") from error
        return out

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
        if isinstance(raw, str) and raw in self.moments:
            return self.moments[raw]
        text = _text(raw)
        if text is None:
            moment = None
        else:
            try:
                moment = _to_moment(text, self.tz)
            except ValueError:
                raise self._error(
                    row,
                    f"{column}: {text!r} is not a date",
                    hint="write ISO dates (2017-03-01) or times (2017-03-01T09:30:00+08:00)",
                ) from None
        if isinstance(raw, str):
            _remember(self.moments, raw, moment)
        return moment

    def _error(self, row: Row, message: str, hint: str | None = None) -> ImportRowError:
        return ImportRowError(
            f"row {row.number}: {message}",
            line=row.number,
            hint=hint,
            details={"row": row.number},
        )


class _FieldColumn:
    """One mapped field: its column's cells in the store's JSON form (None when empty).

    Imports repeat the same few texts (products, accounts, amounts) on many
    rows, so the form of each recent text is remembered instead of converted
    again; lists are not remembered because deals must not share them.
    """

    __slots__ = ("column_map", "field_id", "known", "name", "playbook", "spec")

    def __init__(self, playbook: Playbook, field_id: str, column_map: ColumnMap) -> None:
        self.playbook = playbook
        self.field_id = field_id
        self.column_map = column_map
        self.name = column_map.column
        self.spec = playbook.fields[field_id]
        self.known: dict[str, Any] = {}

    def json_value(self, raw: Any) -> Any:
        """The JSON form of the cell ``raw``; raises DealFieldError for a wrongly typed value."""
        if not isinstance(raw, str):
            return None if raw is None else self._typed(raw)
        if raw in self.known:
            return self.known[raw]
        text = raw.strip()
        if not text:
            value = None
        else:
            translated = self.column_map.translate(text)
            value = self._typed(_from_text(translated, self.spec, self.column_map.separator))
        if not isinstance(value, list):
            _remember(self.known, raw, value)
        return value

    def _typed(self, raw: Any) -> Any:
        typed = coerce_fields(self.playbook, {self.field_id: raw})
        return json_fields(typed).get(self.field_id)


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")
_REMEMBERED = 4096
"""How many distinct texts (or times) a cache holds before it starts over: memory stays bounded."""


def _remember(known: dict[_Key, _Value], key: _Key, value: _Value) -> None:
    if len(known) >= _REMEMBERED:
        known.clear()
    known[key] = value


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


@contextmanager
def _bulk_connection(database: Database) -> Iterator[_BulkRows]:
    """One connection for a whole import, set up for bulk writes and reset at the end."""
    with database.engine.connect() as connection:
        # Makes SQLite's transactions BEGIN IMMEDIATE (see playbook.store.db).
        connection.execution_options(playbook_write=True)
        postgres = connection.dialect.name == "postgresql"
        rows = _PostgresRows(connection) if postgres else _BulkRows(connection)
        with rows.tuned():
            yield rows


class _BatchWriter:
    """Writes batches of imported deals on one connection, one transaction each."""

    def __init__(
        self, rows: _BulkRows, playbook: Playbook, now: datetime, report: ImportReport
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
                rows.append(_CHANGES, _CHANGE_COLUMNS, changes)
            self.report.stage_changes += len(changes)
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

    def _insert(self, rows: _BulkRows, fresh: list[ImportedDeal]) -> list[tuple[Any, ...]]:
        """Append the new deals; return the rows of their stage changes."""
        deals: list[tuple[Any, ...]] = []
        changes: list[tuple[Any, ...]] = []
        for deal_id, deal in zip(rows.reserve_ids(len(fresh)), fresh, strict=True):
            deals.append(self._deal_row(rows, deal_id, deal))
            changes += self._changes(rows, deal_id, deal.history, 0, None)
        rows.append(_DEALS, _DEAL_COLUMNS, deals)
        self.report.created += len(fresh)
        return changes

    def _deal_row(self, rows: _BulkRows, deal_id: int, deal: ImportedDeal) -> tuple[Any, ...]:
        """The values of a new deal, in the order of :data:`_DEAL_COLUMNS`."""
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
        rows: _BulkRows,
        deal_id: int,
        history: Iterable[tuple[str, datetime | None]],
        version: int,
        from_stage: str | None,
    ) -> list[tuple[Any, ...]]:
        """The stage changes of ``history``, in the order of :data:`_CHANGE_COLUMNS`."""
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
        rows: _BulkRows,
        deal: ImportedDeal,
        found: _Existing,
        path: list[str],
    ) -> list[tuple[Any, ...]]:
        """Update a stored deal from its row; return the stage changes to append."""
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
                    f"row {deal.number}: deal {deal.external_id!r} changed during the import; "
                    "run the import again",
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


# --- appending rows in bulk ---------------------------------------------------------------

# Rows are tuples in the order of the models' columns (the order compiled INSERTs use).
_DEAL_COLUMNS = tuple(column.name for column in _DEALS.columns)
_CHANGE_COLUMNS = tuple(column.name for column in _CHANGES.columns if column.name != "id")


_CACHE_KIB = 64 * 1024
"""SQLite's page cache during an import, in KiB."""


class _BulkRows:
    """Appends rows to a table with one prepared INSERT run over all of them (executemany).

    The rows are tuples of values already in the driver's form: JSON as text
    and times as :meth:`time` gives them, so no ORM or type processing runs per
    row. New deals get their ids from :meth:`reserve_ids` up front, so that
    their stage changes can be written in the same pass.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._times: dict[datetime, Any] = {}

    @contextmanager
    def tuned(self) -> Iterator[None]:
        """A larger page cache for the import, back to what it was afterwards.

        The cache keeps the index pages that new rows land in (stage, owner,
        stage-entry and activity times) in memory instead of reading them
        again for every batch. Durability settings stay as they are (WAL with
        ``synchronous = NORMAL``).
        """
        connection = self.connection
        with connection.begin():
            previous = int(connection.exec_driver_sql("PRAGMA cache_size").scalar() or 0)
            connection.exec_driver_sql(f"PRAGMA cache_size = -{_CACHE_KIB}")
        try:
            yield
        finally:
            with connection.begin():
                connection.exec_driver_sql(f"PRAGMA cache_size = {previous}")

    def reserve_ids(self, count: int) -> Sequence[int]:
        """``count`` unused deal ids.

        SQLite hands out ``max(id) + 1`` for a new row; the import's write
        transaction holds the database's write lock, so nobody else can take them.
        """
        top = self.connection.exec_driver_sql("SELECT max(id) FROM deals").scalar()
        start = int(top or 0) + 1
        return range(start, start + count)

    def time(self, moment: datetime) -> Any:
        """``moment`` as the column stores it (SQLite: UTC text in SQLAlchemy's layout)."""
        stored = self._times.get(moment)
        if stored is None:
            wall = moment.astimezone(UTC).replace(tzinfo=None)
            stored = wall.isoformat(sep=" ", timespec="microseconds")
            _remember(self._times, moment, stored)
        return stored

    def append(self, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (values in the order of ``columns``) into ``table``."""
        statement = insert(table).compile(dialect=self.connection.dialect, column_keys=columns)
        self.connection.exec_driver_sql(str(statement), rows)


class _PostgresRows(_BulkRows):
    """PostgreSQL: ids from the table's sequence, rows streamed with COPY."""

    @contextmanager
    def tuned(self) -> Iterator[None]:
        """Nothing to set: the server's own settings apply."""
        yield

    def reserve_ids(self, count: int) -> Sequence[int]:
        """``count`` ids taken from the deals' id sequence (safe with concurrent writers)."""
        query = text(
            "SELECT nextval(pg_get_serial_sequence('deals', 'id')) FROM generate_series(1, :count)"
        )
        return list(self.connection.execute(query, {"count": count}).scalars())

    def time(self, moment: datetime) -> Any:
        """``moment`` as it is: psycopg sends aware datetimes as ``timestamptz``."""
        return moment

    def append(self, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Stream ``rows`` into ``table`` with ``COPY ... FROM STDIN``, inside the transaction."""
        from psycopg import sql

        driver = cast("psycopg.Connection[Any]", self.connection.connection.driver_connection)
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
