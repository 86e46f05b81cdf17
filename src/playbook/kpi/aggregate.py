"""Aggregating unit rows into figures per group, in one SQL query per batch of KPIs.

A :class:`Plan` says what a metric measures: which unit rows, and how they
add up (``count``, ``sum``, ``share`` of a 0/1 flag, ``ratio`` of two sums,
``mean``, ``min``, ``max``, ``count_values``, ``median``, ``p90``). The rows
are joined to their deals (and the owner's row in ``people`` for team,
manager and region), filtered by the playbook and the KPI's ``where``, and
grouped in the database: no deal row is pulled into Python. Percentiles
interpolate between ranks like PostgreSQL's ``percentile_cont``, which SQLite
gets from window functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, case, func, select

from playbook.conditions.sql import to_sql
from playbook.errors import GroupingError
from playbook.i18n import Message
from playbook.kpi.report import GroupFigure
from playbook.kpi.targets import rounded
from playbook.kpi.units import Query, Units
from playbook.model import Condition, Playbook
from playbook.store.derived import columns_for
from playbook.store.fields import column_for
from playbook.store.models import Deal, Person

__all__ = [
    "BUILTIN_GROUPS",
    "Job",
    "Plan",
    "group_column",
    "measure_all",
    "members_by_group",
    "overall",
    "owner_teams",
]

BUILTIN_GROUPS: tuple[str, ...] = ("owner", "team", "manager", "region")
"""Groupings every store knows; any ``enum`` (or string, boolean) field is one too."""

_PERCENTILES: dict[str, tuple[int, int]] = {"median": (1, 2), "p90": (9, 10)}


@dataclass(frozen=True, slots=True)
class Plan:
    """What one metric measures: unit rows (one per deal, stay or activity) and their aggregate.

    ``aggregate`` is one of ``count``, ``sum``, ``share`` (mean of a 0/1
    flag), ``ratio`` (sum of ``x`` / sum of ``y``), ``mean``, ``min``, ``max``,
    ``count_values``, ``median``, ``p90``. ``only`` names a 0/1 column of the
    units: the plan then measures only the rows where it is 1.
    """

    units: sa.FromClause
    aggregate: str
    x: Callable[[sa.FromClause], ColumnElement[Any]] | None = None
    y: Callable[[sa.FromClause], ColumnElement[Any]] | None = None
    only: str | None = None


Job = tuple[Plan, tuple[str, ...], Condition | None]
"""One figure per group to measure: the plan, the groupings and the KPI's ``where``."""


def measure_all(units: Units, jobs: Sequence[Job]) -> list[list[GroupFigure]]:
    """The figures of each job, in order.

    Jobs that read the same shared unit rows with the same groups and ``where``
    (win rate, won deals, won value and field aggregates over the closings)
    are measured by one query: the join to the deals is then done once.
    SQLite's percentiles need a query of their own (window functions).
    """
    windowed = units.connection.dialect.name != "postgresql"
    batches: dict[tuple[Any, ...], list[int]] = {}
    for index, (plan, names, where) in enumerate(jobs):
        alone = windowed and plan.aggregate in _PERCENTILES
        key = (index,) if alone else (id(plan.units), names, None if where is None else where.text)
        batches.setdefault(key, []).append(index)
    found: list[list[GroupFigure]] = [[] for _ in jobs]
    for members in batches.values():
        _plan, names, where = jobs[members[0]]
        measured = _measure(units, where, names, [jobs[index][0] for index in members])
        for index, rows in zip(members, measured, strict=True):
            found[index] = rows
    return found


def overall(units: Units, plan: Plan) -> float | None:
    """The plan's figure over all the playbook's unit rows (no group, no filter)."""
    rows = _measure(units, None, (), [plan])[0]
    return rows[0][1] if rows else None


def _measure(
    units: Units, where: Condition | None, names: Sequence[str], plans: Sequence[Plan]
) -> list[list[GroupFigure]]:
    """The figures of each plan, all over the same units, groups and ``where``, in one query."""
    groups = [group_column(name, units.playbook) for name in names]
    query, widths = _aggregated(units, where, plans, groups, names)
    width = len(groups)
    found: list[list[GroupFigure]] = [[] for _ in plans]
    for row in units.connection.execute(query):
        start = width
        for rows, plan, size in zip(found, plans, widths, strict=True):
            rows.append(_finish(plan.aggregate, (*row[:width], *row[start : start + size]), width))
            start += size
    return found


