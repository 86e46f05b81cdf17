"""The deal lists of a review: the weekly funnel review and the stuck deals.

The weekly review (the "1" of the 1-15-30 rule) goes through one rep's (or one
team's) deals: every open deal with its stage, days in stage, what was done
this week, what moved, what is still missing for the next stage, and the
escalations that are open on it; deals closed this week are listed too.

:func:`weekly_review` reads one row per deal of the rep; the counting
(activities per kind, moves of the week) is done in SQL. :func:`stuck_deals`
lists the open deals longest in their stage (the HTML report shows them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select

from playbook.errors import KpiError, PlaybookError
from playbook.i18n import Message
from playbook.kpi.periods import Period
from playbook.kpi.units import Query, within
from playbook.model import Playbook, Stage
from playbook.runtime.deals import as_deal
from playbook.runtime.decisions import NextSteps
from playbook.runtime.engine import Engine
from playbook.store.db import Database
from playbook.store.escalation_models import EscalationRecord
from playbook.store.models import Activity, Deal, Person, StageChange
from playbook.store.repository import DealStore, StoredDeal

__all__ = [
    "Move",
    "OpenEscalation",
    "ReviewedDeal",
    "StuckDeal",
    "WeeklyReview",
    "stuck_deals",
    "value_field",
    "weekly_review",
]

_NEVER_OPEN = "dropped"  # found too late to be delivered: it was never open


@dataclass(frozen=True, slots=True)
class Move:
    """A stage change of the week."""

    from_stage: str | None
    to_stage: str
    at: datetime
    actor: str

    def to_dict(self) -> dict[str, Any]:
        """``{"from", "to", "at", "actor"}``."""
        return {
            "from": self.from_stage,
            "to": self.to_stage,
            "at": self.at.astimezone(UTC).isoformat(),
            "actor": self.actor,
        }


@dataclass(frozen=True, slots=True)
class OpenEscalation:
    """An escalation recorded by a sweep and not resolved yet (open or acknowledged)."""

    rule: str
    level: int
    status: str
    fired_at: datetime
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """``{"rule", "level", "status", "fired_at", "reason"}``."""
        return {
            "rule": self.rule,
            "level": self.level,
            "status": self.status,
            "fired_at": self.fired_at.astimezone(UTC).isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class ReviewedDeal:
    """One deal in the weekly review."""

    deal: StoredDeal
    stage: Stage
    days_in_stage: float
    activities: Mapping[str, int]
    moves: tuple[Move, ...]
    missing: tuple[str, ...]
    escalations: tuple[OpenEscalation, ...]

    @property
    def moved(self) -> bool:
        """True when the deal changed stage this week."""
        return bool(self.moves)

    @property
    def idle(self) -> bool:
        """True when nothing was logged on the deal this week and it did not move."""
        return not self.activities and not self.moves

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the deal's review line."""
        return {
            "deal": self.deal.ref,
            "owner": self.deal.owner,
            "stage": self.stage.id,
            "outcome": self.stage.outcome,
            "days_in_stage": round(self.days_in_stage, 1),
            "activities": dict(self.activities),
            "moves": [move.to_dict() for move in self.moves],
            "missing": list(self.missing),
            "escalations": [item.to_dict() for item in self.escalations],
        }


@dataclass(frozen=True, slots=True)
class WeeklyReview:
    """The funnel review of one rep or team for one week."""

    playbook: Playbook
    week: Period
    as_of: datetime
    owner: str | None
    team: str | None
    deals: tuple[ReviewedDeal, ...]
    lang: str = "en"

    @property
    def open_deals(self) -> tuple[ReviewedDeal, ...]:
        """The deals still open."""
        return tuple(item for item in self.deals if item.stage.is_open)

    @property
    def closed_deals(self) -> tuple[ReviewedDeal, ...]:
        """The deals won or lost this week."""
        return tuple(item for item in self.deals if item.stage.is_closed)

    def summary(self) -> dict[str, int]:
        """Counts of the week: open deals, moved, won, lost, idle, activities, open escalations."""
        return {
            "open": len(self.open_deals),
            "moved": sum(1 for item in self.deals if item.moved),
            "won": sum(1 for item in self.closed_deals if item.stage.outcome == "won"),
            "lost": sum(1 for item in self.closed_deals if item.stage.outcome == "lost"),
            "idle": sum(1 for item in self.open_deals if item.idle),
            "activities": sum(sum(item.activities.values()) for item in self.deals),
            "escalations": sum(len(item.escalations) for item in self.deals),
        }

    def to_dict(self) -> dict[str, Any]:
        """``{"playbook", "week", "as_of", "owner", "team", "summary", "deals"}``."""
        return {
            "playbook": self.playbook.key,
            "week": self.week.to_dict(),
            "as_of": self.as_of.astimezone(UTC).isoformat(),
            "owner": self.owner,
            "team": self.team,
            "summary": self.summary(),
            "deals": [item.to_dict() for item in self.deals],
        }


