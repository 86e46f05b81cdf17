"""Escalation rules at work: the sweep that fires them once, on time, on working days.

A **sweep** (:func:`sweep`) looks at the deal store at one moment ``now`` and,
for every rule of the playbook's ``escalations`` and every level of it,
records the deals that have crossed the level's due time and were not
recorded yet, then sends the notifications. In order, for each rule:

1. *held conditions*: for a ``condition`` trigger, the deals where the
   condition holds get a "held since now" row, and the rows of deals where it
   no longer holds go away (that reset starts a new episode);
2. *resolution*: open escalations whose cause went away (the deal left the
   stage, an activity was logged, the date field changed, the condition
   stopped holding, the rule's stages or ``when`` no longer match) are marked
   ``resolved``;
3. *firing*: candidate deals are selected **in SQL**: the stage filter, the
   ``when`` condition (compiled with :func:`playbook.conditions.sql.to_sql`
   over :func:`playbook.store.fields.column_for`), and the time threshold of
   the level, computed in Python from the working calendar and bound as a
   parameter; deals that already have the level for the current episode, or a
   running snooze, are left out by the same query. Each candidate's due time
   is then computed exactly, and the rows are inserted with ``ON CONFLICT DO
   NOTHING`` on the unique key ``(deal, rule, level, episode)``: whatever
   number of sweeps run at once, one insert wins, and only the winner creates
   the notifications (outbox rows, in the same transaction).

Due times: ``trigger duration`` then the level's ``after`` are added on the
playbook's :class:`~playbook.calendar.WorkingCalendar`, in its timezone, and
the result moves to the next **working moment** (inside working hours of a
working day): nobody is notified at midnight, on a weekend or on a holiday.
``fired_at`` records that moment even when the sweep runs later (catch-up); a
rule's ``max_lateness`` records levels found too late as ``dropped``, without
notifying anyone.

The episode of each trigger kind, and therefore what makes a rule fire again:

===================  ==========================================  ===========================
trigger              episode (the anchor time)                   resolved when
===================  ==========================================  ===========================
in_stage             the visit of the stage (``stage_entered_at``)  the deal leaves the stage
since_last_activity  the last activity (else the creation)       an activity is logged
condition + for      the run of sweeps that saw it hold          a sweep sees it fail
date_passed          the field's value (the next day's start)    the value changes
===================  ==========================================  ===========================
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import ColumnElement, CursorResult, Select, Table, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from playbook._collector import collector_paused
from playbook.conditions.sql import to_sql
from playbook.errors import (
    CalendarError,
    DatabaseUnavailableError,
    EscalationError,
    EscalationNotFoundError,
    InvalidPlaybookError,
)
from playbook.escalation.sinks import Notification, Sink
from playbook.model import Calendar, Duration, Escalation, EscalationLevel, Playbook
from playbook.runtime.calendar import WorkingCalendar
from playbook.store.db import Database
from playbook.store.escalation_models import ConditionHold, Delivery, EscalationRecord
from playbook.store.fields import column_for
from playbook.store.models import Deal, Person
from playbook.values import require_now

__all__ = [
    "DEFAULT_LEASE",
    "DeliveryTally",
    "EscalationView",
    "Fired",
    "Recipient",
    "SweepReport",
    "acknowledge",
    "deliver_pending",
    "due_at",
    "list_escalations",
    "snooze",
    "sweep",
    "working_moment",
]

DEFAULT_LEASE = timedelta(minutes=5)
"""How long a sweep owns a notification it is sending before another sweep may take it over."""

_INSERT_BATCH = 5000
_CLAIM_BATCH = 20
_SEARCH_SPAN = timedelta(days=366 * 30)
_ZERO = Duration("days", 0.0)
_E = EscalationRecord
_ESCALATIONS = cast(Table, EscalationRecord.__table__)
_DELIVERIES = cast(Table, Delivery.__table__)
_HOLDS = cast(Table, ConditionHold.__table__)
_LIVE = ("open", "acked")
_RESOLUTIONS = {
    "in_stage": "the deal left the stage",
    "since_last_activity": "an activity was logged",
    "condition": "the condition no longer holds",
    "date_passed": "the date changed",
}


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone a level notifies: as ``owner``, ``manager`` or a role id, and their name if known."""

    role: str
    name: str | None

    def to_dict(self) -> dict[str, Any]:
        """``{"as": role, "name": name}``."""
        return {"as": self.role, "name": self.name}

    def __str__(self) -> str:
        return f"{self.role} {self.name}" if self.name else f"{self.role} (no name on record)"


@dataclass(frozen=True, slots=True)
class Fired:
    """One level of one rule recorded for one deal episode: ``open`` (notified) or ``dropped``."""

    deal_id: int
    deal: str
    rule: str
    rule_title: str
    level: int
    episode: str
    stage: str
    owner: str | None
    anchor_at: datetime
    fired_at: datetime
    swept_at: datetime
    status: str
    reason: str
    trigger: Mapping[str, Any]
    notified: tuple[Recipient, ...]
    message: str = ""
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (times in ISO 8601 UTC), as ``sweep --format json`` prints it."""
        return {
            "id": self.id,
            "deal": self.deal,
            "deal_id": self.deal_id,
            "rule": self.rule,
            "rule_title": self.rule_title,
            "level": self.level,
            "episode": self.episode,
            "stage": self.stage,
            "owner": self.owner,
            "status": self.status,
            "fired_at": _iso(self.fired_at),
            "swept_at": _iso(self.swept_at),
            "reason": self.reason,
            "trigger": dict(self.trigger),
            "notified": [person.to_dict() for person in self.notified],
            "message": self.message,
        }


@dataclass(slots=True)
class DeliveryTally:
    """What happened to the outbox in one sweep: sent, failed (kept for retry), left pending."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "pending": self.pending,
            "errors": list(self.errors),
        }


