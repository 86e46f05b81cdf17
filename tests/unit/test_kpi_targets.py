"""Scaling targets to a report's period and the status rule (playbook.kpi.targets)."""

from __future__ import annotations

import pytest

from playbook.kpi.periods import Period, parse_period, period_between
from playbook.kpi.targets import gap_to_target, is_cumulative, judge, rounded, target_scale
from playbook.model import Kpi


@pytest.mark.parametrize(
    ("metric", "kpi_period", "report", "scale"),
    [
        ("won_deals", "quarter", period_between("2016-01-01", "2017-12-31"), 8),
        ("won_deals", "quarter", parse_period("2017-Q4"), 1),
        ("won_deals", "month", parse_period("2017-Q4"), 3),
        ("won_deals", "year", parse_period("2017-07"), 1 / 12),
        ("won_deals", "week", parse_period("2017-12"), 31 / 7),
        ("won_deals", "month", period_between("2017-01-01", "2017-01-15"), 15 / 31),
        ("win_rate", "quarter", parse_period("2017"), 1),
        ("cycle_time", "month", parse_period("2017"), 1),
    ],
)
def test_target_scale(metric: str, kpi_period: str, report: Period, scale: float) -> None:
    """Cumulative targets scale with the report's length in KPI periods; ratios never scale."""
    kpi = Kpi(id="k", metric=metric, period=kpi_period)
    assert target_scale(kpi, report) == pytest.approx(scale)


@pytest.mark.parametrize(
    ("value", "low", "high", "cumulative", "elapsed", "status"),
    [
        (None, 0.3, None, False, 1.0, "no_data"),
        (0.5, None, None, False, 1.0, None),
        (0.31, 0.3, None, False, 1.0, "met"),
        (0.29, 0.3, None, False, 1.0, "missed"),
        (0.29, 0.3, None, False, 0.5, "at_risk"),
        (55, None, 60, False, 0.5, "met"),
        (65, None, 60, False, 1.0, "missed"),
        (13, 30, None, True, 0.4, "on_track"),  # on pace (12), short of 30
        (12, 30, None, True, 0.4, "on_track"),  # exactly on pace
        (11, 30, None, True, 0.4, "at_risk"),
        (31, 30, None, True, 0.4, "met"),
        (29, 30, None, True, 1.0, "missed"),
        (0, 30, None, True, 0.0, "on_track"),  # the period has not begun
        (40, None, 100, True, 0.5, "met"),  # a max: inside it and under its pace
        (70, None, 100, True, 0.5, "at_risk"),
        (120, None, 100, True, 0.5, "missed"),
        (5, 1, 10, False, 1.0, "met"),
        (11, 1, 10, False, 1.0, "missed"),
    ],
)
def test_status_rule(
    value: float | None,
    low: float | None,
    high: float | None,
    cumulative: bool,
    elapsed: float,
    status: str | None,
) -> None:
    """met / on_track / at_risk / missed / no_data as docs/kpis.md states, linear pace."""
    assert judge(value, low, high, cumulative=cumulative, elapsed=elapsed) == status


@pytest.mark.parametrize(
    ("value", "low", "high", "gap"),
    [
        (None, 1, None, None),
        (5, None, None, None),
        (0.25, 0.5, None, -0.25),
        (0.75, 0.5, None, 0.25),
        (70, None, 60, 10),
        (50, None, 60, -10),
        (12, 1, 10, 2),
        (5, 1, 10, 4),
        (0.1 + 0.2, 0.3, None, 0),
    ],
)
def test_gap_to_target(
    value: float | None, low: float | None, high: float | None, gap: float | None
) -> None:
    """Above a max the gap is measured from the max, else from the min; rounded to 6 decimals."""
    assert gap_to_target(value, low, high) == gap


@pytest.mark.parametrize(
    ("metric", "params", "cumulative"),
    [
        ("won_deals", {}, True),
        ("activity_count", {}, True),
        ("field_aggregate", {"aggregate": "sum"}, True),
        ("field_aggregate", {"aggregate": "count"}, True),
        ("field_aggregate", {"aggregate": "mean"}, False),
        ("win_rate", {}, False),
        ("pipeline_value", {}, False),
    ],
)
def test_is_cumulative(metric: str, params: dict[str, str], cumulative: bool) -> None:
    """Counts and sums over time are cumulative; ratios, averages and snapshots are not."""
    assert is_cumulative(Kpi(id="k", metric=metric, params=params)) is cumulative


def test_rounded_gives_whole_figures_as_int() -> None:
    """Six decimals; a whole figure is an int (JSON shows 3, not 3.0)."""
    assert rounded(1 / 3) == 0.333333
    assert rounded(3.0000000001) == 3
    assert isinstance(rounded(3.0), int)
