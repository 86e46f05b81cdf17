"""The working-day calendar: weekdays, country holidays, make-up days, hours, timezones."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playbook.errors import InvalidPlaybookError, MissingClockError
from playbook.model import Calendar, Duration, Playbook
from playbook.runtime.calendar import WorkingCalendar

PlaybookFactory = Callable[[str], Playbook]

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")

WEEKDAYS = WorkingCalendar(Calendar(), "UTC")
CHINA = WorkingCalendar(Calendar(holidays_country="CN"), "Asia/Shanghai")
SIX_DAYS = WorkingCalendar(Calendar(weekdays=frozenset(range(6))), "UTC")
CUSTOM = WorkingCalendar(
    Calendar(
        holidays_country="CN",
        extra_holidays=frozenset({date(2026, 1, 4), date(2026, 3, 6)}),
        extra_workdays=frozenset({date(2026, 3, 7), date(2025, 10, 3)}),
        hours=(time(9, 0), time(18, 0)),
    ),
    "Asia/Shanghai",
)


@pytest.mark.parametrize(
    ("calendar", "day", "working"),
    [
        pytest.param(WEEKDAYS, date(2026, 3, 6), True, id="friday"),
        pytest.param(WEEKDAYS, date(2026, 3, 7), False, id="saturday"),
        pytest.param(WEEKDAYS, date(2026, 3, 8), False, id="sunday"),
        pytest.param(SIX_DAYS, date(2026, 3, 7), True, id="six-day-week-saturday"),
        pytest.param(CHINA, date(2025, 10, 1), False, id="cn-national-day"),
        pytest.param(CHINA, date(2025, 10, 8), False, id="cn-golden-week-last-day"),
        pytest.param(CHINA, date(2025, 10, 9), True, id="cn-after-golden-week"),
        pytest.param(CHINA, date(2025, 9, 28), True, id="cn-make-up-sunday"),
        pytest.param(CHINA, date(2025, 10, 11), True, id="cn-make-up-saturday"),
        pytest.param(CHINA, date(2026, 1, 4), True, id="cn-make-up-2026-01-04"),
        pytest.param(CHINA, date(2026, 2, 17), False, id="cn-spring-festival"),
        pytest.param(CHINA, date(2026, 3, 7), False, id="cn-ordinary-saturday"),
        pytest.param(CUSTOM, date(2026, 1, 4), False, id="extra-holiday-beats-make-up-day"),
        pytest.param(CUSTOM, date(2026, 3, 6), False, id="extra-holiday-on-a-friday"),
        pytest.param(CUSTOM, date(2026, 3, 7), True, id="extra-workday-on-a-saturday"),
        pytest.param(CUSTOM, date(2025, 10, 3), True, id="extra-workday-beats-country-holiday"),
    ],
)
def test_is_working_day(calendar: WorkingCalendar, day: date, working: bool) -> None:
    """Weekdays, country holidays and make-up days, and the playbook's own lists, in order."""
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize(
    ("calendar", "start", "duration", "expected"),
    [
        pytest.param(
            WEEKDAYS,
            datetime(2026, 3, 6, 10, tzinfo=UTC),
            Duration("working_days", 1),
            datetime(2026, 3, 9, 10, tzinfo=UTC),
            id="friday-plus-one-working-day-is-monday",
        ),
        pytest.param(
            WEEKDAYS,
            datetime(2026, 3, 7, 10, tzinfo=UTC),
            Duration("working_days", 1),
            datetime(2026, 3, 10, 9, tzinfo=UTC),
            id="from-saturday-count-from-monday-opening",
        ),
        pytest.param(
            WEEKDAYS,
            datetime(2026, 3, 8, 23, 59, tzinfo=UTC),
            Duration("working_days", 1),
            datetime(2026, 3, 10, 9, tzinfo=UTC),
            id="any-weekend-moment-counts-from-monday-opening",
        ),
        pytest.param(
            WEEKDAYS,
            datetime(2026, 3, 7, 10, tzinfo=UTC),
            Duration("working_days", 0),
            datetime(2026, 3, 9, 9, tzinfo=UTC),
            id="zero-working-days-from-saturday-is-monday-opening",
        ),
        pytest.param(
            WEEKDAYS,
            datetime(2026, 3, 4, 10, tzinfo=UTC),
            Duration("working_days", 0),
            datetime(2026, 3, 4, 10, tzinfo=UTC),
            id="zero-working-days-on-a-working-day",
        ),
        pytest.param(
            WEEKDAYS,
            datetime(2026, 3, 2, 10, tzinfo=UTC),
            Duration("working_days", 10),
            datetime(2026, 3, 16, 10, tzinfo=UTC),
            id="two-weeks",
        ),
        pytest.param(
            CHINA,
            datetime(2025, 9, 30, 10, tzinfo=SHANGHAI),
            Duration("working_days", 1),
            datetime(2025, 10, 9, 10, tzinfo=SHANGHAI),
            id="cn-golden-week-is-skipped",
        ),
        pytest.param(
            CHINA,
            datetime(2025, 9, 30, 10, tzinfo=SHANGHAI),
            Duration("working_days", 3),
            datetime(2025, 10, 11, 10, tzinfo=SHANGHAI),
            id="cn-make-up-saturday-counts",
        ),
        pytest.param(
            CHINA,
            datetime(2025, 12, 30, 10, tzinfo=SHANGHAI),
            Duration("working_days", 5),
            datetime(2026, 1, 7, 10, tzinfo=SHANGHAI),
            id="cn-across-the-new-year",
        ),
        pytest.param(
            CHINA,
            datetime(2025, 9, 30, 10, tzinfo=SHANGHAI),
            Duration("days", 3),
            datetime(2025, 10, 3, 10, tzinfo=SHANGHAI),
            id="calendar-days-ignore-holidays",
        ),
        pytest.param(
            WEEKDAYS,
            datetime(2026, 3, 6, 10, tzinfo=UTC),
            Duration("hours", 1.5),
            datetime(2026, 3, 6, 11, 30, tzinfo=UTC),
            id="hours",
        ),
        pytest.param(
            CHINA,
            datetime(2025, 9, 30, 10, tzinfo=SHANGHAI),
            Duration("working_hours", 10),
            datetime(2025, 10, 9, 11, tzinfo=SHANGHAI),
            id="working-hours-over-golden-week",
        ),
        pytest.param(
            CUSTOM,
            datetime(2026, 3, 2, 7, tzinfo=SHANGHAI),
            Duration("working_hours", 2),
            datetime(2026, 3, 2, 11, tzinfo=SHANGHAI),
            id="working-hours-start-before-opening",
        ),
        pytest.param(
            CUSTOM,
            datetime(2026, 3, 5, 19, tzinfo=SHANGHAI),
            Duration("working_hours", 1),
            datetime(2026, 3, 7, 10, tzinfo=SHANGHAI),
            id="working-hours-after-closing-skip-holiday-to-make-up-day",
        ),
        pytest.param(
            CUSTOM,
            datetime(2026, 3, 2, 17, tzinfo=SHANGHAI),
            Duration("working_hours", 1),
            datetime(2026, 3, 2, 18, tzinfo=SHANGHAI),
            id="working-hours-ending-at-closing",
        ),
        pytest.param(
            CUSTOM,
            datetime(2026, 3, 2, 10, tzinfo=SHANGHAI),
            Duration("working_days", 1.5),
            datetime(2026, 3, 3, 14, 30, tzinfo=SHANGHAI),
            id="half-a-working-day-is-half-the-hours",
        ),
        pytest.param(
            WorkingCalendar(Calendar(), NEW_YORK),
            datetime(2026, 3, 7, 9, tzinfo=NEW_YORK),
            Duration("days", 1),
            datetime(2026, 3, 8, 13, tzinfo=UTC),
            id="us-dst-start-a-day-keeps-the-wall-clock",
        ),
        pytest.param(
            WorkingCalendar(Calendar(), NEW_YORK),
            datetime(2026, 3, 7, 9, tzinfo=NEW_YORK),
            Duration("hours", 24),
            datetime(2026, 3, 8, 14, tzinfo=UTC),
            id="us-dst-start-24-hours-are-elapsed-time",
        ),
        pytest.param(
            WorkingCalendar(Calendar(), NEW_YORK),
            datetime(2026, 3, 7, 2, 30, tzinfo=NEW_YORK),
            Duration("days", 1),
            datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
            id="us-dst-gap-moves-forward",
        ),
        pytest.param(
            WorkingCalendar(Calendar(), BERLIN),
            datetime(2026, 10, 23, 9, tzinfo=BERLIN),
            Duration("working_days", 1),
            datetime(2026, 10, 26, 8, tzinfo=UTC),
            id="europe-dst-end-over-a-weekend",
        ),
        pytest.param(
            WorkingCalendar(Calendar(), BERLIN),
            datetime(2026, 10, 24, 9, tzinfo=BERLIN),
            Duration("days", 1),
            datetime(2026, 10, 25, 8, tzinfo=UTC),
            id="europe-dst-end-a-day-keeps-the-wall-clock",
        ),
    ],
)
def test_add(
    calendar: WorkingCalendar, start: datetime, duration: Duration, expected: datetime
) -> None:
    """Each unit lands at the right instant, returned as aware UTC."""
    result = calendar.add(start, duration)
    assert result == expected
    assert result.utcoffset() is not None
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("calendar", "start", "end", "count"),
    [
        pytest.param(WEEKDAYS, date(2026, 3, 2), date(2026, 3, 9), 5, id="one-week"),
        pytest.param(WEEKDAYS, date(2026, 3, 9), date(2026, 3, 2), -5, id="backwards"),
        pytest.param(WEEKDAYS, date(2026, 3, 2), date(2026, 3, 2), 0, id="empty"),
        pytest.param(CHINA, date(2025, 9, 29), date(2025, 10, 13), 5, id="cn-golden-week"),
        pytest.param(CHINA, date(2025, 12, 29), date(2026, 1, 6), 5, id="cn-across-years"),
    ],
)
def test_working_days_between(
    calendar: WorkingCalendar, start: date, end: date, count: int
) -> None:
    """Working days in ``[start, end)``, negative when the range runs backwards."""
    assert calendar.working_days_between(start, end) == count


