"""Importing calls, meetings, visits and notes from other tools' exports onto existing deals.

Each row of the file is matched to one deal through the mapping's ``deal``
matchers, tried in order: the deal's external id, or a deal field (a contact
name, a phone number) holding the row's cell. Its kind must be one the deal's
pinned playbook declares (``activity_kinds``), its time readable with the
mapping's ``date_formats`` on the playbook's clock and not after the time of
the import.

**All or nothing.** The whole file is read and every row matched before
anything is written: a row that matches no deal (``PB651``), matches several
(``PB652``), has an undeclared kind (``PB653``) or an unreadable cell
(``PB654``) is reported with its line, and then nothing of the file is
written. Otherwise every new activity is written in one transaction.

**Idempotent.** Every activity is stored with its key in the source (the
``id`` column, else a hash of the row's cells) in ``playbook_activity_keys``,
unique per ``source``: importing the same export again, or a later export
that repeats older rows, writes only the rows not seen before.

An imported activity is a follow-up like ``deals log``: one version step of
its deal, moving ``last_activity_at`` forward (never back), so
``since_last_activity`` escalations and the weekly review count it.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, case, insert, select, update

from playbook.definition.files import playbook_from_text
from playbook.diagnostics import did_you_mean
from playbook.errors import (
    ActivityImportError,
    ActivityKindRowError,
    ActivityMappingError,
    ActivityMatchError,
    ActivityRowError,
    AmbiguousActivityError,
    ImportRowError,
)
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.store.activity_mapping import ActivityMapping, DealMatcher
from playbook.store.activity_rows import RawActivity, match_value, read_duration, read_raw
from playbook.store.dates import DateReader
from playbook.store.models import Activity, ActivityKey, Deal
from playbook.store.repository import DealStore
from playbook.store.sources import Row, open_source
from playbook.values import playbook_zone, require_now

__all__ = ["IMPORT_ACTOR", "ActivityReport", "import_activities"]

IMPORT_ACTOR = "import"
"""Who an imported activity is recorded by when the mapping has no ``actor`` column."""

_RESERVED_KINDS = ("action", "fields")
"""Kinds the store writes itself (completed actions, values set): never imported."""
_CHUNK = 500
_DEALS = cast(Table, Deal.__table__)
_ACTIVITIES = cast(Table, Activity.__table__)
_KEYS = cast(Table, ActivityKey.__table__)


@dataclass(slots=True)
class ActivityReport:
    """What an activity import did (or, in a dry run or with bad rows, would do).

    ``imported`` new activities, ``already`` rows whose key was imported before,
    ``repeated`` rows whose key came earlier in the same file; ``by_kind`` counts
    the new activities per kind, ``deals`` the deals they go to. ``errors`` are
    the refused rows in line order: when there is any, nothing was written.
    """

    file: str
    source: str
    dry_run: bool = False
    rows: int = 0
    imported: int = 0
    already: int = 0
    repeated: int = 0
    deals: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    errors: list[ImportRowError] = field(default_factory=list)
    unused_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def refusal(self) -> ActivityImportError | None:
        """The error refusing the whole file (every refused row in ``details``), or None."""
        if not self.errors:
            return None
        return ActivityImportError(
            Message("error.activity_import.refused", count=len(self.errors), file=self.file),
            hint=Message("error.activity_import.refused_hint"),
            file=self.file,
            line=self.errors[0].line,
            details={"errors": [error.to_dict() for error in self.errors[:100]]},
        )

    @property
    def written(self) -> bool:
        """Whether the activities were written (not a dry run, no refused row)."""
        return not self.dry_run and not self.errors

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The JSON form, with every refused row."""
        return {
            "file": self.file,
            "source": self.source,
            "dry_run": self.dry_run,
            "written": self.written,
            "rows": self.rows,
            "imported": self.imported,
            "already": self.already,
            "repeated": self.repeated,
            "deals": self.deals,
            "by_kind": dict(sorted(self.by_kind.items())),
            "failed": len(self.errors),
            "unused_columns": list(self.unused_columns),
            "seconds": round(self.seconds, 3),
            "errors": [error.to_dict(lang) for error in self.errors],
        }


@dataclass(frozen=True, slots=True)
class _Target:
    """A deal a row can go to: its id and the playbook version it is pinned to."""

    id: int
    playbook_id: str
    version: int


