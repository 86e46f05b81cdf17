"""Activity mappings: which column of another tool's export becomes which part of an activity.

A mapping is a small YAML file, read with the strict loader::

    source: callcenter                 # scopes the activity keys (default: the file's name)
    id: 通话ID                          # the source's own id column (default: a hash of the row)
    deal:                              # how a row finds its deal, tried in order
      - external_id: 商机编号            # the deal's external id
      - {column: 客户电话, field: contact_phone, match: phone}   # a deal field holding it
    kind: {column: 类型, values: {电话: call, 拜访: visit}}      # or one kind: `kind: call`
    at: 开始时间                        # when it happened (required)
    actor: 坐席                         # who (default: import)
    note: 摘要
    duration: 通话时长                  # seconds, 3:20, 1:02:03 or 3分20秒
    outcome: 结果
    date_formats: [iso, "%Y/%m/%d %H:%M"]

Columns are found by their exact name, else by their NFKC form (full-width
``（）：`` in a header match ``():`` in the mapping, and the other way round).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from playbook.definition.loader import Document, YamlPath
from playbook.diagnostics import did_you_mean
from playbook.errors import ActivityMappingError, MappingError
from playbook.i18n import Message
from playbook.store.dates import DEFAULT_DATE_FORMATS
from playbook.store.mapping import ColumnMap, _position, _Reader, load_mapping_document

__all__ = ["MATCH_KINDS", "ActivityMapping", "DealMatcher", "nfkc", "read_activity_mapping"]

MATCH_KINDS = ("text", "phone")
"""How a deal field's value and a cell are compared: as text, or as a phone number."""

_TOP_KEYS = (
    "source",
    "format",
    "encoding",
    "delimiter",
    "id",
    "deal",
    "kind",
    "at",
    "actor",
    "note",
    "duration",
    "outcome",
    "date_formats",
)
_MATCHER_KEYS = ("external_id", "column", "field", "match")
_OPTIONAL_COLUMNS = ("id", "actor", "note", "duration", "outcome")


def nfkc(text: str) -> str:
    """``text`` in Unicode NFKC form, stripped: full-width digits and punctuation made plain."""
    return unicodedata.normalize("NFKC", text).strip()


@dataclass(frozen=True, slots=True)
class DealMatcher:
    """One way a row finds its deal: its ``column`` holds the external id, or a deal ``field``."""

    column: str
    field: str | None = None
    """None: the column holds the deal's external id."""
    match: str = "text"
    path: YamlPath = ()


@dataclass(frozen=True, slots=True)
class ActivityMapping:
    """How the rows of another tool's export become activities on existing deals."""

    source: str
    deal: tuple[DealMatcher, ...]
    at: str
    kind: ColumnMap | None = None
    fixed_kind: str | None = None
    id: str | None = None
    actor: str | None = None
    note: str | None = None
    duration: str | None = None
    outcome: str | None = None
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    format: str | None = None
    encoding: str = "utf-8-sig"
    delimiter: str | None = None
    file: str = "<mapping>"
    document: Document | None = field(default=None, compare=False, repr=False)

    def columns(self) -> dict[str, YamlPath]:
        """Every column the mapping reads, with where the mapping names it."""
        named: dict[str, YamlPath] = {}
        for matcher in self.deal:
            named.setdefault(matcher.column, matcher.path)
        named.setdefault(self.at, ("at",))
        if self.kind is not None:
            named.setdefault(self.kind.column, ("kind", "column"))
        for key in _OPTIONAL_COLUMNS:
            value = getattr(self, key)
            if value is not None:
                named.setdefault(value, (key,))
        return named

    def resolve(self, header: Sequence[str]) -> dict[str, str]:
        """Each mapped column's name in ``header`` (exact, else NFKC-equal).

        Raises :class:`~playbook.errors.ActivityMappingError` at the mapping's
        line for a column the file does not have, with a did-you-mean.
        """
        by_form = {nfkc(name): name for name in header}
        found: dict[str, str] = {}
        for column, path in self.columns().items():
            actual = column if column in header else by_form.get(nfkc(column))
            if actual is None:
                self._missing(column, path, header)
            found[column] = actual
        return found

    def unused(self, header: Iterable[str], resolved: Mapping[str, str]) -> list[str]:
        """The file's columns the mapping does not read."""
        used = set(resolved.values())
        return [name for name in header if name not in used]

    def _missing(self, column: str, path: YamlPath, header: Sequence[str]) -> NoReturn:
        line, col = _position(self.document, path)
        choices = list(header)
        raise ActivityMappingError(
            Message("error.mapping.file_has_no_column", column=column),
            hint=did_you_mean(column, choices)
            or Message("error.mapping.known", names=choices[:20]),
            file=self.file,
            line=line,
            column=col,
            path=".".join(str(part) for part in path),
        )


