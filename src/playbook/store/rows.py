"""Rows of an import file to deals: field values, stage paths and their dates, people.

Used by :mod:`playbook.store.importer`; one :class:`RowConverter` per import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from playbook.errors import DealFieldError, ImportRowError, MappingError
from playbook.i18n import Message
from playbook.model import Playbook, Stage
from playbook.store.dates import DateReader
from playbook.store.mapping import ColumnMap, ImportMapping, Join
from playbook.store.repository import json_fields
from playbook.store.sources import Row, open_source
from playbook.values import coerce_fields, field_from_text

if TYPE_CHECKING:
    pass

__all__ = ["ImportedDeal", "RowConverter", "join_tables", "remember"]


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
    last_activity: datetime | None = None
    """The row's last follow-up (``last_activity`` column)."""
    updated: datetime | None = None
    """When the source system last changed the row (``updated`` column)."""

    @property
    def closed_index(self) -> int | None:
        """Where in ``history`` the deal closed: its first stage of the current outcome."""
        if not self.closed:
            return None
        return next(i for i, (stage, _) in enumerate(self.history) if stage in self.outcome)

    outcome: frozenset[str] = frozenset()
    """The stages of the deal's outcome (won or lost) when it is closed."""


NAME_LIMIT = 200
"""The longest external id or person name both databases store (``VARCHAR(200)``)."""


