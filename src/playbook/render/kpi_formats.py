"""A KPI report or a weekly review in the output format asked for.

KPI reports: ``table`` (aligned text, status coloured on request), ``json``,
``csv`` and ``html`` (one self-contained page, drawn from the report's
:class:`~playbook.kpi.charts.Dashboard`). Weekly reviews: ``text`` and ``json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playbook.render.html import render_html
from playbook.render.kpi_json import kpi_csv, kpi_json, review_json
from playbook.render.table import render_kpi_table, render_review

if TYPE_CHECKING:
    from playbook.kpi.charts import Dashboard
    from playbook.kpi.report import KpiReport
    from playbook.kpi.review import WeeklyReview

__all__ = ["KPI_FORMATS", "REVIEW_FORMATS", "render_kpis", "render_weekly_review"]

KPI_FORMATS: tuple[str, ...] = ("table", "json", "csv", "html")
REVIEW_FORMATS: tuple[str, ...] = ("text", "json")


def render_kpis(
    report: KpiReport,
    output_format: str,
    *,
    lang: str | None = None,
    color: bool = False,
    dashboard: Dashboard | None = None,
) -> str:
    """The report in ``output_format``, one of :data:`KPI_FORMATS`; labels in ``lang``.

    ``html`` draws the ``dashboard`` (which holds the report) and raises
    ValueError without one; ``color`` colours the table's status column.
    """
    if output_format == "html":
        if dashboard is None:
            raise ValueError("the html format draws a dashboard: give the report's dashboard")
        return render_html(dashboard, lang=lang)
    if output_format == "json":
        return kpi_json(report, lang=lang)
    if output_format == "csv":
        return kpi_csv(report, lang=lang)
    return render_kpi_table(report, lang=lang, color=color)


def render_weekly_review(
    review: WeeklyReview, output_format: str, *, lang: str | None = None, color: bool = False
) -> str:
    """The review in ``output_format``, one of :data:`REVIEW_FORMATS`; labels in ``lang``."""
    if output_format == "json":
        return review_json(review)
    return render_review(review, lang=lang, color=color)