@dataclass(frozen=True, slots=True)
class _Planned:
    key: str
    deal: int
    kind: str
    at: datetime
    actor: str
    note: str | None
    evidence: dict[str, Any] | None


def import_activities(
    store: DealStore,
    path: str | Path,
    mapping: ActivityMapping,
    *,
    now: datetime,
    dry_run: bool = False,
) -> ActivityReport:
    """Import the activities of the file at ``path`` onto the deals of ``store``; all or nothing.

    Returns the report; when it has errors (rows matching no deal or several,
    undeclared kinds, unreadable cells) nothing was written, and with
    ``dry_run`` nothing is written either. Raises
    :class:`~playbook.errors.ImportFileError` for an unusable file and
    :class:`~playbook.errors.ActivityMappingError` for a mapping naming
    columns the file lacks or a field no registered playbook declares.
    """
    started = time.perf_counter()
    at = require_now(now)
    source = open_source(
        path, fmt=mapping.format, encoding=mapping.encoding, delimiter=mapping.delimiter
    )
    resolved = mapping.resolve(source.columns)
    report = ActivityReport(str(path), mapping.source, dry_run=dry_run)
    report.unused_columns = mapping.unused(source.columns, resolved)
    raws = list(_read(mapping, resolved, source.columns, source, report))
    matcher = _Matcher(store, mapping, raws)
    planned = [item for item in (_plan(raw, matcher, mapping, at, report) for raw in raws) if item]
    report.errors.sort(key=lambda error: error.line or 0)
    if not report.errors:
        fresh = _fresh(store, mapping.source, planned, report)
        report.imported = len(fresh)
        report.deals = len({item.deal for item in fresh})
        report.by_kind = dict(Counter(item.kind for item in fresh))
        if not dry_run and fresh:
            _write(store, mapping.source, fresh, at)
    report.seconds = time.perf_counter() - started
    return report


def _read(
    mapping: ActivityMapping,
    resolved: dict[str, str],
    header: Sequence[str],
    rows: Iterable[Row | ImportRowError],
    report: ActivityReport,
) -> Iterator[RawActivity]:
    for row in rows:
        report.rows += 1
        if isinstance(row, ImportRowError):
            report.errors.append(row)
            continue
        yield read_raw(mapping, resolved, header, row.number, row.values)


def _plan(
    raw: RawActivity,
    matcher: _Matcher,
    mapping: ActivityMapping,
    now: datetime,
    report: ActivityReport,
) -> _Planned | None:
    try:
        target = matcher.find(raw)
        playbook = matcher.playbook(target)
        return _Planned(
            key=raw.key,
            deal=target.id,
            kind=_kind(raw, mapping, playbook),
            at=_time(raw, mapping, playbook, now),
            actor=raw.cells.get(mapping.actor or "", "") or IMPORT_ACTOR,
            note=raw.cells.get(mapping.note or "") or None,
            evidence=_evidence(raw, mapping),
        )
    except ImportRowError as error:
        error.line = raw.line
        report.errors.append(error)
        return None


def _kind(raw: RawActivity, mapping: ActivityMapping, playbook: Playbook) -> str:
    kinds = [kind for kind in playbook.activity_ids if kind not in _RESERVED_KINDS]
    if mapping.kind is None:
        kind = mapping.fixed_kind or ""
    else:
        cell = raw.cells[mapping.kind.column]
        table = {key.strip(): value for key, value in mapping.kind.values.items()}
        kind = table.get(cell, cell)
    if kind not in kinds:
        raise ActivityKindRowError(
            Message("error.activity_import.unknown_kind", kind=kind, key=playbook.key),
            hint=did_you_mean(kind, kinds) or Message("error.repository.use_one", names=kinds),
            details={"kind": kind, "kinds": kinds},
        )
    return kind


def _time(
    raw: RawActivity, mapping: ActivityMapping, playbook: Playbook, now: datetime
) -> datetime:
    cell = raw.cells[mapping.at]
    reader = DateReader(mapping.date_formats, playbook_zone(playbook))
    try:
        moment = reader.read(cell)
    except ValueError:
        raise ActivityRowError(
            Message("error.activity_import.bad_time", column=mapping.at, value=cell),
            hint=Message("error.activity_import.declared_formats", formats=reader.describe()),
            details={"column": mapping.at},
        ) from None
    if moment > now:
        raise ActivityRowError(
            Message("error.activity_import.in_the_future", column=mapping.at, value=cell),
            hint=Message("error.activity_import.check_clock"),
            details={"column": mapping.at},
        )
    return moment


