"""KPIs: the playbook's targets measured on the deal store's history, in SQL.

Every metric of the playbook format (``stage_entries``, ``conversion``,
``win_rate``, ``cycle_time``, ``time_in_stage``, ``pipeline_value``,
``weighted_pipeline``, ``won_deals``, ``won_value``, ``activity_count``,
``field_aggregate``, ``field_ratio``) is a :class:`~playbook.kpi.aggregate.Plan`:
which unit rows it reads (:mod:`playbook.kpi.units`) and how they add up
(:mod:`playbook.kpi.aggregate`), in the database, one row per group.

:func:`compute_kpis` measures the KPIs over a
:class:`~playbook.kpi.periods.Period`, grouped by owner, team, manager,
region or an enum field, and judges each figure against its target
(:mod:`playbook.kpi.targets`); the report notes why figures are missing when
the store holds no data for them. docs/kpis.md gives each formula and its
edge cases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, case, func, select

from playbook.errors import KpiError
from playbook.i18n import Message
from playbook.kpi.aggregate import Plan, group_column, measure_all, members_by_group, owner_teams
from playbook.kpi.periods import Period
from playbook.kpi.report import GroupFigure, KpiReport, KpiResult, Measured, judged_results
from playbook.kpi.units import Units, measuring, reached, unit_column
from playbook.model import Kpi, Playbook
from playbook.store.db import Database
from playbook.store.fields import column_for
from playbook.store.models import Deal, StageChange

__all__ = ["compute_kpis"]


def compute_kpis(
    database: Database,
    playbook: Playbook,
    period: Period,
    *,
    now: datetime,
    by: Sequence[str] | None = None,
    kpi_ids: Sequence[str] | None = None,
    team_subtotals: bool = False,
) -> KpiReport:
    """Measure the playbook's KPIs over ``period`` in the store, each against its target.

    ``by`` replaces every KPI's own grouping (``()`` for overall figures);
    ``kpi_ids`` keeps only those KPIs. Every figure is computed as of one
    instant: the period's end, or ``now`` inside a running period (history
    recorded after it does not count); ``now`` also decides how much of the
    period has passed (for the pace of a running period). Raises
    :class:`~playbook.errors.KpiError` when the playbook has no KPI or an
    unknown id is asked for, :class:`~playbook.errors.GroupingError` for an
    unknown grouping.

    With ``team_subtotals``, the KPIs grouped by owner alone are measured by
    team too (``subtotals``), and each owner's team is read (``teams``), so
    that the by-owner table can show a subtotal under each team's owners.
    """
    groupings = None if by is None else tuple(by)
    chosen = [
        (kpi, groupings if groupings is not None else kpi.by) for kpi in _chosen(playbook, kpi_ids)
    ]
    for _kpi, names in chosen:
        for name in names:
            group_column(name, playbook)  # an unknown grouping fails before any query runs
    notes: list[str] = []
    by_team = [(kpi, ("team",)) for kpi, names in chosen if names == ("owner",)]
    by_team = by_team if team_subtotals else []
    with measuring(database, playbook, period, now) as units:
        measured, results = _results(units, chosen, now)
        for kpi, _names, rows in measured:
            notes += _field_notes(units.connection, playbook, kpi, rows)
        if all(result.n == 0 for result in results):
            notes.append(_history_note(units.connection, playbook, period))
        subtotals = _results(units, by_team, now)[1] if by_team else []
        teams = owner_teams(units) if by_team else {}
    return KpiReport(
        playbook,
        period,
        now,
        tuple(results),
        tuple(notes),
        groupings,
        subtotals=tuple(subtotals),
        teams=teams,
    )


def _results(
    units: Units, chosen: Sequence[tuple[Kpi, tuple[str, ...]]], now: datetime
) -> tuple[list[Measured], list[KpiResult]]:
    """The KPIs measured, each by its groupings, and judged against their targets."""
    jobs = [(_plan(units, kpi), names, kpi.where) for kpi, names in chosen]
    measured: list[Measured] = [
        (kpi, names, rows)
        for (kpi, names), rows in zip(chosen, measure_all(units, jobs), strict=True)
    ]
    per_member = {names for kpi, names in chosen if kpi.per is not None}
    members = {names: members_by_group(units, names) for names in per_member}
    return measured, judged_results(measured, units.period, now, members)


def _chosen(playbook: Playbook, kpi_ids: Sequence[str] | None) -> tuple[Kpi, ...]:
    if not playbook.kpis:
        raise KpiError(
            Message("error.metrics.playbook_declares_no_kpi", key=playbook.key),
            hint=Message("error.metrics.add_kpis_section_playbook"),
        )
    if not kpi_ids:
        return playbook.kpis
    known = {kpi.id: kpi for kpi in playbook.kpis}
    unknown = [kpi_id for kpi_id in kpi_ids if kpi_id not in known]
    if unknown:
        raise KpiError(
            Message("error.metrics.playbook_has_no_kpi", key=playbook.key, unknown=unknown[0]),
            hint=Message("error.metrics.kpis", names=known),
            details={"kpi": unknown[0]},
        )
    return tuple(known[kpi_id] for kpi_id in kpi_ids)


# --- the plan of each metric ---------------------------------------------------------------


def _field(playbook: Playbook, name: str) -> Callable[[sa.FromClause], ColumnElement[Any]]:
    spec = playbook.fields.get(name)
    if spec is None:
        raise KpiError(
            Message("error.metrics.kpi_reads_field_which", name=name),
            hint=Message("error.metrics.declare_under_fields_fix"),
            details={"field": name},
        )
    column = column_for(name, spec.type)
    if spec.kind == "boolean":
        column = case((column.is_(None), None), (column, 1), else_=0)
    return lambda _units: column


def _weighted(playbook: Playbook, name: str) -> Callable[[sa.FromClause], ColumnElement[Any]]:
    value = _field(playbook, name)
    odds = {stage.id: stage.probability or 0.0 for stage in playbook.stages if stage.is_open}

    def read(units: sa.FromClause) -> ColumnElement[Any]:
        probability = case(
            *((units.c.stage == sid, sa.literal(p, sa.Float())) for sid, p in odds.items()),
            else_=sa.literal(0.0, sa.Float()),
        )
        return sa.cast(value(units), sa.Float()) * probability

    return read


def _cycle_params(playbook: Playbook, kpi: Kpi) -> tuple[str, str]:
    outcome = str(kpi.params.get("outcome", "won"))
    return outcome, str(kpi.params.get("from_stage") or playbook.first_stage.id)


def _plan(units: Units, kpi: Kpi) -> Plan:
    builder = _PLANS.get(kpi.metric)
    if builder is None:
        raise KpiError(
            Message("error.metrics.kpi_unknown_metric", id=kpi.id, metric=kpi.metric),
            hint=Message("error.metrics.see_docs_kpis_md"),
            details={"kpi": kpi.id},
        )
    return builder(units, kpi)


def _param(kpi: Kpi, name: str) -> str:
    value = kpi.params.get(name)
    if not value:
        raise KpiError(
            Message("error.metrics.kpi_metric_needs", id=kpi.id, metric=kpi.metric, name=name),
            hint=Message("error.metrics.run_playbook_validate_on"),
            details={"kpi": kpi.id},
        )
    return str(value)


def _statistic(kpi: Kpi) -> str:
    return str(kpi.params.get("statistic") or "mean")


_AGGREGATES = {"mean": "mean", "sum": "sum", "min": "min", "max": "max", "count": "count_values"}

_PLANS: dict[str, Callable[[Units, Kpi], Plan]] = {
    "stage_entries": lambda u, kpi: Plan(u.entries(_param(kpi, "stage")), "count"),
    "conversion": lambda u, kpi: Plan(
        u.entries(_param(kpi, "from_stage")),
        "share",
        reached(u.playbook, _param(kpi, "to_stage"), u.end),
    ),
    "win_rate": lambda u, kpi: Plan(u.closings(), "share", unit_column("won")),
    "won_deals": lambda u, kpi: Plan(u.closings(), "count", only="won"),
    "won_value": lambda u, kpi: Plan(
        u.closings(), "sum", _field(u.playbook, _param(kpi, "field")), only="won"
    ),
    "cycle_time": lambda u, kpi: Plan(
        u.cycles(*_cycle_params(u.playbook, kpi)), _statistic(kpi), unit_column("days")
    ),
    "time_in_stage": lambda u, kpi: Plan(
        u.stays(_param(kpi, "stage")), _statistic(kpi), unit_column("days")
    ),
    "pipeline_value": lambda u, kpi: Plan(
        u.open_at_end(), "sum", _field(u.playbook, _param(kpi, "field"))
    ),
    "weighted_pipeline": lambda u, kpi: Plan(
        u.open_at_end(), "sum", _weighted(u.playbook, _param(kpi, "field"))
    ),
    "activity_count": lambda u, kpi: Plan(u.activities(kpi.params.get("activity")), "count"),
    "field_aggregate": lambda u, kpi: Plan(
        u.closings(),
        _AGGREGATES[_param(kpi, "aggregate")],
        _field(u.playbook, _param(kpi, "field")),
    ),
    "field_ratio": lambda u, kpi: Plan(
        u.closings(),
        "ratio",
        _field(u.playbook, _param(kpi, "field")),
        _field(u.playbook, _param(kpi, "denominator")),
    ),
}


# --- notes on missing data -----------------------------------------------------------------


def _field_notes(
    connection: sa.Connection, playbook: Playbook, kpi: Kpi, rows: Sequence[GroupFigure]
) -> list[str]:
    names = [kpi.params[key] for key in ("field", "denominator") if kpi.params.get(key)]
    if not names or any(n for _, _, n in rows):
        return []
    notes = []
    for name in names:
        spec = playbook.fields[name]
        found = connection.execute(
            select(Deal.id)
            .where(Deal.playbook_id == playbook.id, column_for(name, spec.type).is_not(None))
            .limit(1)
        ).first()
        if found is None:
            notes.append(
                f"KPI {kpi.id!r}: no deal of {playbook.id} has a value for the field {name!r}; "
                "fill it (or map it in the import) to measure this KPI"
            )
    return notes


def _history_note(connection: sa.Connection, playbook: Playbook, period: Period) -> str:
    count, first, last = connection.execute(
        select(func.count(), func.min(StageChange.at), func.max(StageChange.at))
        .select_from(StageChange)
        .join(Deal, Deal.id == StageChange.deal_id)
        .where(Deal.playbook_id == playbook.id)
    ).one()
    span = f"{period.first_day.isoformat()} to {period.last_day.isoformat()}"
    if not count:
        return (
            f"the store holds no deal of {playbook.id}: import deals with "
            "`playbook deals import` or create them with the engine"
        )
    if first == last:
        return (
            f"all {count} stage changes of {playbook.id} are dated {_day_of(first)}: the deals "
            "were imported without dates, so there is no history to measure; map the date "
            "columns (stage_dates) in the import mapping and import again"
        )
    return (
        f"no deal history of {playbook.id} from {span}; "
        f"the store's history runs from {_day_of(first)} to {_day_of(last)}"
    )


def _day_of(moment: Any) -> str:
    return moment.date().isoformat() if isinstance(moment, datetime) else str(moment)[:10]
