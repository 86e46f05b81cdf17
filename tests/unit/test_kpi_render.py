"""The KPI renderers: values by unit, the text table, JSON and CSV, and the format choice."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from playbook.definition.files import playbook_from_text
from playbook.kpi.charts import Dashboard, Histogram
from playbook.kpi.periods import parse_period
from playbook.kpi.report import KpiReport, KpiResult
from playbook.render.html import render_html
from playbook.render.kpi_formats import KPI_FORMATS, render_kpis
from playbook.render.kpi_json import kpi_csv, kpi_json
from playbook.render.labels import format_value
from playbook.render.table import display_width, render_kpi_table


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


@pytest.mark.parametrize("output_format", [f for f in KPI_FORMATS if f != "html"])
def test_render_kpis_picks_the_format(output_format: str) -> None:
    """Each format renders the report as its own renderer does."""
    direct = {"table": render_kpi_table, "json": kpi_json, "csv": kpi_csv}[output_format]
    assert render_kpis(_report(), output_format, lang="en") == direct(_report(), lang="en")


def test_html_needs_the_dashboard() -> None:
    """The HTML page draws charts the report alone does not hold."""
    with pytest.raises(ValueError, match="dashboard"):
        render_kpis(_report(), "html")


TITLED = playbook_from_text(
    """\
playbook: titled
version: 1
title: {en: Titled, zh: 有标题}
language: zh
fields:
  tier: {type: enum, values: [{id: key, title: {en: Key account, zh: 重点客户}}, plain]}
stages:
  - {id: lead, title: Lead}
  - {id: won, title: Won, outcome: won}
kpis:
  - {id: wins, title: {en: Wins, zh: 赢单数}, metric: won_deals, by: [tier]}
""",
    "titled.yaml",
)


def _titled_report() -> KpiReport:
    (wins,) = TITLED.kpis
    results = (
        KpiResult(wins, {"tier": "key"}, 3, 3, None, None, None, None),
        KpiResult(wins, {"tier": "plain"}, 1, 1, None, None, None, None),
    )
    period = parse_period("2017-12")
    return KpiReport(TITLED, period, datetime(2018, 1, 2, tzinfo=UTC), results)


@pytest.mark.parametrize(
    ("lang", "shown"), [("zh", "tier=重点客户（key）"), ("en", "tier=Key account (key)")]
)
def test_grouped_values_show_their_title_and_keep_the_id(lang: str, shown: str) -> None:
    """A group by an enum shows each value's title in the report's language, the id beside it."""
    report = _titled_report()
    table = render_kpi_table(report, lang=lang)
    assert shown in table
    assert "tier=plain" in table  # a value without a title stays its id
    data = json.loads(kpi_json(report, lang=lang))
    title = shown.split("=")[1].split("（")[0].split(" (")[0]
    assert [(k["group"], k.get("group_titles")) for k in data["kpis"]] == [
        ({"tier": "key"}, {"tier": title}),
        ({"tier": "plain"}, None),
    ]
    rows = list(csv.DictReader(io.StringIO(kpi_csv(report, lang=lang))))
    assert [row["tier"] for row in rows] == ["key", "plain"]  # CSV cells are ids


def test_html_report_shows_grouped_titles() -> None:
    """The HTML report's bars are labelled with the value's title (and id) too."""
    dash = Dashboard(_titled_report(), (), Histogram("won", 7, (), 0, None, None), ())
    page = render_html(dash, lang="zh")
    assert "重点客户（key）" in page
