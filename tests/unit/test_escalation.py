"""Due times of escalation levels, the SQL threshold search, intervals and the worker loop."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone
from types import MappingProxyType, SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playbook.errors import DatabaseUnavailableError, EscalationError
from playbook.escalation.rules import (
    LevelTiming,
    Recipient,
    date_passed_at,
    due_at,
    json_form,
    working_moment,
)
from playbook.escalation.times import local_minutes, sqlite_time, utc_iso
from playbook.escalation.worker import parse_interval, run_worker
from playbook.model import Calendar, Duration, EscalationLevel
from playbook.runtime.calendar import WorkingCalendar

CN = WorkingCalendar(
    Calendar(holidays_country="CN", extra_workdays=frozenset({date(2026, 5, 9)})),
    "Asia/Shanghai",
)
UTC_WEEK = WorkingCalendar(Calendar(), "UTC")


def sh(text: str) -> datetime:
    """A Shanghai wall-clock time (+08:00) as aware UTC."""
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-03-04T10:30", "2026-03-04T10:30"),  # Wednesday, inside working hours
        ("2026-03-04T07:00", "2026-03-04T09:00"),  # before opening: same day at 09:00
        ("2026-03-04T19:00", "2026-03-05T09:00"),  # after closing: next working morning
        ("2026-03-07T11:00", "2026-03-09T09:00"),  # Saturday: Monday morning
        ("2026-05-01T10:00", "2026-05-06T09:00"),  # Labour Day holidays: May 1-5
        ("2026-05-09T10:00", "2026-05-09T10:00"),  # a make-up working Saturday (调休)
        ("2026-10-01T00:00", "2026-10-08T09:00"),  # National Day week: Oct 1-7
    ],
)
def test_working_moment_moves_to_the_next_working_time(moment: str, expected: str) -> None:
    """Nothing is notified at night, on a weekend or on a public holiday."""
    assert working_moment(CN, sh(moment)) == sh(expected)


@pytest.mark.parametrize(
    ("anchor", "wait", "after", "expected"),
    [
        ("2026-04-10T15:00", Duration("days", 15), Duration("days", 0), "2026-04-27T09:00"),
        # 15 days land on Saturday 04-25: two working days count from Monday's opening.
        ("2026-04-10T15:00", Duration("days", 15), Duration("working_days", 2), "2026-04-29T09:00"),
        # 30 days land on the May Day holiday (05-01 to 05-05): from Wednesday 05-06's opening,
        # three working days are Thursday, Friday and the make-up Saturday 05-09.
        ("2026-04-01T10:00", Duration("days", 30), Duration("working_days", 3), "2026-05-09T09:00"),
        ("2026-03-02T10:00", Duration("hours", 4), Duration("days", 0), "2026-03-02T14:00"),
        ("2026-03-02T16:00", Duration("working_hours", 4), Duration("days", 0), "2026-03-03T11:00"),
        ("2026-03-02T10:00", None, Duration("days", 0), "2026-03-02T10:00"),
    ],
)
def test_due_at_adds_both_waits_on_the_calendar(
    anchor: str, wait: Duration | None, after: Duration, expected: str
) -> None:
    """Trigger duration, then the level's delay, then the next working moment."""
    assert due_at(CN, sh(anchor), wait, after) == sh(expected)


LEVEL = LevelTiming(
    1, EscalationLevel(("owner",), Duration("working_days", 2)), CN, Duration("days", 15)
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    now=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
    offset=st.integers(min_value=-40 * 86400, max_value=0),
)
def test_the_sql_threshold_agrees_with_the_due_time(now: datetime, offset: int) -> None:
    """An anchor is at or before the bound threshold exactly when its level is due at ``now``."""
    _assert_threshold_agrees(now, offset)


def test_the_threshold_at_a_friday_midnight_agrees_with_the_due_time() -> None:
    """The example a random run found: the threshold says due, the due time says not yet."""
    _assert_threshold_agrees(datetime(2025, 8, 12, 3, 0), -1508401)


def _assert_threshold_agrees(now: datetime, offset: int) -> None:
    moment = now.replace(tzinfo=UTC)
    anchor = moment + timedelta(seconds=offset)
    latest = LEVEL.latest_anchor(moment)
    assert latest is not None
    assert (anchor <= latest) == (LEVEL.due(anchor) <= moment)