@dataclass(slots=True)
class SweepReport:
    """Everything one sweep did (or, with ``dry_run``, would do)."""

    playbook: str
    now: datetime
    dry_run: bool = False
    fired: list[Fired] = field(default_factory=list)
    dropped: list[Fired] = field(default_factory=list)
    resolved: int = 0
    deliveries: DeliveryTally = field(default_factory=DeliveryTally)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as ``sweep --format json`` prints it."""
        return {
            "playbook": self.playbook,
            "now": _iso(self.now),
            "dry_run": self.dry_run,
            "fired": [item.to_dict() for item in self.fired],
            "dropped": [item.to_dict() for item in self.dropped],
            "resolved": self.resolved,
            "deliveries": self.deliveries.to_dict(),
            "warnings": list(self.warnings),
            "interrupted": self.interrupted,
        }


@dataclass(frozen=True, slots=True)
class EscalationView:
    """An escalation as stored, for ``playbook escalations list``."""

    id: int
    deal: str
    rule: str
    level: int
    stage: str
    status: str
    fired_at: datetime
    reason: str
    notified: tuple[Recipient, ...]
    resolved_at: datetime | None = None
    resolution: str | None = None
    acked_by: str | None = None
    ack_reason: str | None = None
    snoozed_by: str | None = None
    snoozed_until: datetime | None = None
    snooze_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (times in ISO 8601 UTC)."""
        return {
            "id": self.id,
            "deal": self.deal,
            "rule": self.rule,
            "level": self.level,
            "stage": self.stage,
            "status": self.status,
            "fired_at": _iso(self.fired_at),
            "reason": self.reason,
            "notified": [person.to_dict() for person in self.notified],
            "resolved_at": _iso(self.resolved_at),
            "resolution": self.resolution,
            "acked_by": self.acked_by,
            "ack_reason": self.ack_reason,
            "snoozed_by": self.snoozed_by,
            "snoozed_until": _iso(self.snoozed_until),
            "snooze_reason": self.snooze_reason,
        }


# --- due times ----------------------------------------------------------------------------


def working_moment(calendar: WorkingCalendar, moment: datetime) -> datetime:
    """``moment`` if it falls inside working hours of a working day, else the next start of them.

    The result is an aware UTC datetime; days and hours are those of the
    calendar's timezone.
    """
    tz = calendar.timezone
    local = moment.astimezone(tz)
    begin, end = calendar.hours
    day = local.date()
    if calendar.is_working_day(day) and local.time() < end:
        if local.time() >= begin:
            return moment.astimezone(UTC)
        return _at(day, begin, tz)
    return _at(calendar.next_working_day(day), begin, tz)


def due_at(
    calendar: WorkingCalendar, anchor: datetime, wait: Duration | None, after: Duration
) -> datetime:
    """When a level whose trigger waits ``wait`` from ``anchor``, then ``after``, is due.

    Both durations are added on ``calendar`` and the result moves to the next
    working moment (see :func:`working_moment`).
    """
    triggered = calendar.add(anchor, wait or _ZERO)
    if after.amount:  # a level without delay (the usual first one) skips a round trip
        triggered = calendar.add(triggered, after)
    return working_moment(calendar, triggered)


