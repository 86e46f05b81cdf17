"""A rule in SQL: its scope, its anchor, its episode, the due-time threshold, the candidates.

The sweep selects the deals a level may be due for **in SQL**: the stage
filter, the ``when`` condition (compiled with
:func:`playbook.conditions.sql.to_sql` over
:func:`playbook.store.fields.column_for`), and the time threshold of the
level, computed in Python from the working calendar
(:meth:`~playbook.escalation.rules.LevelTiming.latest_anchor`) and bound as a
parameter; deals that already have the level for the current episode are
left out by the same query. The anchors are those of
:mod:`playbook.escalation.rules`, read from the deal's columns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, exists, func, select

from playbook.conditions.sql import to_sql
from playbook.escalation.rules import LevelTiming, PreparedRule
from playbook.store.derived import columns_for
from playbook.store.escalation_models import ConditionHold, EscalationRecord
from playbook.store.fields import column_for
from playbook.store.models import Deal, Person

__all__ = ["anchor", "candidates", "held", "pinned", "same_episode", "scope", "threshold"]

_E = EscalationRecord


def scope(rule: PreparedRule, *, when: bool = True) -> ColumnElement[bool]:
    """Deals of the rule's playbook in its stages where ``when`` holds (unless ``when=False``)."""
    playbook_id: Any = Deal.playbook_id
    stage: Any = Deal.stage
    if rule.kind in ("in_stage", "since_last_activity"):
        # `|| ''` keeps the planner off the stage index: without statistics (SQLite) it
        # would read every deal of the stages, when the time range is the selective part.
        playbook_id, stage = playbook_id.concat(""), stage.concat("")
    clauses = [playbook_id == rule.playbook.id, stage.in_(rule.stages), pinned(rule)]
    if when and rule.rule.when is not None:
        clauses.append(to_sql(rule.rule.when.expr, columns_for(rule.playbook)))
    return sa.and_(*clauses)


def pinned(rule: PreparedRule) -> ColumnElement[bool]:
    """The deals of the versions the rule is evaluated on (see :class:`Pinned`); true for all."""
    if rule.pinned is None:
        return sa.true()
    versions = sorted(rule.pinned.versions)
    if rule.pinned.inside:
        return Deal.playbook_version.in_(versions)
    return Deal.playbook_version.not_in(versions) if versions else sa.true()


def held(rule: PreparedRule) -> ColumnElement[bool]:
    """For a condition trigger: the condition holds (on top of the scope)."""
    condition = rule.rule.trigger.condition
    assert condition is not None
    return to_sql(condition.expr, columns_for(rule.playbook))


def anchor(rule: PreparedRule) -> Any:
    """The SQL expression of the episode's anchor (a datetime, or the date field's text)."""
    if rule.kind == "in_stage":
        return Deal.stage_entered_at
    if rule.kind == "since_last_activity":
        return func.coalesce(Deal.last_activity_at, Deal.created_at)
    if rule.kind == "condition":
        return ConditionHold.since
    return _date_text(rule)


def _date_text(rule: PreparedRule) -> ColumnElement[Any]:
    return cast(ColumnElement[Any], Deal.fields[rule.rule.trigger.field or ""].as_string())


def same_episode(rule: PreparedRule) -> ColumnElement[bool]:
    """True when an escalation row (``escalations``) belongs to the deal's current episode."""
    if rule.kind == "in_stage":
        return sa.and_(_E.stage == Deal.stage, _E.anchor_at == Deal.stage_entered_at)
    if rule.kind == "since_last_activity":
        return _E.anchor_at == func.coalesce(Deal.last_activity_at, Deal.created_at)
    if rule.kind == "condition":
        return exists().where(
            ConditionHold.deal_id == _E.deal_id,
            ConditionHold.rule == rule.rule.id,
            ConditionHold.since == _E.anchor_at,
        )
    return _E.episode == _date_text(rule)


def threshold(rule: PreparedRule, level: LevelTiming, now: datetime) -> ColumnElement[bool] | None:
    """The bound time condition on the anchor for ``level`` at ``now`` (None: nobody due)."""
    latest = level.latest_anchor(now)
    if latest is None:
        return None
    if rule.kind != "date_passed":
        if rule.kind == "since_last_activity":
            return sa.or_(
                sa.and_(Deal.last_activity_at.is_not(None), Deal.last_activity_at <= latest),
                sa.and_(Deal.last_activity_at.is_(None), Deal.created_at <= latest),
            )
        return anchor(rule) <= latest  # type: ignore[no-any-return]
    spec = rule.field_spec
    assert spec is not None
    column = column_for(spec.id, spec.type)
    if spec.kind == "date":
        # A date passes at the start of the next day: the latest date due is the day before.
        last_day = latest.astimezone(rule.calendar.timezone).date() - timedelta(days=1)
        return sa.and_(column.is_not(None), column <= last_day)
    return sa.and_(column.is_not(None), column <= latest)


def candidates(
    rule: PreparedRule, level: LevelTiming, time_bound: ColumnElement[bool]
) -> Select[Any]:
    """The deals for which ``level`` may be due: in scope, past the threshold, not yet recorded."""
    when_values = [
        column_for(name, rule.playbook.fields[name].type).label(f"f_{name}")
        for name in rule.when_fields
        if name in rule.playbook.fields
    ]
    query = (
        select(
            Deal.id,
            Deal.external_id,
            Deal.stage,
            Deal.owner,
            Deal.manager,
            Person.manager.label("person_manager"),
            anchor(rule).label("anchor"),
            *when_values,
        )
        .select_from(Deal)
        .outerjoin(Person, Person.name == Deal.owner)
        .where(scope(rule), time_bound)
    )
    if rule.kind == "condition":
        query = query.join(
            ConditionHold,
            sa.and_(ConditionHold.deal_id == Deal.id, ConditionHold.rule == rule.rule.id),
        ).where(held(rule))
    recorded = exists().where(
        _E.deal_id == Deal.id, _E.rule == rule.rule.id, _E.level == level.number
    )
    query = query.where(~recorded.where(same_episode(rule)))
    if level.number > 1:
        # A higher level follows an unresolved, unacknowledged lower one of the same episode.
        earlier = exists().where(
            _E.deal_id == Deal.id,
            _E.rule == rule.rule.id,
            _E.level == level.number - 1,
            _E.status.in_(("open", "dropped")),
            same_episode(rule),
        )
        query = query.where(earlier)
    return query  # no ORDER BY: SQLite would scan by rowid to avoid the sort
