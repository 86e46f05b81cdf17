"""The JSON shapes of KPI reports and weekly reviews (``GET /kpis``, ``GET /review``).

They describe the library's own JSON forms (:meth:`KpiReport.to_dict` with the
titles of :func:`playbook.render.kpi_json.kpi_data`, :meth:`WeeklyReview.to_dict`),
which the responses are built from and checked against on the way out.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from playbook.kpi.targets import Status

__all__ = ["KpiFigure", "KpiReportOut", "PeriodOut", "WeeklyReviewOut"]


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PeriodOut(_Response):
    """A period: its label, first and last day (included), kind and timezone."""

    label: str
    from_: date = Field(alias="from")
    to: date
    kind: str
    timezone: str


class TargetOut(_Response):
    """A KPI's target: a lower bound, an upper bound, or both."""

    min: float | None = None
    max: float | None = None


class KpiFigure(_Response):
    """One KPI's figure for one group, against its target."""

    id: str
    title: str = Field(description="In the request's language.")
    metric: str
    unit: str
    group: dict[str, str | None] = Field(description="The grouping keys and this group's values.")
    value: float | None = Field(description="null when there is no data, never 0.")
    target: TargetOut | None
    gap: float | None
    status: Status | None
    n: int = Field(description="How many deals, stays or activities the figure counts.")
    per: str | None = None
    members: int | None = None
    per_member: float | None = None


class KpiReportOut(_Response):
    """Every KPI figure of a playbook over one period, as of one instant."""

    playbook: str
    period: PeriodOut
    computed_at: datetime
    as_of: datetime = Field(description="The period's end, or the time of the report inside it.")
    elapsed: float = Field(description="The share of the period passed (0 to 1).")
    kpis: list[KpiFigure]
    notes: list[str]


class MoveOut(_Response):
    """A stage change of the week."""

    from_: str | None = Field(alias="from")
    to: str
    at: datetime
    actor: str


class OpenEscalationOut(_Response):
    """An escalation not resolved yet."""

    rule: str
    level: int
    status: str
    fired_at: datetime
    reason: str


class ReviewedDealOut(_Response):
    """One deal's line in the weekly review."""

    deal: str
    owner: str | None
    stage: str
    outcome: str | None
    days_in_stage: float
    activities: dict[str, int] = Field(description="This week's activities by kind.")
    moves: list[MoveOut]
    missing: list[str] = Field(description="What the next stage misses, in words.")
    escalations: list[OpenEscalationOut]


class ReviewSummary(_Response):
    """Counts of the week."""

    open: int
    moved: int
    won: int
    lost: int
    idle: int
    activities: int
    escalations: int


class WeeklyReviewOut(_Response):
    """The 1-15-30 funnel review of one rep or team for one ISO week."""

    playbook: str
    week: PeriodOut
    as_of: datetime
    owner: str | None
    team: str | None
    summary: ReviewSummary
    deals: list[ReviewedDealOut]
