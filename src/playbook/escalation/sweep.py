"""The sweep: escalation rules fired once, on time, on working days, from the deal store.

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
3. *firing*: candidate deals are selected **in SQL**
   (:mod:`playbook.escalation.query`); deals that already have the level for
   the current episode, or a running snooze, are left out. Each candidate's
   due time is then computed exactly (:mod:`playbook.escalation.candidate`),
   and the rows are inserted with ``ON CONFLICT DO NOTHING`` on the unique key
   ``(deal, rule, level, episode)`` (:mod:`playbook.escalation.inserts`):
   whatever number of sweeps run at once, one insert wins, and only the winner
   creates the notifications (outbox rows, in the same transaction, sent by
   :mod:`playbook.escalation.outbox`).

Due times and episodes are those of :mod:`playbook.escalation.rules`.
``fired_at`` records the due moment even when the sweep runs later
(catch-up); a rule's ``max_lateness`` records levels found too late as
``dropped``, without notifying anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult, Table, exists, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from playbook._collector import collector_paused
from playbook.errors import (
    CalendarError,
    DatabaseUnavailableError,
    EscalationError,
    InvalidPlaybookError,
)
from playbook.escalation import query
from playbook.escalation.approvals import overdue_steps, resolve_answered
from playbook.escalation.candidate import escalation_of
from playbook.escalation.inserts import insert_rows, insert_statement, stored_time
from playbook.escalation.outbox import DEFAULT_LEASE, DeliveryTally, deliver_pending
from playbook.escalation.rules import Fired, Pinned, PreparedRule
from playbook.escalation.sinks import Sink
from playbook.escalation.times import utc_iso
from playbook.i18n import Message, say, spoken
from playbook.model import Calendar, Playbook
from playbook.runtime.calendar import WorkingCalendar
from playbook.store.db import Database
from playbook.store.escalation_models import ConditionHold, Delivery, EscalationRecord
from playbook.store.fields import column_for
from playbook.store.models import Deal, Person
from playbook.values import playbook_zone, require_now, shown_time

__all__ = ["SweepReport", "sweep"]

_INSERT_BATCH = 5000
_ONCE_KEY = ("deal_id", "rule", "level", "episode")
_E = EscalationRecord
_ESCALATIONS = cast(Table, EscalationRecord.__table__)
_DELIVERIES = cast(Table, Delivery.__table__)
_HOLDS = cast(Table, ConditionHold.__table__)
_LIVE = ("open", "acked")


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
            "now": utc_iso(self.now),
            "dry_run": self.dry_run,
            "fired": [item.to_dict() for item in self.fired],
            "dropped": [item.to_dict() for item in self.dropped],
            "resolved": self.resolved,
            "deliveries": self.deliveries.to_dict(),
            "warnings": list(self.warnings),
            "interrupted": self.interrupted,
        }


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
    pinned: Mapping[int, Playbook] | None = None,
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

    ``pinned`` holds the playbook of versions deals are pinned to (rebuilt from
    the texts the store keeps): the deals of such a version are evaluated by
    the rules of that version, every other deal by ``playbook``'s.

    Raises :class:`~playbook.errors.CalendarError` for a calendar with no
    working day and :class:`~playbook.errors.DatabaseUnavailableError` when the
    database connection is lost (what was committed stays: run the sweep again).
    """
    now = require_now(now)
    report = SweepReport(playbook=playbook.key, now=now, dry_run=dry_run)
    names = tuple(sink.name for sink in sinks)
    try:
        with _units(database, dry_run) as unit:
            if explain_future:
                report.warnings += _future_deals(unit, playbook, now, lang)
            for compiled in _prepared_rules(playbook, pinned or {}, lang):
                if not _sweep_rule(unit, compiled, report, names, lang, should_stop):
                    report.interrupted = True
                    return report
            _sweep_approvals(unit, playbook, report, names, lang)
        if sinks and not dry_run:
            report.deliveries = deliver_pending(
                database, playbook, sinks, now=now, lease=lease, clock=clock, lang=lang
            )
    except InvalidPlaybookError as error:
        raise _calendar_error(error) from error
    except DBAPIError as error:
        raise _connection_lost(database, error) from error
    return report


