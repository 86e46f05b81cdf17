"""Working days and due times, in the playbook's timezone.

A :class:`WorkingCalendar` answers two questions for the engine and the
escalation sweep: is this date a working day, and when is ``start + duration``.
Working days are the playbook's ``weekdays`` minus the public holidays of its
``holidays`` country (from the ``holidays`` package, imported only when a
calendar names a country) and its ``extra_holidays``, plus make-up working days
(调休): the country's own make-up days where the ``holidays`` package knows them
(China's, for example), and the playbook's ``extra_workdays``.

Precedence, from strongest: ``extra_holidays``, ``extra_workdays``, country
holidays, country make-up days, weekdays. So a date listed in ``extra_workdays``
is a working day even when the country calls it a holiday.

Durations are computed on the local wall clock of the playbook's timezone and
returned as timezone-aware UTC datetimes: ``{days: 1}`` from 09:00 is 09:00 the
next day even across a daylight-saving change, while ``{hours: 24}`` is exactly
24 elapsed hours.
"""

from __future__ import annotations

import math
import zoneinfo
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from playbook.errors import InvalidPlaybookError, MissingClockError
from playbook.i18n import Message
from playbook.model import Calendar, Duration, Playbook

__all__ = ["DEFAULT_HOURS", "WorkingCalendar"]

DEFAULT_HOURS = (time(9, 0), time(18, 0))
"""Working hours used by ``working_hours`` durations when the calendar declares none."""

_MAX_SCAN_DAYS = 3700
"""How far a walk through working hours may go (about ten years) before it gives up."""

_MAX_SCAN_YEARS = 10
"""How many years past the start a working-day search looks before it gives up."""

_ONE_DAY = timedelta(days=1)


