"""Import mappings: which column of a file becomes which part of a deal.

A mapping is a small YAML file, read with the strict loader::

    external_id: opportunity_id          # the column that identifies a deal (required)
    owner: sales_agent                   # optional: owner, team, manager, region columns
    stage:
      column: deal_stage
      values: {Prospecting: prospecting, Engaging: engaging, Won: won, Lost: lost}
    stage_dates:                         # stage id: the column with the date it was entered
      engaging: engage_date
      won: close_date
      lost: close_date
    last_activity: last_contact          # the last follow-up (or {column, kind})
    updated: modified_at                 # when the source system last changed the row
    date_formats: [iso, "%Y/%m/%d", excel]
    on_empty: keep                       # an empty cell keeps the stored value (or: clear)
    fields:                              # field id: column (or {column, values, separator,
      product: {column: product, values: {GTXPro: GTX Pro}}   # on_empty, keep_newer})
      close_value: close_value
    join:                                # more columns from other files, matched on a key
      - file: sales_teams.csv            # relative to the mapping file
        on: sales_agent                  # a column of the imported file ...
        key: sales_agent                 # ... matched with this column of the joined file
        columns: [manager, regional_office]

Without a mapping file, :func:`default_mapping` maps columns by name, which is
also the layout ``playbook deals export`` writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from playbook.definition.loader import Document, YamlPath, read_document
from playbook.diagnostics import did_you_mean
from playbook.errors import MappingError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.store.dates import DEFAULT_DATE_FORMATS, check_date_format
from playbook.store.presets import PRESET_PREFIX, preset_path

__all__ = [
    "EMPTY_POLICIES",
    "ColumnMap",
    "ImportMapping",
    "Join",
    "default_mapping",
    "load_mapping_document",
    "read_mapping",
]

_PEOPLE = ("owner", "team", "manager", "region")
_TOP_KEYS = frozenset(
    {
        "format",
        "encoding",
        "delimiter",
        "external_id",
        "stage",
        "stage_dates",
        "stage_entered",
        "created",
        "fields",
        "join",
        "last_activity",
        "updated",
        "date_formats",
        "on_empty",
        *_PEOPLE,
    }
)
_FORMATS = ("csv", "json", "jsonl")
_COLUMN_KEYS = ("column", "values", "separator", "on_empty", "keep_newer")
EMPTY_POLICIES = ("keep", "clear")
"""What an empty cell does to a stored field value: leave it, or clear it."""
DEFAULT_FOLLOW_UP_KIND = "note"
"""The activity kind a ``last_activity`` date is recorded as, unless the mapping names one."""


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """A column, and how its raw values translate (``values``; lists split on ``separator``)."""

    column: str
    values: Mapping[str, str] = field(default_factory=dict)
    separator: str = ";"
    on_empty: str | None = None
    """``keep`` or ``clear``; None: the mapping's own ``on_empty``."""
    keep_newer: bool = False
    """The store's value wins when it was set in the tool after the row's ``updated`` time."""

    def translate(self, raw: str) -> str:
        """``raw`` through the ``values`` table (unchanged when it is not listed)."""
        return self.values.get(raw, raw)


@dataclass(frozen=True, slots=True)
class Join:
    """Columns brought in from another file whose ``key`` column matches this file's ``on``."""

    file: Path
    on: str
    key: str
    columns: Mapping[str, str]
    line: int = 0


