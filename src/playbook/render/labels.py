"""How the KPI and review reports show figures: display units, statuses and number formats.

Figures are formatted by their unit: ratios as percentages, days with one
decimal, money with thousands separators and the playbook's currency, counts
as integers. The words come from :mod:`playbook.i18n` (``report.*`` keys).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime

from playbook.i18n import say

__all__ = ["as_of_text", "format_value", "status_word", "unit_of"]

_UNITS: Mapping[str, str] = {
    "conversion": "ratio",
    "win_rate": "ratio",
    "field_ratio": "ratio",
    "cycle_time": "days",
    "time_in_stage": "days",
    "pipeline_value": "money",
    "weighted_pipeline": "money",
    "won_value": "money",
}


def status_word(status: str | None, lang: str | None = "en") -> str:
    """The status as shown to people; ``no target`` for None."""
    return say(f"report.{status or 'no_target'}", lang)


def unit_of(metric: str, unit: str | None, aggregate: str | None = None) -> str:
    """The display unit of a KPI: its ``unit``, else the metric's natural one."""
    if unit:
        return unit
    if metric == "field_aggregate":
        return "count" if aggregate == "count" else "score"
    return _UNITS.get(metric, "count")


def format_value(
    value: float | None, unit: str, *, currency: str | None = None, lang: str | None = "en"
) -> str:
    """A figure for people: ``63.1%``, ``57.3 days``, ``1,234,567 USD``, ``42``; ``–`` for None."""
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "days":
        return f"{value:,.1f} {say('unit.days', lang)}"
    if unit == "money":
        amount = f"{value:,.0f}"
        return f"{amount} {currency}" if currency else amount
    if unit == "score":
        return f"{value:,.2f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def as_of_text(instant: datetime, timezone: str, lang: str | None = "en") -> str:
    """``as of 2018-01-01 00:00 Asia/Shanghai``: the instant a report's figures are computed
    at, in the playbook's timezone."""
    local = instant.astimezone(zoneinfo.ZoneInfo(timezone))
    return say("report.as_of", lang, instant=f"{local:%Y-%m-%d %H:%M} {timezone}")