class WorkingCalendar:
    """The working-day calendar of one playbook: weekdays, holidays, make-up days, hours.

    Instances are immutable in behaviour; they cache country holidays per year,
    so share one per playbook (the engine does).
    """

    __slots__ = (
        "_calendar",
        "_country",
        "_ordinals",
        "_subdivision",
        "_tz",
        "_years",
        "_years_covered",
    )

    def __init__(self, calendar: Calendar | None = None, timezone: str | tzinfo = "UTC") -> None:
        self._calendar = calendar or Calendar()
        self._tz = zoneinfo.ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        self._country, self._subdivision = _split_country(self._calendar.holidays_country)
        self._years: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
        # Sorted ordinals of every working day in the covered years (empty range: (1, 0)):
        # counting and stepping working days is then two bisections, not a walk.
        self._ordinals: list[int] = []
        self._years_covered = (1, 0)
        if not self._calendar.weekdays and not self._calendar.extra_workdays:
            raise InvalidPlaybookError(
                Message("error.calendar.calendar_has_no_working_2"),
                [],
                code="PB318",
                path="calendar.weekdays",
            )

    @classmethod
    def from_playbook(cls, playbook: Playbook) -> WorkingCalendar:
        """The calendar of ``playbook``, in its timezone.

        Raises :class:`~playbook.errors.InvalidPlaybookError` (``PB318``) when the
        holiday country is not one the ``holidays`` package knows.
        """
        calendar = cls(playbook.calendar, playbook.timezone)
        if calendar._country is not None:
            calendar._holiday_factory()  # fail now, not in the middle of a check
        return calendar

    @property
    def timezone(self) -> tzinfo:
        """The timezone in which days start and end."""
        return self._tz

    @property
    def hours(self) -> tuple[time, time]:
        """The working hours (start, end) on a working day."""
        return self._calendar.hours or DEFAULT_HOURS

    def is_working_day(self, day: date) -> bool:
        """True when ``day`` (a local date of the playbook's timezone) is a working day."""
        cal = self._calendar
        if day in cal.extra_holidays:
            return False
        if day in cal.extra_workdays:
            return True
        if self._country is not None:
            holidays, workdays = self._year(day.year)
            if day in holidays:
                return False
            if day in workdays:
                return True
        return day.weekday() in cal.weekdays

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in ``[start, end)`` (negative when ``end`` < ``start``)."""
        if end < start:
            return -self.working_days_between(end, start)
        self._cover(start.year, end.year)
        ordinals = self._ordinals
        return bisect_left(ordinals, end.toordinal()) - bisect_left(ordinals, start.toordinal())

    def next_working_day(self, day: date, count: int = 1) -> date:
        """The ``count``-th working day strictly after ``day`` (``count`` >= 1)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        ordinal = day.toordinal()
        first, last = self._years_covered
        if not first <= day.year <= last:
            self._cover(day.year, day.year)
        for _ in range(_MAX_SCAN_YEARS):
            ordinals = self._ordinals
            position = bisect_right(ordinals, ordinal) + count - 1
            if position < len(ordinals):
                return date.fromordinal(ordinals[position])
            self._cover(self._years_covered[1] + 1, self._years_covered[1] + 1)
        raise _no_working_day()

    def add(self, start: datetime, duration: Duration) -> datetime:
        """``start + duration`` on this calendar, as an aware UTC datetime.

        ``start`` must be timezone-aware. ``days`` and ``working_days`` keep the
        local time of day; ``working_days`` counts only working days (a start on a
        non-working day counts from the opening of the next working day, so two
        working days from a Saturday end at Wednesday's opening);
        ``working_hours`` counts time inside the working hours of working days.
        A fractional working day is that share of the working hours.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            raise MissingClockError(
                Message("error.calendar.start_time_has_no", isoformat=start.isoformat()),
                hint=Message("error.calendar.pass_aware_datetime_e"),
            )
        return _STEPS[duration.unit](self, start, duration.amount)

    # --- the four units ----------------------------------------------------------------

    def _add_days(self, start: datetime, amount: float) -> datetime:
        local = start.astimezone(self._tz).replace(tzinfo=None)
        return self._localize(local + timedelta(days=amount))

    def _add_hours(self, start: datetime, amount: float) -> datetime:
        return start.astimezone(UTC) + timedelta(hours=amount)

    def _add_working_days(self, start: datetime, amount: float) -> datetime:
        local = start.astimezone(self._tz)
        if not self.is_working_day(local.date()):
            # Every moment of a non-working stretch counts from the opening of the working day
            # after it: keeping its time of day would make a later start land earlier (Saturday
            # 23:59 past Tuesday's closing, Sunday 00:00 before its opening) and the due time
            # would not grow with the anchor, which the sweep's SQL threshold relies on.
            opening = datetime.combine(self.next_working_day(local.date()), self.hours[0])
            local = self._localize(opening).astimezone(self._tz)
        whole = math.floor(amount)
        day = self.next_working_day(local.date(), whole) if whole else local.date()
        # Same wall-clock time on the landing day; a time in a DST gap moves forward.
        landed = datetime.combine(day, local.time(), self._tz).astimezone(UTC)
        fraction = amount - whole
        if not fraction:
            return landed
        return self._add_working_hours(landed, fraction * self._working_hours_per_day())

    def _add_working_hours(self, start: datetime, amount: float) -> datetime:
        begin, end = self.hours
        cursor = start.astimezone(self._tz).replace(tzinfo=None)
        left = timedelta(hours=amount)
        for _ in range(_MAX_SCAN_DAYS):
            day = cursor.date()
            opens, closes = datetime.combine(day, begin), datetime.combine(day, end)
            if self.is_working_day(day) and cursor < closes:
                cursor = max(cursor, opens)
                if cursor + left <= closes:
                    return self._localize(cursor + left)
                left -= closes - cursor
            cursor = datetime.combine(self.next_working_day(day), begin)
        raise _no_working_day()

    # --- helpers -----------------------------------------------------------------------

    def _working_hours_per_day(self) -> float:
        begin, end = self.hours
        span = datetime.combine(date.min, end) - datetime.combine(date.min, begin)
        return span.total_seconds() / 3600

    def _localize(self, local: datetime) -> datetime:
        # Wall-clock times in a DST gap do not exist; the round trip through UTC moves them
        # forward by the gap, which is what a person reading the clock would expect.
        return local.replace(tzinfo=self._tz).astimezone(UTC)

    def _cover(self, first: int, last: int) -> None:
        """Extend the table of working-day ordinals to cover the years ``first..last``."""
        covered = self._years_covered
        if covered[0] <= first and last <= covered[1]:
            return
        low = min(first, covered[0]) if covered[0] <= covered[1] else first
        high = max(last, covered[1]) if covered[0] <= covered[1] else last
        ordinals: list[int] = []
        for year in range(low, high + 1):
            day, stop = date(year, 1, 1), date(year + 1, 1, 1)
            while day < stop:
                if self.is_working_day(day):
                    ordinals.append(day.toordinal())
                day += _ONE_DAY
        # One assignment each: a reader in another thread sees the old or the new table.
        self._ordinals = ordinals
        self._years_covered = (low, high)

    def _year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        cached = self._years.get(year)
        if cached is None:
            cached = self._load_year(year)
            self._years[year] = cached
        return cached

    def _load_year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        table = self._holiday_factory()(year)
        days_off = frozenset(day for day in table if day.year == year)
        # Only some countries publish make-up working days (China's 调休); others have none.
        makeup = getattr(table, "weekend_workdays", None) or ()
        workdays = frozenset(day for day in makeup if day.year == year)
        return days_off, workdays

    def _holiday_factory(self) -> Callable[[int], Any]:
        import holidays  # a large package: only calendars that name a country pay for it

        country, subdivision = self._country or "", self._subdivision
        try:
            holidays.country_holidays(country, subdiv=subdivision, years=())
        except NotImplementedError as error:
            raise _unknown_country(self._calendar.holidays_country, error) from error

        def load(year: int) -> Any:
            return holidays.country_holidays(country, subdiv=subdivision, years=year)

        return load


_STEPS: dict[str, Callable[[WorkingCalendar, datetime, float], datetime]] = {
    "days": WorkingCalendar._add_days,
    "hours": WorkingCalendar._add_hours,
    "working_days": WorkingCalendar._add_working_days,
    "working_hours": WorkingCalendar._add_working_hours,
}


def _split_country(code: str | None) -> tuple[str | None, str | None]:
    """``"US-CA"`` names a subdivision of a country; ``"CN"`` the whole country."""
    if not code:
        return None, None
    country, _, subdivision = code.partition("-")
    return country.upper(), subdivision.upper() or None


def _unknown_country(code: str | None, error: Exception) -> InvalidPlaybookError:
    return InvalidPlaybookError(
        Message("error.calendar.unknown_holiday_country", code=code, error=error),
        [],
        code="PB318",
        path="calendar.holidays",
        hint=Message("error.calendar.use_iso_3166_country"),
    )


def _no_working_day() -> InvalidPlaybookError:
    return InvalidPlaybookError(
        Message("error.calendar.calendar_has_no_working", MAX_SCAN_DAYS=_MAX_SCAN_DAYS),
        [],
        code="PB318",
        path="calendar",
        hint=Message("error.calendar.check_weekdays_holidays_extra"),
    )