def test_next_working_day_counts_forward() -> None:
    """The n-th working day after a date skips weekends and holidays, across the year end."""
    assert CHINA.next_working_day(date(2025, 12, 30)) == date(2025, 12, 31)
    assert CHINA.next_working_day(date(2025, 12, 31)) == date(2026, 1, 4)
    with pytest.raises(ValueError, match="at least 1"):
        CHINA.next_working_day(date(2025, 12, 31), 0)


def test_naive_start_is_refused() -> None:
    """A start time without a timezone is ambiguous: it raises instead of guessing."""
    with pytest.raises(MissingClockError):
        WEEKDAYS.add(datetime(2026, 3, 2, 9), Duration("days", 1))


def test_unknown_country_is_reported() -> None:
    """A holiday country the holidays package does not know is a PB318 playbook error."""
    bad = WorkingCalendar(Calendar(holidays_country="XX"), "UTC")
    with pytest.raises(InvalidPlaybookError) as caught:
        bad.is_working_day(date(2026, 3, 2))
    assert caught.value.code == "PB318"
    assert "XX" in caught.value.message


def test_from_playbook_reads_calendar_and_timezone(make_playbook: PlaybookFactory) -> None:
    """The calendar of a playbook uses its weekdays, lists, hours and timezone."""
    model = make_playbook(
        """
        playbook: cal
        version: 1
        title: Calendar
        timezone: Asia/Shanghai
        calendar:
          weekdays: [mon, tue, wed, thu]
          extra_workdays: ["2026-03-07"]
          hours: {start: "10:00", end: "16:00"}
        stages:
          - {id: open, title: Open}
          - {id: won, title: Won, outcome: won}
        """
    )
    calendar = WorkingCalendar.from_playbook(model)
    assert calendar.timezone == SHANGHAI
    assert calendar.hours == (time(10), time(16))
    assert not calendar.is_working_day(date(2026, 3, 6))  # a Friday, not in weekdays
    assert calendar.is_working_day(date(2026, 3, 7))
    start = datetime(2026, 3, 5, 15, tzinfo=SHANGHAI)
    assert calendar.add(start, Duration("working_hours", 2)) == datetime(
        2026, 3, 7, 11, tzinfo=SHANGHAI
    )


