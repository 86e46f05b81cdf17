"""``/api/v1/kpis`` and ``/api/v1/review``: KPI figures against targets, the weekly review.

The same library calls as ``playbook kpi --format json`` and ``playbook review
--format json``, on the playbook's latest registered version (or the one
named), in the request's language. Reads: any valid token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from playbook.errors import PeriodError
from playbook.i18n import Message
from playbook.kpi.metrics import compute_kpis
from playbook.kpi.periods import Period, current_period, parse_period, parse_week, period_between
from playbook.kpi.review import weekly_review
from playbook.model import Playbook
from playbook.render.kpi_json import kpi_data
from playbook.values import require_now
from playbook.web.access import Caller, reader
from playbook.web.gates import registered
from playbook.web.kpi_schemas import KpiReportOut, WeeklyReviewOut

__all__ = ["router"]

router = APIRouter(tags=["kpis"])

_Name = Annotated[str | None, Query(max_length=200)]
PlaybookId = Annotated[
    str | None,
    Query(max_length=200, description="Default: the only playbook registered."),
]
Version = Annotated[int | None, Query(ge=1, le=2**31, description="Default: the latest.")]
At = Annotated[
    datetime | None,
    Query(description="Measure as at this instant (ISO 8601 with a zone; default: now)."),
]


@dataclass(frozen=True, slots=True)
class _Scope:
    """The playbook version asked for, the instant to measure at, the request's language."""

    playbook: Playbook
    at: datetime
    lang: str


def _scope(
    request: Request,
    caller: Annotated[Caller, Depends(reader)],
    playbook: PlaybookId = None,
    version: Version = None,
    now: At = None,
) -> _Scope:
    model = registered(caller, playbook, version)
    lang = caller.language(model)
    request.state.lang = lang
    return _Scope(model, caller.now if now is None else require_now(now), lang)


Scope = Annotated[_Scope, Depends(_scope)]


@router.get("/kpis", response_model=KpiReportOut, summary="KPI figures against targets")
def kpis(
    caller: Annotated[Caller, Depends(reader)],
    scope: Scope,
    period: Annotated[str | None, Query(max_length=20, examples=["2017-Q4"])] = None,
    first_day: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last_day: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    by: Annotated[list[str] | None, Query(max_length=10)] = None,
    kpi: Annotated[list[str] | None, Query(max_length=50)] = None,
) -> dict[str, Any]:
    """Every KPI (or those named) over ``period`` (``2017-Q4``, ``2017-12``, ``2017-W52``,
    ``2017``; or ``from``/``to`` days; default: the current quarter), grouped by each KPI's
    own ``by`` unless ``by`` is given (``all`` for overall figures)."""
    chosen = _period(scope.playbook, period, first_day, last_day, scope.at)
    groupings = None if not by else tuple(b for b in by if b not in ("all", "none"))
    report = compute_kpis(
        caller.store.database, scope.playbook, chosen, now=scope.at, by=groupings, kpi_ids=kpi or ()
    )
    return kpi_data(report, lang=scope.lang)


@router.get("/review", response_model=WeeklyReviewOut, summary="The weekly 1-15-30 review")
def review(
    caller: Annotated[Caller, Depends(reader)],
    scope: Scope,
    owner: _Name = None,
    team: _Name = None,
    week: Annotated[str | None, Query(max_length=10, examples=["2017-W52"])] = None,
) -> dict[str, Any]:
    """One rep's (``owner``) or team's (``team``) deals for an ISO week (default: this week):
    stage, days in stage, the week's activities and moves, what is missing, escalations."""
    model = scope.playbook
    chosen = parse_week(week, scope.at, model.timezone)
    found = weekly_review(
        caller.store.database, model, chosen, now=scope.at, owner=owner, team=team, lang=scope.lang
    )
    return found.to_dict()


def _period(
    playbook: Playbook, period: str | None, first: str | None, last: str | None, now: datetime
) -> Period:
    if period is not None and (first is not None or last is not None):
        raise PeriodError(Message("error.web.period_or_range"))
    if period is not None:
        return parse_period(period, playbook.timezone)
    if first is not None and last is not None:
        return period_between(first, last, playbook.timezone)
    if first is not None or last is not None:
        raise PeriodError(Message("error.web.from_and_to"))
    return current_period("quarter", now, playbook.timezone)