def _prepared_rules(
    playbook: Playbook, pinned: Mapping[int, Playbook], lang: str | None
) -> Iterator[PreparedRule]:
    """Every rule to evaluate: those of each pinned version on its deals, then ``playbook``'s
    on every other deal (all of them when nothing is pinned)."""
    passes: list[tuple[Playbook, Pinned | None]] = [
        (model, Pinned(frozenset({version}), inside=True)) for version, model in pinned.items()
    ]
    rest = Pinned(frozenset(pinned), inside=False) if pinned else None
    passes.append((playbook, rest))
    for model, deals in passes:
        calendar = _calendar(model)
        for rule in model.escalations:
            yield PreparedRule(model, rule, calendar, pinned=deals, lang=lang)


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
    rule: PreparedRule,
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
        holders = _role_holders(session, rule)
        for level in rule.levels:
            threshold = query.threshold(rule, level, now)
            if threshold is None:
                continue
            message = rule.playbook.label(level.level.message, rule.lang, fallback="")
            found_rows = session.execute(query.candidates(rule, level, threshold)).all()
            # Deal order: concurrent sweeps then take the unique-index locks in the same order.
            rows = sorted(found_rows, key=lambda row: int(row.id))
            for start in range(0, len(rows), _INSERT_BATCH):
                chunk = rows[start : start + _INSERT_BATCH]
                found = [
                    escalation_of(rule, level, row, now, message, snoozes, holders) for row in chunk
                ]
                due = [item for item in found if item is not None]
                key = (rule.playbook.id, rule.rule.id)
                recorded += _record(session, key, level.number, due, sinks, now)
    report.resolved += resolved
    report.warnings += warnings
    for item in recorded:
        (report.fired if item.status == "open" else report.dropped).append(item)
    return True


def _sweep_approvals(
    unit: UnitFactory,
    playbook: Playbook,
    report: SweepReport,
    sinks: Sequence[str],
    lang: str | None,
) -> None:
    """Resolve answered approval steps, then fire the levels of overdue ones, in one transaction."""
    spoken_lang, calendar, now = spoken(lang or playbook.language), _calendar(playbook), report.now
    with unit() as session:
        report.resolved += resolve_answered(session, playbook, calendar, now, spoken_lang)
        for step in overdue_steps(session, playbook, calendar, now, spoken_lang):
            fired = _record(session, (playbook.id, step.rule), step.level, [step.item], sinks, now)
            report.fired += fired


def _role_holders(session: Session, rule: PreparedRule) -> dict[str, tuple[str, ...]]:
    """The people holding each role the rule's levels notify (``playbook people``), by name."""
    wanted = {
        who
        for level in rule.levels
        for who in level.level.notify
        if who not in ("owner", "manager")
    }
    if not wanted:
        return {}
    holders: dict[str, list[str]] = {role: [] for role in wanted}
    for name, roles in session.execute(select(Person.name, Person.roles).order_by(Person.name)):
        for role in wanted.intersection(roles or ()):
            holders[role].append(name)
    return {role: tuple(names) for role, names in holders.items() if names}


def _snoozes(session: Session, rule: PreparedRule) -> dict[tuple[int, datetime], datetime]:
    """The latest snooze of each (deal, anchor) of the rule; few rows, read once per rule."""
    rows = session.execute(
        select(_E.deal_id, _E.anchor_at, func.max(_E.snoozed_until))
        .where(_E.rule == rule.rule.id, _E.snoozed_until.is_not(None))
        .group_by(_E.deal_id, _E.anchor_at)
    ).all()
    return {(deal, anchor): until for deal, anchor, until in rows if until is not None}


