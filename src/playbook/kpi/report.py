"""KPI results and reports: each figure judged against its target, per group.

:func:`judged_results` turns the rows the metric SQL measured (one per group)
into :class:`KpiResult` lines: targets scaled to the period, gap and status.
A :class:`KpiReport` holds every line of a playbook over one period and has
the JSON form the ``json`` output and tools read. Pure: no database here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from playbook.kpi.periods import Period
from playbook.kpi.targets import (
    Status,
    gap_to_target,
    is_cumulative,
    judge,
    rounded,
    target_scale,
)
from playbook.model import Kpi, Playbook

__all__ = [
    "GroupFigure",
    "KpiReport",
    "KpiResult",
    "Measured",
    "Members",
    "judged_results",
    "kpi_unit",
]

GroupFigure = tuple[tuple[Any, ...], float | None, int]
"""One group's figure as measured: the group key (a value per grouping), the value (None: no
data) and ``n``."""

Measured = tuple[Kpi, tuple[str, ...], list[GroupFigure]]
"""A KPI, the groupings it was measured by, and its figure for each group."""


@dataclass(frozen=True, slots=True)
class KpiResult:
    """One KPI figure for one group, with its target, gap and status.

    ``n`` is how many things the figure was computed from (deals, stays or
    activities; see docs/kpis.md for each metric). For a KPI whose target is
    per member (``per: owner``), ``members`` is how many members the group
    has and ``per_member`` the figure divided by them: the gap and status
    judge ``per_member`` then, and ``value`` stays the group's total.
    """

    kpi: Kpi
    group: Mapping[str, str | None]
    value: float | None
    n: int
    target_min: float | None
    target_max: float | None
    gap: float | None
    status: Status | None
    members: int | None = None
    per_member: float | None = None

    @property
    def judged(self) -> float | None:
        """The figure the status judges: the per-member figure for a per-member KPI."""
        return self.per_member if self.kpi.per is not None else self.value

    def title(self, playbook: Playbook, lang: str | None = None) -> str:
        """The KPI's title in ``lang`` (default: the playbook's language), else its id."""
        return playbook.label(self.kpi.title, lang, self.kpi.id)

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "metric", "group", "value", "target", "gap", "status", "n"}``."""
        target = {
            key: bound
            for key, bound in (("min", self.target_min), ("max", self.target_max))
            if bound is not None
        }
        found = {
            "id": self.kpi.id,
            "metric": self.kpi.metric,
            "unit": kpi_unit(self.kpi),
            "group": dict(self.group),
            "value": self.value,
            "target": target or None,
            "gap": self.gap,
            "status": self.status,
            "n": self.n,
        }
        if self.kpi.per is not None:
            found.update(per=self.kpi.per, members=self.members, per_member=self.per_member)
        return found


@dataclass(frozen=True, slots=True)
class KpiReport:
    """Every KPI figure of a playbook over one period, and notes on missing data."""

    playbook: Playbook
    period: Period
    computed_at: datetime
    results: tuple[KpiResult, ...]
    notes: tuple[str, ...] = ()
    by: tuple[str, ...] | None = None
    subtotals: tuple[KpiResult, ...] = ()
    """The by-owner KPIs measured by team as well, when asked for (see ``compute_kpis``)."""
    teams: Mapping[str, str | None] = field(default_factory=dict)
    """Each owner's team, to place the owners of the by-owner table under their team."""

    @property
    def as_of(self) -> datetime:
        """The instant every figure is computed at: the period's end, or the time of the
        report inside a running period."""
        return min(self.period.end, max(self.computed_at, self.period.start))

    @property
    def elapsed(self) -> float:
        """The share of the period that had passed when the report was computed."""
        return self.period.elapsed(self.computed_at)

    def for_kpi(self, kpi_id: str) -> tuple[KpiResult, ...]:
        """The results of one KPI, one per group."""
        return tuple(result for result in self.results if result.kpi.id == kpi_id)

    def to_dict(self) -> dict[str, Any]:
        """``{"playbook", "period", "computed_at", "as_of", "elapsed", "kpis": [...], "notes"}``."""
        return {
            "playbook": self.playbook.key,
            "period": self.period.to_dict(),
            "computed_at": self.computed_at.astimezone(UTC).isoformat(),
            "as_of": self.as_of.astimezone(UTC).isoformat(),
            "elapsed": round(self.elapsed, 4),
            "kpis": [result.to_dict() for result in self.results],
            "notes": list(self.notes),
        }

    def failing(self) -> tuple[KpiResult, ...]:
        """The results missed or at risk: what ``playbook kpi --check`` fails on."""
        return tuple(result for result in self.results if result.status in ("missed", "at_risk"))