def test_from_playbook_refuses_unknown_country_early(make_playbook: PlaybookFactory) -> None:
    """An unknown holiday country fails when the calendar is built, not mid-check."""
    model = make_playbook(
        """
        playbook: cal
        version: 1
        title: Calendar
        stages:
          - {id: open, title: Open}
          - {id: won, title: Won, outcome: won}
        """
    )
    # Built past validation on purpose: the calendar must defend itself too.
    broken = dataclasses.replace(model, calendar=Calendar(holidays_country="ZZ"))
    with pytest.raises(InvalidPlaybookError, match="ZZ"):
        WorkingCalendar.from_playbook(broken)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 9, 1), max_value=datetime(2026, 2, 28)),
    later=st.integers(min_value=0, max_value=5 * 86400),
    amount=st.sampled_from([0, 1, 2, 3, 1.5]),
)
def test_working_days_never_make_a_later_start_land_earlier(
    start: datetime, later: int, amount: float
) -> None:
    """The escalation sweep's SQL threshold needs due times that grow with the anchor.

    Compared after moving both to the next working moment, as every due time is
    (golden week, weekends and make-up Saturdays fall in the range).
    """
    first = start.replace(tzinfo=UTC)
    second = first + timedelta(seconds=later)
    duration = Duration("working_days", amount)
    assert _open(CHINA.add(first, duration)) <= _open(CHINA.add(second, duration))


def _open(moment: datetime) -> datetime:
    """The moment, or the next opening of the calendar's working hours (plain Python)."""
    local = moment.astimezone(SHANGHAI)
    begin, end = CHINA.hours
    if CHINA.is_working_day(local.date()) and local.time() < end:
        return max(local, datetime.combine(local.date(), begin, SHANGHAI))
    day = local.date() + timedelta(days=1)
    while not CHINA.is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, begin, SHANGHAI)