def members_by_group(units: Units, names: Sequence[str]) -> dict[tuple[Any, ...], int]:
    """How many members each group has: the distinct owners of the playbook's deals in it,
    and, grouped by team, manager or region (or not at all), the people declared in it.

    A rep of the team who has no deal yet still counts; a deal's own ``team``
    (which wins over the owner's) puts its owner in that team's members.
    """
    playbook = units.playbook
    groups = [group_column(name, playbook) for name in names]
    source: Any = Deal.__table__
    if any(name in BUILTIN_GROUPS[1:] for name in names):
        source = sa.outerjoin(Deal, Person, Person.name == Deal.owner)
    owners = (
        select(*groups, Deal.owner)
        .select_from(source)
        .where(Deal.playbook_id == playbook.id, Deal.owner.is_not(None))
        .distinct()
    )
    found: dict[tuple[Any, ...], set[str]] = {}
    for row in units.connection.execute(owners):
        found.setdefault(tuple(row[:-1]), set()).add(row[-1])
    if all(name in BUILTIN_GROUPS[1:] for name in names):
        declared = select(*(getattr(Person, name) for name in names), Person.name)
        for row in units.connection.execute(declared):
            found.setdefault(tuple(row[:-1]), set()).add(row[-1])
    return {key: len(names_) for key, names_ in found.items()}


def owner_teams(units: Units) -> dict[str, str | None]:
    """Each owner of the playbook's deals and the team the by-team figures put most of their
    deals in (the deal's own team, else the owner's in ``people``)."""
    team = group_column("team", units.playbook)
    query = (
        select(Deal.owner, team, func.count())
        .select_from(sa.outerjoin(Deal, Person, Person.name == Deal.owner))
        .where(Deal.playbook_id == units.playbook.id, Deal.owner.is_not(None))
        .group_by(Deal.owner, team)
    )
    rows = sorted(
        units.connection.execute(query),
        # The most deals wins; a tie goes to the first team by name (the same on both databases).
        key=lambda row: (str(row[0]), -int(row[2]), row[1] is None, str(row[1])),
    )
    teams: dict[str, str | None] = {}
    for owner, name, _count in rows:
        teams.setdefault(str(owner), None if name is None else str(name))
    return teams


def group_column(name: str, playbook: Playbook) -> ColumnElement[Any]:
    """The SQL expression a KPI groups by: a people column or a deal field.

    ``team``, ``manager`` and ``region`` come from the deal, else from the
    owner's row in ``people``. Raises :class:`~playbook.errors.GroupingError`
    for anything that is neither built in nor an enum, string or boolean field.
    """
    if name == "owner":
        return Deal.owner.expression
    if name in BUILTIN_GROUPS:
        return func.coalesce(getattr(Deal, name), getattr(Person, name))
    spec = playbook.fields.get(name)
    if spec is not None and spec.kind in ("enum", "string", "boolean"):
        return column_for(name, spec.type)
    derived = {out.id: out.type for table in playbook.tables for out in table.outputs}
    if derived.get(name) is not None and derived[name].kind in ("enum", "string", "boolean"):
        return columns_for(playbook)(name, derived[name])
    enums = [fid for fid, f in playbook.fields.items() if f.kind == "enum"]
    why = (
        Message("error.aggregate.not_a_field")
        if spec is None
        else Message("error.aggregate.is_kind_field", kind=spec.kind)
    )
    raise GroupingError(
        Message("error.aggregate.cannot_group_kpis_by", name=name, why=why),
        hint=Message("error.aggregate.group_by", names=[*BUILTIN_GROUPS, *enums]),
        details={"by": name},
    )


def _aggregated(
    units: Units,
    where: Condition | None,
    plans: Sequence[Plan],
    groups: list[ColumnElement[Any]],
    names: Sequence[str],
) -> tuple[Query, list[int]]:
    """The query measuring ``plans`` and how many columns each reads.

    On SQLite a percentile plan comes alone: its query ranks the rows with
    window functions. PostgreSQL has ``percentile_cont`` built in.
    """
    rows = plans[0].units
    source: Any = rows.join(Deal, Deal.id == rows.c.deal_id)
    if any(name in BUILTIN_GROUPS[1:] for name in names):
        source = source.outerjoin(Person, Person.name == Deal.owner)
    filters: list[ColumnElement[bool]] = [Deal.playbook_id == units.playbook.id]
    if where is not None:
        filters.append(to_sql(where.expr, columns_for(units.playbook)))
    labelled = [column.label(f"g{i}") for i, column in enumerate(groups)]
    if units.connection.dialect.name != "postgresql" and plans[0].aggregate in _PERCENTILES:
        return _ranked_percentile(plans[0], labelled, source, filters), [2]
    measures = [_measures(plan) for plan in plans]
    query = select(*labelled, *(m for ms in measures for m in ms)).select_from(source)
    query = query.where(*filters)
    return (query.group_by(*groups) if groups else query), [len(ms) for ms in measures]


