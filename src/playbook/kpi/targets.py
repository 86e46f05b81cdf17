"""KPI targets and status: scaling a target to a period and judging a figure against it.

A figure is ``met``, ``on_track`` (on a linear pace, short of the target
still, in a running period), ``at_risk`` (behind that pace), ``missed`` or
``no_data``. Cumulative metrics (counts and sums that add up over time) have
their targets scaled to the report's period and are judged on pace. Pure
arithmetic: docs/kpis.md states the rule.
"""

from __future__ import annotations

from typing import Literal

from playbook.kpi.periods import Period
from playbook.model import Kpi

__all__ = [
    "CUMULATIVE_METRICS",
    "Status",
    "gap_to_target",
    "is_cumulative",
    "judge",
    "rounded",
    "target_scale",
]

Status = Literal["met", "on_track", "at_risk", "missed", "no_data"]

"""Groupings every store knows; any ``enum`` (or string, boolean) field is one too."""

CUMULATIVE_METRICS: frozenset[str] = frozenset(
    {"stage_entries", "won_deals", "won_value", "activity_count"}
)
"""Metrics that add up over time: their targets scale with the period and are paced."""

_DIGITS = 6


def target_scale(kpi: Kpi, period: Period) -> float:
    """The factor applied to a cumulative KPI's targets for a report over ``period``.

    A target is declared for the KPI's ``period`` (a quarter, say); a report
    over two years holds eight of them. Ratios, averages and snapshots are not
    scaled (factor 1).
    """
    if not is_cumulative(kpi) or kpi.period is None:
        return 1.0
    return period.length_in(kpi.period)  # type: ignore[arg-type]


def judge(
    value: float | None,
    target_min: float | None,
    target_max: float | None,
    *,
    cumulative: bool,
    elapsed: float,
) -> Status | None:
    """The status of a figure against its (already scaled) target.

    - None when there is no target; ``no_data`` when there is no figure;
    - a finished period (``elapsed`` = 1): ``met`` inside the target, else ``missed``;
    - a running period, cumulative figure: ``missed`` once over its ``max``;
      ``at_risk`` when behind the linear pace (``value < min × elapsed``, or
      ``value > max × elapsed``); ``met`` when inside the whole target
      already; else ``on_track`` (on pace, short of the target still);
    - a running period, other figures: ``met`` inside the target, else ``at_risk``.
    """
    if target_min is None and target_max is None:
        return None
    if value is None:
        return "no_data"
    inside = (target_min is None or value >= target_min) and (
        target_max is None or value <= target_max
    )
    if elapsed >= 1.0:
        return "met" if inside else "missed"
    if not cumulative:
        return "met" if inside else "at_risk"
    if target_max is not None and value > target_max:
        return "missed"
    behind = target_min is not None and value < target_min * elapsed
    ahead = target_max is not None and value > target_max * elapsed
    if behind or ahead:
        return "at_risk"
    return "met" if inside else "on_track"


def gap_to_target(
    value: float | None, target_min: float | None, target_max: float | None
) -> float | None:
    """How far ``value`` is from the target: above ``max`` (positive), else from ``min``.

    None when there is no figure or no target.
    """
    if value is None:
        return None
    if target_max is not None and (target_min is None or value > target_max):
        return rounded(value - target_max)
    if target_min is not None:
        return rounded(value - target_min)
    return None


def is_cumulative(kpi: Kpi) -> bool:
    """True when the KPI's figure adds up over time: a cumulative metric, or a sum or count of
    a field."""
    if kpi.metric in CUMULATIVE_METRICS:
        return True
    return kpi.metric == "field_aggregate" and kpi.params.get("aggregate") in ("sum", "count")


def rounded(value: float) -> float:
    """``value`` to six decimals, as an int when it is whole (figures read the same on both
    databases and in JSON)."""
    figure = round(float(value), _DIGITS)
    return int(figure) if figure.is_integer() and abs(figure) < 2**53 else figure
