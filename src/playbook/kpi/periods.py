"""KPI periods: a year, quarter, month, ISO week or any range of days, in a timezone.

A :class:`Period` is whole days in the playbook's timezone; it knows the
instants that bound it, how much of it has passed at a moment, and how many
weeks, months, quarters or years it spans (which scales cumulative targets).
Pure date arithmetic: no database, no clock (``now`` is always given).
"""

from __future__ import annotations

import calendar as _calendar
import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from playbook.errors import PeriodError
from playbook.i18n import Message

__all__ = [
    "Period",
    "PeriodKind",
    "current_period",
    "parse_period",
    "parse_week",
    "period_between",
]

PeriodKind = Literal["week", "month", "quarter", "year"]

_PERIOD_FORMS: tuple[tuple[re.Pattern[str], PeriodKind], ...] = (
    (re.compile(r"(\d{4})"), "year"),
    (re.compile(r"(\d{4})-[Qq]([1-4])"), "quarter"),
    (re.compile(r"(\d{4})-(\d{1,2})"), "month"),
    (re.compile(r"(\d{4})-[Ww](\d{1,2})"), "week"),
)
_MONTHS_PER: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}


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
            first, last = _in_range(first, last, raw)
            return Period(_label(kind, first), first, last, timezone, kind)
    raise PeriodError(
        Message("error.periods.not_period", text=text),
        hint=Message("error.periods.write_year_2017_quarter"),
        details={"period": text},
    )


def period_between(first: date | str, last: date | str, timezone: str = "UTC") -> Period:
    """The days from ``first`` to ``last``, both included (ISO dates accepted as text).

    Raises :class:`~playbook.errors.PeriodError` when a date does not parse or
    ``last`` is before ``first``.
    """
    start, stop = _day(first, "--from"), _day(last, "--to")
    start, stop = _in_range(start, stop, f"{start.isoformat()}..{stop.isoformat()}")
    if stop < start:
        raise PeriodError(
            Message(
                "error.periods.period_ends_before_starts",
                isoformat=stop.isoformat(),
                isoformat2=start.isoformat(),
            ),
            hint=Message("error.periods.give_from_earlier_date"),
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


def parse_week(text: str | None, now: datetime, timezone: str = "UTC") -> Period:
    """The ISO week named ``text`` (``2017-W52``), or the week that contains ``now`` without one.

    Raises :class:`~playbook.errors.PeriodError` when ``text`` is not a period
    or names a period that is not one ISO week.
    """
    week = parse_period(text, timezone) if text else current_period("week", now, timezone)
    if week.kind != "week":
        raise PeriodError(
            Message("error.periods.week_not_iso_week", text=text),
            hint=Message("error.periods.write_like_2017_w52"),
            details={"week": text},
        )
    return week


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
            Message("error.periods.not_period_2", raw=raw, error=error),
            hint=Message("error.periods.months_run_01_12"),
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


FIRST_YEAR, LAST_YEAR = 1900, 2999
"""The years a period may cover: every instant computed from it stays in range."""


def _in_range(first: date, last: date, raw: str) -> tuple[date, date]:
    if first.year >= FIRST_YEAR and last.year <= LAST_YEAR:
        return first, last
    raise PeriodError(
        Message(
            "error.periods.outside_years_reports_cover",
            raw=raw,
            FIRST_YEAR=FIRST_YEAR,
            LAST_YEAR=LAST_YEAR,
        ),
        hint=Message("error.periods.give_period_between_1900"),
        details={"period": raw},
    )


def _day(value: date | str, option: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError as error:
        raise PeriodError(
            Message("error.periods.not_date", option=option, value=value),
            hint=Message("error.periods.write_iso_date_such"),
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
