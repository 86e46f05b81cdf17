"""KPI reports and weekly reviews as JSON, and KPI reports as CSV, for tools.

JSON: ``{"playbook", "period": {...}, "computed_at", "as_of", "elapsed", "kpis":
[{"id", "metric", "unit", "group", "value", "target", "gap", "status", "n"}],
(``group_titles`` beside ``group`` when a grouped value has a title)
"notes"}`` (a per-member KPI adds ``per``, ``members`` and ``per_member``),
UTF-8 (Chinese is not escaped). ``value`` is null when there is no
data (a win rate with no closed deal), never 0.

CSV: one row per KPI and group; one column per grouping key.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from playbook.render.table import group_titles

if TYPE_CHECKING:
    from playbook.kpi.report import KpiReport
    from playbook.kpi.review import WeeklyReview

__all__ = ["kpi_csv", "kpi_data", "kpi_json", "review_json"]


def kpi_data(report: KpiReport, *, lang: str | None = None) -> dict[str, Any]:
    """The report's JSON form; each KPI carries its ``title`` in ``lang``."""
    data = report.to_dict()
    words = lang or report.playbook.language
    for item, result in zip(data["kpis"], report.results, strict=True):
        item["title"] = result.title(report.playbook, words)
    return data


def kpi_json(report: KpiReport, *, lang: str | None = None) -> str:
    """The report as indented JSON; each KPI carries its ``title`` in ``lang``.

    ``group`` keeps the ids; ``group_titles`` (only when some value of the group
    has a title in the playbook, an enum value) gives those titles in ``lang``.
    """
    data = kpi_data(report, lang=lang)
    words = lang or report.playbook.language
    for item, result in zip(data["kpis"], report.results, strict=True):
        titles = group_titles(result.group, report.playbook, words)
        if titles:
            item["group_titles"] = titles
    return _dumps(data)


def kpi_csv(report: KpiReport, *, lang: str | None = None) -> str:
    """The report as CSV: kpi, title, metric, unit, the grouping keys, value, target_min,
    target_max, gap, status, n, (members, per_member when a KPI's target is per member),
    period_from, period_to."""
    words = lang or report.playbook.language
    keys = list(dict.fromkeys(key for result in report.results for key in result.group))
    columns = ["kpi", "title", "metric", "unit", *keys]
    columns += ["value", "target_min", "target_max", "gap", "status", "n"]
    per_member = any(result.kpi.per is not None for result in report.results)
    if per_member:
        columns += ["members", "per_member"]
    columns += ["period_from", "period_to"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for result in report.results:
        item = result.to_dict()
        row: dict[str, Any] = {
            "kpi": item["id"],
            "title": result.title(report.playbook, words),
            "metric": item["metric"],
            "unit": item["unit"],
            "value": _cell(item["value"]),
            "target_min": _cell(result.target_min),
            "target_max": _cell(result.target_max),
            "gap": _cell(item["gap"]),
            "status": item["status"] or "",
            "n": item["n"],
            "period_from": report.period.first_day.isoformat(),
            "period_to": report.period.last_day.isoformat(),
        }
        row.update({key: _cell(result.group.get(key)) for key in keys})
        if per_member:
            row.update(members=_cell(result.members), per_member=_cell(result.per_member))
        writer.writerow(row)
    return out.getvalue()


def review_json(review: WeeklyReview) -> str:
    """The weekly review as indented JSON."""
    return _dumps(review.to_dict())


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