def _at(day: date, moment: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, moment, tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class _Level:
    """One level of a rule with its due-time function and the latest anchor that is due."""

    number: int
    level: EscalationLevel
    calendar: WorkingCalendar
    wait: Duration | None

    def due(self, anchor: datetime) -> datetime:
        return due_at(self.calendar, anchor, self.wait, self.level.after)

    def _nominal_hours(self) -> float:
        wait = self.wait.nominal_hours if self.wait else 0.0
        return wait + self.level.after.nominal_hours

    def latest_anchor(self, now: datetime) -> datetime | None:
        """The latest anchor whose due time is at or before ``now`` (None: none is).

        The due time never decreases as the anchor grows, so a binary search
        (to the microsecond) finds the threshold that the SQL query binds.
        """
        if self.due(now) <= now:
            return now
        # Start a little before the nominal size of the wait and widen while even that is late:
        # the calendar then only loads the years it needs.
        span = timedelta(hours=self._nominal_hours()) + timedelta(days=60)
        low = now - span
        while self.due(low) > now:
            if span >= _SEARCH_SPAN:
                return None
            span *= 4
            low = now - span
        high = now
        while high - low > timedelta(microseconds=1):
            middle = low + (high - low) / 2
            if self.due(middle) <= now:
                low = middle
            else:
                high = middle
        return low


# --- one rule ----------------------------------------------------------------------------


class _Rule:
    """A rule compiled for the store: its scope in SQL, its anchor column, its levels."""

    def __init__(self, playbook: Playbook, rule: Escalation, calendar: WorkingCalendar) -> None:
        self.playbook = playbook
        self.rule = rule
        self.calendar = calendar
        self.kind = rule.trigger.kind
        self.stages = rule.stages or tuple(s.id for s in playbook.stages if s.is_open)
        self.levels = tuple(
            _Level(number, level, calendar, rule.trigger.duration)
            for number, level in enumerate(rule.levels, start=1)
        )
        self.field_spec = playbook.fields.get(rule.trigger.field or "")
        self.when_fields = tuple(sorted(rule.when.fields)) if rule.when is not None else ()
        # Texts every escalation of the rule repeats: computed once, not once per deal.
        self.title = playbook.label(rule.title, fallback=rule.id)
        self.trigger_values = _constant_trigger_values(rule)
        self._stage_names: dict[str, str] = {}

    def stage_name(self, stage_id: str) -> str:
        """The title of stage ``stage_id`` in the playbook's language (the id when unknown)."""
        name = self._stage_names.get(stage_id)
        if name is None:
            stage = self.playbook.stage(stage_id)
            name = self.playbook.label(stage.title if stage else None, fallback=stage_id)
            self._stage_names[stage_id] = name
        return name

    def scope_without_when(self) -> ColumnElement[bool]:
        """Deals of this playbook in the rule's stages."""
        return self.scope(when=False)

    def scope(self, *, when: bool = True) -> ColumnElement[bool]:
        """Deals of this playbook, in the rule's stages, for which ``when`` holds."""
        playbook_id: Any = Deal.playbook_id
        stage: Any = Deal.stage
        if self.kind in ("in_stage", "since_last_activity"):
            # `|| ''` keeps the planner off the stage index: without statistics (SQLite) it
            # would read every deal of the stages, when the time range is the selective part.
            playbook_id, stage = playbook_id.concat(""), stage.concat("")
        clauses = [playbook_id == self.playbook.id, stage.in_(self.stages)]
        if when and self.rule.when is not None:
            clauses.append(to_sql(self.rule.when.expr, column_for))
        return sa.and_(*clauses)

    def held(self) -> ColumnElement[bool]:
        """For a condition trigger: the condition holds (on top of the scope)."""
        condition = self.rule.trigger.condition
        assert condition is not None
        return to_sql(condition.expr, column_for)

    def anchor(self) -> Any:
        """The SQL expression of the episode's anchor (a datetime, or the date field's text)."""
        if self.kind == "in_stage":
            return Deal.stage_entered_at
        if self.kind == "since_last_activity":
            return func.coalesce(Deal.last_activity_at, Deal.created_at)
        if self.kind == "condition":
            return ConditionHold.since
        return self.date_text()

    def date_text(self) -> ColumnElement[Any]:
        return cast(ColumnElement[Any], Deal.fields[self.rule.trigger.field or ""].as_string())

    def same_episode(self) -> ColumnElement[bool]:
        """True when an escalation row (``escalations``) belongs to the deal's current episode."""
        if self.kind == "in_stage":
            return sa.and_(_E.stage == Deal.stage, _E.anchor_at == Deal.stage_entered_at)
        if self.kind == "since_last_activity":
            return _E.anchor_at == func.coalesce(Deal.last_activity_at, Deal.created_at)
        if self.kind == "condition":
            return exists().where(
                ConditionHold.deal_id == _E.deal_id,
                ConditionHold.rule == self.rule.id,
                ConditionHold.since == _E.anchor_at,
            )
        return _E.episode == self.date_text()

    def threshold(self, level: _Level, now: datetime) -> ColumnElement[bool] | None:
        """The bound time condition on the anchor for ``level`` at ``now`` (None: nobody due)."""
        latest = level.latest_anchor(now)
        if latest is None:
            return None
        if self.kind != "date_passed":
            if self.kind == "since_last_activity":
                return sa.or_(
                    sa.and_(Deal.last_activity_at.is_not(None), Deal.last_activity_at <= latest),
                    sa.and_(Deal.last_activity_at.is_(None), Deal.created_at <= latest),
                )
            return self.anchor() <= latest  # type: ignore[no-any-return]
        spec = self.field_spec
        assert spec is not None
        column = column_for(spec.id, spec.type)
        if spec.kind == "date":
            # A date passes at the start of the next day: the latest date due is the day before.
            last_day = latest.astimezone(self.calendar.timezone).date() - timedelta(days=1)
            return sa.and_(column.is_not(None), column <= last_day)
        return sa.and_(column.is_not(None), column <= latest)

    def anchor_time(self, value: Any) -> datetime:
        """The anchor of a candidate row as an aware UTC datetime."""
        if self.kind != "date_passed":
            return cast(datetime, value)
        text = str(value)
        if self.field_spec is not None and self.field_spec.kind == "date":
            day = date.fromisoformat(text[:10]) + timedelta(days=1)
            return _at(day, time(0, 0), self.calendar.timezone)
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)

    def episode(self, stage: str, anchor_value: Any, anchor_iso: str) -> str:
        """The episode key stored in the unique constraint (``anchor_iso``: the anchor in UTC)."""
        if self.kind == "in_stage":
            return f"{stage}@{anchor_iso}"[:100]
        if self.kind == "date_passed":
            return str(anchor_value)[:100]
        prefix = "activity" if self.kind == "since_last_activity" else "held"
        return f"{prefix}@{anchor_iso}"


# --- the sweep ----------------------------------------------------------------------------