def weekly_review(
    database: Database,
    playbook: Playbook,
    week: Period,
    *,
    now: datetime,
    owner: str | None = None,
    team: str | None = None,
    lang: str | None = None,
) -> WeeklyReview:
    """The review of ``owner``'s (or ``team``'s) deals for ``week``, as known at ``now``.

    Lists every open deal and every deal closed during the week, longest in
    its stage first. Days in stage are counted up to the end of the week (or
    ``now`` when the week is still running). Raises
    :class:`~playbook.errors.KpiError` unless exactly one of owner and team is given.
    """
    if (owner is None) == (team is None):
        raise KpiError(
            Message("error.review.review_one_rep_one"),
            hint=Message("error.review.give_owner_name_team"),
        )
    as_of = min(now, week.end)
    words = lang or playbook.language
    deals = list(
        DealStore(database).list_deals(
            playbook_id=playbook.id, where=_reviewed(playbook, week, owner, team)
        )
    )
    ids = [deal.id for deal in deals]
    with database.engine.connect() as connection:
        activities = _activity_counts(connection, ids, week.start, as_of)
        moves = _moves(connection, ids, week.start, as_of)
        escalations = _escalations(connection, ids, as_of)
    engine = Engine(playbook)
    reviewed = [
        ReviewedDeal(
            deal=deal,
            stage=_stage(playbook, deal.stage),
            days_in_stage=_days(as_of, deal.stage_entered_at) or 0.0,
            activities=activities.get(deal.id, {}),
            moves=tuple(moves.get(deal.id, ())),
            missing=_missing(engine, playbook, deal, as_of, words),
            escalations=tuple(escalations.get(deal.id, ())),
        )
        for deal in deals
    ]
    reviewed.sort(key=lambda item: (item.stage.is_closed, -item.days_in_stage))
    return WeeklyReview(playbook, week, as_of, owner, team, tuple(reviewed), words)


def _reviewed(
    playbook: Playbook, week: Period, owner: str | None, team: str | None
) -> sa.ColumnElement[bool]:
    """Open deals, and deals that changed stage this week, of the owner or team."""
    open_ids = [stage.id for stage in playbook.stages if stage.is_open]
    moved = select(StageChange.deal_id).where(
        StageChange.at >= week.start, StageChange.at < week.end
    )
    current = sa.or_(Deal.stage.in_(open_ids), Deal.id.in_(moved))
    if owner is not None:
        return sa.and_(current, Deal.owner == owner)
    members = select(Person.name).where(Person.team == team)
    in_team = sa.or_(Deal.team == team, sa.and_(Deal.team.is_(None), Deal.owner.in_(members)))
    return sa.and_(current, in_team)


