"""Periods, target scaling, the status rule and the KPI renderers (no database needed)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest

from playbook.errors import PeriodError
from playbook.kpi.periods import Period, current_period, parse_period, period_between
from playbook.kpi.report import KpiReport, KpiResult
from playbook.kpi.targets import judge, target_scale
from playbook.model import Kpi, Text
from playbook.render.kpi_json import kpi_csv, kpi_json
from playbook.render.labels import format_value
from playbook.render.table import display_width, render_kpi_table
from playbook.store.playbooks import playbook_from_text


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
    ("value", "unit", "lang", "text"),
    [
        (0.6312, "ratio", "en", "63.1%"),
        (51.78, "days", "en", "51.8 days"),
        (51.78, "days", "zh", "51.8 天"),
        (1234567.4, "money", "en", "1,234,567 USD"),
        (12, "count", "en", "12"),
        (8.456, "score", "en", "8.46"),
        (None, "ratio", "en", "–"),
    ],
)
def test_format_value(value: float | None, unit: str, lang: str, text: str) -> None:
    """Figures are shown by unit; None (no data) is a dash, never 0."""
    assert format_value(value, unit, currency="USD", lang=lang) == text


PLAYBOOK = playbook_from_text(
    """\
playbook: render
version: 1
title: {en: Render, zh: 渲染}
language: zh
currency: CNY
fields:
  amount: {type: decimal}
stages:
  - {id: lead, title: Lead}
  - {id: won, title: Won, outcome: won}
kpis:
  - {id: win_rate, title: {en: Win rate, zh: 赢单率}, metric: win_rate, target: {min: 0.5}}
  - {id: won_value, title: {en: Won value, zh: 赢单金额}, metric: won_value, field: amount}
""",
    "render.yaml",
)


def _report() -> KpiReport:
    win, value = PLAYBOOK.kpis
    results = (
        KpiResult(win, {"owner": "王芳"}, 0.25, 4, 0.5, None, -0.25, "missed"),
        KpiResult(win, {"owner": "Li"}, None, 0, 0.5, None, None, "no_data"),
        KpiResult(value, {"owner": "王芳"}, 1200.5, 2, None, None, None, None),
    )
    period = parse_period("2017-12")
    return KpiReport(PLAYBOOK, period, datetime(2018, 1, 2, tzinfo=UTC), results, ("a note",))


@pytest.mark.parametrize(("color", "escapes"), [(False, 0), (True, 2)])
def test_table_colours_status_only_when_asked(color: bool, escapes: int) -> None:
    """Colour codes appear only with color=True, around the status cells; columns stay aligned
    by display width with Chinese text."""
    text = render_kpi_table(_report(), color=color)
    assert text.count("\033[0m") == escapes
    lines = text.splitlines()
    plain = [line.replace("\033[31m", "").replace("\033[90m", "").replace("\033[0m", "")
             for line in lines[2:6]]  # fmt: skip
    # The last column (N) is right-aligned: every line ends at the same screen column.
    assert len({display_width(line) for line in plain}) == 1
    assert "注" not in lines[0]
    assert "a note" in text
    assert "–" in text


def test_json_and_csv_keep_no_data_as_null() -> None:
    """JSON has null (not 0) for no data and the KPI title in the language; CSV an empty cell."""
    data = json.loads(kpi_json(_report(), lang="en"))
    assert data["period"]["label"] == "2017-12"
    li = data["kpis"][1]
    assert (li["value"], li["status"], li["n"], li["title"]) == (None, "no_data", 0, "Win rate")
    assert data["kpis"][2]["target"] is None
    rows = list(csv.DictReader(io.StringIO(kpi_csv(_report()))))
    assert rows[1]["value"] == ""
    assert rows[0]["owner"] == "王芳"
    assert rows[0]["title"] == "赢单率"


def test_result_title_falls_back_to_the_id() -> None:
    """A KPI without a title is shown by its id."""
    bare = Kpi(id="bare", metric="won_deals")
    result = KpiResult(bare, {}, 1, 1, None, None, None, None)
    assert result.title(PLAYBOOK) == "bare"
    titled = Kpi(id="t", metric="won_deals", title=Text.of({"en": "T", "zh": "标题"}))
    assert KpiResult(titled, {}, 1, 1, None, None, None, None).title(PLAYBOOK, "en") == "T"