def _evidence(raw: RawActivity, mapping: ActivityMapping) -> dict[str, Any] | None:
    evidence: dict[str, Any] = {}
    if mapping.duration is not None and raw.cells[mapping.duration]:
        cell = raw.cells[mapping.duration]
        try:
            evidence["duration_seconds"] = read_duration(cell)
        except ValueError:
            raise ActivityRowError(
                Message("error.activity_import.bad_duration", column=mapping.duration, value=cell),
                hint=Message("error.activity_import.duration_forms"),
                details={"column": mapping.duration},
            ) from None
    if mapping.outcome is not None and raw.cells[mapping.outcome]:
        evidence["outcome"] = raw.cells[mapping.outcome]
    return evidence or None


class _Matcher:
    """Finds each row's deal: external ids looked up in chunks, deal fields indexed once."""

    def __init__(
        self, store: DealStore, mapping: ActivityMapping, raws: Sequence[RawActivity]
    ) -> None:
        self.store = store
        self.mapping = mapping
        # Every external id the rows ask for: looked up together, one query per chunk.
        self._pending = {cell for raw in raws for m, cell in raw.keys if m.field is None}
        self._by_id: dict[str, list[_Target]] = {}
        self._by_field: dict[tuple[str, str], dict[str, list[_Target]]] = {}
        self._playbooks: dict[tuple[str, int], Playbook] = {}
        self._looked_up: set[str] = set()

    def find(self, raw: RawActivity) -> _Target:
        """The one deal the row belongs to; ActivityMatchError / AmbiguousActivityError."""
        tried = []
        for matcher, cell in raw.keys:
            found = self._candidates(matcher, cell)
            tried.append(f"{matcher.column}={cell}")
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise AmbiguousActivityError(
                    Message(
                        "error.activity_import.several_deals",
                        column=matcher.column,
                        value=cell,
                        count=len(found),
                    ),
                    hint=Message("error.activity_import.add_external_id"),
                    details={"column": matcher.column, "deals": [t.id for t in found]},
                )
        raise ActivityMatchError(
            Message("error.activity_import.no_deal", tried=", ".join(tried) or "-"),
            hint=Message("error.activity_import.import_deals_first"),
            details={"tried": tried},
        )

    def playbook(self, target: _Target) -> Playbook:
        """The playbook version ``target`` is pinned to, parsed once."""
        key = (target.playbook_id, target.version)
        if key not in self._playbooks:
            text = self.store.playbook_source(*key)
            assert text is not None  # a deal's pinned version is registered before the deal
            self._playbooks[key] = playbook_from_text(text, f"{key[0]}@{key[1]}")
        return self._playbooks[key]

    def _candidates(self, matcher: DealMatcher, cell: str) -> list[_Target]:
        if matcher.field is None:
            if cell not in self._looked_up:
                self._load_ids()
            return self._by_id.get(cell, [])
        table = self._field_index(matcher)
        return table.get(match_value(cell, matcher.match), []) if cell else []

    def _load_ids(self) -> None:
        """Every external id of the mapping's id columns not looked up yet, in chunks."""
        wanted = sorted(self._pending - self._looked_up)
        self._looked_up.update(wanted)
        with self.store.database.connect() as connection:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                query = select(
                    Deal.external_id, Deal.id, Deal.playbook_id, Deal.playbook_version
                ).where(Deal.external_id.in_(chunk))
                for external, deal_id, playbook_id, version in connection.execute(query):
                    assert external is not None  # matched by IN: never null
                    self._by_id.setdefault(external, []).append(
                        _Target(deal_id, playbook_id, version)
                    )

    def _field_index(self, matcher: DealMatcher) -> dict[str, list[_Target]]:
        assert matcher.field is not None
        key = (matcher.field, matcher.match)
        if key not in self._by_field:
            self._check_field(matcher)
            index: dict[str, list[_Target]] = defaultdict(list)
            value = Deal.fields[matcher.field].as_string()
            query = select(value, Deal.id, Deal.playbook_id, Deal.playbook_version).where(
                value.is_not(None)
            )
            with self.store.database.connect() as connection:
                for text, deal_id, playbook_id, version in connection.execute(query):
                    normal = match_value(str(text), matcher.match)
                    if normal:
                        index[normal].append(_Target(deal_id, playbook_id, version))
            self._by_field[key] = dict(index)
        return self._by_field[key]

    def _check_field(self, matcher: DealMatcher) -> None:
        """A field no registered playbook declares is a mistake in the mapping."""
        declared: set[str] = set()
        for playbook_id, version in self.store.playbook_versions():
            declared.update(self.playbook(_Target(0, playbook_id, version)).fields)
        if matcher.field not in declared:
            document = self.mapping.document
            mark = document.mark((*matcher.path[:-1], "field")) if document else None
            raise ActivityMappingError(
                Message("error.activity_mapping.no_such_field", field=matcher.field),
                hint=did_you_mean(matcher.field or "", sorted(declared)),
                file=self.mapping.file,
                line=mark.line if mark else None,
                column=mark.column if mark else None,
            )


