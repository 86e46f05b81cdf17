"""The data behind the HTML report's charts: the funnel, the cycle-time histogram, a dashboard.

Both charts are measured in SQL over the same unit rows as the KPIs
(:mod:`playbook.kpi.units`), so the funnel's conversion equals the
``conversion`` metric and the histogram's median the ``cycle_time`` median.
:func:`dashboard` gathers everything the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import func, select

from playbook.kpi.aggregate import Plan, overall
from playbook.kpi.dialect import Floor
from playbook.kpi.periods import Period
from playbook.kpi.report import KpiReport
from playbook.kpi.review import StuckDeal, stuck_deals, value_field
from playbook.kpi.targets import rounded
from playbook.kpi.units import in_period, measuring, reached, unit_column
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


def funnel(database: Database, playbook: Playbook, period: Period) -> tuple[FunnelStep, ...]:
    """Deals entering each open and won stage in the period, and the conversion between
    adjacent ones (``conversion`` metric semantics)."""
    path = [stage for stage in playbook.stages if stage.outcome != "lost"]
    with measuring(database, playbook, period) as units:
        counts = _entry_counts(units.connection, playbook, period)
        steps = []
        for stage, following in zip(path, [*path[1:], None], strict=True):
            rate = None
            if following is not None and stage.is_open:
                cohort = units.entries(stage.id)
                rate = overall(units, Plan(cohort, "share", reached(playbook, following.id)))
            steps.append(FunnelStep(stage, counts.get(stage.id, 0), rate))
    return tuple(steps)


def _entry_counts(connection: sa.Connection, playbook: Playbook, period: Period) -> dict[str, int]:
    query = (
        select(StageChange.to_stage, func.count(sa.distinct(StageChange.deal_id)))
        .join(Deal, Deal.id == StageChange.deal_id)
        .where(Deal.playbook_id == playbook.id, in_period(StageChange.at, period))
        .group_by(StageChange.to_stage)
    )
    return {stage: int(count) for stage, count in connection.execute(query)}


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
    database: Database, playbook: Playbook, period: Period, *, outcome: str = "won", bins: int = 12
) -> Histogram:
    """The distribution of cycle times (first stage to ``outcome``) of deals closed in the period,
    binned in SQL into at most ``bins`` bins of a round width."""
    with measuring(database, playbook, period) as units:
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

    Stuck deals are measured at the end of the period, or when the report was
    computed if that is earlier.
    """
    playbook, period = report.playbook, report.period
    return Dashboard(
        report=report,
        funnel=funnel(database, playbook, period),
        cycle_times=cycle_time_histogram(database, playbook, period),
        stuck=stuck_deals(database, playbook, now=min(report.computed_at, period.end)),
        value_field=value_field(playbook),
    )
