"""Reading rows to import from CSV, JSON and JSON Lines files, refusing unusable files early.

:func:`open_source` looks at the first 64 KiB before anything is imported: a
binary file, text in another encoding, a CSV whose header has one column but
looks separated by ``;`` or tabs, a "header" longer than 64 KiB (no line
breaks: not CSV) or a JSON file that is not an array of objects is refused
with an :class:`~playbook.errors.ImportFileError` that says what to do.
Rows come back as mappings from column to value, each with its row number
(the line in the file for CSV and JSON Lines, the position for JSON).
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.errors import ImportFileError, ImportRowError
from playbook.safetext import restore_cell

__all__ = ["SNIFF_BYTES", "Row", "RowSource", "detect_format", "open_source"]

SNIFF_BYTES = 64 * 1024
"""How much of a file is examined before importing it."""

MAX_FIELD_CHARS = 1024 * 1024
"""The largest CSV cell accepted; larger ones mean the file is not what it seems."""

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_OTHER_DELIMITERS = (";", "\t", "|")


@dataclass(frozen=True, slots=True)
class Row:
    """One record of the file: its number (line, or position in a JSON array) and values."""

    number: int
    values: Mapping[str, Any]


class RowSource:
    """A file of rows, with its columns known up front; iterate to read the rows."""

    def __init__(
        self, path: Path, fmt: str, *, encoding: str, delimiter: str, columns: tuple[str, ...]
    ) -> None:
        self.path = path
        self.format = fmt
        self.encoding = encoding
        self.delimiter = delimiter
        self.columns = columns
        self._records: list[Any] | None = None

    def __iter__(self) -> Iterator[Row | ImportRowError]:
        """Every row, or an ImportRowError for a row that cannot be read (cell count, JSON)."""
        if self.format == "csv":
            return self._csv_rows()
        if self.format == "jsonl":
            return self._jsonl_rows()
        return self._json_rows()

    def _csv_rows(self) -> Iterator[Row | ImportRowError]:
        width = len(self.columns)
        with self.path.open(encoding=self.encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                next(reader, None)
                for cells in reader:
                    if not cells or (len(cells) == 1 and not cells[0].strip()):
                        continue
                    if len(cells) != width:
                        yield ImportRowError(
                            f"line {reader.line_num}: {len(cells)} cells, the header has {width}",
                            line=reader.line_num,
                            hint="check quoting and delimiters on that line",
                        )
                        continue
                    cells = [restore_cell(cell) for cell in cells]
                    yield Row(reader.line_num, dict(zip(self.columns, cells, strict=True)))
            except csv.Error as error:
                raise self._broken(reader.line_num, str(error)) from error
            except UnicodeDecodeError as error:
                raise self._broken(reader.line_num, f"not {self.encoding} text") from error

    def _jsonl_rows(self) -> Iterator[Row | ImportRowError]:
        with self.path.open(encoding=self.encoding) as handle:
            try:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    yield _json_row(number, line)
            except UnicodeDecodeError as error:
                raise self._broken(0, f"not {self.encoding} text") from error

    def _json_rows(self) -> Iterator[Row | ImportRowError]:
        for number, record in enumerate(self.json_records(), 1):
            if isinstance(record, dict):
                yield Row(number, _flatten(record))
            else:
                yield ImportRowError(
                    f"record {number} is not an object", line=number, hint="write {...} records"
                )

    def json_records(self) -> list[Any]:
        """The records of a JSON file, read once (a JSON array cannot be streamed)."""
        if self._records is None:
            try:
                data = json.loads(self.path.read_text(encoding=self.encoding))
            except (ValueError, UnicodeDecodeError) as error:
                raise self._broken(getattr(error, "lineno", 0), str(error)) from error
            if isinstance(data, dict) and isinstance(data.get("deals"), list):
                data = data["deals"]
            if not isinstance(data, list):
                raise self._broken(1, "a JSON import is an array of deal objects")
            self._records = data
        return self._records

    def _broken(self, line: int, reason: str) -> ImportFileError:
        return ImportFileError(
            f"{self.path} cannot be read as {self.format.upper()}"
            + (f" at line {line}" if line else "")
            + f": {reason}",
            file=str(self.path),
            line=line or None,
            hint="nothing was imported; fix the file (or export it again) and re-run",
        )


def detect_format(path: Path, declared: str | None = None) -> str:
    """``csv``, ``json`` or ``jsonl``: as declared, else from the extension, else sniffed."""
    if declared:
        return declared
    by_name = _EXTENSIONS.get(path.suffix.lower())
    if by_name:
        return by_name
    head = _head(path).lstrip()
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    return "csv"


def open_source(
    path: str | Path,
    *,
    fmt: str | None = None,
    encoding: str = "utf-8-sig",
    delimiter: str | None = None,
) -> RowSource:
    """The rows of the file at ``path``, after checking that it is a usable file.

    Raises :class:`~playbook.errors.ImportFileError` for a missing, empty,
    binary or wrongly encoded file, a CSV without a usable header, or JSON that
    is not a list of objects.
    """
    file = Path(path)
    kind = detect_format(file, fmt)
    head = _head(file)
    text = _decoded(file, head, encoding)
    if kind == "csv":
        sep = delimiter or ("\t" if file.suffix.lower() == ".tsv" else ",")
        columns = _csv_header(file, head, text, sep)
        return RowSource(file, kind, encoding=encoding, delimiter=sep, columns=columns)
    source = RowSource(file, kind, encoding=encoding, delimiter=",", columns=())
    return RowSource(
        file, kind, encoding=encoding, delimiter=",", columns=_json_columns(source, text, kind)
    )


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as error:
        raise ImportFileError(
            f"cannot read {path}: {error.strerror or error}", file=str(path)
        ) from error
    if not head.strip():
        raise ImportFileError(f"{path} is empty", file=str(path), hint="is this the right file?")
    if b"\x00" in head:
        raise ImportFileError(
            f"{path} contains NUL bytes: it is a binary file, not CSV or JSON",
            file=str(path),
            hint="export the data as CSV (UTF-8) or JSON",
        )
    return head


def _decoded(path: Path, head: bytes, encoding: str) -> str:
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError as error:
        raise ImportFileError(f"unknown encoding {encoding!r}", file=str(path)) from error
    try:
        return str(decoder.decode(head, final=len(head) < SNIFF_BYTES))
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"{path} is not {encoding} text (byte {error.start + 1} cannot be decoded)",
            file=str(path),
            hint="save it as UTF-8 (Excel: 'CSV UTF-8'), or set `encoding: gb18030` "
            "(or the file's encoding) in the mapping",
        ) from error


def _csv_header(path: Path, head: bytes, text: str, delimiter: str) -> tuple[str, ...]:
    first, newline, _rest = text.partition("\n")
    if not newline and len(head) >= SNIFF_BYTES:
        raise ImportFileError(
            f"{path} has no line break in its first {SNIFF_BYTES // 1024} KiB: "
            "it is not a CSV file with a header",
            file=str(path),
            hint="is this the right file? a CSV starts with a line of column names",
        )
    csv.field_size_limit(MAX_FIELD_CHARS)
    cells = next(csv.reader([first.rstrip("\r")], delimiter=delimiter), [])
    columns = tuple(cell.strip() for cell in cells)
    if len(columns) == 1:
        other = next((d for d in _OTHER_DELIMITERS if d in first and d != delimiter), None)
        if other is not None:
            shown = "\\t" if other == "\t" else other
            raise ImportFileError(
                f"{path}: the header has one column, but the line is separated by {shown!r}",
                file=str(path),
                line=1,
                hint=f"add `delimiter: '{shown}'` to the mapping (--mapping)",
            )
    _check_header(path, columns)
    return columns


def _check_header(path: Path, columns: tuple[str, ...]) -> None:
    if not any(columns):
        raise ImportFileError(
            f"{path} has no header line", file=str(path), line=1, hint="add the column names"
        )
    empty = [index + 1 for index, name in enumerate(columns) if not name]
    if empty:
        raise ImportFileError(
            f"{path}: column {empty[0]} of the header has no name",
            file=str(path),
            line=1,
            hint="every column needs a name in the first line",
        )
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise ImportFileError(
                f"{path}: the header names the column {name!r} twice", file=str(path), line=1
            )
        seen.add(name)


def _json_columns(source: RowSource, text: str, kind: str) -> tuple[str, ...]:
    if kind == "jsonl":
        first = next((line for line in text.splitlines() if line.strip()), "")
        row = _json_row(1, first)
        if isinstance(row, ImportRowError):
            raise ImportFileError(
                f"{source.path}: the first line is not a JSON object",
                file=str(source.path),
                line=1,
                hint="JSON Lines holds one {...} object per line",
            )
        return tuple(row.values)
    records = source.json_records()
    columns: dict[str, None] = {}
    for record in records[:100]:
        if isinstance(record, dict):
            columns.update(dict.fromkeys(_flatten(record)))
    return tuple(columns)


def _json_row(number: int, line: str) -> Row | ImportRowError:
    try:
        record = json.loads(line)
    except ValueError as error:
        return ImportRowError(f"line {number}: not JSON ({error})", line=number)
    if not isinstance(record, dict):
        return ImportRowError(f"line {number}: not a JSON object", line=number)
    return Row(number, _flatten(record))


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """A record with its nested ``fields`` object merged in (the layout of an export)."""
    nested = record.get("fields")
    if not isinstance(nested, dict):
        return record
    flat = {key: value for key, value in record.items() if key != "fields"}
    for key, value in nested.items():
        flat.setdefault(key, value)
    return flat