@dataclass(frozen=True, slots=True)
class ImportMapping:
    """How the rows of one file become deals."""

    external_id: str
    fields: Mapping[str, ColumnMap]
    stage: ColumnMap | None = None
    stage_dates: Mapping[str, str] = field(default_factory=dict)
    stage_entered: str | None = None
    created: str | None = None
    last_activity: str | None = None
    last_activity_kind: str = DEFAULT_FOLLOW_UP_KIND
    updated: str | None = None
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    on_empty: str = "keep"
    people: Mapping[str, str] = field(default_factory=dict)
    joins: tuple[Join, ...] = ()
    format: str | None = None
    encoding: str = "utf-8-sig"
    delimiter: str | None = None
    file: str = "<default mapping>"
    document: Document | None = field(default=None, compare=False, repr=False)

    def columns(self) -> dict[str, YamlPath]:
        """Every column the mapping reads from the file, with where the mapping names it."""
        named: dict[str, YamlPath] = {self.external_id: ("external_id",)}
        if self.stage is not None:
            named.setdefault(self.stage.column, ("stage", "column"))
        for stage, column in self.stage_dates.items():
            named.setdefault(column, ("stage_dates", stage))
        for key in ("stage_entered", "created", "last_activity", "updated"):
            value = getattr(self, key)
            if value is not None:
                named.setdefault(value, (key,))
        for role, column in self.people.items():
            named.setdefault(column, (role,))
        for field_id, column_map in self.fields.items():
            named.setdefault(column_map.column, ("fields", field_id))
        return named

    def empty_policy(self, field_id: str) -> str:
        """``keep`` or ``clear``: what an empty cell of ``field_id`` does to its stored value."""
        column_map = self.fields.get(field_id)
        own = None if column_map is None else column_map.on_empty
        return own or self.on_empty

    def unused(self, header: Iterable[str]) -> list[str]:
        """The columns of the file the mapping does not read (joins' ``on`` columns count)."""
        used = set(self.columns()) | {join.on for join in self.joins}
        return [column for column in header if column not in used]

    def check(self, playbook: Playbook, header: Iterable[str]) -> None:
        """Raise :class:`~playbook.errors.MappingError` for anything unknown.

        Fields must be declared by ``playbook``, stages defined by it, enum
        values allowed, and every column present in ``header`` (the file's
        columns plus the joined ones), each with a did-you-mean.
        """
        available = [*header, *(name for join in self.joins for name in join.columns)]
        for join in self.joins:
            self._need_column(join.on, available, ("join",))
        for column, path in self.columns().items():
            self._need_column(column, available, path)
        for field_id, column_map in self.fields.items():
            spec = playbook.fields.get(field_id)
            if spec is None:
                self._fail(
                    Message(
                        "error.mapping.playbook_declares_no_field",
                        key=playbook.key,
                        field_id=field_id,
                    ),
                    ("fields", field_id),
                    field_id,
                    list(playbook.fields),
                    key=True,
                )
            elif spec.kind == "enum" and spec.type.values:
                for raw, value in column_map.values.items():
                    if value not in spec.type.values:
                        self._fail(
                            Message(
                                "error.mapping.not_value_enum_field", value=value, field_id=field_id
                            ),
                            ("fields", field_id, "values", raw),
                            value,
                            spec.type.values,
                        )
        stages = [stage.id for stage in playbook.stages]
        if self.stage is not None:
            for raw, stage in self.stage.values.items():
                if stage not in stages:
                    self._fail(
                        Message(
                            "error.mapping.playbook_has_no_stage", key=playbook.key, stage=stage
                        ),
                        ("stage", "values", raw),
                        stage,
                        stages,
                    )
        self._check_newer()
        if self.last_activity is not None and self.last_activity_kind not in playbook.activity_ids:
            self._fail(
                Message(
                    "error.mapping.no_activity_kind",
                    key=playbook.key,
                    kind=self.last_activity_kind,
                ),
                ("last_activity", "kind"),
                self.last_activity_kind,
                playbook.activity_ids,
            )
        for stage in self.stage_dates:
            if stage not in stages:
                self._fail(
                    Message("error.mapping.playbook_has_no_stage", key=playbook.key, stage=stage),
                    ("stage_dates", stage),
                    stage,
                    stages,
                    key=True,
                )

    def _check_newer(self) -> None:
        if self.updated is not None:
            return
        for field_id, column_map in self.fields.items():
            if column_map.keep_newer:
                self._fail(
                    Message("error.mapping.keep_newer_needs_updated", id=field_id),
                    ("fields", field_id, "keep_newer"),
                    "",
                    (),
                    key=True,
                )

    def _need_column(self, column: str, available: list[str], path: YamlPath) -> None:
        if column not in available:
            self._fail(
                Message("error.mapping.file_has_no_column", column=column), path, column, available
            )

    def _fail(
        self,
        message: Message,
        path: YamlPath,
        name: str,
        choices: Iterable[str],
        *,
        key: bool = False,
    ) -> NoReturn:
        choices = list(choices)
        hint = did_you_mean(name, choices) or (
            Message("error.mapping.known", names=choices[:20])
            if choices
            else Message("error.mapping.add_updated_column")
        )
        line, column = _position(self.document, path, key=key)
        raise MappingError(
            message, hint=hint, file=self.file, line=line, column=column, path=_dotted(path)
        )


def read_mapping(path: str | Path) -> ImportMapping:
    """The mapping in the YAML file at ``path`` (or ``preset:NAME``, a shipped preset).

    Raises MappingError at the exact place; PresetNotFoundError for an unknown preset.
    """
    document, where = load_mapping_document(path)
    return _Reader(document, where).mapping()