def _holds_nul(value: Any) -> bool:
    """Whether a JSON-ready value holds U+0000 anywhere (PostgreSQL's text and jsonb cannot)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False


# --- rows to deals ------------------------------------------------------------------------


def join_tables(
    joins: Sequence[Join], mapping: ImportMapping
) -> list[tuple[Join, dict[str, dict[str, Any]]]]:
    tables = []
    for join in joins:
        source = open_source(join.file, encoding=mapping.encoding)
        for column in (join.key, *join.columns.values()):
            if column not in source.columns:
                raise MappingError(
                    Message("error.rows.has_no_column", name=join.file.name, column=column),
                    file=mapping.file,
                    line=join.line or None,
                    hint=Message("error.rows.columns", names=source.columns),
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


class RowConverter:
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
        self.dates = DateReader(mapping.date_formats, self.tz)
        self.fields = [
            _FieldColumn(playbook, field_id, column_map)
            for field_id, column_map in mapping.fields.items()
        ]
        self.moments: dict[str, datetime | None] = {}
        self.stages = {stage.id: stage for stage in playbook.stages}
        self.first = playbook.first_stage.id
        self.paths = {stage.id: _candidates(playbook, stage) for stage in playbook.stages}
        self.outcomes = {
            outcome: frozenset(s.id for s in playbook.stages if s.outcome == outcome)
            for outcome in ("won", "lost")
        }

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
            raise self._error(
                row,
                Message("error.rows.no_external_id_column", external_id=self.mapping.external_id),
            )
        self._fits(row, self.mapping.external_id, external_id)
        stage = self._stage(row, values)
        people = {role: _text(values.get(column)) for role, column in self.mapping.people.items()}
        for role, column in self.mapping.people.items():
            self._fits(row, column, people[role])
        fields = self._fields(row, values)
        for name, value in fields.items():
            if _holds_nul(value):
                raise self._error(row, Message("error.rows.value_holds_nul_character_2", name=name))
        mapping = self.mapping
        return ImportedDeal(
            number=row.number,
            external_id=external_id,
            stage=stage.id,
            fields=fields,
            people=people,
            history=self._history(row, values, stage),
            closed=stage.is_closed,
            last_activity=self._moment(row, values, mapping.last_activity),
            updated=self._moment(row, values, mapping.updated),
            outcome=self.outcomes.get(stage.outcome, frozenset()),
        )

    def _fits(self, row: Row, column: str, value: str | None) -> None:
        """Refuse, as this row's error, text a column of either database cannot hold."""
        if value is None:
            return
        if len(value) > NAME_LIMIT:
            raise self._error(
                row,
                Message(
                    "error.rows.characters_store_keeps_at",
                    column=column,
                    count=len(value),
                    NAME_LIMIT=NAME_LIMIT,
                ),
                hint=Message("error.rows.shorten_value_map_another"),
            )
        if "\x00" in value:
            raise self._error(row, Message("error.rows.value_holds_nul_character", column=column))

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
            raise self._error(row, Message("error.rows.no_stage_column", column=column_map.column))
        stage_id = column_map.values.get(raw) or column_map.values.get(raw.lower()) or raw
        stage = self.stages.get(stage_id)
        if stage is None:
            known = ", ".join([*column_map.values, *self.stages][:12])
            raise self._error(
                row,
                Message(
                    "error.rows.not_stage", column=column_map.column, raw=raw, key=self.playbook.key
                ),
                hint=Message("error.rows.map_under_stage_values", known=known),
            )
        return stage

    def _fields(self, row: Row, values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for column in self.fields:
            try:
                out[column.field_id] = column.json_value(values.get(column.name))
            except DealFieldError as error:
                raise self._error(
                    row, Message("error.rows.message", name=column.name, message=error.msg)
                ) from error
        return out

    def _history(
        self, row: Row, values: Mapping[str, Any], target: Stage
    ) -> tuple[tuple[str, datetime | None], ...]:
        dated = [
            (stage, at)
            for stage in self.paths[target.id]
            if (at := self._date(row, values, stage)) is not None or self._undated_entry(stage)
        ]
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
                    Message(
                        "error.rows.was_entered_on_before",
                        stage=stage,
                        isoformat=at.date().isoformat(),
                        isoformat2=previous.date().isoformat(),
                    ),
                    hint=Message("error.rows.check_date_columns_row"),
                )
            previous = at or previous
            out.append((stage, previous))
        return tuple(out)

    def _undated_entry(self, stage: str) -> bool:
        """Whether ``stage``, passed on the way without a date, is taken as entered.

        A stage whose date column is empty was skipped (the export says it was
        never entered); an open stage without a date column is taken as entered
        with the stage before it; a closed stage is passed only with its date.
        """
        return stage == self.first or (
            stage not in self.mapping.stage_dates and self.stages[stage].is_open
        )

    def _date(self, row: Row, values: Mapping[str, Any], stage: str) -> datetime | None:
        column = self.mapping.stage_dates.get(stage)
        return None if column is None else self._moment(row, values, column)

    def _moment(self, row: Row, values: Mapping[str, Any], column: str | None) -> datetime | None:
        if column is None:
            return None
        raw = values.get(column)
        if isinstance(raw, str) and raw in self.moments:
            return self.moments[raw]
        text = _text(raw)
        if text is None:
            moment = None
        else:
            try:
                moment = self.dates.read(text)
            except ValueError:
                raise self._error(
                    row,
                    Message(
                        "error.rows.not_date_in_formats",
                        column=column,
                        text=text,
                        formats=self.dates.describe(),
                    ),
                    hint=Message("error.rows.declare_date_formats"),
                    column=column,
                ) from None
        if isinstance(raw, str):
            remember(self.moments, raw, moment)
        return moment

    def _error(
        self,
        row: Row,
        message: Message,
        hint: Message | None = None,
        column: str | None = None,
    ) -> ImportRowError:
        details: dict[str, Any] = {"row": row.number}
        if column is not None:
            details["column"] = column
        return ImportRowError(
            Message("error.rows.row", number=row.number, message=message),
            line=row.number,
            hint=hint,
            details=details,
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
            value = self._typed(field_from_text(translated, self.spec, self.column_map.separator))
        if not isinstance(value, list):
            remember(self.known, raw, value)
        return value

    def _typed(self, raw: Any) -> Any:
        typed = coerce_fields(self.playbook, {self.field_id: raw})
        return json_fields(typed).get(self.field_id)


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")
_REMEMBERED = 4096
"""How many distinct texts (or times) a cache holds before it starts over: memory stays bounded."""


def remember(known: dict[_Key, _Value], key: _Key, value: _Value) -> None:
    if len(known) >= _REMEMBERED:
        known.clear()
    known[key] = value


def _candidates(playbook: Playbook, target: Stage) -> list[str]:
    """The stages a deal may pass through, in order, before reaching ``target``.

    The open stages before it, and for a won stage also the won stages before
    it (a deal in after-sales was signed on the way); for a lost deal every
    open stage (how far it got is read from its dates).
    """
    if target.outcome == "lost":
        return [s.id for s in playbook.stages if s.is_open]
    return [
        s.id
        for s in playbook.stages
        if s.index < target.index and (s.is_open or s.outcome == target.outcome)
    ]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