def _record(
    session: Session,
    key: tuple[str, str],
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
    stored = stored_time(session)
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
    fixed = {"playbook_id": key[0], "rule": key[1], "level": level, "swept_at": now}
    table = _ESCALATIONS.c
    inserted = insert_rows(
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
        insert_rows(session, _DELIVERIES, outbox, pending, once=None, returning=())
    return won


# --- held conditions, resolution, warnings ------------------------------------------------


def _track_condition(session: Session, rule: PreparedRule, now: datetime) -> None:
    """Start the hold of deals whose condition newly holds; end it for the others."""
    holds = sa.and_(query.scope(rule), query.held(rule))
    new = select(Deal.id, sa.literal(rule.rule.id), sa.literal(now, type_=_HOLDS.c.since.type))
    new = new.where(
        holds,
        ~exists().where(ConditionHold.deal_id == Deal.id, ConditionHold.rule == rule.rule.id),
    )
    statement = insert_statement(session, _HOLDS).from_select(["deal_id", "rule", "since"], new)
    session.execute(statement.on_conflict_do_nothing(index_elements=["deal_id", "rule"]))
    still = exists().where(Deal.id == ConditionHold.deal_id, holds)
    # Only the holds of the deals this rule is evaluated on (another version's pass keeps its own).
    mine = exists().where(Deal.id == ConditionHold.deal_id, query.pinned(rule))
    session.execute(
        sa.delete(ConditionHold)
        .where(ConditionHold.rule == rule.rule.id, mine, ~still)
        .execution_options(synchronize_session=False)
    )


def _resolve(session: Session, rule: PreparedRule, now: datetime) -> int:
    """Mark ``resolved`` the open escalations of ``rule`` whose cause went away; return how many.

    One ``UPDATE`` joined to the deal by key decides and writes, in the
    database: the resolution text is a ``CASE`` over the two reasons, NULL for
    an escalation that still stands. (A plain ``NOT EXISTS`` over the deals
    would let a planner without statistics scan the stage index once per escalation.)
    """
    same = query.same_episode(rule)
    resolution = sa.case(
        (sa.and_(same, query.scope(rule)), sa.null()),
        (same, say("escalation.no_longer_applies", rule.lang)),
        else_=say(f"escalation.resolved.{rule.kind}", rule.lang),
    )
    done = session.execute(
        update(_E)
        .where(
            _E.deal_id == Deal.id,
            _E.rule == rule.rule.id,
            _E.playbook_id == rule.playbook.id,
            _E.status.in_(_LIVE),
            query.pinned(rule),
            resolution.is_not(None),
        )
        .values(status="resolved", resolved_at=now, resolution=resolution)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], done).rowcount or 0)


def _missing_fields(session: Session, rule: PreparedRule, now: datetime) -> list[str]:
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
    scope = [query.scope(rule, when=False)]
    if rule.kind in ("in_stage", "since_last_activity"):
        threshold = query.threshold(rule, rule.levels[0], now)
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
            field = rule.playbook.label(spec.title, rule.lang, name)
            words = {"rule": rule.rule.id, "count": count, "field": field}
            warnings.append(say("escalation.missing_field", rule.lang, **words))
    return warnings


def _future_deals(
    unit: UnitFactory, playbook: Playbook, now: datetime, lang: str | None
) -> list[str]:
    with unit() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Deal)
            .where(Deal.playbook_id == playbook.id, Deal.created_at > now)
        )
    if not count:
        return []
    lang = spoken(lang or playbook.language)
    shown = shown_time(now, playbook_zone(playbook))
    return [say("escalation.future_deals", lang, count=count, now=shown)]


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
        Message("error.sweep.cannot_compute_due_times", message=error.msg),
        hint=error.hint_msg or Message("error.sweep.give_playbook_calendar_at"),
        path=error.path,
    )


def _connection_lost(
    database: Database, error: DBAPIError
) -> EscalationError | DatabaseUnavailableError:
    if isinstance(error, IntegrityError):
        return EscalationError(
            Message("error.sweep.database_refused_write_during", orig=error.orig)
        )
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return DatabaseUnavailableError(
        Message(
            "error.sweep.database_failed_during_sweep",
            url=database.url,
            value=reason[0] if reason else error,
        ),
        hint=Message("error.sweep.what_was_committed_stays"),
        details={"url": database.url},
    )