def sweep(
    database: Database,
    playbook: Playbook,
    *,
    now: datetime,
    sinks: Sequence[Sink] = (),
    dry_run: bool = False,
    lang: str | None = None,
    lease: timedelta = DEFAULT_LEASE,
    clock: Callable[[], datetime] | None = None,
    should_stop: Callable[[], bool] | None = None,
    explain_future: bool = False,
) -> SweepReport:
    """Fire every level of every escalation rule of ``playbook`` that is due at ``now``, once.

    Each (deal, rule, level, episode) is recorded at most once, whatever number
    of sweeps run concurrently (a unique constraint decides), and only the
    sweep that recorded it creates its notifications, one outbox row per sink
    in ``sinks``; the outbox is then delivered (see :func:`deliver_pending`).
    With ``dry_run`` the same work is done in one transaction that is rolled
    back, and nothing is sent. ``should_stop`` is asked between transactions:
    when it answers True the sweep returns early with ``interrupted`` set and
    nothing half-done. ``clock`` (default: ``now``) times the delivery leases.
    With ``explain_future``, deals created after ``now`` are counted in a warning.

    Raises :class:`~playbook.errors.CalendarError` for a calendar with no
    working day and :class:`~playbook.errors.DatabaseUnavailableError` when the
    database connection is lost (what was committed stays: run the sweep again).
    """
    now = require_now(now)
    calendar = _calendar(playbook)
    report = SweepReport(playbook=playbook.key, now=now, dry_run=dry_run)
    names = tuple(sink.name for sink in sinks)
    try:
        with _units(database, dry_run) as unit:
            if explain_future:
                report.warnings += _future_deals(unit, playbook, now)
            for rule in playbook.escalations:
                compiled = _Rule(playbook, rule, calendar)
                if not _sweep_rule(unit, compiled, report, names, lang, should_stop):
                    report.interrupted = True
                    return report
        if sinks and not dry_run:
            report.deliveries = deliver_pending(
                database, playbook, sinks, now=now, lease=lease, clock=clock, lang=lang
            )
    except InvalidPlaybookError as error:
        raise _calendar_error(error) from error
    except DBAPIError as error:
        raise _connection_lost(database, error) from error
    return report


UnitFactory = Callable[[], AbstractContextManager[Session]]


@contextmanager
def _units(database: Database, dry_run: bool) -> Iterator[UnitFactory]:
    """Transactions for the sweep: one per unit of work, or one rolled-back one for a dry run."""
    if not dry_run:
        yield lambda: database.transaction(write=True)
        return
    with database.engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection)

        @contextmanager
        def shared() -> Iterator[Session]:
            yield session
            session.flush()

        try:
            yield shared
        finally:
            session.close()
            outer.rollback()


def _sweep_rule(
    unit: UnitFactory,
    rule: _Rule,
    report: SweepReport,
    sinks: Sequence[str],
    lang: str | None,
    should_stop: Callable[[], bool] | None,
) -> bool:
    """Resolve, then fire each level of one rule, in one transaction; False when told to stop.

    One transaction per rule keeps a sweep all-or-nothing rule by rule: a sweep
    killed midway leaves every rule either fully done or untouched.
    """
    if should_stop is not None and should_stop():
        return False
    now = report.now
    recorded: list[Fired] = []
    with unit() as session, collector_paused():
        if rule.kind == "condition":
            _track_condition(session, rule, now)
        resolved = _resolve(session, rule, now)
        warnings = _missing_fields(session, rule, now)
        snoozes = _snoozes(session, rule)
        for level in rule.levels:
            threshold = rule.threshold(level, now)
            if threshold is None:
                continue
            message = rule.playbook.label(level.level.message, lang, fallback="")
            found_rows = session.execute(_candidates(rule, level, threshold)).all()
            # Deal order: concurrent sweeps then take the unique-index locks in the same order.
            rows = sorted(found_rows, key=lambda row: int(row.id))
            for start in range(0, len(rows), _INSERT_BATCH):
                chunk = rows[start : start + _INSERT_BATCH]
                found = [_fired(rule, level, row, now, message, snoozes) for row in chunk]
                due = [item for item in found if item is not None]
                recorded += _record(session, rule, level.number, due, sinks, now)
    report.resolved += resolved
    report.warnings += warnings
    for item in recorded:
        (report.fired if item.status == "open" else report.dropped).append(item)
    return True


def _snoozes(session: Session, rule: _Rule) -> dict[tuple[int, datetime], datetime]:
    """The latest snooze of each (deal, anchor) of the rule; few rows, read once per rule."""
    rows = session.execute(
        select(_E.deal_id, _E.anchor_at, func.max(_E.snoozed_until))
        .where(_E.rule == rule.rule.id, _E.snoozed_until.is_not(None))
        .group_by(_E.deal_id, _E.anchor_at)
    ).all()
    return {(deal, anchor): until for deal, anchor, until in rows if until is not None}


def _candidates(rule: _Rule, level: _Level, threshold: ColumnElement[bool]) -> Select[Any]:
    """The deals for which ``level`` may be due: in scope, past the threshold, not yet recorded."""
    anchor = rule.anchor()
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
            anchor.label("anchor"),
            *when_values,
        )
        .select_from(Deal)
        .outerjoin(Person, Person.name == Deal.owner)
        .where(rule.scope(), threshold)
    )
    if rule.kind == "condition":
        query = query.join(
            ConditionHold,
            sa.and_(ConditionHold.deal_id == Deal.id, ConditionHold.rule == rule.rule.id),
        ).where(rule.held())
    recorded = exists().where(
        _E.deal_id == Deal.id, _E.rule == rule.rule.id, _E.level == level.number
    )
    query = query.where(~recorded.where(rule.same_episode()))
    if level.number > 1:
        # A higher level follows an unresolved, unacknowledged lower one of the same episode.
        earlier = exists().where(
            _E.deal_id == Deal.id,
            _E.rule == rule.rule.id,
            _E.level == level.number - 1,
            _E.status.in_(("open", "dropped")),
            rule.same_episode(),
        )
        query = query.where(earlier)
    return query  # no ORDER BY: SQLite would scan by rowid to avoid the sort