def load_mapping_document(path: str | Path) -> tuple[Document, Path]:
    """The YAML document of a mapping file or ``preset:NAME``, and the file it came from.

    Raises :class:`~playbook.errors.MappingError` for a file that is not
    usable YAML (its diagnostic's message and place).
    """
    where = preset_path(str(path)) if str(path).startswith(PRESET_PREFIX) else Path(path)
    loaded = read_document(where, display_name=str(path))
    errors = [d for d in loaded.diagnostics if d.severity == "error"]
    if errors or loaded.document is None:
        first = errors[0]
        raise MappingError(
            first.msg, hint=first.hint_msg, file=first.file, line=first.line, column=first.column
        )
    return loaded.document, where


def default_mapping(header: Iterable[str], playbook: Playbook) -> ImportMapping:
    """Columns mapped by name: ``external_id`` (or ``id``), ``stage``, people, declared fields.

    ``created_at`` and ``stage_entered_at`` columns give the creation time and
    the time the current stage was entered: the layout of ``playbook deals export``.
    """
    columns = list(header)
    id_column = next((c for c in ("external_id", "id") if c in columns), None)
    if id_column is None:
        raise MappingError(
            Message("error.mapping.file_has_no_external"),
            hint=Message("error.mapping.name_id_column_external"),
            details={"columns": columns},
        )
    return ImportMapping(
        external_id=id_column,
        fields={c: ColumnMap(c) for c in columns if c in playbook.fields},
        stage=ColumnMap("stage") if "stage" in columns else None,
        stage_entered="stage_entered_at" if "stage_entered_at" in columns else None,
        created="created_at" if "created_at" in columns else None,
        people={role: role for role in _PEOPLE if role in columns},
    )


# --- reading the YAML ---------------------------------------------------------------------


