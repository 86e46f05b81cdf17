"""Upserting CRM records (a webhook's batch) through an import mapping, all or nothing.

A record is one row as an import file would hold it: column names to values
(a nested ``fields`` object is merged in, as in an export). It goes through the
same :class:`~playbook.store.rows.RowConverter` and
:class:`~playbook.store.import_writer.BatchWriter` as ``playbook deals import
--mapping``, so the same rules hold: deals are matched by external id, a
column a record leaves out or sends empty follows ``on_empty`` (``keep`` by
default), ``keep_newer`` keeps a value set in the tool after the record's
``updated`` time, stage dates build the imported history, and sending the same
record again changes nothing.

Unlike a file import, a batch is atomic: a key the mapping does not read (with a
did-you-mean), a record the converter refuses, or a record the writer cannot
apply (a history that disagrees with the store's, a deal changed meanwhile, an
external id twice in the batch) refuses the whole batch with
:class:`~playbook.errors.CrmRecordsError` (PB062), listing every refused record
with its own code, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from playbook.diagnostics import did_you_mean
from playbook.errors import CrmRecordsError, ImportRowError, PlaybookError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.store.bulk import bulk_connection
from playbook.store.import_writer import BatchWriter, DealPlan, ImportCounts
from playbook.store.mapping import ImportMapping
from playbook.store.repository import DealStore
from playbook.store.rows import ImportedDeal, RowConverter, join_tables
from playbook.store.sources import Row, flatten_record
from playbook.values import require_now

__all__ = ["WEBHOOK_SOURCE", "check_mapping", "upsert_records"]

WEBHOOK_SOURCE = "webhook"
"""The ``source`` the history records for a stage change written by a CRM webhook."""

Refused = tuple[int, str | None, PlaybookError]


def record_columns(mapping: ImportMapping) -> list[str]:
    """Every key a record may carry: the columns the mapping reads and the joins' keys."""
    return [*mapping.columns(), *(join.on for join in mapping.joins)]


def check_mapping(mapping: ImportMapping, playbook: Playbook) -> None:
    """Raise :class:`~playbook.errors.MappingError` when ``mapping`` names a field, stage,
    enum value or activity kind ``playbook`` does not have (a server checks it at start)."""
    mapping.check(playbook, record_columns(mapping))


def upsert_records(
    store: DealStore,
    playbook: Playbook,
    mapping: ImportMapping,
    records: Sequence[Mapping[str, Any]],
    *,
    actor: str,
    now: datetime,
) -> ImportCounts:
    """Create or update one deal per record of ``records``, in one transaction.

    Returns the counts and each record's plan (``plans``, in record order:
    ``create``, ``update`` or ``unchanged``). The history names
    ``actor`` and the source ``webhook``. Raises
    :class:`~playbook.errors.CrmRecordsError` (PB062, nothing written) when any
    record is refused.
    """
    at = require_now(now)
    converted, refused = _converted(playbook, mapping, records)
    if refused:
        raise _refusal(refused, len(records))
    counts = ImportCounts(plans=[])
    with bulk_connection(store.database) as rows, rows.connection.begin():
        # dry_run: the writer runs inside this transaction instead of its own,
        # so a refused record rolls the whole batch back.
        writer = BatchWriter(
            rows, playbook, mapping, at, counts, dry_run=True, origin=(actor, WEBHOOK_SOURCE)
        )
        writer.write(converted)
        if counts.errors:
            numbered = [_numbered(error, records, mapping) for error in counts.errors]
            raise _refusal(numbered, len(records))
    _unchanged_plans(counts, converted)
    return counts


def _unchanged_plans(counts: ImportCounts, converted: list[ImportedDeal]) -> None:
    """A plan (``unchanged``) for every record the writer left alone: one answer per record."""
    planned = {plan.external_id for plan in counts.plans or ()}
    for deal in converted:
        if deal.external_id not in planned:
            counts.plan(DealPlan(deal.external_id, deal.number, "unchanged"))
    if counts.plans is not None:
        counts.plans.sort(key=lambda plan: plan.line)


def _converted(
    playbook: Playbook, mapping: ImportMapping, records: Sequence[Mapping[str, Any]]
) -> tuple[list[ImportedDeal], list[Refused]]:
    known = record_columns(mapping)
    converter = RowConverter(playbook, mapping, join_tables(mapping.joins, mapping))
    converted: list[ImportedDeal] = []
    refused: list[Refused] = []
    for number, record in enumerate(records, 1):
        values = flatten_record(dict(record))
        external_id = _external_id(values, mapping)
        unknown = [key for key in values if key not in known]
        if unknown:
            refused += [(number, external_id, _unknown(key, known)) for key in unknown]
            continue
        found = converter.convert(Row(number, values))
        if isinstance(found, ImportRowError):
            refused.append((number, external_id, found))
        else:
            converted.append(found)
    return converted, refused


def _unknown(key: str, known: list[str]) -> CrmRecordsError:
    return CrmRecordsError(
        Message("error.webhook.unknown_key", key=key[:100]),
        code="PB061",
        hint=did_you_mean(key, known) or Message("error.webhook.known_keys", names=known[:30]),
        details={"key": key[:100]},
    )


def _external_id(values: Mapping[str, Any], mapping: ImportMapping) -> str | None:
    value = values.get(mapping.external_id)
    return None if value is None else str(value)[:200]


def _numbered(
    error: ImportRowError, records: Sequence[Mapping[str, Any]], mapping: ImportMapping
) -> Refused:
    number = error.line or 0
    record = records[number - 1] if 0 < number <= len(records) else {}
    return number, _external_id(flatten_record(dict(record)), mapping), error


def _refusal(refused: list[Refused], total: int) -> CrmRecordsError:
    refused.sort(key=lambda item: item[0])
    error = CrmRecordsError(
        Message(
            "error.webhook.records_refused", count=len({n for n, _, _ in refused}), total=total
        ),
        hint=Message("error.webhook.nothing_written"),
        code="PB062",
        details={"refused": len(refused)},
    )
    error.records = tuple(refused)
    return error