def _fired(
    rule: _Rule,
    level: _Level,
    row: Any,
    now: datetime,
    message: str,
    snoozes: Mapping[tuple[int, datetime], datetime],
) -> dict[str, Any] | None:
    """The escalation a candidate row makes (the fields of a :class:`Fired` without its id).

    Open, or dropped when found too late; None when not due. A snooze of the
    episode pushes the due time to the first working moment after it.
    """
    anchor = rule.anchor_time(row.anchor)
    due = level.due(anchor)
    snoozed_until = snoozes.get((row.id, anchor)) if snoozes else None
    if snoozed_until is not None and snoozed_until > due:
        due = working_moment(rule.calendar, snoozed_until)
    if due > now:
        return None
    limit = rule.rule.max_lateness
    late = limit is not None and rule.calendar.add(due, limit) < now
    anchor_iso = _utc_iso(anchor)
    reason = _reason(rule, row, anchor, due)
    if late:
        reason += f"; found {_span(due, now)} late (max_lateness {limit}): dropped, nobody told"
    return {
        "deal_id": row.id,
        "deal": row.external_id if row.external_id is not None else str(row.id),
        "rule": rule.rule.id,
        "rule_title": rule.title,
        "level": level.number,
        "episode": rule.episode(row.stage, row.anchor, anchor_iso),
        "stage": row.stage,
        "owner": row.owner,
        "anchor_at": anchor,
        "fired_at": due,
        "swept_at": now,
        "status": "dropped" if late else "open",
        "reason": reason,
        "trigger": _trigger_values(rule, row, anchor_iso, anchor, due),
        "notified": _recipients(level.level, row),
        "message": message,
    }


def _recipients(level: EscalationLevel, row: Any) -> tuple[Recipient, ...]:
    """``owner`` is the deal's owner; ``manager`` the owner's manager (people table, else deal)."""
    people: list[Recipient] = []
    for who in level.notify:
        if who == "owner":
            people.append(Recipient("owner", row.owner))
        elif who == "manager":
            people.append(Recipient("manager", row.person_manager or row.manager))
        else:
            people.append(Recipient(who, None))
    return tuple(people)


def _constant_trigger_values(rule: Escalation) -> dict[str, Any]:
    """The part of an escalation's trigger values that is the same for every deal."""
    trigger = rule.trigger
    values: dict[str, Any] = {"kind": trigger.kind}
    if trigger.duration is not None:
        values["duration"] = str(trigger.duration)
    if trigger.kind == "date_passed":
        values["field"] = trigger.field
    if trigger.condition is not None:
        values["condition"] = trigger.condition.text
    return values


def _trigger_values(
    rule: _Rule, row: Any, anchor_iso: str, anchor: datetime, due: datetime
) -> dict[str, Any]:
    values = {**rule.trigger_values, "anchor": anchor_iso}
    if rule.kind == "date_passed":
        values["value"] = str(row.anchor)
    values["elapsed_days"] = round((due - anchor).total_seconds() / 86400, 2)
    if rule.when_fields:
        values["fields"] = {
            name: _plain(getattr(row, f"f_{name}", None)) for name in rule.when_fields
        }
    return values


def _reason(rule: _Rule, row: Any, anchor: datetime, due: datetime) -> str:
    trigger = rule.rule.trigger
    since = _local(anchor, rule.calendar.timezone)
    if trigger.kind == "in_stage":
        name = rule.stage_name(row.stage)
        return f"in stage {name} since {since} ({_span(anchor, due)}; rule: {trigger.duration})"
    if trigger.kind == "since_last_activity":
        return f"no activity since {since} ({_span(anchor, due)}; rule: {trigger.duration})"
    if trigger.kind == "condition":
        text = trigger.condition.text if trigger.condition else ""
        return f"{text} has held since {since} (rule: for {trigger.duration})"
    after = f" by {trigger.duration}" if trigger.duration else ""
    return f"{trigger.field} {row.anchor} has passed{after}"


def _record(
    session: Session,
    rule: _Rule,
    level: int,
    found: Sequence[dict[str, Any]],
    sinks: Sequence[str],
    now: datetime,
) -> list[Fired]:
    """Insert the escalations ``found`` for one level; return those this call inserted.

    The others were recorded already, by an earlier or a concurrent sweep. Only
    the inserted ones get their outbox rows, one per sink, in the same transaction.
    """
    if not found:
        return []
    stored = _stored_time(session)
    rows = [
        {
            "deal_id": item["deal_id"],
            "episode": item["episode"],
            "stage": item["stage"],
            "anchor_at": stored(item["anchor_at"]),
            "fired_at": stored(item["fired_at"]),
            "status": item["status"],
            "reason": item["reason"],
            "trigger": item["trigger"],
            "notified": [person.to_dict() for person in item["notified"]],
        }
        for item in found
    ]
    fixed = {"playbook_id": rule.playbook.id, "rule": rule.rule.id, "level": level, "swept_at": now}
    table = _ESCALATIONS.c
    inserted = _insert_rows(
        session, _ESCALATIONS, rows, fixed, once=_ONCE_KEY, returning=(table.deal_id, table.id)
    )
    ids = {int(row[0]): int(row[1]) for row in inserted}
    won = [Fired(**item, id=ids[item["deal_id"]]) for item in found if item["deal_id"] in ids]
    outbox = [
        {"escalation_id": item.id, "sink": sink}
        for item in won
        if item.status == "open"
        for sink in sinks
    ]
    if outbox:
        pending = {"status": "pending", "attempts": 0, "created_at": now}
        _insert_rows(session, _DELIVERIES, outbox, pending, once=None, returning=())
    return won


_ONCE_KEY = ("deal_id", "rule", "level", "episode")