def _kept(plan: Plan, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """``value`` on the rows the plan measures (see ``only``), else NULL."""
    return value if plan.only is None else case((plan.units.c[plan.only] == 1, value))


def _measures(plan: Plan) -> list[ColumnElement[Any]]:
    x = _kept(plan, plan.x(plan.units)) if plan.x is not None else None
    every = func.count() if plan.only is None else func.count(_kept(plan, sa.literal(1)))
    if plan.aggregate == "count":
        return [every]
    assert x is not None
    if plan.aggregate in ("sum", "share"):
        return [func.sum(x), every]
    if plan.aggregate == "ratio":
        assert plan.y is not None
        y = _kept(plan, plan.y(plan.units))
        both = sa.and_(x.is_not(None), y.is_not(None))
        return [func.sum(case((both, x))), func.sum(case((both, y))), func.count(case((both, 1)))]
    if plan.aggregate == "mean":
        return [func.sum(x), func.count(x)]
    if plan.aggregate in ("min", "max"):
        return [getattr(func, plan.aggregate)(x), func.count(x)]
    if plan.aggregate in _PERCENTILES:
        numerator, denominator = _PERCENTILES[plan.aggregate]
        fraction = sa.literal(numerator / denominator, sa.Float())
        return [func.percentile_cont(fraction).within_group(x), func.count(x)]
    return [func.count(x), func.count(x)]  # count_values


def _ranked_percentile(
    plan: Plan,
    groups: list[sa.Label[Any]],
    source: Any,
    filters: list[ColumnElement[bool]],
) -> Query:
    """Linear interpolation between the two closest ranks, as ``percentile_cont`` does."""
    assert plan.x is not None
    x = _kept(plan, plan.x(plan.units))
    numerator, denominator = _PERCENTILES[plan.aggregate]
    partition = list(groups) or None
    ranked = (
        select(
            *groups,
            x.label("x"),
            func.row_number().over(partition_by=partition, order_by=x).label("rn"),
            func.count().over(partition_by=partition).label("cnt"),
        )
        .select_from(source)
        .where(*filters, x.is_not(None))
        .subquery()
    )
    # Integer arithmetic: the same floor and remainder on both databases.
    position = (ranked.c.cnt - 1) * numerator
    low = position // denominator + 1
    share = (position % denominator) * 1.0 / denominator
    weighted = case(
        (ranked.c.rn == low, ranked.c.x * (1.0 - share)),
        (ranked.c.rn == low + 1, ranked.c.x * share),
        else_=0.0,
    )
    keys = [ranked.c[group.name] for group in groups]
    query = select(*keys, func.sum(weighted), func.max(ranked.c.cnt))
    return query.group_by(*keys) if keys else query


def _finish(aggregate: str, row: Sequence[Any], width: int) -> GroupFigure:
    key, measured = tuple(row[:width]), [_number(value) for value in row[width:]]
    if aggregate == "count":
        count = int(measured[0] or 0)
        return key, count, count
    if aggregate == "sum":
        return key, rounded(measured[0] or 0), int(measured[1] or 0)
    if aggregate == "share":
        size = int(measured[1] or 0)
        return key, rounded((measured[0] or 0) / size) if size else None, size
    if aggregate == "ratio":
        top, bottom, size = measured[0], measured[1], int(measured[2] or 0)
        return key, rounded(top / bottom) if top is not None and bottom else None, size
    if aggregate == "mean":
        size = int(measured[1] or 0)
        return key, rounded(measured[0] / size) if size and measured[0] is not None else None, size
    if aggregate == "count_values":
        return key, int(measured[0] or 0), int(measured[1] or 0)
    size = int(measured[1] or 0)
    value = measured[0]
    return key, rounded(value) if size and value is not None else None, size


def _number(value: Any) -> float | None:
    # Sums of decimal fields come back as Decimal, counts as int.
    return None if value is None else float(value)