def read_activity_mapping(path: str | Path) -> ActivityMapping:
    """The activity mapping in the YAML file at ``path``; ActivityMappingError at the place."""
    try:
        document, where = load_mapping_document(path)
    except MappingError as error:
        if isinstance(error, ActivityMappingError) or error.code != "PB611":
            raise
        raise ActivityMappingError(
            error.msg, hint=error.hint_msg, file=error.file, line=error.line, column=error.column
        ) from error
    return _ActivityReader(document, where).activity_mapping(where.stem)


class _ActivityReader(_Reader):
    error = ActivityMappingError

    def activity_mapping(self, default_source: str) -> ActivityMapping:
        data = self._object(self.document.data, ())
        self._only(data, _TOP_KEYS, (), "error.mapping.unknown_mapping_key")
        for key in ("deal", "at", "kind"):
            if key not in data:
                self._error(Message("error.activity_mapping.needs", key=key), (), "", ())
        kind, fixed = self._kind(data["kind"])
        return ActivityMapping(
            source=self._optional(data, "source") or default_source,
            deal=tuple(self._matchers(data["deal"])),
            at=self._text(data["at"], ("at",)),
            kind=kind,
            fixed_kind=fixed,
            **{key: self._optional(data, key) for key in _OPTIONAL_COLUMNS},
            date_formats=self._date_formats(data.get("date_formats")),
            format=self._format(data),
            encoding=self._optional(data, "encoding") or "utf-8-sig",
            delimiter=self._delimiter(data),
            file=self.file,
            document=self.document,
        )

    def _kind(self, value: Any) -> tuple[ColumnMap | None, str | None]:
        if isinstance(value, dict):
            return self._column_map(value, ("kind",)), None
        return None, self._text(value, ("kind",))

    def _format(self, data: Mapping[str, Any]) -> str | None:
        fmt = self._optional(data, "format")
        if fmt is not None and fmt not in ("csv", "json", "jsonl"):
            self._error(
                Message("error.mapping.unknown_format", fmt=fmt),
                ("format",),
                fmt,
                ("csv", "json", "jsonl"),
            )
        return fmt

    def _matchers(self, value: Any) -> list[DealMatcher]:
        items = value if isinstance(value, list) else [value]
        if not items:
            self._error(Message("error.activity_mapping.needs", key="deal"), ("deal",), "", ())
        return [
            self._matcher(item, ("deal", index) if isinstance(value, list) else ("deal",))
            for index, item in enumerate(items)
        ]

    def _matcher(self, value: Any, path: YamlPath) -> DealMatcher:
        data = self._object(value, path)
        self._only(data, _MATCHER_KEYS, path)
        match = self._text(data.get("match", "text"), (*path, "match"))
        if match not in MATCH_KINDS:
            self._error(
                Message("error.activity_mapping.bad_match", match=match),
                (*path, "match"),
                match,
                MATCH_KINDS,
            )
        if "external_id" in data:
            column = self._text(data["external_id"], (*path, "external_id"))
            return DealMatcher(column, None, match, (*path, "external_id"))
        if "column" not in data or "field" not in data:
            self._error(Message("error.activity_mapping.matcher_needs"), path, "", ())
        column = self._text(data["column"], (*path, "column"))
        deal_field = self._text(data["field"], (*path, "field"))
        return DealMatcher(column, deal_field, match, (*path, "column"))