def kpi_unit(kpi: Kpi) -> str:
    """The unit of a KPI's figures: its declared ``unit``, else the metric's own (``ratio``,
    ``days``, ``money``, ``score`` or ``count``)."""
    if kpi.unit:
        return kpi.unit
    if kpi.metric in ("conversion", "win_rate", "field_ratio"):
        return "ratio"
    if kpi.metric in ("cycle_time", "time_in_stage"):
        return "days"
    if kpi.metric in ("pipeline_value", "weighted_pipeline", "won_value"):
        return "money"
    if kpi.metric == "field_aggregate" and kpi.params.get("aggregate") != "count":
        return "score"
    return "count"


Members = Mapping[tuple[str, ...], Mapping[tuple[Any, ...], int]]
"""How many members each group has, per groupings: for per-member targets."""


def judged_results(
    measured: Sequence[Measured], period: Period, now: datetime, members: Members | None = None
) -> list[KpiResult]:
    """Every KPI's line per group, in order, judged against its target scaled to ``period``.

    Each KPI gets a line for every group another KPI of the same groupings
    has (a rep who logged calls but closed nothing shows a win rate of "no
    data" instead of being left out); a KPI without any group gets one line.
    A KPI whose target is per member is judged on its figure divided by the
    group's ``members`` (one per owner when grouped by owner).
    """
    seen: dict[tuple[str, ...], dict[tuple[Any, ...], None]] = {}
    for _kpi, names, rows in measured:
        if names:
            seen.setdefault(names, {}).update(dict.fromkeys(key for key, _, _ in rows))
    results: list[KpiResult] = []
    for kpi, names, rows in measured:
        present = {key for key, _, _ in rows}
        missing = [key for key in seen.get(names, {}) if key not in present]
        every = rows + [(key, _empty_value(kpi), 0) for key in missing]
        sizes = (members or {}).get(names, {})
        results += _judged(kpi, names, every, period, now, sizes)
    return results


def _judged(
    kpi: Kpi,
    names: Sequence[str],
    rows: Sequence[GroupFigure],
    period: Period,
    now: datetime,
    sizes: Mapping[tuple[Any, ...], int],
) -> list[KpiResult]:
    scale = target_scale(kpi, period)
    low = None if kpi.target_min is None else rounded(kpi.target_min * scale)
    high = None if kpi.target_max is None else rounded(kpi.target_max * scale)
    cumulative = is_cumulative(kpi)
    if not rows:
        rows = [((None,) * len(names), _empty_value(kpi), 0)]
    results = []
    for key, value, n in sorted(rows, key=_group_order):
        members = _members(kpi, names, sizes, key)
        per_member = _per_member(value, members)
        judged = per_member if kpi.per is not None else value
        results.append(
            KpiResult(
                kpi=kpi,
                group=dict(zip(names, (_group_text(v) for v in key), strict=True)) if names else {},
                value=value,
                n=n,
                target_min=low,
                target_max=high,
                gap=gap_to_target(judged, low, high),
                status=judge(judged, low, high, cumulative=cumulative, elapsed=period.elapsed(now)),
                members=members,
                per_member=per_member if kpi.per is not None else None,
            )
        )
    return results


def _members(
    kpi: Kpi, names: Sequence[str], sizes: Mapping[tuple[Any, ...], int], key: tuple[Any, ...]
) -> int | None:
    """How many members the group has, for a per-member KPI (one owner per owner group)."""
    if kpi.per is None:
        return None
    if "owner" in names:
        return 1
    return sizes.get(key, 0)


def _per_member(value: float | None, members: int | None) -> float | None:
    # A group without members has no per-member figure (never a division by zero).
    if value is None or not members:
        return None
    return rounded(value / members)


def _group_order(row: GroupFigure) -> tuple[Any, ...]:
    return tuple((value is None, str(value)) for value in row[0])


def _group_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _empty_value(kpi: Kpi) -> float | None:
    """The figure over nothing: 0 for counts and sums, no data for ratios and averages."""
    if is_cumulative(kpi) or kpi.metric in ("pipeline_value", "weighted_pipeline"):
        return 0
    return None
