"""The unit rows KPIs aggregate: entries into a stage, closings, cycle times, stays, open deals.

Each metric counts, sums or averages over one kind of unit row (see
docs/kpis.md): a deal's entry into a stage in the period, a deal's close in
the period (won or not), the days from a start stage to the close, a stay in
a stage that ended in the period, a deal open at the end of the period, an
activity logged in the period. Every row is read as of one instant, the
period's end or ``now`` inside a running period: what happened at or after it
does not count (:func:`report_instant`). :class:`Units` builds each kind once per report
(several KPIs read the same rows) on the report's connection, which
:func:`measuring` opens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import aliased

from playbook.errors import DatabaseReadOnlyError
from playbook.kpi.dialect import DaysBetween, without_jit
from playbook.kpi.periods import Period
from playbook.model import Playbook, Stage
from playbook.store.db import Database
from playbook.store.models import Activity, StageChange

__all__ = ["Query", "Units", "measuring", "reached", "report_instant", "unit_column", "within"]

Query = Select[*tuple[Any, ...]]


@contextmanager
def measuring(
    database: Database, playbook: Playbook, period: Period, as_of: datetime | None = None
) -> Iterator[Units]:
    """The unit rows of ``playbook`` over ``period`` as known at ``as_of`` (default: the
    period's end), on one connection for the block.

    The temporary tables the rows are kept in vanish when the block ends.
    """
    with database.engine.connect() as connection:
        without_jit(connection)
        yield Units(connection, playbook, period, as_of)


class Units:
    """The unit rows of one report's KPIs, over one period, on one connection.

    Entries into a stage, closings, open deals and cycle times are read by
    several KPIs each (leads and the conversion from leads read the same
    entries; win rate, won deals, won value and field aggregates the same
    closings); stays hold a correlated subquery that SQLite would evaluate
    twice if it were inlined. They are built once per report, as temporary
    tables that vanish with the report's transaction. Where the database
    refuses temporary tables (a read-only transaction, a hot standby, a role
    without the TEMP privilege) they are computed inline in each query instead.
    """

    def __init__(
        self,
        connection: sa.Connection,
        playbook: Playbook,
        period: Period,
        as_of: datetime | None = None,
    ) -> None:
        self.connection = connection
        self.playbook = playbook
        self.period = period
        self.start = period.start
        self.end = report_instant(period, as_of)
        """The one instant every figure is computed at: nothing at or after it counts."""
        self._built: dict[tuple[str, ...], sa.FromClause] = {}
        self._temporary = True

    def entries(self, stage: str) -> sa.FromClause:
        """Deals that entered ``stage`` in the period: ``deal_id, version`` (of the first entry)."""
        return self._shared(("entries", stage), lambda: _entries(stage, self.start, self.end))

    def closings(self) -> sa.FromClause:
        """Each deal's close in the period: ``deal_id, to_stage, at, deal_version, won``."""
        return self._shared(("closings",), lambda: _closings(self.playbook, self.start, self.end))

    def open_at_end(self) -> sa.FromClause:
        """Deals open at the report's instant: ``deal_id, stage``."""
        return self._shared(("open",), lambda: _open_at_end(self.playbook, self.end))

    def cycles(self, outcome: str, start_stage: str) -> sa.FromClause:
        """Cycle times of the deals closed in the period with ``outcome``: ``deal_id, days``."""
        build = lambda: _cycles(self.playbook, self.closings(), outcome, start_stage)  # noqa: E731
        return self._shared(("cycles", outcome, start_stage), build)

    def stays(self, stage: str) -> sa.FromClause:
        """Stays in ``stage`` that ended in the period: ``deal_id, days``."""
        return self._shared(("stays", stage), lambda: _stays(stage, self.start, self.end))

    def activities(self, kind: str | None) -> sa.FromClause:
        """Activities of ``kind`` (else of every kind logged) in the period: ``deal_id``."""
        kinds = [kind] if kind else list(self.playbook.activity_ids)
        return (
            select(Activity.deal_id)
            .where(Activity.kind.in_(kinds), within(Activity.at, self.start, self.end))
            .subquery()
        )

    def _shared(self, key: tuple[str, ...], build: Callable[[], Query]) -> sa.FromClause:
        found = self._built.get(key)
        if found is None:
            found = self._built[key] = self._materialized(build())
        return found

    def _materialized(self, query: Query) -> sa.FromClause:
        if not self._temporary:
            return query.subquery()
        columns = [sa.Column(column.name, column.type) for column in query.selected_columns]
        table = sa.Table(
            f"kpi_units_{len(self._built)}", sa.MetaData(), *columns, prefixes=["TEMPORARY"]
        )
        try:
            with self.connection.begin_nested():
                table.create(self.connection)
                self.connection.execute(sa.insert(table).from_select(list(table.c.keys()), query))
        except (sa.exc.DBAPIError, DatabaseReadOnlyError):
            # A read-only session (a replica, a read-only file) refuses temporary tables.
            self._temporary = False
            return query.subquery()
        if self.connection.dialect.name == "postgresql":
            # The planner has no statistics on a new table until it is analysed.
            self.connection.execute(sa.text(f"ANALYZE {table.name}"))
        return table


def report_instant(period: Period, as_of: datetime | None) -> datetime:
    """The instant a report over ``period`` is computed at: the period's end, or ``as_of``
    inside a running period (never before the period's start)."""
    if as_of is None:
        return period.end
    return min(period.end, max(as_of, period.start))


def within(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    """``column`` (an instant) falls from ``start`` (included) to ``end`` (excluded)."""
    return sa.and_(column >= start, column < end)


def _stage_ids(playbook: Playbook, test: Callable[[Stage], bool]) -> list[str]:
    return [stage.id for stage in playbook.stages if test(stage)]


def _entries(stage: str, start: datetime, end: datetime) -> Query:
    """Deals that entered ``stage`` in the period, once each, with the version of their first
    entry in the period, in deal order."""
    return (
        select(StageChange.deal_id, func.min(StageChange.deal_version).label("version"))
        .where(StageChange.to_stage == stage, within(StageChange.at, start, end))
        .group_by(StageChange.deal_id)
        # In deal order, the probes of a conversion walk the history index from start to end
        # instead of jumping around it: about twice as fast on both databases.
        .order_by(StageChange.deal_id)
    )


def _closings(playbook: Playbook, start: datetime, end: datetime) -> Query:
    """Each deal's last close in the period: its last move from an open stage to a closed one."""
    closed = _stage_ids(playbook, lambda stage: stage.is_closed)
    open_ = _stage_ids(playbook, lambda stage: stage.is_open)
    won = _stage_ids(playbook, lambda stage: stage.outcome == "won")
    # Only the period's closes are read (an index range), and the last one of a deal is picked
    # among them, instead of joining every close back to its deal's latest version.
    closes = (
        select(
            StageChange.deal_id,
            StageChange.to_stage,
            StageChange.at,
            StageChange.deal_version,
            case((StageChange.to_stage.in_(won), 1), else_=0).label("won"),
            func.row_number()
            .over(partition_by=StageChange.deal_id, order_by=StageChange.deal_version.desc())
            .label("latest"),
        )
        .where(
            StageChange.to_stage.in_(closed),
            sa.or_(StageChange.from_stage.is_(None), StageChange.from_stage.in_(open_)),
            within(StageChange.at, start, end),
        )
        .subquery()
    )
    return select(
        closes.c.deal_id, closes.c.to_stage, closes.c.at, closes.c.deal_version, closes.c.won
    ).where(closes.c.latest == 1)


def _reach(playbook: Playbook, target: str) -> list[str]:
    """The stages whose entry counts as reaching ``target``: it, or a later non-lost stage."""
    stage = playbook.stage(target)
    if stage is None or stage.outcome == "lost":
        return [target]
    return [target] + [
        later.id
        for later in playbook.stages
        if later.index > stage.index and later.outcome != "lost"
    ]


def reached(
    playbook: Playbook, target: str, end: datetime
) -> Callable[[sa.FromClause], ColumnElement[Any]]:
    """1 for a cohort member (see :meth:`Units.entries`) that later reached ``target`` before
    the report's instant ``end``, else 0."""
    stages = _reach(playbook, target)

    def read(cohort: sa.FromClause) -> ColumnElement[Any]:
        later = aliased(StageChange)
        # A constant, not `*`: the probe then reads only the history index, never the table.
        reached = (
            select(sa.literal(1))
            .where(
                later.deal_id == cohort.c.deal_id,
                later.deal_version > cohort.c.version,
                later.to_stage.in_(stages),
                later.at < end,
            )
            .exists()
        )
        return case((reached, 1), else_=0)

    return read


def _cycles(playbook: Playbook, closings: sa.FromClause, outcome: str, start_stage: str) -> Query:
    """Days from the first entry into ``start_stage`` before the close to the close (NULL when
    the deal never entered it), for the closes into an ``outcome`` stage."""
    ends = _stage_ids(playbook, lambda stage: stage.outcome == outcome)
    # One probe of the deal's history per close, rather than a join with every entry into the
    # start stage there ever was.
    started = (
        select(func.min(StageChange.at))
        .where(
            StageChange.deal_id == closings.c.deal_id,
            StageChange.to_stage == start_stage,
            StageChange.deal_version < closings.c.deal_version,
        )
        .scalar_subquery()
    )
    return select(closings.c.deal_id, DaysBetween(closings.c.at, started).label("days")).where(
        closings.c.to_stage.in_(ends)
    )


def _stays(stage: str, start: datetime, end: datetime) -> Query:
    """Stays in ``stage`` that ended in the period, with their length in days."""
    leaving = (
        select(StageChange.deal_id, StageChange.deal_version, StageChange.at)
        .where(StageChange.from_stage == stage, within(StageChange.at, start, end))
        .order_by(StageChange.deal_id)  # the probes then walk the history index in order
        .subquery()
    )
    # The stay began with the deal's previous stage change: one index probe per stay, not a
    # window over the whole history of every deal that left the stage.
    entered = (
        select(StageChange.at)
        .where(
            StageChange.deal_id == leaving.c.deal_id,
            StageChange.deal_version < leaving.c.deal_version,
        )
        .order_by(StageChange.deal_version.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(leaving.c.deal_id, DaysBetween(leaving.c.at, entered).label("days"))


def _open_at_end(playbook: Playbook, end: datetime) -> Query:
    """Deals whose last stage change before the report's instant put them in an open stage."""
    open_ = _stage_ids(playbook, lambda stage: stage.is_open)
    if not open_:
        return select(StageChange.deal_id, StageChange.to_stage.label("stage")).where(sa.false())
    # One pass over the history and no join back: each change is coded version × codes + its
    # stage (open stages 0..n-1, any other stage n); a deal's largest code is its last change
    # before the end, and the remainder says in which stage that change left it.
    codes = len(open_) + 1
    stage_code = case(
        *((StageChange.to_stage == stage, code) for code, stage in enumerate(open_)),
        else_=len(open_),
    )
    version = sa.cast(StageChange.deal_version, sa.BigInteger())
    last = (
        select(StageChange.deal_id, func.max(version * codes + stage_code).label("code"))
        .where(StageChange.at < end)
        .group_by(StageChange.deal_id)
        .subquery()
    )
    code = last.c.code % codes
    stage = case(*((code == index, sa.literal(stage)) for index, stage in enumerate(open_)))
    return select(last.c.deal_id, stage.label("stage")).where(code < len(open_))


def unit_column(name: str) -> Callable[[sa.FromClause], ColumnElement[Any]]:
    """What a metric reads of each unit row: its column ``name`` (``days``, ``won``)."""
    return lambda units: units.c[name]
