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
from playbook.i18n import Message
from playbook.safetext import restore_cell

__all__ = ["SNIFF_BYTES", "Row", "RowSource", "detect_format", "flatten_record", "open_source"]

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
                            Message(
                                "error.sources.line_cells_header_has",
                                line_num=reader.line_num,
                                count=len(cells),
                                width=width,
                            ),
                            line=reader.line_num,
                            hint=Message("error.sources.check_quoting_delimiters_on"),
                        )
                        continue
                    cells = [restore_cell(cell) for cell in cells]
                    yield Row(reader.line_num, dict(zip(self.columns, cells, strict=True)))
            except csv.Error as error:
                raise self._broken(
                    reader.line_num, Message("common.text", text=str(error))
                ) from error
            except UnicodeDecodeError as error:
                raise self._broken(
                    reader.line_num,
                    Message("error.sources.not_encoding_text", encoding=self.encoding),
                ) from error

    def _jsonl_rows(self) -> Iterator[Row | ImportRowError]:
        with self.path.open(encoding=self.encoding) as handle:
            try:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    yield _json_row(number, line)
            except UnicodeDecodeError as error:
                raise self._broken(
                    0, Message("error.sources.not_encoding_text", encoding=self.encoding)
                ) from error

    def _json_rows(self) -> Iterator[Row | ImportRowError]:
        for number, record in enumerate(self.json_records(), 1):
            if isinstance(record, dict):
                yield Row(number, flatten_record(record))
            else:
                yield ImportRowError(
                    Message("error.sources.record_not_object", number=number),
                    line=number,
                    hint=Message("error.sources.write_records"),
                )

    def json_records(self) -> list[Any]:
        """The records of a JSON file, read once (a JSON array cannot be streamed)."""
        if self._records is None:
            try:
                data = json.loads(self.path.read_text(encoding=self.encoding))
            except (ValueError, UnicodeDecodeError) as error:
                raise self._broken(
                    getattr(error, "lineno", 0), Message("common.text", text=str(error))
                ) from error
            if isinstance(data, dict) and isinstance(data.get("deals"), list):
                data = data["deals"]
            if not isinstance(data, list):
                raise self._broken(1, Message("error.sources.json_array"))
            self._records = data
        return self._records

    def _broken(self, line: int, reason: Message) -> ImportFileError:
        return ImportFileError(
            Message(
                "error.sources.cannot_read_as",
                path=self.path,
                upper=self.format.upper(),
                value=Message("error.sources.at_line", line=line) if line else "",
                reason=reason,
            ),
            file=str(self.path),
            line=line or None,
            hint=Message("error.sources.nothing_was_imported_fix"),
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
            Message("error.sources.cannot_read", path=path, value=error.strerror or error),
            file=str(path),
        ) from error
    if not head.strip():
        raise ImportFileError(
            Message("error.sources.empty", path=path),
            file=str(path),
            hint=Message("error.sources.right_file"),
        )
    if b"\x00" in head:
        raise ImportFileError(
            Message("error.sources.contains_nul_bytes_binary", path=path),
            file=str(path),
            hint=Message("error.sources.export_data_as_csv"),
        )
    return head


def _decoded(path: Path, head: bytes, encoding: str) -> str:
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError as error:
        raise ImportFileError(
            Message("error.sources.unknown_encoding", encoding=encoding), file=str(path)
        ) from error
    try:
        return str(decoder.decode(head, final=len(head) < SNIFF_BYTES))
    except UnicodeDecodeError as error:
        raise ImportFileError(
            Message(
                "error.sources.not_text_byte_cannot",
                path=path,
                encoding=encoding,
                value=error.start + 1,
            ),
            file=str(path),
            hint=Message("error.sources.save_as_utf_8"),
        ) from error


def _csv_header(path: Path, head: bytes, text: str, delimiter: str) -> tuple[str, ...]:
    first, newline, _rest = text.partition("\n")
    if not newline and len(head) >= SNIFF_BYTES:
        raise ImportFileError(
            Message("error.sources.has_no_line_break", path=path, value=SNIFF_BYTES // 1024),
            file=str(path),
            hint=Message("error.sources.right_file_csv_starts"),
        )
    csv.field_size_limit(MAX_FIELD_CHARS)
    cells = next(csv.reader([first.rstrip("\r")], delimiter=delimiter), [])
    columns = tuple(cell.strip() for cell in cells)
    if len(columns) == 1:
        other = next((d for d in _OTHER_DELIMITERS if d in first and d != delimiter), None)
        if other is not None:
            shown = "\\t" if other == "\t" else other
            raise ImportFileError(
                Message("error.sources.header_has_one_column", path=path, shown=shown),
                file=str(path),
                line=1,
                hint=Message("error.sources.add_delimiter_mapping_mapping", shown=shown),
            )
    _check_header(path, columns)
    return columns


def _check_header(path: Path, columns: tuple[str, ...]) -> None:
    if not any(columns):
        raise ImportFileError(
            Message("error.sources.has_no_header_line", path=path),
            file=str(path),
            line=1,
            hint=Message("error.sources.add_column_names"),
        )
    empty = [index + 1 for index, name in enumerate(columns) if not name]
    if empty:
        raise ImportFileError(
            Message("error.sources.column_header_has_no", path=path, empty=empty[0]),
            file=str(path),
            line=1,
            hint=Message("error.sources.every_column_needs_name"),
        )
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise ImportFileError(
                Message("error.sources.header_names_column_twice", path=path, name=name),
                file=str(path),
                line=1,
            )
        seen.add(name)


def _json_columns(source: RowSource, text: str, kind: str) -> tuple[str, ...]:
    if kind == "jsonl":
        first = next((line for line in text.splitlines() if line.strip()), "")
        row = _json_row(1, first)
        if isinstance(row, ImportRowError):
            raise ImportFileError(
                Message("error.sources.first_line_not_json", path=source.path),
                file=str(source.path),
                line=1,
                hint=Message("error.sources.json_lines_holds_one"),
            )
        return tuple(row.values)
    records = source.json_records()
    columns: dict[str, None] = {}
    for record in records[:100]:
        if isinstance(record, dict):
            columns.update(dict.fromkeys(flatten_record(record)))
    return tuple(columns)


def _json_row(number: int, line: str) -> Row | ImportRowError:
    try:
        record = json.loads(line)
    except ValueError as error:
        return ImportRowError(
            Message("error.sources.line_not_json", number=number, error=error), line=number
        )
    if not isinstance(record, dict):
        return ImportRowError(
            Message("error.sources.line_not_json_object", number=number), line=number
        )
    return Row(number, flatten_record(record))


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record with its nested ``fields`` object merged in (the layout of an export)."""
    nested = record.get("fields")
    if not isinstance(nested, dict):
        return record
    flat = {key: value for key, value in record.items() if key != "fields"}
    for key, value in nested.items():
        flat.setdefault(key, value)
    return flat
