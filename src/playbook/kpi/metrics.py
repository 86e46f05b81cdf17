"""KPIs: the playbook's targets measured on the deal store's history, in SQL.

Every metric of the playbook format (``stage_entries``, ``conversion``,
``win_rate``, ``cycle_time``, ``time_in_stage``, ``pipeline_value``,
``weighted_pipeline``, ``won_deals``, ``won_value``, ``activity_count``,
``field_aggregate``, ``field_ratio``) is compiled to SQL that aggregates in
the database and returns one row per group: no deal row is ever pulled into
Python. The unit rows several KPIs read (entries into a stage, closings, open
deals, cycle times, stays) are built once per report, and KPIs over the same
unit rows, groups and filter share one query. Percentiles (median, p90)
interpolate between ranks like PostgreSQL's ``percentile_cont``, which SQLite
gets from window functions.

:func:`compute_kpis` measures the KPIs over a :class:`Period` (a year, quarter,
month, ISO week, or any range of days, in the playbook's timezone), grouped by
owner, team, manager, region or an enum field, and judges each figure against
its target: ``met``, ``on_track`` (on a linear pace, short of the target
still, in a running period), ``at_risk`` (behind that pace), ``missed`` or
``no_data``. docs/kpis.md gives each formula and its edge cases.
"""

from __future__ import annotations

import calendar as _calendar
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, Subquery, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from playbook.conditions.sql import to_sql
from playbook.errors import GroupingError, KpiError, PeriodError
from playbook.model import Kpi, Playbook, Stage
from playbook.store.db import Database
from playbook.store.fields import column_for
from playbook.store.models import Activity, Deal, Person, StageChange
from playbook.store.repository import LOG_KINDS

__all__ = [
    "BUILTIN_GROUPS",
    "CUMULATIVE_METRICS",
    "FunnelStep",
    "Histogram",
    "KpiReport",
    "KpiResult",
    "Period",
    "PeriodKind",
    "Status",
    "compute_kpis",
    "current_period",
    "cycle_time_histogram",
    "funnel",
    "group_column",
    "judge",
    "parse_period",
    "period_between",
    "target_scale",
]

PeriodKind = Literal["week", "month", "quarter", "year"]
Status = Literal["met", "on_track", "at_risk", "missed", "no_data"]

BUILTIN_GROUPS: tuple[str, ...] = ("owner", "team", "manager", "region")
"""Groupings every store knows; any ``enum`` (or string, boolean) field is one too."""

CUMULATIVE_METRICS: frozenset[str] = frozenset(
    {"stage_entries", "won_deals", "won_value", "activity_count"}
)
"""Metrics that add up over time: their targets scale with the period and are paced."""

_PERIOD_FORMS: tuple[tuple[re.Pattern[str], PeriodKind], ...] = (
    (re.compile(r"(\d{4})"), "year"),
    (re.compile(r"(\d{4})-[Qq]([1-4])"), "quarter"),
    (re.compile(r"(\d{4})-(\d{1,2})"), "month"),
    (re.compile(r"(\d{4})-[Ww](\d{1,2})"), "week"),
)
_MONTHS_PER: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
_PERCENTILES: dict[str, tuple[int, int]] = {"median": (1, 2), "p90": (9, 10)}
_DIGITS = 6