def _insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    fixed: Mapping[str, Any],
    *,
    once: Sequence[str] | None,
    returning: Sequence[ColumnElement[Any]],
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (each with the same keys, plus the ``fixed`` values) in one statement.

    The rows travel as one JSON document, unpacked by the database
    (``jsonb_to_recordset`` on PostgreSQL, ``json_each`` on SQLite): one
    parameter instead of one per value, which spares the driver parsing a
    statement of tens of thousands of placeholders per batch. Times in
    ``rows`` must already be in their stored form (see :func:`_stored_time`).
    With ``once`` (a unique key), rows already present are skipped, ``ON
    CONFLICT DO NOTHING``; ``returning`` columns come back for the inserted rows only.
    """
    names = list(rows[0])
    document = sa.literal(json.dumps(rows, ensure_ascii=False, separators=(",", ":")), sa.Text())
    if session.get_bind().dialect.name == "postgresql":
        record = (
            func.jsonb_to_recordset(sa.cast(document, postgresql.JSONB))
            .table_valued(*(sa.column(name, table.c[name].type) for name in names))
            .render_derived(name="found", with_types=True)
        )
        values: list[ColumnElement[Any]] = [record.c[name] for name in names]
        insert: Any = postgresql.insert(table)
    else:
        each = func.json_each(document).table_valued("value")
        values = [func.json_extract(each.c.value, f"$.{name}") for name in names]
        insert = sqlite.insert(table)
    constants = [sa.literal(value, table.c[name].type) for name, value in fixed.items()]
    # SQLite needs a WHERE between INSERT ... SELECT and ON CONFLICT to parse it as an upsert.
    source = select(*values, *constants).where(sa.true())
    statement = insert.from_select([*names, *fixed], source)
    if once is not None:
        statement = statement.on_conflict_do_nothing(index_elements=list(once))
    if not returning:
        session.execute(statement)
        return []
    return [tuple(row) for row in session.execute(statement.returning(*returning))]


def _stored_time(session: Session) -> Callable[[datetime], str]:
    """Turns a time into the text that stands for it in an inserted JSON document.

    On SQLite that is the very text a :class:`~playbook.store.models.UtcDateTime`
    column stores (see :func:`_sqlite_time`): episode checks compare it with
    the deal's own columns as text. PostgreSQL parses ISO 8601 into ``timestamptz``.
    """
    return _sqlite_time if session.get_bind().dialect.name == "sqlite" else _utc_iso


def _sqlite_time(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC: what SQLAlchemy's SQLite ``DATETIME`` writes."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# --- held conditions, resolution, warnings ------------------------------------------------


def _track_condition(session: Session, rule: _Rule, now: datetime) -> None:
    """Start the hold of deals whose condition newly holds; end it for the others."""
    holds = sa.and_(rule.scope(), rule.held())
    new = select(Deal.id, sa.literal(rule.rule.id), sa.literal(now, type_=_HOLDS.c.since.type))
    new = new.where(
        holds,
        ~exists().where(ConditionHold.deal_id == Deal.id, ConditionHold.rule == rule.rule.id),
    )
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(_HOLDS).from_select(["deal_id", "rule", "since"], new)
    session.execute(statement.on_conflict_do_nothing(index_elements=["deal_id", "rule"]))
    still = exists().where(Deal.id == ConditionHold.deal_id, holds)
    session.execute(
        sa.delete(ConditionHold)
        .where(ConditionHold.rule == rule.rule.id, ~still)
        .execution_options(synchronize_session=False)
    )


def _resolve(session: Session, rule: _Rule, now: datetime) -> int:
    """Mark ``resolved`` the open escalations of ``rule`` whose cause went away; return how many.

    One ``UPDATE`` joined to the deal by key decides and writes, in the
    database: the resolution text is a ``CASE`` over the two reasons, NULL for
    an escalation that still stands. (A plain ``NOT EXISTS`` over the deals
    would let a planner without statistics scan the stage index once per escalation.)
    """
    same = rule.same_episode()
    resolution = sa.case(
        (sa.and_(same, rule.scope()), sa.null()),
        (same, "the rule no longer applies to the deal (its stage or `when` changed)"),
        else_=_RESOLUTIONS[rule.kind],
    )
    done = session.execute(
        update(_E)
        .where(
            _E.deal_id == Deal.id,
            _E.rule == rule.rule.id,
            _E.playbook_id == rule.playbook.id,
            _E.status.in_(_LIVE),
            resolution.is_not(None),
        )
        .values(status="resolved", resolved_at=now, resolution=resolution)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], done).rowcount or 0)


def _missing_fields(session: Session, rule: _Rule, now: datetime) -> list[str]:
    """A warning per field the rule reads that deals otherwise due do not have.

    Only deals past the first level's time threshold are counted (an index
    range, not a scan of every deal), except for a ``date_passed`` field,
    which is itself the threshold.
    """
    names = list(rule.when_fields)
    if rule.kind == "date_passed" and rule.rule.trigger.field:
        names.insert(0, rule.rule.trigger.field)
    if not names or not rule.levels:
        return []
    scope = [rule.scope()] if rule.rule.when is None else [rule.scope_without_when()]
    if rule.kind in ("in_stage", "since_last_activity"):
        threshold = rule.threshold(rule.levels[0], now)
        if threshold is None:
            return []
        scope.append(threshold)
    warnings: list[str] = []
    for name in names:
        spec = rule.playbook.fields.get(name)
        if spec is None:
            continue
        missing = column_for(name, spec.type).is_(None)
        count = session.scalar(select(func.count()).select_from(Deal).where(*scope, missing))
        if count:
            warnings.append(
                f"rule {rule.rule.id}: {count} deal(s) in its stages have no {name!r} "
                f"(imported before the field existed?): the rule cannot fire for them "
                f"until {name} is filled in"
            )
    return warnings


def _future_deals(unit: UnitFactory, playbook: Playbook, now: datetime) -> list[str]:
    with unit() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Deal)
            .where(Deal.playbook_id == playbook.id, Deal.created_at > now)
        )
    if not count:
        return []
    return [
        f"{count} deal(s) were created after {_iso(now)}: nothing can fire for them at that "
        "time (is --now right?)"
    ]


# --- the outbox ---------------------------------------------------------------------------


def deliver_pending(
    database: Database,
    playbook: Playbook,
    sinks: Sequence[Sink],
    *,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    clock: Callable[[], datetime] | None = None,
    lang: str | None = None,
) -> DeliveryTally:
    """Send every pending or failed notification of ``playbook`` through the given ``sinks``.

    Each outbox row is claimed before it is sent (``sending``, with a lease
    until ``clock() + lease``), so concurrent sweeps never send the same row
    twice; a row is marked ``sent`` right after its sink accepted it and is
    never sent again. A failure marks it ``failed`` with the error and the
    number of attempts; the next call tries it again. Rows for sinks not given
    here stay pending and are counted.
    """
    stamp = clock or (lambda: now)
    by_name = {sink.name: sink for sink in sinks}
    tally = DeliveryTally()
    cursor = 0
    while True:
        claimed = _claim(database, playbook, tuple(by_name), cursor, stamp(), lease)
        if claimed is None:
            break
        cursor, rows = claimed
        for row in rows:
            _deliver(database, by_name[row.sink], row, playbook, lang, stamp(), tally)
    with database.transaction() as session:
        tally.pending = int(
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .join(_E, _E.id == Delivery.escalation_id)
                .where(_E.playbook_id == playbook.id, Delivery.status.in_(("pending", "failed")))
            )
            or 0
        )
    return tally


def _claim(
    database: Database,
    playbook: Playbook,
    sinks: tuple[str, ...],
    cursor: int,
    at: datetime,
    lease: timedelta,
) -> tuple[int, list[Any]] | None:
    """Claim the next batch of deliverable outbox rows after id ``cursor``; None when done."""
    claimable = sa.or_(
        Delivery.status.in_(("pending", "failed")),
        sa.and_(Delivery.status == "sending", Delivery.lease_until < at),
    )
    with database.transaction(write=True) as session:
        ids = session.scalars(
            select(Delivery.id)
            .join(_E, _E.id == Delivery.escalation_id)
            .where(
                Delivery.id > cursor,
                Delivery.sink.in_(sinks),
                _E.playbook_id == playbook.id,
                claimable,
            )
            .order_by(Delivery.id)
            .limit(_CLAIM_BATCH)
        ).all()
        if not ids:
            return None
        taken = (
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), claimable)
                .values(status="sending", lease_until=at + lease, attempts=Delivery.attempts + 1)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        rows = session.execute(
            select(Delivery.id, Delivery.sink, _E, Deal.external_id)
            .join(_E, _E.id == Delivery.escalation_id)
            .join(Deal, Deal.id == _E.deal_id)
            .where(Delivery.id.in_(taken))
            .order_by(Delivery.id)
        ).all()
    return max(ids), list(rows)


def _deliver(
    database: Database,
    sink: Sink,
    row: Any,
    playbook: Playbook,
    lang: str | None,
    at: datetime,
    tally: DeliveryTally,
) -> None:
    notification = _notification(row, playbook, lang)
    error: str | None = None
    try:
        sink.send(notification)
    except EscalationError as failure:
        error = failure.message
    with database.transaction(write=True) as session:
        values: dict[str, Any] = (
            {"status": "sent", "sent_at": at, "last_error": None}
            if error is None
            else {"status": "failed", "last_error": error[:2000]}
        )
        values["lease_until"] = None
        session.execute(
            update(Delivery)
            .where(Delivery.id == row.id, Delivery.status == "sending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if error is None:
        tally.sent += 1
    else:
        tally.failed += 1
        tally.errors.append(f"{sink.name}: {error}")


def _notification(row: Any, playbook: Playbook, lang: str | None) -> Notification:
    record: EscalationRecord = row.EscalationRecord
    deal = row.external_id if row.external_id is not None else str(record.deal_id)
    rule = next((r for r in playbook.escalations if r.id == record.rule), None)
    title = playbook.label(rule.title if rule else None, lang, fallback=record.rule)
    level = rule.levels[record.level - 1] if rule and record.level <= len(rule.levels) else None
    message = playbook.label(level.message if level else None, lang, fallback="")
    people = [Recipient(p.get("as", ""), p.get("name")) for p in record.notified or []]
    tell = ", ".join(str(person) for person in people)
    text = f"[{playbook.id}] deal {deal}: {title} (level {record.level})"
    text += f"\n{message}" if message else ""
    text += f"\nWhy: {record.reason}.\nNotify: {tell}."
    body = {
        "id": record.id,
        "playbook": playbook.id,
        "deal": deal,
        "rule": record.rule,
        "rule_title": title,
        "level": record.level,
        "stage": record.stage,
        "fired_at": _iso(record.fired_at),
        "reason": record.reason,
        "trigger": dict(record.trigger or {}),
        "notified": [person.to_dict() for person in people],
        "message": message,
    }
    return Notification(
        delivery_id=f"{playbook.id}-escalation-{record.id}-delivery-{row.id}",
        text=text,
        escalation=body,
        subject=f"[{playbook.id}] {title}: deal {deal}",
    )


# --- list, ack, snooze ---------------------------------------------------------------------


def list_escalations(
    database: Database,
    *,
    playbook_id: str | None = None,
    status: str | None = None,
    deal: str | None = None,
    rule: str | None = None,
    limit: int | None = None,
) -> list[EscalationView]:
    """Escalations matching every filter given, newest first."""
    query = select(_E, Deal.external_id).join(Deal, Deal.id == _E.deal_id).order_by(_E.id.desc())
    if playbook_id is not None:
        query = query.where(_E.playbook_id == playbook_id)
    if status is not None:
        query = query.where(_E.status == status)
    if rule is not None:
        query = query.where(_E.rule == rule)
    if deal is not None:
        by_id = _E.deal_id == int(deal) if deal.isdigit() else sa.false()
        query = query.where(sa.or_(Deal.external_id == deal, by_id))
    if limit is not None:
        query = query.limit(limit)
    with database.transaction() as session:
        return [_view(row.EscalationRecord, row.external_id) for row in session.execute(query)]


def acknowledge(
    database: Database, escalation_id: int, *, actor: str, reason: str, now: datetime
) -> EscalationView:
    """Record that ``actor`` took charge of an open escalation, and why.

    Higher levels of the same episode no longer fire. Raises
    :class:`~playbook.errors.EscalationNotFoundError` for an unknown id and
    :class:`~playbook.errors.EscalationError` for one that is not open or without a reason.
    """
    at = require_now(now)
    _need_reason(reason, "ack")
    with database.transaction(write=True) as session:
        record = _get(session, escalation_id)
        if record.status != "open":
            raise EscalationError(
                f"escalation {escalation_id} is {record.status}, not open: nothing to acknowledge",
                hint="`playbook escalations list --status open` shows the open ones",
            )
        record.status, record.acked_by, record.acked_at = "acked", actor, at
        record.ack_reason = reason
    return _read(database, escalation_id)


def snooze(
    database: Database,
    escalation_id: int,
    *,
    actor: str,
    until: datetime,
    reason: str,
    now: datetime,
) -> EscalationView:
    """Hold back the escalation's rule for its deal until ``until``, recording who and why.

    No level of the rule fires for the deal before ``until``; levels that fall
    due meanwhile fire at the first working moment after it. Raises
    :class:`~playbook.errors.EscalationError` when ``until`` is not after
    ``now`` or the reason is empty.
    """
    at = require_now(now)
    end = require_now(until)
    _need_reason(reason, "snooze")
    if end <= at:
        raise EscalationError(
            f"--until {_iso(end)} is not in the future (now is {_iso(at)})",
            hint="give a later time, e.g. --until 2026-03-01T09:00+08:00 or --until 3d",
        )
    with database.transaction(write=True) as session:
        record = _get(session, escalation_id)
        record.snoozed_by, record.snoozed_until, record.snooze_reason = actor, end, reason
    return _read(database, escalation_id)


def _need_reason(reason: str, verb: str) -> None:
    if not reason.strip():
        raise EscalationError(f"a {verb} needs a reason", hint="add --reason TEXT")


def _get(session: Session, escalation_id: int) -> EscalationRecord:
    record = session.get(EscalationRecord, escalation_id)
    if record is None:
        raise EscalationNotFoundError(
            f"no escalation {escalation_id}",
            hint="`playbook escalations list` shows the escalations and their ids",
            details={"escalation": escalation_id},
        )
    return record


def _read(database: Database, escalation_id: int) -> EscalationView:
    with database.transaction() as session:
        record = _get(session, escalation_id)
        deal = session.get(Deal, record.deal_id)
        return _view(record, deal.external_id if deal else None)


def _view(record: EscalationRecord, external_id: str | None) -> EscalationView:
    return EscalationView(
        id=record.id,
        deal=external_id if external_id is not None else str(record.deal_id),
        rule=record.rule,
        level=record.level,
        stage=record.stage,
        status=record.status,
        fired_at=record.fired_at,
        reason=record.reason,
        notified=tuple(Recipient(p.get("as", ""), p.get("name")) for p in record.notified or []),
        resolved_at=record.resolved_at,
        resolution=record.resolution,
        acked_by=record.acked_by,
        ack_reason=record.ack_reason,
        snoozed_by=record.snoozed_by,
        snoozed_until=record.snoozed_until,
        snooze_reason=record.snooze_reason,
    )


# --- helpers ------------------------------------------------------------------------------


def _calendar(playbook: Playbook) -> WorkingCalendar:
    try:
        return _shared_calendar(playbook.calendar, playbook.timezone)
    except InvalidPlaybookError as error:
        raise _calendar_error(error) from error


@lru_cache(maxsize=32)
def _shared_calendar(calendar: Calendar, timezone: str) -> WorkingCalendar:
    """One calendar per definition: it caches holidays, and a worker sweeps again and again."""
    working = WorkingCalendar(calendar, timezone)
    working.is_working_day(date(2000, 1, 1))  # an unknown holiday country fails here, now
    return working


def _calendar_error(error: InvalidPlaybookError) -> CalendarError:
    return CalendarError(
        f"cannot compute due times: {error.message}",
        hint=error.hint or "give the playbook's calendar at least one working weekday",
        path=error.path,
    )


def _connection_lost(database: Database, error: DBAPIError) -> PlaybookErrorLike:
    if isinstance(error, IntegrityError):
        return EscalationError(f"the database refused a write during the sweep: {error.orig}")
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return DatabaseUnavailableError(
        f"the database {database.url} failed during the sweep: {reason[0] if reason else error}",
        hint="what was committed stays committed and nothing is recorded twice: "
        "run the sweep again when the database is back",
        details={"url": database.url},
    )


PlaybookErrorLike = EscalationError | DatabaseUnavailableError


def _span(start: datetime, end: datetime) -> str:
    days = (end - start).total_seconds() / 86400
    if days >= 1:
        return f"{math.floor(days)} day(s)"
    return f"{math.floor(days * 24)} hour(s)"


def _local(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="minutes")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _utc_iso(value)
