"""KPI results: judging measured figures per group, units, JSON (playbook.kpi.report)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from playbook.definition.files import playbook_from_text
from playbook.kpi.periods import parse_period
from playbook.kpi.report import KpiReport, KpiResult, judged_results, kpi_unit
from playbook.model import Kpi, Text

PLAYBOOK = playbook_from_text(
    """\
playbook: report
version: 1
title: Report
stages:
  - {id: lead, title: Lead}
  - {id: won, title: Won, outcome: won}
""",
    "report.yaml",
)
WIN = Kpi(id="win", metric="win_rate", target_min=0.5)
WON = Kpi(id="won", metric="won_deals", target_min=10, period="month")
PERIOD = parse_period("2017-Q4")
AFTER = datetime(2018, 1, 2, tzinfo=UTC)


def test_every_kpi_gets_a_line_for_every_group_of_its_grouping() -> None:
    """A group another KPI of the same grouping has shows "no data" (a ratio) or 0 (a count)."""
    measured = [
        (WIN, ("owner",), [(("Ann",), 0.6, 5)]),
        (WON, ("owner",), [(("Bo",), 4, 4)]),
    ]
    lines = [(r.kpi.id, dict(r.group), r.value, r.n, r.status) for r in
             judged_results(measured, PERIOD, AFTER)]  # fmt: skip
    assert lines == [
        ("win", {"owner": "Ann"}, 0.6, 5, "met"),
        ("win", {"owner": "Bo"}, None, 0, "no_data"),
        ("won", {"owner": "Ann"}, 0, 0, "missed"),
        ("won", {"owner": "Bo"}, 4, 4, "missed"),
    ]


def test_targets_scale_to_the_period_and_groups_sort_with_none_last() -> None:
    """A monthly target over a quarter is tripled; group values show as text, None last."""
    measured = [(WON, ("region", "vip"), [((None, True), 40, 40), (("East", False), 20, 20)])]
    results = judged_results(measured, PERIOD, AFTER)
    assert [dict(r.group) for r in results] == [
        {"region": "East", "vip": "false"},
        {"region": None, "vip": "true"},
    ]
    assert [(r.target_min, r.gap, r.status) for r in results] == [
        (30, -10, "missed"),
        (30, 10, "met"),
    ]


def test_a_kpi_without_rows_gets_one_empty_line() -> None:
    """No row at all: one line for the whole, 0 for a count and no data for a ratio."""
    results = judged_results([(WIN, (), []), (WON, (), [])], PERIOD, AFTER)
    assert [(dict(r.group), r.value, r.n) for r in results] == [({}, None, 0), ({}, 0, 0)]


@pytest.mark.parametrize(
    ("metric", "unit", "params", "expected"),
    [
        ("win_rate", None, {}, "ratio"),
        ("cycle_time", None, {}, "days"),
        ("weighted_pipeline", None, {}, "money"),
        ("field_aggregate", None, {"aggregate": "mean"}, "score"),
        ("field_aggregate", None, {"aggregate": "count"}, "count"),
        ("stage_entries", None, {}, "count"),
        ("won_value", "score", {}, "score"),
    ],
)
def test_kpi_unit(metric: str, unit: str | None, params: dict[str, str], expected: str) -> None:
    """The declared unit, else the metric's own."""
    assert kpi_unit(Kpi(id="k", metric=metric, unit=unit, params=params)) == expected


def test_report_lists_what_fails_a_check() -> None:
    """Missed and at-risk results fail ``--check``; met, on track and no target do not."""
    results = tuple(
        KpiResult(WIN, {}, 0.1, 1, 0.5, None, -0.4, status)
        for status in ("met", "on_track", "at_risk", "missed", "no_data", None)
    )
    report = KpiReport(PLAYBOOK, PERIOD, AFTER, results)
    assert [r.status for r in report.failing()] == ["at_risk", "missed"]


def test_result_title_falls_back_to_the_id() -> None:
    """A KPI without a title is shown by its id."""
    bare = Kpi(id="bare", metric="won_deals")
    result = KpiResult(bare, {}, 1, 1, None, None, None, None)
    assert result.title(PLAYBOOK) == "bare"
    titled = Kpi(id="t", metric="won_deals", title=Text.of({"en": "T", "zh": "标题"}))
    assert KpiResult(titled, {}, 1, 1, None, None, None, None).title(PLAYBOOK, "en") == "T"