class _Reader:
    error: type[MappingError] = MappingError
    """What a mistake in the document raises (the activity mapping's reader has its own)."""

    def __init__(self, document: Document, path: Path) -> None:
        self.document = document
        self.file = document.file
        self.folder = path.parent

    def mapping(self) -> ImportMapping:
        data = self._object(self.document.data, ())
        self._only(data, _TOP_KEYS, (), "error.mapping.unknown_mapping_key")
        if "external_id" not in data:
            self._error(Message("error.mapping.mapping_needs_external_id"), (), "", ())
        fmt = data.get("format")
        if fmt is not None and fmt not in _FORMATS:
            self._error(
                Message("error.mapping.unknown_format", fmt=fmt), ("format",), str(fmt), _FORMATS
            )
        follow_up, follow_kind = self._follow_up(data.get("last_activity"))
        return ImportMapping(
            external_id=self._text(data["external_id"], ("external_id",)),
            fields={
                self._text(key, ("fields",)): self._column_map(value, ("fields", key))
                for key, value in self._object(data.get("fields", {}), ("fields",)).items()
            },
            stage=self._column_map(data["stage"], ("stage",)) if "stage" in data else None,
            stage_dates=self._text_map(data.get("stage_dates", {}), ("stage_dates",)),
            stage_entered=self._optional(data, "stage_entered"),
            created=self._optional(data, "created"),
            last_activity=follow_up,
            last_activity_kind=follow_kind,
            updated=self._optional(data, "updated"),
            date_formats=self._date_formats(data.get("date_formats")),
            on_empty=self._policy(data.get("on_empty", "keep"), ("on_empty",)),
            people={role: self._text(data[role], (role,)) for role in _PEOPLE if role in data},
            joins=tuple(self._joins(data.get("join", []))),
            format=fmt,
            encoding=self._optional(data, "encoding") or "utf-8-sig",
            delimiter=self._delimiter(data),
            file=self.file,
            document=self.document,
        )

    def _column_map(self, value: Any, path: YamlPath) -> ColumnMap:
        if isinstance(value, str):
            return ColumnMap(value)
        data = self._object(value, path)
        self._only(data, _COLUMN_KEYS, path)
        if "column" not in data:
            self._error(Message("error.mapping.column_name_missing"), path, "", ())
        values = self._text_map(data.get("values", {}), (*path, "values"))
        separator = self._text(data.get("separator", ";"), (*path, "separator"))
        on_empty = data.get("on_empty")
        keep_newer = data.get("keep_newer", False)
        if not isinstance(keep_newer, bool):
            self._error(Message("error.mapping.keep_newer_boolean"), (*path, "keep_newer"), "", ())
        return ColumnMap(
            self._text(data["column"], (*path, "column")),
            values,
            separator,
            on_empty=None if on_empty is None else self._policy(on_empty, (*path, "on_empty")),
            keep_newer=keep_newer,
        )

    def _only(
        self,
        data: Mapping[str, Any],
        keys: Iterable[str],
        path: YamlPath,
        message: str = "error.mapping.unknown_key",
    ) -> None:
        """Refuse the first key of ``data`` not in ``keys``, at its place, with a did-you-mean."""
        known = tuple(keys)
        for key in data:
            if key not in known:
                self._error(Message(message, key=key), (*path, key), key, known, key_=True)

    def _policy(self, value: Any, path: YamlPath) -> str:
        text = self._text(value, path)
        if text not in EMPTY_POLICIES:
            self._error(
                Message("error.mapping.on_empty_policy", text=text), path, text, EMPTY_POLICIES
            )
        return text

    def _follow_up(self, value: Any) -> tuple[str | None, str]:
        """``last_activity: COLUMN`` or ``{column, kind}``: the column and the activity kind."""
        if value is None:
            return None, DEFAULT_FOLLOW_UP_KIND
        path: YamlPath = ("last_activity",)
        if not isinstance(value, dict):
            return self._text(value, path), DEFAULT_FOLLOW_UP_KIND
        self._only(value, ("column", "kind"), path)
        if "column" not in value:
            self._error(Message("error.mapping.column_name_missing"), path, "", ())
        kind = self._text(value.get("kind", DEFAULT_FOLLOW_UP_KIND), (*path, "kind"))
        return self._text(value["column"], (*path, "column")), kind

    def _date_formats(self, value: Any) -> tuple[str, ...]:
        if value is None:
            return DEFAULT_DATE_FORMATS
        items = value if isinstance(value, list) else [value]
        formats = []
        for index, item in enumerate(items):
            path: YamlPath = (
                ("date_formats", index) if isinstance(value, list) else ("date_formats",)
            )
            text = self._text(item, path)
            problem = check_date_format(text)
            if problem is not None:
                self._error(
                    Message("error.mapping.bad_date_format", text=text, problem=problem),
                    path,
                    "",
                    (),
                )
            formats.append(text)
        if not formats:
            self._error(Message("error.mapping.no_date_formats"), ("date_formats",), "", ())
        return tuple(formats)

    def _joins(self, value: Any) -> list[Join]:
        items = value if isinstance(value, list) else [value]
        out = []
        for index, item in enumerate(items):
            path: YamlPath = ("join", index) if isinstance(value, list) else ("join",)
            data = self._object(item, path)
            for key in ("file", "on", "columns"):
                if key not in data:
                    self._error(Message("error.mapping.join_needs", key=key), path, "", ())
            on = self._text(data["on"], (*path, "on"))
            columns = data["columns"]
            if isinstance(columns, list):
                named = {self._text(c, (*path, "columns")): str(c) for c in columns}
            else:
                named = self._text_map(columns, (*path, "columns"))
            out.append(
                Join(
                    file=self.folder / self._text(data["file"], (*path, "file")),
                    on=on,
                    key=self._text(data.get("key", on), (*path, "key")),
                    columns=named,
                    line=_position(self.document, path)[0],
                )
            )
        return out

    def _delimiter(self, data: Mapping[str, Any]) -> str | None:
        value = self._optional(data, "delimiter")
        if value is not None and len(value.replace("\\t", "\t")) != 1:
            self._error(
                Message("error.mapping.delimiter_must_one_character"), ("delimiter",), value, ()
            )
        return None if value is None else value.replace("\\t", "\t")

    def _optional(self, data: Mapping[str, Any], key: str) -> str | None:
        value = data.get(key)
        return None if value is None else self._text(value, (key,))

    def _object(self, value: Any, path: YamlPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            self._error(Message("error.mapping.expected_mapping_keys_values"), path, "", ())
        return value

    def _text(self, value: Any, path: YamlPath) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self._error(
                Message("error.mapping.expected_text_here_found", value=value), path, "", ()
            )
        return str(value)

    def _text_map(self, value: Any, path: YamlPath) -> dict[str, str]:
        data = self._object(value, path)
        return {str(key): self._text(item, (*path, key)) for key, item in data.items()}

    def _error(
        self,
        message: Message,
        path: YamlPath,
        name: str,
        choices: Iterable[str],
        *,
        key_: bool = False,
    ) -> NoReturn:
        line, column = _position(self.document, path, key=key_)
        raise self.error(
            message,
            hint=did_you_mean(name, choices) if name else None,
            file=self.file,
            line=line,
            column=column,
            path=_dotted(path),
        )


def _position(document: Document | None, path: YamlPath, *, key: bool = False) -> tuple[int, int]:
    if document is None:
        return 0, 0
    mark = document.mark(path, key=key)
    return mark.line, mark.column


def _dotted(path: YamlPath) -> str:
    return ".".join(str(part) for part in path)
