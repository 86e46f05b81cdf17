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
through the engine. For a row in stage S, the history is the path from the
first stage to S, each stage entered at its date column (``stage_dates``): an
open stage whose date cell is empty was skipped; an open stage without a date
column is taken as entered together with the one before it; a won stage
before a won S is passed when its date is filled (a deal in after-sales was
signed on its signing date: that is its close); a lost deal's path goes up to
the last open stage that has a date. The first stage is entered at the
``created`` column, else at the earliest date of the row, else - a row with no
dates at all, like Maven's Prospecting deals - at the time of the import.
Dates are read with the mapping's ``date_formats`` (:mod:`playbook.store.dates`).

On re-import the stored history is compared by its stages: the same path
changes nothing, a longer path in the file appends the new stage changes, a
longer path in the store (the deal moved on live) keeps the store's stage, and
two different paths are reported as a row error. Field values follow the
mapping's ``on_empty`` and ``keep_newer`` rules (:mod:`playbook.store.import_writer`).
With ``dry_run`` the whole import runs in one transaction that is rolled back.

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

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from playbook.errors import ImportRowError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.store.bulk import bulk_connection
from playbook.store.import_writer import BatchWriter, DealPlan, ImportCounts
from playbook.store.mapping import ImportMapping, default_mapping
from playbook.store.repository import DealStore
from playbook.store.rows import ImportedDeal, RowConverter, join_tables
from playbook.store.sources import RowSource, open_source
from playbook.values import require_now

__all__ = ["DealPlan", "ImportReport", "ImportedDeal", "import_deals", "read_rows"]

DEFAULT_BATCH = 25_000


@dataclass(slots=True)
class ImportReport(ImportCounts):
    """What an import did (or, in a dry run, would do): rows read, deals created, updated,
    unchanged, field values cleared, newer values kept, and the bad rows.

    ``errors`` are in row order; ``unused_columns`` are the file's columns the
    mapping does not read; ``plans`` lists each deal's plan in a dry run.
    """

    file: str = ""
    rows: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    unused_columns: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """How many rows were not imported."""
        return len(self.errors)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with every row error (and, in a dry run, every deal's plan)."""
        data: dict[str, Any] = {
            "file": self.file,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "cleared": self.cleared,
            "kept": self.kept,
            "stage_changes": self.stage_changes,
            "activities": self.activities,
            "unused_columns": list(self.unused_columns),
            "seconds": round(self.seconds, 3),
            "errors": [error.to_dict() for error in self.errors],
        }
        if self.plans is not None:
            data["plans"] = [plan.to_dict() for plan in self.plans]
        return data


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
    dry_run: bool = False,
) -> ImportReport:
    """Import the deals of the file at ``path`` into ``store``, following ``playbook``.

    ``now`` is the time recorded for history without dates. ``progress`` is
    called with the number of rows read after each batch; memory holds one
    batch of ``batch_size`` rows, whatever the size of the file. The file is read
    once before anything is written, so that a broken file writes nothing;
    with ``strict`` that first pass also converts every row and raises the
    first bad one (:class:`~playbook.errors.ImportRowError`, with every bad row
    in ``details``). With ``dry_run`` everything is done as for real inside one
    transaction that is rolled back: the report says what would happen and
    nothing is written.
    """
    started = time.perf_counter()
    at = require_now(now)
    report = ImportReport(file=str(path), dry_run=dry_run, plans=[] if dry_run else None)
    source, mapping, converter = _prepare(playbook, path, mapping)
    report.unused_columns = mapping.unused(source.columns)
    _prescan(source, converter if strict else None, path)
    with bulk_connection(store.database) as rows:
        writer = BatchWriter(rows, playbook, mapping, at, report, dry_run=dry_run)
        # A dry run holds one transaction around every batch and rolls it back.
        whole: AbstractContextManager[Any] = rows.connection.begin() if dry_run else nullcontext()
        with whole as transaction:
            for batch, read in _batches(source, converter, report, batch_size):
                writer.write(batch)
                if progress is not None:
                    progress(read)
            if transaction is not None:
                transaction.rollback()
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