def _activity_counts(
    connection: sa.Connection, ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    for chunk in _chunks(ids):
        query = (
            select(Activity.deal_id, Activity.kind, func.count())
            .where(Activity.deal_id.in_(chunk), within(Activity.at, start, end))
            .group_by(Activity.deal_id, Activity.kind)
        )
        for deal_id, kind, count in connection.execute(query):
            counts.setdefault(deal_id, {})[kind] = int(count)
    return counts


def _moves(
    connection: sa.Connection, ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[Move]]:
    moves: dict[int, list[Move]] = {}
    for chunk in _chunks(ids):
        query = (
            select(StageChange)
            .where(
                StageChange.deal_id.in_(chunk),
                within(StageChange.at, start, end),
                StageChange.from_stage.is_not(None),
            )
            .order_by(StageChange.deal_id, StageChange.deal_version)
        )
        for row in connection.execute(query):
            moves.setdefault(row.deal_id, []).append(
                Move(row.from_stage, row.to_stage, row.at, row.actor)
            )
    return moves


def _escalations(
    connection: sa.Connection, ids: Sequence[int], as_of: datetime
) -> dict[int, list[OpenEscalation]]:
    """The escalations open at ``as_of``: fired before it and not resolved by then (a later
    escalation, or one resolved later, is judged as it stood at that instant)."""
    found: dict[int, list[OpenEscalation]] = {}
    table = EscalationRecord.__table__
    unresolved = sa.or_(table.c.resolved_at.is_(None), table.c.resolved_at >= as_of)
    for chunk in _chunks(ids):
        query = (
            select(table)
            .where(
                table.c.deal_id.in_(chunk),
                table.c.status != _NEVER_OPEN,
                table.c.fired_at < as_of,
                unresolved,
            )
            .order_by(table.c.deal_id, table.c.rule, table.c.level)
        )
        for row in connection.execute(query):
            found.setdefault(row.deal_id, []).append(
                OpenEscalation(row.rule, row.level, row.status, row.fired_at, row.reason)
            )
    return found


def _chunks(ids: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _stage(playbook: Playbook, stage_id: str) -> Stage:
    stage = playbook.stage(stage_id)
    if stage is None:
        # A deal pinned to an older version may sit in a stage this version dropped.
        return Stage(stage_id, len(playbook.stages), playbook.first_stage.title)
    return stage


def _missing(
    engine: Engine, playbook: Playbook, deal: StoredDeal, at: datetime, lang: str
) -> tuple[str, ...]:
    """What keeps an open deal from its next stage: open actions, then failing criteria."""
    stage = playbook.stage(deal.stage)
    if stage is None or stage.is_closed:
        return ()
    try:
        steps = engine.next_steps(
            as_deal(deal.deal_form(), playbook), now=max(at, deal.stage_entered_at)
        )
    except PlaybookError as error:
        return (error.message,)
    return _describe(steps, lang)


def _describe(steps: NextSteps, lang: str) -> tuple[str, ...]:
    out = [
        item.titles.get(lang) or item.titles.get("en") or item.action.id
        for item in steps.open_actions
        if not item.action.optional
    ]
    for missing in steps.missing_for_next[:1]:
        out += [reason.text(lang) for reason in missing.failing]
    return tuple(dict.fromkeys(out))


# --- stuck deals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StuckDeal:
    """An open deal that has sat in its stage a long time."""

    deal: StoredDeal
    stage: Stage
    days_in_stage: float
    days_since_activity: float | None
    value: float | None
    escalations: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "deal": self.deal.ref,
            "owner": self.deal.owner,
            "stage": self.stage.id,
            "days_in_stage": round(self.days_in_stage, 1),
            "days_since_activity": None
            if self.days_since_activity is None
            else round(self.days_since_activity, 1),
            "value": self.value,
            "escalations": self.escalations,
        }


def stuck_deals(
    database: Database,
    playbook: Playbook,
    *,
    now: datetime,
    limit: int = 15,
    owners: Sequence[str] | None = None,
) -> tuple[StuckDeal, ...]:
    """The ``limit`` deals open at ``now`` longest in their stage then (sorted in SQL).

    Everything is read as of ``now``, from the history recorded before it:
    the stage a deal was in and since when, its last activity, and the
    escalations fired before ``now`` and not resolved by then. A follow-up
    or an escalation recorded later does not count.
    """
    with database.engine.connect() as connection:
        rows = connection.execute(_open_at(playbook, now, limit, owners)).all()
        ids = [row.deal_id for row in rows]
        escalations = _escalations(connection, ids, now)
        activity = _last_activity_before(connection, ids, now)
    found = {deal.id: deal for deal in DealStore(database).list_deals(where=Deal.id.in_(ids))}
    money = value_field(playbook)
    return tuple(
        StuckDeal(
            deal=deal,
            stage=_stage(playbook, row.to_stage),
            days_in_stage=_days(now, row.at) or 0.0,
            days_since_activity=_days(now, _last_activity_at(deal, now, activity)),
            value=_float(deal.fields.get(money)) if money else None,
            escalations=len(escalations.get(deal.id, ())),
        )
        for row in rows
        if (deal := found.get(row.deal_id)) is not None
    )


def _open_at(playbook: Playbook, now: datetime, limit: int, owners: Sequence[str] | None) -> Query:
    """Deals whose last stage change before ``now`` left them in an open stage: ``deal_id,
    to_stage, at``, longest there first."""
    open_ids = [stage.id for stage in playbook.stages if stage.is_open]
    mine = [Deal.playbook_id == playbook.id, StageChange.at < now]
    if owners:
        mine.append(Deal.owner.in_(list(owners)))
    last = (
        select(StageChange.deal_id, func.max(StageChange.deal_version).label("version"))
        .join(Deal, Deal.id == StageChange.deal_id)
        .where(*mine)
        .group_by(StageChange.deal_id)
        .subquery()
    )
    same = sa.and_(
        StageChange.deal_id == last.c.deal_id, StageChange.deal_version == last.c.version
    )
    return (
        select(StageChange.deal_id, StageChange.to_stage, StageChange.at)
        .join(last, same)
        .where(StageChange.to_stage.in_(open_ids))
        .order_by(StageChange.at, StageChange.deal_id)
        .limit(limit)
    )


def _last_activity_before(
    connection: sa.Connection, ids: Sequence[int], now: datetime
) -> dict[int, datetime]:
    """Each deal's last activity (logged, or a required action completed) before ``now``."""
    found: dict[int, datetime] = {}
    for chunk in _chunks(ids):
        query = (
            select(Activity.deal_id, func.max(Activity.at))
            .where(Activity.deal_id.in_(chunk), Activity.at < now)
            .group_by(Activity.deal_id)
        )
        found.update((row[0], row[1]) for row in connection.execute(query))
    return found


def _last_activity_at(
    deal: StoredDeal, now: datetime, history: Mapping[int, datetime]
) -> datetime | None:
    """The deal's last activity as known at ``now``.

    Its ``last_activity_at`` when that is before ``now`` (it may come from an
    import that has no activity rows); else the history recorded before
    ``now``, else its creation when that is before ``now``.
    """
    if deal.last_activity_at is not None and deal.last_activity_at < now:
        return deal.last_activity_at
    times = [t for t in (history.get(deal.id), deal.created_at) if t is not None and t < now]
    return max(times) if times else None


def value_field(playbook: Playbook) -> str | None:
    """The deal's money field: the first decimal field (else number field) declared."""
    for kind in ("decimal", "number"):
        for field_id, spec in playbook.fields.items():
            if spec.kind == kind:
                return field_id
    return None


def _days(now: datetime, since: datetime | None) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds() / 86400)


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