def test_the_threshold_is_exact_for_short_and_very_long_waits() -> None:
    """No wait: everything up to now is due; 20,000 days: everything up to that long ago."""
    level = LevelTiming(1, EscalationLevel(("owner",), Duration("days", 0)), UTC_WEEK, None)
    far = LevelTiming(1, EscalationLevel(("owner",), Duration("days", 20000)), UTC_WEEK, None)
    now = datetime(2026, 3, 4, 10, tzinfo=UTC)
    assert level.latest_anchor(now) == now
    assert far.latest_anchor(now) == now - timedelta(days=20000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 3, 31), "2026-04-01T00:00+08:00"),  # a date passes at the next day's start
        (datetime(2026, 3, 31, 15, tzinfo=UTC), "2026-03-31T23:00+08:00"),
        (datetime(2026, 3, 31, 15), "2026-03-31T23:00+08:00"),  # naive: UTC, as stored
    ],
)
def test_a_date_passed_anchor_is_the_next_day_or_the_moment_itself(
    value: date, expected: str
) -> None:
    """``date_passed`` anchors, the same for the sweep and for playbook tests."""
    anchor = date_passed_at(value, ZoneInfo("Asia/Shanghai"))
    assert anchor.tzinfo is UTC
    assert anchor == datetime.fromisoformat(expected)


@pytest.mark.parametrize(
    ("moment", "iso", "stored", "shanghai"),
    [
        (
            datetime(2026, 3, 2, 1, 30, 5, tzinfo=UTC),
            "2026-03-02T01:30:05+00:00",
            "2026-03-02 01:30:05.000000",
            "2026-03-02T09:30+08:00",
        ),
        (
            datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=8))),
            "2026-03-02T01:30:00+00:00",
            "2026-03-02 01:30:00.000000",
            "2026-03-02T09:30+08:00",
        ),
        (  # a naive time is UTC (as the store reads it back), never the machine's local time
            datetime(2026, 3, 2, 1, 30),
            "2026-03-02T01:30:00+00:00",
            "2026-03-02 01:30:00.000000",
            "2026-03-02T09:30+08:00",
        ),
    ],
)
def test_the_three_forms_of_a_time_agree(
    moment: datetime, iso: str, stored: str, shanghai: str
) -> None:
    """JSON (UTC ISO 8601), SQLite's stored text and a reason's local minutes: one instant."""
    assert utc_iso(moment) == iso
    assert sqlite_time(moment) == stored
    assert local_minutes(moment, ZoneInfo("Asia/Shanghai")) == shanghai
    assert utc_iso(None) is None


def test_json_form_writes_times_in_utc_and_recipients_as_mappings() -> None:
    """The JSON of ``Fired`` and ``EscalationView``: attributes in the order asked for."""
    item = SimpleNamespace(
        at=datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=8))),
        never=None,
        people=(Recipient("owner", "li.na"),),
        trigger=MappingProxyType({"kind": "in_stage"}),
    )
    assert list(json_form(item, ("people", "at", "never", "trigger")).items()) == [
        ("people", [{"as": "owner", "name": "li.na"}]),
        ("at", "2026-03-02T01:30:00+00:00"),
        ("never", None),
        ("trigger", {"kind": "in_stage"}),
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1.5h", 5400), ("1d", 86400), (" 2 m ", 120)],
)
def test_parse_interval_reads_number_and_unit(text: str, seconds: float) -> None:
    """The forms ``--every`` accepts."""
    assert parse_interval(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["5", "m", "5 minutes", "0s", "-1m", "0.5s"])
def test_parse_interval_refuses_the_rest(text: str) -> None:
    """Anything else (and less than a second) is an EscalationError with an example."""
    with pytest.raises(EscalationError, match="30s, 5m"):
        parse_interval(text)


def test_the_worker_survives_an_unavailable_database_and_stops_when_told() -> None:
    """A failed sweep is reported and the worker carries on; the stop flag ends it."""
    stop = threading.Event()
    calls: list[int] = []
    errors: list[str] = []

    def sweep(should_stop: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseUnavailableError("connection refused")
        if len(calls) == 3:
            stop.set()

    stats = run_worker(
        sweep, every=timedelta(0), stop=stop, on_error=lambda e: errors.append(e.message)
    )
    assert (stats.sweeps, stats.failures, stats.stopped) == (2, 1, True)
    assert errors == ["connection refused"]


def test_the_worker_stops_after_max_sweeps() -> None:
    """``max_sweeps`` bounds the run (used by tests and one-off runs)."""
    stats = run_worker(
        lambda _stop: None,
        every=timedelta(0),
        stop=threading.Event(),
        on_error=lambda _e: None,
        max_sweeps=4,
    )
    assert (stats.sweeps, stats.stopped) == (4, False)
