"""Exporting deals to CSV, JSON or JSON Lines, in the layout the importer reads back.

One row per deal: ``external_id``, the store ``id``, the playbook and its
version, ``stage``, the people columns, the times and ``version``, then one
column per field (CSV) or a nested ``fields`` object (JSON and JSON Lines).
JSON times are ISO 8601 in UTC; CSV times are on the clock of each deal's
playbook, with the offset (``2026-10-10 09:30:00 +08:00``), as a spreadsheet
shows them to the people who work there; both read back to the same instant.
Importing an export with no mapping file restores the deals: the default
mapping reads exactly these columns. A list field is ``a;b`` in CSV (a JSON
array when an item holds ``;`` or spaces at its ends), which reads back item for item.

CSV cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``,
``@`` ...) get a leading ``'`` unless ``raw`` is asked for; the importer strips
it again (:mod:`playbook.safetext`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, tzinfo
from typing import Any, TextIO

from playbook.safetext import neutralise_cell
from playbook.store.repository import StoredDeal
from playbook.values import shown_time

__all__ = ["EXPORT_COLUMNS", "FORMATS", "export_deals"]

FORMATS = ("csv", "json", "jsonl")

EXPORT_COLUMNS: tuple[str, ...] = (
    "external_id",
    "id",
    "playbook",
    "playbook_version",
    "stage",
    "owner",
    "team",
    "manager",
    "region",
    "created_at",
    "stage_entered_at",
    "last_activity_at",
    "closed_at",
    "updated_at",
    "version",
)
"""The columns every export starts with; field columns follow in CSV."""


def export_deals(
    deals: Iterable[StoredDeal],
    out: TextIO,
    fmt: str,
    *,
    field_names: Iterable[str] = (),
    raw: bool = False,
    zone_of: Callable[[StoredDeal], tzinfo] | None = None,
) -> int:
    """Write ``deals`` to ``out`` as ``fmt`` (csv, json, jsonl); return how many were written.

    A CSV export streams, so its field columns are fixed up front:
    ``field_names`` (the playbook's declared fields). Fields that no playbook
    declares appear only in JSON and JSON Lines exports. CSV times are shown
    in ``zone_of(deal)`` (default UTC).
    """
    if fmt == "csv":
        return _csv(deals, out, list(field_names), raw=raw, zone_of=zone_of or (lambda _: UTC))
    if fmt == "jsonl":
        return _jsonl(deals, out)
    if fmt == "json":
        return _json(deals, out)
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


def _record(deal: StoredDeal) -> dict[str, Any]:
    data = deal.to_dict()
    record = {column: data.get(column) for column in EXPORT_COLUMNS}
    record["external_id"] = deal.ref
    record["fields"] = dict(deal.fields)
    return record


_TIMES = ("created_at", "stage_entered_at", "last_activity_at", "closed_at", "updated_at")


def _csv(
    deals: Iterable[StoredDeal],
    out: TextIO,
    field_names: list[str],
    *,
    raw: bool,
    zone_of: Callable[[StoredDeal], tzinfo],
) -> int:
    writer = csv.writer(out, lineterminator="\n")
    columns = [*EXPORT_COLUMNS, *(name for name in field_names if name not in EXPORT_COLUMNS)]
    writer.writerow(columns)
    count = 0
    for deal in deals:
        record = _record(deal)
        zone = zone_of(deal)
        for column in _TIMES:
            record[column] = shown_time(getattr(deal, column), zone, empty="", exact=True)
        values = {**record, **record.pop("fields")}
        cells = [_cell(values.get(column)) for column in columns]
        writer.writerow(cells if raw else [neutralise_cell(cell) for cell in cells])
        count += 1
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(_plain_item(item) for item in value):
        return LIST_SEPARATOR.join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


LIST_SEPARATOR = ";"
"""How a CSV export joins a list's items: the separator an import splits on by default."""


def _plain_item(item: object) -> bool:
    """Whether a list item reads back unchanged from ``a;b`` (else the cell is a JSON array)."""
    return (
        isinstance(item, str)
        and item == item.strip()
        and item != ""
        and LIST_SEPARATOR not in item
        and not (item.startswith("[") and item.endswith("]"))
    )


def _jsonl(deals: Iterable[StoredDeal], out: TextIO) -> int:
    count = 0
    for deal in deals:
        out.write(json.dumps(_record(deal), ensure_ascii=False) + "\n")
        count += 1
    return count


def _json(deals: Iterable[StoredDeal], out: TextIO) -> int:
    count = 0
    out.write("[")
    for text in _json_items(deals):
        out.write(("\n  " if count == 0 else ",\n  ") + text)
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _json_items(deals: Iterable[StoredDeal]) -> Iterator[str]:
    for deal in deals:
        yield json.dumps(_record(deal), ensure_ascii=False)