# --- periods -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days ``first_day`` to ``last_day`` (inclusive) in ``timezone``.

    ``start`` and ``end`` are the instants that bound it (``end`` excluded);
    ``kind`` is set when the period is exactly one calendar week, month,
    quarter or year.
    """

    label: str
    first_day: date
    last_day: date
    timezone: str = "UTC"
    kind: PeriodKind | None = None

    @property
    def start(self) -> datetime:
        """Midnight at the start of ``first_day``, in the period's timezone."""
        return _midnight(self.first_day, self.timezone)

    @property
    def end(self) -> datetime:
        """Midnight after ``last_day``: the first instant not in the period."""
        return _midnight(self.last_day + timedelta(days=1), self.timezone)

    @property
    def days(self) -> int:
        """How many calendar days the period has."""
        return (self.last_day - self.first_day).days + 1

    def elapsed(self, now: datetime) -> float:
        """The share of the period that has passed at ``now``: 0 before it, 1 after it."""
        total = (self.end - self.start).total_seconds()
        passed = (now - self.start).total_seconds()
        return min(1.0, max(0.0, passed / total))

    def length_in(self, kind: PeriodKind) -> float:
        """How many periods of ``kind`` this period spans (months counted on the calendar)."""
        if kind == self.kind:
            return 1.0
        if kind == "week":
            return self.days / 7
        months = _months_between(self.first_day, self.last_day + timedelta(days=1))
        return months / _MONTHS_PER[kind]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: label, first and last day, kind, timezone."""
        return {
            "label": self.label,
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "kind": self.kind,
            "timezone": self.timezone,
        }


def parse_period(text: str, timezone: str = "UTC") -> Period:
    """The period named ``2017``, ``2017-Q4``, ``2017-12`` or ``2017-W52`` (ISO week).

    Raises :class:`~playbook.errors.PeriodError` for anything else.
    """
    raw = text.strip()
    for pattern, kind in _PERIOD_FORMS:
        found = pattern.fullmatch(raw)
        if found:
            first, last = _bounds(kind, *(int(part) for part in found.groups()), raw=raw)
            return Period(_label(kind, first), first, last, timezone, kind)
    raise PeriodError(
        f"{text!r} is not a period",
        hint="write a year (2017), a quarter (2017-Q4), a month (2017-12) or an ISO week "
        "(2017-W52), or give --from and --to dates",
        details={"period": text},
    )


def period_between(first: date | str, last: date | str, timezone: str = "UTC") -> Period:
    """The days from ``first`` to ``last``, both included (ISO dates accepted as text).

    Raises :class:`~playbook.errors.PeriodError` when a date does not parse or
    ``last`` is before ``first``.
    """
    start, stop = _day(first, "--from"), _day(last, "--to")
    if stop < start:
        raise PeriodError(
            f"the period ends ({stop.isoformat()}) before it starts ({start.isoformat()})",
            hint="give --from the earlier date and --to the later one",
        )
    kinds: tuple[PeriodKind, ...] = ("year", "quarter", "month", "week")
    for kind in kinds:
        exact = current_period(kind, _midnight(start, timezone), timezone)
        if (exact.first_day, exact.last_day) == (start, stop):
            return exact
    return Period(f"{start.isoformat()}..{stop.isoformat()}", start, stop, timezone)


def current_period(kind: PeriodKind, now: datetime, timezone: str = "UTC") -> Period:
    """The calendar ``kind`` (week, month, quarter, year) that contains ``now``."""
    today = now.astimezone(zoneinfo.ZoneInfo(timezone)).date()
    if kind == "week":
        year, week, _ = today.isocalendar()
        first, last = _bounds("week", year, week, raw="")
    elif kind == "year":
        first, last = _bounds("year", today.year, raw="")
    elif kind == "quarter":
        first, last = _bounds("quarter", today.year, (today.month - 1) // 3 + 1, raw="")
    else:
        first, last = _bounds("month", today.year, today.month, raw="")
    return Period(_label(kind, first), first, last, timezone, kind)


def _bounds(kind: PeriodKind, year: int, part: int = 1, *, raw: str) -> tuple[date, date]:
    try:
        if kind == "year":
            return date(year, 1, 1), date(year, 12, 31)
        if kind == "quarter":
            return _month_span(year, 3 * part - 2, 3)
        if kind == "month":
            return _month_span(year, part, 1)
        monday = date.fromisocalendar(year, part, 1)
        return monday, monday + timedelta(days=6)
    except ValueError as error:
        raise PeriodError(
            f"{raw!r} is not a period: {error}",
            hint="months run 01-12 and ISO weeks 01-52 (53 in some years)",
            details={"period": raw},
        ) from error


def _month_span(year: int, month: int, count: int) -> tuple[date, date]:
    first = date(year, month, 1)
    last_month = month + count - 1
    return first, date(year, last_month, _calendar.monthrange(year, last_month)[1])


def _label(kind: PeriodKind, first: date) -> str:
    if kind == "year":
        return str(first.year)
    if kind == "quarter":
        return f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    if kind == "month":
        return f"{first.year}-{first.month:02d}"
    year, week, _ = first.isocalendar()
    return f"{year}-W{week:02d}"


def _day(value: date | str, option: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError as error:
        raise PeriodError(
            f"{option} {value!r} is not a date",
            hint="write an ISO date such as 2017-12-31",
            details={"option": option, "value": value},
        ) from error


def _midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zoneinfo.ZoneInfo(timezone))


def _months_between(first: date, end: date) -> float:
    """Whole calendar months from ``first`` to ``end``, plus the share of the month left over."""
    months = (end.year - first.year) * 12 + end.month - first.month
    if _add_months(first, months) > end:
        months -= 1
    anchor, following = _add_months(first, months), _add_months(first, months + 1)
    return months + (end - anchor).days / (following - anchor).days


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, _calendar.monthrange(year, month + 1)[1]))


# --- targets and status --------------------------------------------------------------------


def target_scale(kpi: Kpi, period: Period) -> float:
    """The factor applied to a cumulative KPI's targets for a report over ``period``.

    A target is declared for the KPI's ``period`` (a quarter, say); a report
    over two years holds eight of them. Ratios, averages and snapshots are not
    scaled (factor 1).
    """
    if kpi.metric not in CUMULATIVE_METRICS and not _cumulative_aggregate(kpi):
        return 1.0
    if kpi.period is None:
        return 1.0
    return period.length_in(kpi.period)  # type: ignore[arg-type]


def judge(
    value: float | None,
    target_min: float | None,
    target_max: float | None,
    *,
    cumulative: bool,
    elapsed: float,
) -> Status | None:
    """The status of a figure against its (already scaled) target.

    - None when there is no target; ``no_data`` when there is no figure;
    - a finished period (``elapsed`` = 1): ``met`` inside the target, else ``missed``;
    - a running period, cumulative figure: ``missed`` once over its ``max``;
      ``at_risk`` when behind the linear pace (``value < min × elapsed``, or
      ``value > max × elapsed``); ``met`` when inside the whole target
      already; else ``on_track`` (on pace, short of the target still);
    - a running period, other figures: ``met`` inside the target, else ``at_risk``.
    """
    if target_min is None and target_max is None:
        return None
    if value is None:
        return "no_data"
    inside = (target_min is None or value >= target_min) and (
        target_max is None or value <= target_max
    )
    if elapsed >= 1.0:
        return "met" if inside else "missed"
    if not cumulative:
        return "met" if inside else "at_risk"
    if target_max is not None and value > target_max:
        return "missed"
    behind = target_min is not None and value < target_min * elapsed
    ahead = target_max is not None and value > target_max * elapsed
    if behind or ahead:
        return "at_risk"
    return "met" if inside else "on_track"


def _gap(value: float | None, target_min: float | None, target_max: float | None) -> float | None:
    if value is None:
        return None
    if target_max is not None and (target_min is None or value > target_max):
        return _round(value - target_max)
    if target_min is not None:
        return _round(value - target_min)
    return None


def _cumulative_aggregate(kpi: Kpi) -> bool:
    return kpi.metric == "field_aggregate" and kpi.params.get("aggregate") in ("sum", "count")


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KpiResult:
    """One KPI figure for one group, with its target, gap and status.

    ``n`` is how many things the figure was computed from (deals, stays or
    activities; see docs/kpis.md for each metric).
    """

    kpi: Kpi
    group: Mapping[str, str | None]
    value: float | None
    n: int
    target_min: float | None
    target_max: float | None
    gap: float | None
    status: Status | None

    def title(self, playbook: Playbook, lang: str | None = None) -> str:
        """The KPI's title in ``lang`` (default: the playbook's language), else its id."""
        return playbook.label(self.kpi.title, lang, self.kpi.id)

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "metric", "group", "value", "target", "gap", "status", "n"}``."""
        target = {
            key: bound
            for key, bound in (("min", self.target_min), ("max", self.target_max))
            if bound is not None
        }
        return {
            "id": self.kpi.id,
            "metric": self.kpi.metric,
            "unit": self.kpi.unit or _default_unit(self.kpi.metric, self.kpi.params),
            "group": dict(self.group),
            "value": self.value,
            "target": target or None,
            "gap": self.gap,
            "status": self.status,
            "n": self.n,
        }


