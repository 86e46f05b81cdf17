"""KPI periods: parsing, ranges of days, the current period and ISO weeks (playbook.kpi.periods)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from playbook.errors import PeriodError
from playbook.kpi.periods import current_period, parse_period, parse_week, period_between


@pytest.mark.parametrize(
    ("text", "first", "last", "kind", "label"),
    [
        ("2017", date(2017, 1, 1), date(2017, 12, 31), "year", "2017"),
        ("2017-Q4", date(2017, 10, 1), date(2017, 12, 31), "quarter", "2017-Q4"),
        ("2017-q1", date(2017, 1, 1), date(2017, 3, 31), "quarter", "2017-Q1"),
        ("2016-02", date(2016, 2, 1), date(2016, 2, 29), "month", "2016-02"),
        ("2017-12", date(2017, 12, 1), date(2017, 12, 31), "month", "2017-12"),
        ("2017-W52", date(2017, 12, 25), date(2017, 12, 31), "week", "2017-W52"),
        ("2020-W53", date(2020, 12, 28), date(2021, 1, 3), "week", "2020-W53"),
        (" 2018-W01 ", date(2018, 1, 1), date(2018, 1, 7), "week", "2018-W01"),
    ],
)
def test_parse_period(text: str, first: date, last: date, kind: str, label: str) -> None:
    """Years, quarters, months and ISO weeks become whole days with their kind and label."""
    period = parse_period(text)
    assert (period.first_day, period.last_day, period.kind, period.label) == (
        first,
        last,
        kind,
        label,
    )


@pytest.mark.parametrize(
    "text", ["2017-Q5", "2017-Q0", "2017-13", "2017-00", "2017-W54", "2019-W53", "Q4", "", "x"]
)
def test_parse_period_refuses_nonsense(text: str) -> None:
    """Anything else is a PeriodError (PB801) whose hint shows the accepted forms."""
    with pytest.raises(PeriodError) as caught:
        parse_period(text)
    assert caught.value.code == "PB801"
    assert caught.value.hint


def test_periods_start_at_local_midnight() -> None:
    """A period is whole days in the playbook's timezone."""
    period = parse_period("2017-Q4", "Asia/Shanghai")
    assert period.start == datetime(2017, 9, 30, 16, tzinfo=UTC)
    assert period.end == datetime(2017, 12, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "last", "label", "kind"),
    [
        ("2017-10-01", "2017-12-31", "2017-Q4", "quarter"),
        ("2017-12-25", "2017-12-31", "2017-W52", "week"),
        ("2016-01-01", "2017-12-31", "2016-01-01..2017-12-31", None),
        ("2017-12-05", "2017-12-05", "2017-12-05..2017-12-05", None),
    ],
)
def test_period_between(first: str, last: str, label: str, kind: str | None) -> None:
    """--from/--to give an inclusive range, recognised as a calendar period when it is one."""
    period = period_between(first, last)
    assert (period.label, period.kind) == (label, kind)


@pytest.mark.parametrize(
    ("first", "last", "words"),
    [("2017-12-31", "2017-01-01", "before it starts"), ("2017-02-30", "2017-03-01", "not a date")],
)
def test_period_between_refuses(first: str, last: str, words: str) -> None:
    """A reversed range or an impossible date is a PeriodError."""
    with pytest.raises(PeriodError, match=words):
        period_between(first, last)


def test_current_period_and_elapsed() -> None:
    """The current quarter contains now; elapsed is the share of it that has passed."""
    now = datetime(2017, 11, 15, tzinfo=UTC)
    quarter = current_period("quarter", now)
    assert quarter.label == "2017-Q4"
    assert quarter.elapsed(now) == pytest.approx(45 / 92)
    assert quarter.elapsed(datetime(2018, 1, 1, tzinfo=UTC)) == 1
    assert quarter.elapsed(datetime(2017, 1, 1, tzinfo=UTC)) == 0


@pytest.mark.parametrize(
    ("text", "label"),
    [("2017-W52", "2017-W52"), (" 2018-w01 ", "2018-W01"), (None, "2017-W46"), ("", "2017-W46")],
)
def test_parse_week(text: str | None, label: str) -> None:
    """A named ISO week, else the week that contains now."""
    week = parse_week(text, datetime(2017, 11, 15, tzinfo=UTC))
    assert (week.label, week.kind) == (label, "week")


@pytest.mark.parametrize("text", ["2017-12", "2017", "2017-Q4"])
def test_parse_week_refuses_other_periods(text: str) -> None:
    """A month, quarter or year is not a week."""
    with pytest.raises(PeriodError, match="is not an ISO week"):
        parse_week(text, datetime(2017, 11, 15, tzinfo=UTC))
