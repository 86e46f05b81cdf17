"""The data behind the HTML report's charts: the funnel, the cycle-time histogram, a dashboard.

Both charts are measured in SQL over the same unit rows as the KPIs
(:mod:`playbook.kpi.units`), so the funnel's conversion equals the
``conversion`` metric and the histogram's median the ``cycle_time`` median.
:func:`dashboard` gathers everything the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func, select

from playbook.kpi.aggregate import Plan, overall
from playbook.kpi.dialect import Floor
from playbook.kpi.periods import Period
from playbook.kpi.report import KpiReport
from playbook.kpi.review import StuckDeal, stuck_deals, value_field
from playbook.kpi.targets import rounded
from playbook.kpi.units import Units, measuring, reached, unit_column, within
from playbook.model import Playbook, Stage
from playbook.store.db import Database
from playbook.store.models import Deal, StageChange

__all__ = ["Dashboard", "FunnelStep", "Histogram", "cycle_time_histogram", "dashboard", "funnel"]

_WIDTHS = (1, 2, 5, 7, 10, 14, 15, 20, 30, 60, 90, 180, 365)


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """One stage of the funnel: deals that entered it in the period, and the cohort conversion
    from it to the next stage (None for the last one or when no deal entered it)."""

    stage: Stage
    entered: int
    conversion: float | None


def funnel(
    database: Database, playbook: Playbook, period: Period, as_of: datetime | None = None
) -> tuple[FunnelStep, ...]:
    """Deals entering each open and won stage in the period, and the conversion between
    adjacent ones (``conversion`` metric semantics), as of ``as_of`` (default: the end)."""
    path = [stage for stage in playbook.stages if stage.outcome != "lost"]
    with measuring(database, playbook, period, as_of) as units:
        counts = _entry_counts(units, playbook)
        steps = []
        for stage, following in zip(path, [*path[1:], None], strict=True):
            rate = None
            if following is not None and stage.is_open:
                cohort = units.entries(stage.id)
                converted = reached(playbook, following.id, units.end)
                rate = overall(units, Plan(cohort, "share", converted))
            steps.append(FunnelStep(stage, counts.get(stage.id, 0), rate))
    return tuple(steps)


def _entry_counts(units: Units, playbook: Playbook) -> dict[str, int]:
    query = (
        select(StageChange.to_stage, func.count(sa.distinct(StageChange.deal_id)))
        .join(Deal, Deal.id == StageChange.deal_id)
        .where(Deal.playbook_id == playbook.id, within(StageChange.at, units.start, units.end))
        .group_by(StageChange.to_stage)
    )
    return {stage: int(count) for stage, count in units.connection.execute(query)}


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cycle times of deals closed in a period, in bins of ``width`` days."""

    outcome: str
    width: int
    counts: tuple[int, ...]
    n: int
    median: float | None
    mean: float | None


def cycle_time_histogram(
    database: Database,
    playbook: Playbook,
    period: Period,
    *,
    outcome: str = "won",
    bins: int = 12,
    as_of: datetime | None = None,
) -> Histogram:
    """The distribution of cycle times (first stage to ``outcome``) of deals closed in the period
    (before ``as_of``), binned in SQL into at most ``bins`` bins of a round width."""
    with measuring(database, playbook, period, as_of) as units:
        cycles = units.cycles(outcome, playbook.first_stage.id)
        joined = cycles.join(Deal, Deal.id == cycles.c.deal_id)
        mine = [Deal.playbook_id == playbook.id, cycles.c.days.is_not(None)]
        n, total, longest = units.connection.execute(
            select(func.count(), func.sum(cycles.c.days), func.max(cycles.c.days))
            .select_from(joined)
            .where(*mine)
        ).one()
        if not n:
            return Histogram(outcome, 1, (), 0, None, None)
        width = next((w for w in _WIDTHS if float(longest) / w < bins), _WIDTHS[-1])
        bucket = Floor(cycles.c.days / width)
        rows = units.connection.execute(
            select(bucket, func.count()).select_from(joined).where(*mine).group_by(bucket)
        ).all()
        median = overall(units, Plan(cycles, "median", unit_column("days")))
    counts = [0] * (max(int(b) for b, _ in rows) + 1)
    for index, count in rows:
        counts[max(0, int(index))] += int(count)
    return Histogram(outcome, width, tuple(counts), int(n), median, rounded(float(total) / n))


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the HTML report shows: KPIs against targets, funnel, cycle times, stuck deals."""

    report: KpiReport
    funnel: tuple[FunnelStep, ...]
    cycle_times: Histogram
    stuck: tuple[StuckDeal, ...]
    value_field: str | None = None

    @property
    def playbook(self) -> Playbook:
        """The playbook measured."""
        return self.report.playbook


def dashboard(database: Database, report: KpiReport) -> Dashboard:
    """Everything the HTML report shows for the report's playbook and period, besides ``report``.

    Every chart is measured as of the report's instant (the period's end, or
    when the report was computed if that is earlier): the stuck deals' stage,
    days since their last activity and escalations too.
    """
    playbook, period, as_of = report.playbook, report.period, report.as_of
    return Dashboard(
        report=report,
        funnel=funnel(database, playbook, period, as_of),
        cycle_times=cycle_time_histogram(database, playbook, period, as_of=as_of),
        stuck=stuck_deals(database, playbook, now=as_of),
        value_field=value_field(playbook),
    )