@dataclass(frozen=True, slots=True)
class KpiReport:
    """Every KPI figure of a playbook over one period, and notes on missing data."""

    playbook: Playbook
    period: Period
    computed_at: datetime
    results: tuple[KpiResult, ...]
    notes: tuple[str, ...] = ()
    by: tuple[str, ...] | None = None

    @property
    def elapsed(self) -> float:
        """The share of the period that had passed when the report was computed."""
        return self.period.elapsed(self.computed_at)

    def for_kpi(self, kpi_id: str) -> tuple[KpiResult, ...]:
        """The results of one KPI, one per group."""
        return tuple(result for result in self.results if result.kpi.id == kpi_id)

    def to_dict(self) -> dict[str, Any]:
        """``{"playbook", "period", "computed_at", "elapsed", "kpis": [...], "notes"}``."""
        return {
            "playbook": self.playbook.key,
            "period": self.period.to_dict(),
            "computed_at": self.computed_at.astimezone(UTC).isoformat(),
            "elapsed": round(self.elapsed, 4),
            "kpis": [result.to_dict() for result in self.results],
            "notes": list(self.notes),
        }


def _default_unit(metric: str, params: Mapping[str, Any]) -> str:
    if metric in ("conversion", "win_rate", "field_ratio"):
        return "ratio"
    if metric in ("cycle_time", "time_in_stage"):
        return "days"
    if metric in ("pipeline_value", "weighted_pipeline", "won_value"):
        return "money"
    if metric == "field_aggregate" and params.get("aggregate") != "count":
        return "score"
    return "count"


# --- computing -----------------------------------------------------------------------------


def compute_kpis(
    database: Database,
    playbook: Playbook,
    period: Period,
    *,
    now: datetime,
    by: Sequence[str] | None = None,
    kpi_ids: Sequence[str] | None = None,
) -> KpiReport:
    """Measure the playbook's KPIs over ``period`` in the store, each against its target.

    ``by`` replaces every KPI's own grouping (``()`` for overall figures);
    ``kpi_ids`` keeps only those KPIs. ``now`` decides how much of the period
    has passed (for the pace of a running period). Raises
    :class:`~playbook.errors.KpiError` when the playbook has no KPI or an
    unknown id is asked for, :class:`~playbook.errors.GroupingError` for an
    unknown grouping.
    """
    kpis = _chosen(playbook, kpi_ids)
    groupings = None if by is None else tuple(by)
    for kpi in kpis:
        for name in groupings if groupings is not None else kpi.by:
            group_column(name, playbook)
    measured: list[tuple[Kpi, tuple[str, ...], list[_Row]]] = []
    notes: list[str] = []
    with database.engine.connect() as connection:
        _without_jit(connection)
        jobs = [(kpi, tuple(groupings if groupings is not None else kpi.by)) for kpi in kpis]
        all_rows = _measure_all(_Units(connection, playbook, period), jobs)
        for (kpi, names), rows in zip(jobs, all_rows, strict=True):
            measured.append((kpi, names, rows))
            notes += _field_notes(connection, playbook, kpi, rows)
        results = [
            result
            for kpi, names, rows in _with_every_group(measured)
            for result in _judged(kpi, names, rows, period, now)
        ]
        if all(result.n == 0 for result in results):
            notes.append(_history_note(connection, playbook, period))
    return KpiReport(playbook, period, now, tuple(results), tuple(notes), groupings)


def _with_every_group(
    measured: list[tuple[Kpi, tuple[str, ...], list[_Row]]],
) -> list[tuple[Kpi, tuple[str, ...], list[_Row]]]:
    """Give each KPI a line for every group that another KPI of the same grouping has.

    A rep who logged calls but closed nothing then shows a win rate of "no
    data" instead of being left out of the win-rate lines.
    """
    seen: dict[tuple[str, ...], dict[tuple[Any, ...], None]] = {}
    for _kpi, names, rows in measured:
        if names:
            seen.setdefault(names, {}).update(dict.fromkeys(key for key, _, _ in rows))
    out = []
    for kpi, names, rows in measured:
        present = {key for key, _, _ in rows}
        missing = [key for key in seen.get(names, {}) if key not in present]
        out.append((kpi, names, rows + [(key, _empty_value(kpi), 0) for key in missing]))
    return out


def _chosen(playbook: Playbook, kpi_ids: Sequence[str] | None) -> tuple[Kpi, ...]:
    if not playbook.kpis:
        raise KpiError(
            f"the playbook {playbook.key} declares no KPI",
            hint="add a `kpis:` section to the playbook (see docs/kpis.md)",
        )
    if not kpi_ids:
        return playbook.kpis
    known = {kpi.id: kpi for kpi in playbook.kpis}
    unknown = [kpi_id for kpi_id in kpi_ids if kpi_id not in known]
    if unknown:
        raise KpiError(
            f"the playbook {playbook.key} has no KPI {unknown[0]!r}",
            hint=f"its KPIs: {', '.join(known)}",
            details={"kpi": unknown[0]},
        )
    return tuple(known[kpi_id] for kpi_id in kpi_ids)


def _judged(
    kpi: Kpi,
    names: Sequence[str],
    rows: Sequence[tuple[tuple[Any, ...], float | None, int]],
    period: Period,
    now: datetime,
) -> list[KpiResult]:
    scale = target_scale(kpi, period)
    low = None if kpi.target_min is None else _round(kpi.target_min * scale)
    high = None if kpi.target_max is None else _round(kpi.target_max * scale)
    cumulative = kpi.metric in CUMULATIVE_METRICS or _cumulative_aggregate(kpi)
    if not rows:
        rows = [((None,) * len(names), _empty_value(kpi), 0)]
    return [
        KpiResult(
            kpi=kpi,
            group=dict(zip(names, (_group_text(v) for v in key), strict=True)) if names else {},
            value=value,
            n=n,
            target_min=low,
            target_max=high,
            gap=_gap(value, low, high),
            status=judge(value, low, high, cumulative=cumulative, elapsed=period.elapsed(now)),
        )
        for key, value, n in sorted(rows, key=_group_order)
    ]