def _fresh(
    store: DealStore, source: str, planned: Sequence[_Planned], report: ActivityReport
) -> list[_Planned]:
    """The planned activities whose key is neither stored already nor earlier in the file."""
    keys = sorted({item.key for item in planned})
    stored: set[str] = set()
    with store.database.connect() as connection:
        for start in range(0, len(keys), _CHUNK):
            query = select(ActivityKey.key).where(
                ActivityKey.source == source, ActivityKey.key.in_(keys[start : start + _CHUNK])
            )
            stored.update(connection.scalars(query))
    fresh: list[_Planned] = []
    seen: set[str] = set()
    for item in planned:
        if item.key in stored:
            report.already += 1
        elif item.key in seen:
            report.repeated += 1
        else:
            seen.add(item.key)
            fresh.append(item)
    return fresh


def _write(store: DealStore, source: str, fresh: Sequence[_Planned], now: datetime) -> None:
    """Every new activity, one version step of its deal each, in one transaction.

    Each deal's version and last activity are stepped with one UPDATE; the
    activities, then their keys, are written with one multi-row INSERT each.
    """
    by_deal: dict[int, list[_Planned]] = defaultdict(list)
    for item in fresh:
        by_deal[item.deal].append(item)
    rows: list[dict[str, Any]] = []
    keys: list[str] = []
    with store.database.transaction(write=True) as session:
        connection = session.connection()
        for deal_id, items in by_deal.items():
            items.sort(key=lambda item: item.at)
            version, stage = _step(connection, deal_id, len(items), items[-1].at, now)
            for number, item in enumerate(items, start=version - len(items) + 1):
                rows.append(_activity(deal_id, item, stage, number))
                keys.append(item.key)
        written = insert(_ACTIVITIES).returning(_ACTIVITIES.c.id, sort_by_parameter_order=True)
        ids = connection.execute(written, rows).scalars().all()
        connection.execute(
            insert(_KEYS),
            [
                {"source": source, "key": key, "activity_id": activity_id, "imported_at": now}
                for key, activity_id in zip(keys, ids, strict=True)
            ],
        )


def _step(
    connection: Connection, deal_id: int, count: int, latest: datetime, now: datetime
) -> tuple[int, str]:
    """Add ``count`` to the deal's version, move its last activity to ``latest`` if later."""
    # Core statements on the table: the ORM's bulk UPDATE machinery costs more than the write.
    later = case(
        (_DEALS.c.last_activity_at.is_(None) | (_DEALS.c.last_activity_at < latest), latest),
        else_=_DEALS.c.last_activity_at,
    )
    step = connection.execute(
        update(_DEALS)
        .where(_DEALS.c.id == deal_id)
        .values(
            version=_DEALS.c.version + count,
            last_activity_at=later,
            updated_at=now,
            updated_by=IMPORT_ACTOR,
        )
        .returning(_DEALS.c.version, _DEALS.c.stage)
    ).one()
    return step.version, step.stage


def _activity(deal_id: int, item: _Planned, stage: str, version: int) -> dict[str, Any]:
    return {
        "deal_id": deal_id,
        "kind": item.kind,
        "actor": item.actor,
        "at": item.at,
        "note": item.note,
        "stage": stage,
        "action_id": None,
        "evidence": item.evidence,
        "deal_version": version,
    }