def _group_order(row: tuple[tuple[Any, ...], float | None, int]) -> tuple[Any, ...]:
    return tuple((value is None, str(value)) for value in row[0])


def _group_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _empty_value(kpi: Kpi) -> float | None:
    """The figure over nothing: 0 for counts and sums, no data for ratios and averages."""
    if kpi.metric in ("stage_entries", "won_deals", "won_value", "activity_count"):
        return 0
    if kpi.metric in ("pipeline_value", "weighted_pipeline"):
        return 0
    if kpi.metric == "field_aggregate" and kpi.params.get("aggregate") in ("sum", "count"):
        return 0
    return None


# --- the SQL -------------------------------------------------------------------------------


class _DaysBetween(FunctionElement[float]):
    """Days (fractional) from ``earlier`` to ``later``; NULL when either is NULL."""

    type = sa.Float()
    inherit_cache = True


@compiles(_DaysBetween)
def _days_sqlite(element: _DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(julianday({later}) - julianday({earlier}))"


@compiles(_DaysBetween, "postgresql")
def _days_postgres(element: _DaysBetween, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(CAST(EXTRACT(EPOCH FROM ({later}) - ({earlier})) AS DOUBLE PRECISION) / 86400.0)"


class _Floor(FunctionElement[int]):
    """The integer part of a non-negative number."""

    type = sa.Integer()
    inherit_cache = True


@compiles(_Floor)
def _floor_sqlite(element: _Floor, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite truncates when casting, which is the floor of a non-negative number.
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@compiles(_Floor, "postgresql")
def _floor_postgres(element: _Floor, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL rounds when casting: take the floor first.
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS INTEGER)"


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one metric measures: unit rows (one per deal, stay or activity) and their aggregate.

    ``aggregate`` is one of ``count``, ``sum``, ``share`` (mean of a 0/1
    flag), ``ratio`` (sum of ``x`` / sum of ``y``), ``mean``, ``min``, ``max``,
    ``count_values``, ``median``, ``p90``. ``only`` names a 0/1 column of the
    units: the plan then measures only the rows where it is 1.
    """

    units: sa.FromClause
    aggregate: str
    x: Callable[[sa.FromClause], ColumnElement[Any]] | None = None
    y: Callable[[sa.FromClause], ColumnElement[Any]] | None = None
    only: str | None = None


_Row = tuple[tuple[Any, ...], float | None, int]


def _measure_all(units: _Units, jobs: Sequence[tuple[Kpi, tuple[str, ...]]]) -> list[list[_Row]]:
    """The rows of each KPI of ``jobs`` (a KPI and its groupings), in order.

    KPIs that read the same shared unit rows with the same groups and ``where``
    (win rate, won deals, won value and field aggregates over the closings)
    are measured by one query: the join to the deals is then done once.
    SQLite's percentiles need a query of their own (window functions).
    """
    plans = [_plan(units, kpi) for kpi, _names in jobs]
    windowed = units.connection.dialect.name != "postgresql"
    batches: dict[tuple[Any, ...], list[int]] = {}
    for index, ((kpi, names), plan) in enumerate(zip(jobs, plans, strict=True)):
        where = None if kpi.where is None else kpi.where.text
        alone = windowed and plan.aggregate in _PERCENTILES
        key = (index,) if alone else (id(plan.units), names, where)
        batches.setdefault(key, []).append(index)
    found: list[list[_Row]] = [[] for _ in jobs]
    for members in batches.values():
        kpi, names = jobs[members[0]]
        measured = _measure(units, kpi, names, [plans[index] for index in members])
        for index, rows in zip(members, measured, strict=True):
            found[index] = rows
    return found


def _measure(
    units: _Units, kpi: Kpi, names: Sequence[str], plans: Sequence[_Plan]
) -> list[list[_Row]]:
    """The rows of each plan, all over the same units, groups and ``kpi.where``, in one query."""
    groups = [group_column(name, units.playbook) for name in names]
    dialect = units.connection.dialect.name
    query, widths = _aggregated(units.playbook, kpi, plans, groups, names, dialect)
    width = len(groups)
    found: list[list[_Row]] = [[] for _ in plans]
    for row in units.connection.execute(query):
        start = width
        for rows, plan, size in zip(found, plans, widths, strict=True):
            rows.append(_finish(plan.aggregate, (*row[:width], *row[start : start + size]), width))
            start += size
    return found


def group_column(name: str, playbook: Playbook) -> ColumnElement[Any]:
    """The SQL expression a KPI groups by: a people column or a deal field.

    ``team``, ``manager`` and ``region`` come from the deal, else from the
    owner's row in ``people``. Raises :class:`~playbook.errors.GroupingError`
    for anything that is neither built in nor an enum, string or boolean field.
    """
    if name == "owner":
        return Deal.owner.expression
    if name in BUILTIN_GROUPS:
        return func.coalesce(getattr(Deal, name), getattr(Person, name))
    spec = playbook.fields.get(name)
    if spec is not None and spec.kind in ("enum", "string", "boolean"):
        return column_for(name, spec.type)
    enums = [fid for fid, f in playbook.fields.items() if f.kind == "enum"]
    why = "is not a field of the playbook" if spec is None else f"is a {spec.kind} field"
    raise GroupingError(
        f"cannot group KPIs by {name!r}: it {why}",
        hint="group by " + ", ".join([*BUILTIN_GROUPS, *enums]),
        details={"by": name},
    )


def _aggregated(
    playbook: Playbook,
    kpi: Kpi,
    plans: Sequence[_Plan],
    groups: list[ColumnElement[Any]],
    names: Sequence[str],
    dialect: str,
) -> tuple[_Query, list[int]]:
    """The query measuring ``plans`` and how many columns each reads.

    On SQLite a percentile plan comes alone: its query ranks the rows with
    window functions. PostgreSQL has ``percentile_cont`` built in.
    """
    units = plans[0].units
    source: Any = units.join(Deal, Deal.id == units.c.deal_id)
    if any(name in BUILTIN_GROUPS[1:] for name in names):
        source = source.outerjoin(Person, Person.name == Deal.owner)
    filters: list[ColumnElement[bool]] = [Deal.playbook_id == playbook.id]
    if kpi.where is not None:
        filters.append(to_sql(kpi.where.expr, column_for))
    labelled = [column.label(f"g{i}") for i, column in enumerate(groups)]
    if dialect != "postgresql" and plans[0].aggregate in _PERCENTILES:
        return _ranked_percentile(plans[0], labelled, source, filters), [2]
    measures = [_measures(plan) for plan in plans]
    query = select(*labelled, *(m for ms in measures for m in ms)).select_from(source)
    query = query.where(*filters)
    return (query.group_by(*groups) if groups else query), [len(ms) for ms in measures]


def _kept(plan: _Plan, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """``value`` on the rows the plan measures (see ``only``), else NULL."""
    return value if plan.only is None else case((plan.units.c[plan.only] == 1, value))


def _measures(plan: _Plan) -> list[ColumnElement[Any]]:
    x = _kept(plan, plan.x(plan.units)) if plan.x is not None else None
    every = func.count() if plan.only is None else func.count(_kept(plan, sa.literal(1)))
    if plan.aggregate == "count":
        return [every]
    assert x is not None
    if plan.aggregate in ("sum", "share"):
        return [func.sum(x), every]
    if plan.aggregate == "ratio":
        assert plan.y is not None
        y = _kept(plan, plan.y(plan.units))
        both = sa.and_(x.is_not(None), y.is_not(None))
        return [func.sum(case((both, x))), func.sum(case((both, y))), func.count(case((both, 1)))]
    if plan.aggregate == "mean":
        return [func.sum(x), func.count(x)]
    if plan.aggregate in ("min", "max"):
        return [getattr(func, plan.aggregate)(x), func.count(x)]
    if plan.aggregate in _PERCENTILES:
        numerator, denominator = _PERCENTILES[plan.aggregate]
        fraction = sa.literal(numerator / denominator, sa.Float())
        return [func.percentile_cont(fraction).within_group(x), func.count(x)]
    return [func.count(x), func.count(x)]  # count_values


def _ranked_percentile(
    plan: _Plan,
    groups: list[sa.Label[Any]],
    source: Any,
    filters: list[ColumnElement[bool]],
) -> _Query:
    """Linear interpolation between the two closest ranks, as ``percentile_cont`` does."""
    assert plan.x is not None
    x = _kept(plan, plan.x(plan.units))
    numerator, denominator = _PERCENTILES[plan.aggregate]
    partition = list(groups) or None
    ranked = (
        select(
            *groups,
            x.label("x"),
            func.row_number().over(partition_by=partition, order_by=x).label("rn"),
            func.count().over(partition_by=partition).label("cnt"),
        )
        .select_from(source)
        .where(*filters, x.is_not(None))
        .subquery()
    )
    # Integer arithmetic: the same floor and remainder on both databases.
    position = (ranked.c.cnt - 1) * numerator
    low = position // denominator + 1
    share = (position % denominator) * 1.0 / denominator
    weighted = case(
        (ranked.c.rn == low, ranked.c.x * (1.0 - share)),
        (ranked.c.rn == low + 1, ranked.c.x * share),
        else_=0.0,
    )
    keys = [ranked.c[group.name] for group in groups]
    query = select(*keys, func.sum(weighted), func.max(ranked.c.cnt))
    return query.group_by(*keys) if keys else query


def _finish(aggregate: str, row: Sequence[Any], width: int) -> _Row:
    key, measured = tuple(row[:width]), [_number(value) for value in row[width:]]
    if aggregate == "count":
        count = int(measured[0] or 0)
        return key, count, count
    if aggregate == "sum":
        return key, _round(measured[0] or 0), int(measured[1] or 0)
    if aggregate == "share":
        size = int(measured[1] or 0)
        return key, _round((measured[0] or 0) / size) if size else None, size
    if aggregate == "ratio":
        top, bottom, size = measured[0], measured[1], int(measured[2] or 0)
        return key, _round(top / bottom) if top is not None and bottom else None, size
    if aggregate == "mean":
        size = int(measured[1] or 0)
        return key, _round(measured[0] / size) if size and measured[0] is not None else None, size
    if aggregate == "count_values":
        return key, int(measured[0] or 0), int(measured[1] or 0)
    size = int(measured[1] or 0)
    value = measured[0]
    return key, _round(value) if size and value is not None else None, size


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, Decimal | int):
        return float(value)
    return float(value)


def _round(value: float) -> float:
    rounded = round(float(value), _DIGITS)
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


# --- the unit rows of each metric ----------------------------------------------------------

_Query = Select[*tuple[Any, ...]]


class _Units:
    """The unit rows of one report's KPIs, over one period, on one connection.

    Entries into a stage, closings, open deals and cycle times are read by
    several KPIs each (leads and the conversion from leads read the same
    entries; win rate, won deals, won value and field aggregates the same
    closings); stays hold a correlated subquery that SQLite would evaluate
    twice if it were inlined. They are built once per report, as temporary
    tables that vanish with the report's transaction. Where the database
    refuses temporary tables (a read-only transaction, a hot standby, a role
    without the TEMP privilege) they are computed inline in each query instead.
    """

    def __init__(self, connection: sa.Connection, playbook: Playbook, period: Period) -> None:
        self.connection = connection
        self.playbook = playbook
        self.period = period
        self._built: dict[tuple[str, ...], sa.FromClause] = {}
        self._temporary = True

    def entries(self, stage: str) -> sa.FromClause:
        """Deals that entered ``stage`` in the period: ``deal_id, version`` (of the first entry)."""
        return self._shared(("entries", stage), lambda: _entries(stage, self.period))

    def closings(self) -> sa.FromClause:
        """Each deal's close in the period: ``deal_id, to_stage, at, deal_version, won``."""
        return self._shared(("closings",), lambda: _closings(self.playbook, self.period))

    def open_at_end(self) -> sa.FromClause:
        """Deals open at the end of the period: ``deal_id, stage``."""
        return self._shared(("open",), lambda: _open_at_end(self.playbook, self.period))

    def cycles(self, outcome: str, start_stage: str) -> sa.FromClause:
        """Cycle times of the deals closed in the period with ``outcome``: ``deal_id, days``."""
        build = lambda: _cycles(self.playbook, self.closings(), outcome, start_stage)  # noqa: E731
        return self._shared(("cycles", outcome, start_stage), build)

    def stays(self, stage: str) -> sa.FromClause:
        """Stays in ``stage`` that ended in the period: ``deal_id, days``."""
        return self._shared(("stays", stage), lambda: _stays(stage, self.period))

    def _shared(self, key: tuple[str, ...], build: Callable[[], _Query]) -> sa.FromClause:
        found = self._built.get(key)
        if found is None:
            found = self._built[key] = self._materialized(build())
        return found

    def _materialized(self, query: _Query) -> sa.FromClause:
        if not self._temporary:
            return query.subquery()
        columns = [sa.Column(column.name, column.type) for column in query.selected_columns]
        table = sa.Table(
            f"kpi_units_{len(self._built)}", sa.MetaData(), *columns, prefixes=["TEMPORARY"]
        )
        try:
            with self.connection.begin_nested():
                table.create(self.connection)
                self.connection.execute(sa.insert(table).from_select(list(table.c.keys()), query))
        except sa.exc.DBAPIError:
            self._temporary = False
            return query.subquery()
        if self.connection.dialect.name == "postgresql":
            # The planner has no statistics on a new table until it is analysed.
            self.connection.execute(sa.text(f"ANALYZE {table.name}"))
        return table


def _without_jit(connection: sa.Connection) -> None:
    """Turn PostgreSQL's JIT compiler off for the report's transaction.

    The estimated cost of a correlated subquery over a few hundred thousand
    rows makes PostgreSQL compile the query with inlining and optimisation,
    which took longer (0.6 s for the conversion query of bench/kpi.py) than
    the query itself takes without it.
    """
    version = connection.dialect.server_version_info or (0,)
    if connection.dialect.name == "postgresql" and version >= (11,):
        connection.execute(sa.text("SET LOCAL jit = off"))


def _in(column: Any, period: Period) -> ColumnElement[bool]:
    return sa.and_(column >= period.start, column < period.end)


def _stage_ids(playbook: Playbook, test: Callable[[Stage], bool]) -> list[str]:
    return [stage.id for stage in playbook.stages if test(stage)]


def _entries(stage: str, period: Period) -> _Query:
    """Deals that entered ``stage`` in the period, once each, with the version of their first
    entry in the period, in deal order."""
    return (
        select(StageChange.deal_id, func.min(StageChange.deal_version).label("version"))
        .where(StageChange.to_stage == stage, _in(StageChange.at, period))
        .group_by(StageChange.deal_id)
        # In deal order, the probes of a conversion walk the history index from start to end
        # instead of jumping around it: about twice as fast on both databases.
        .order_by(StageChange.deal_id)
    )


def _closings(playbook: Playbook, period: Period) -> _Query:
    """Each deal's last close in the period: its last move from an open stage to a closed one."""
    closed = _stage_ids(playbook, lambda stage: stage.is_closed)
    open_ = _stage_ids(playbook, lambda stage: stage.is_open)
    won = _stage_ids(playbook, lambda stage: stage.outcome == "won")
    # Only the period's closes are read (an index range), and the last one of a deal is picked
    # among them, instead of joining every close back to its deal's latest version.
    closes = (
        select(
            StageChange.deal_id,
            StageChange.to_stage,
            StageChange.at,
            StageChange.deal_version,
            case((StageChange.to_stage.in_(won), 1), else_=0).label("won"),
            func.row_number()
            .over(partition_by=StageChange.deal_id, order_by=StageChange.deal_version.desc())
            .label("latest"),
        )
        .where(
            StageChange.to_stage.in_(closed),
            sa.or_(StageChange.from_stage.is_(None), StageChange.from_stage.in_(open_)),
            _in(StageChange.at, period),
        )
        .subquery()
    )
    return select(
        closes.c.deal_id, closes.c.to_stage, closes.c.at, closes.c.deal_version, closes.c.won
    ).where(closes.c.latest == 1)


def _reach(playbook: Playbook, target: str) -> list[str]:
    """The stages whose entry counts as reaching ``target``: it, or a later non-lost stage."""
    stage = playbook.stage(target)
    if stage is None or stage.outcome == "lost":
        return [target]
    return [target] + [
        later.id
        for later in playbook.stages
        if later.index > stage.index and later.outcome != "lost"
    ]


def _reached(playbook: Playbook, target: str) -> Callable[[sa.FromClause], ColumnElement[Any]]:
    """1 for a cohort member (see :func:`_entries`) that later reached ``target``, else 0."""
    stages = _reach(playbook, target)

    def read(cohort: sa.FromClause) -> ColumnElement[Any]:
        later = aliased(StageChange)
        # A constant, not `*`: the probe then reads only the history index, never the table.
        reached = (
            select(sa.literal(1))
            .where(
                later.deal_id == cohort.c.deal_id,
                later.deal_version > cohort.c.version,
                later.to_stage.in_(stages),
            )
            .exists()
        )
        return case((reached, 1), else_=0)

    return read


def _cycles(playbook: Playbook, closings: sa.FromClause, outcome: str, start_stage: str) -> _Query:
    """Days from the first entry into ``start_stage`` before the close to the close (NULL when
    the deal never entered it), for the closes into an ``outcome`` stage."""
    ends = _stage_ids(playbook, lambda stage: stage.outcome == outcome)
    # One probe of the deal's history per close, rather than a join with every entry into the
    # start stage there ever was.
    started = (
        select(func.min(StageChange.at))
        .where(
            StageChange.deal_id == closings.c.deal_id,
            StageChange.to_stage == start_stage,
            StageChange.deal_version < closings.c.deal_version,
        )
        .scalar_subquery()
    )
    return select(closings.c.deal_id, _DaysBetween(closings.c.at, started).label("days")).where(
        closings.c.to_stage.in_(ends)
    )


def _cycle_params(playbook: Playbook, kpi: Kpi) -> tuple[str, str]:
    outcome = str(kpi.params.get("outcome", "won"))
    return outcome, str(kpi.params.get("from_stage") or playbook.first_stage.id)


def _stays(stage: str, period: Period) -> _Query:
    """Stays in ``stage`` that ended in the period, with their length in days."""
    leaving = (
        select(StageChange.deal_id, StageChange.deal_version, StageChange.at)
        .where(StageChange.from_stage == stage, _in(StageChange.at, period))
        .order_by(StageChange.deal_id)  # the probes then walk the history index in order
        .subquery()
    )
    # The stay began with the deal's previous stage change: one index probe per stay, not a
    # window over the whole history of every deal that left the stage.
    entered = (
        select(StageChange.at)
        .where(
            StageChange.deal_id == leaving.c.deal_id,
            StageChange.deal_version < leaving.c.deal_version,
        )
        .order_by(StageChange.deal_version.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(leaving.c.deal_id, _DaysBetween(leaving.c.at, entered).label("days"))


def _open_at_end(playbook: Playbook, period: Period) -> _Query:
    """Deals whose last stage change before the period's end put them in an open stage."""
    open_ = _stage_ids(playbook, lambda stage: stage.is_open)
    if not open_:
        return select(StageChange.deal_id, StageChange.to_stage.label("stage")).where(sa.false())
    # One pass over the history and no join back: each change is coded version × codes + its
    # stage (open stages 0..n-1, any other stage n); a deal's largest code is its last change
    # before the end, and the remainder says in which stage that change left it.
    codes = len(open_) + 1
    stage_code = case(
        *((StageChange.to_stage == stage, code) for code, stage in enumerate(open_)),
        else_=len(open_),
    )
    version = sa.cast(StageChange.deal_version, sa.BigInteger())
    last = (
        select(StageChange.deal_id, func.max(version * codes + stage_code).label("code"))
        .where(StageChange.at < period.end)
        .group_by(StageChange.deal_id)
        .subquery()
    )
    code = last.c.code % codes
    stage = case(*((code == index, sa.literal(stage)) for index, stage in enumerate(open_)))
    return select(last.c.deal_id, stage.label("stage")).where(code < len(open_))


def _activities(kpi: Kpi, period: Period) -> Subquery:
    kinds = [kpi.params["activity"]] if kpi.params.get("activity") else list(LOG_KINDS)
    return (
        select(Activity.deal_id)
        .where(Activity.kind.in_(kinds), _in(Activity.at, period))
        .subquery()
    )


def _field(playbook: Playbook, name: str) -> Callable[[sa.FromClause], ColumnElement[Any]]:
    spec = playbook.fields.get(name)
    if spec is None:
        raise KpiError(
            f"the KPI reads the field {name!r}, which the playbook does not declare",
            hint="declare it under `fields:` or fix the KPI",
            details={"field": name},
        )
    column = column_for(name, spec.type)
    if spec.kind == "boolean":
        column = case((column.is_(None), None), (column, 1), else_=0)
    return lambda _units: column


def _weighted(playbook: Playbook, name: str) -> Callable[[sa.FromClause], ColumnElement[Any]]:
    value = _field(playbook, name)
    odds = {stage.id: stage.probability or 0.0 for stage in playbook.stages if stage.is_open}

    def read(units: sa.FromClause) -> ColumnElement[Any]:
        probability = case(
            *((units.c.stage == sid, sa.literal(p, sa.Float())) for sid, p in odds.items()),
            else_=sa.literal(0.0, sa.Float()),
        )
        return sa.cast(value(units), sa.Float()) * probability

    return read


def _days(units: sa.FromClause) -> ColumnElement[Any]:
    return units.c.days


def _flag(column: str) -> Callable[[sa.FromClause], ColumnElement[Any]]:
    return lambda units: units.c[column]


def _plan(units: _Units, kpi: Kpi) -> _Plan:
    builder = _PLANS.get(kpi.metric)
    if builder is None:
        raise KpiError(
            f"KPI {kpi.id!r}: unknown metric {kpi.metric!r}",
            hint="see docs/kpis.md for the metrics",
            details={"kpi": kpi.id},
        )
    return builder(units, kpi)


def _param(kpi: Kpi, name: str) -> str:
    value = kpi.params.get(name)
    if not value:
        raise KpiError(
            f"KPI {kpi.id!r}: metric {kpi.metric!r} needs `{name}`",
            hint="run `playbook validate` on the playbook",
            details={"kpi": kpi.id},
        )
    return str(value)


def _statistic(kpi: Kpi) -> str:
    return str(kpi.params.get("statistic") or "mean")


_AGGREGATES = {"mean": "mean", "sum": "sum", "min": "min", "max": "max", "count": "count_values"}

_PLANS: dict[str, Callable[[_Units, Kpi], _Plan]] = {
    "stage_entries": lambda u, kpi: _Plan(u.entries(_param(kpi, "stage")), "count"),
    "conversion": lambda u, kpi: _Plan(
        u.entries(_param(kpi, "from_stage")),
        "share",
        _reached(u.playbook, _param(kpi, "to_stage")),
    ),
    "win_rate": lambda u, kpi: _Plan(u.closings(), "share", _flag("won")),
    "won_deals": lambda u, kpi: _Plan(u.closings(), "count", only="won"),
    "won_value": lambda u, kpi: _Plan(
        u.closings(), "sum", _field(u.playbook, _param(kpi, "field")), only="won"
    ),
    "cycle_time": lambda u, kpi: _Plan(
        u.cycles(*_cycle_params(u.playbook, kpi)), _statistic(kpi), _days
    ),
    "time_in_stage": lambda u, kpi: _Plan(u.stays(_param(kpi, "stage")), _statistic(kpi), _days),
    "pipeline_value": lambda u, kpi: _Plan(
        u.open_at_end(), "sum", _field(u.playbook, _param(kpi, "field"))
    ),
    "weighted_pipeline": lambda u, kpi: _Plan(
        u.open_at_end(), "sum", _weighted(u.playbook, _param(kpi, "field"))
    ),
    "activity_count": lambda u, kpi: _Plan(_activities(kpi, u.period), "count"),
    "field_aggregate": lambda u, kpi: _Plan(
        u.closings(),
        _AGGREGATES[_param(kpi, "aggregate")],
        _field(u.playbook, _param(kpi, "field")),
    ),
    "field_ratio": lambda u, kpi: _Plan(
        u.closings(),
        "ratio",
        _field(u.playbook, _param(kpi, "field")),
        _field(u.playbook, _param(kpi, "denominator")),
    ),
}


# --- notes on missing data -----------------------------------------------------------------


def _field_notes(
    connection: sa.Connection, playbook: Playbook, kpi: Kpi, rows: Sequence[_Row]
) -> list[str]:
    names = [kpi.params[key] for key in ("field", "denominator") if kpi.params.get(key)]
    if not names or any(n for _, _, n in rows):
        return []
    notes = []
    for name in names:
        spec = playbook.fields[name]
        found = connection.execute(
            select(Deal.id)
            .where(Deal.playbook_id == playbook.id, column_for(name, spec.type).is_not(None))
            .limit(1)
        ).first()
        if found is None:
            notes.append(
                f"KPI {kpi.id!r}: no deal of {playbook.id} has a value for the field {name!r}; "
                "fill it (or map it in the import) to measure this KPI"
            )
    return notes


def _history_note(connection: sa.Connection, playbook: Playbook, period: Period) -> str:
    count, first, last = connection.execute(
        select(func.count(), func.min(StageChange.at), func.max(StageChange.at))
        .select_from(StageChange)
        .join(Deal, Deal.id == StageChange.deal_id)
        .where(Deal.playbook_id == playbook.id)
    ).one()
    span = f"{period.first_day.isoformat()} to {period.last_day.isoformat()}"
    if not count:
        return (
            f"the store holds no deal of {playbook.id}: import deals with "
            "`playbook deals import` or create them with the engine"
        )
    if first == last:
        return (
            f"all {count} stage changes of {playbook.id} are dated {_day_of(first)}: the deals "
            "were imported without dates, so there is no history to measure; map the date "
            "columns (stage_dates) in the import mapping and import again"
        )
    return (
        f"no deal history of {playbook.id} from {span}; "
        f"the store's history runs from {_day_of(first)} to {_day_of(last)}"
    )


def _day_of(moment: Any) -> str:
    return moment.date().isoformat() if isinstance(moment, datetime) else str(moment)[:10]


# --- funnel and distribution (for the HTML report) -----------------------------------------


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """One stage of the funnel: deals that entered it in the period, and the cohort conversion
    from it to the next stage (None for the last one or when no deal entered it)."""

    stage: Stage
    entered: int
    conversion: float | None


def funnel(database: Database, playbook: Playbook, period: Period) -> tuple[FunnelStep, ...]:
    """Deals entering each open and won stage in the period, and the conversion between
    adjacent ones (``conversion`` metric semantics)."""
    path = [stage for stage in playbook.stages if stage.outcome != "lost"]
    with database.engine.connect() as connection:
        _without_jit(connection)
        counts = _entry_counts(connection, playbook, period)
        units = _Units(connection, playbook, period)
        steps = []
        for stage, following in zip(path, [*path[1:], None], strict=True):
            rate = None
            if following is not None and stage.is_open:
                plan = _Plan(units.entries(stage.id), "share", _reached(playbook, following.id))
                kpi = Kpi(id="funnel", metric="conversion")
                query = _aggregated(playbook, kpi, [plan], [], (), connection.dialect.name)[0]
                rows = connection.execute(query).all()
                rate = _finish("share", rows[0], 0)[1] if rows else None
            steps.append(FunnelStep(stage, counts.get(stage.id, 0), rate))
    return tuple(steps)


def _entry_counts(connection: sa.Connection, playbook: Playbook, period: Period) -> dict[str, int]:
    query = (
        select(StageChange.to_stage, func.count(sa.distinct(StageChange.deal_id)))
        .join(Deal, Deal.id == StageChange.deal_id)
        .where(Deal.playbook_id == playbook.id, _in(StageChange.at, period))
        .group_by(StageChange.to_stage)
    )
    return {stage: int(count) for stage, count in connection.execute(query)}


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cycle times of deals closed in a period, in bins of ``width`` days."""

    outcome: str
    width: int
    counts: tuple[int, ...]
    n: int
    median: float | None
    mean: float | None


_WIDTHS = (1, 2, 5, 7, 10, 14, 15, 20, 30, 60, 90, 180, 365)


def cycle_time_histogram(
    database: Database, playbook: Playbook, period: Period, *, outcome: str = "won", bins: int = 12
) -> Histogram:
    """The distribution of cycle times (first stage to ``outcome``) of deals closed in the period,
    binned in SQL into at most ``bins`` bins of a round width."""
    kpi = Kpi(id="histogram", metric="cycle_time", params={"outcome": outcome})
    with database.engine.connect() as connection:
        _without_jit(connection)
        cycles = _Units(connection, playbook, period).cycles(*_cycle_params(playbook, kpi))
        joined = cycles.join(Deal, Deal.id == cycles.c.deal_id)
        mine = [Deal.playbook_id == playbook.id, cycles.c.days.is_not(None)]
        n, total, longest = connection.execute(
            select(func.count(), func.sum(cycles.c.days), func.max(cycles.c.days))
            .select_from(joined)
            .where(*mine)
        ).one()
        if not n:
            return Histogram(outcome, 1, (), 0, None, None)
        width = next((w for w in _WIDTHS if float(longest) / w < bins), _WIDTHS[-1])
        bucket = _Floor(cycles.c.days / width)
        rows = connection.execute(
            select(bucket, func.count()).select_from(joined).where(*mine).group_by(bucket)
        ).all()
        plan = _Plan(cycles, "median", _days)
        query = _aggregated(playbook, kpi, [plan], [], (), connection.dialect.name)[0]
        median_rows = connection.execute(query).all()
    counts = [0] * (max(int(b) for b, _ in rows) + 1)
    for index, count in rows:
        counts[max(0, int(index))] += int(count)
    median = _finish("median", median_rows[0], 0)[1] if median_rows else None
    return Histogram(outcome, width, tuple(counts), int(n), median, _round(float(total) / n))
