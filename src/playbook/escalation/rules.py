"""Escalation rules without a database: due times, episode anchors, and what a firing is.

Due times: ``trigger duration`` then the level's ``after`` are added on the
playbook's :class:`~playbook.runtime.calendar.WorkingCalendar`, in its
timezone, and the result moves to the next **working moment** (inside working
hours of a working day): nobody is notified at midnight, on a weekend or on a
holiday (:func:`due_at`, :func:`working_moment`).

The episode of each trigger kind, and therefore what makes a rule fire again.
:func:`deal_anchor` reads the anchor from a deal's record (for playbook tests
and impact reports); the sweep reads the same times in SQL
(:mod:`playbook.escalation.query`) and parses a date field's value with
:meth:`PreparedRule.anchor_time`:

===================  ==============================================  ===========================
trigger              episode (the anchor time)                       resolved when
===================  ==============================================  ===========================
in_stage             the visit of the stage (``stage_entered_at``)   the deal leaves the stage
since_last_activity  the last activity (else the creation)           an activity is logged
condition + for      the run of sweeps that saw it hold              a sweep sees it fail
date_passed          the field's value (the next day's start)        the value changes
===================  ==============================================  ===========================

A deal record keeps no time at which a condition started to hold: the sweep
tracks it from the first sweep that sees it, and :func:`deal_anchor` takes the
stage's entry while the condition holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, cast

from playbook.escalation.times import utc_iso
from playbook.i18n import say, spoken
from playbook.model import Duration, Escalation, EscalationLevel, Playbook
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import DealState
from playbook.runtime.tables import stored_fields, with_derived

__all__ = [
    "Fired",
    "LevelTiming",
    "Pinned",
    "PreparedRule",
    "Recipient",
    "date_passed_at",
    "deal_anchor",
    "deal_label",
    "due_at",
    "json_form",
    "rule_stages",
    "working_moment",
]

_SEARCH_SPAN = timedelta(days=366 * 30)
_ZERO = Duration("days", 0.0)


# --- what a firing is ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone a level notifies: as ``owner``, ``manager`` or a role id, and their name if known."""

    role: str
    name: str | None

    @classmethod
    def from_stored(cls, stored: Iterable[Mapping[str, Any]] | None) -> tuple[Recipient, ...]:
        """The recipients of an escalation row's ``notified`` JSON (see :meth:`to_dict`)."""
        return tuple(cls(person.get("as", ""), person.get("name")) for person in stored or ())

    def to_dict(self) -> dict[str, Any]:
        """``{"as": role, "name": name}``."""
        return {"as": self.role, "name": self.name}

    def __str__(self) -> str:
        return self.shown()

    def shown(self, playbook: Playbook | None = None, lang: str | None = None) -> str:
        """``Sales manager li``: the role by its title in ``lang`` (given a playbook), the name."""
        role = self.role
        if playbook is not None:
            known = playbook.roles.get(role)
            title = known.title if known is not None else None
            role = playbook.label(
                title, lang, say(f"people.{role}", lang) if role in _PEOPLE else role
            )
        if self.name:
            return f"{role} {self.name}"
        return say("escalation.nobody_named", lang, role=role)


_PEOPLE = frozenset({"owner", "manager"})


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
        return json_form(self, _FIRED_KEYS)


_FIRED_KEYS = (
    *("id", "deal", "deal_id", "rule", "rule_title", "level", "episode", "stage", "owner"),
    *("status", "fired_at", "swept_at", "reason", "trigger", "notified", "message"),
)


def json_form(item: object, names: Iterable[str]) -> dict[str, Any]:
    """``{name: value}`` for the attributes ``names`` of ``item``, in order, as JSON keeps them.

    Times become ISO 8601 in UTC, recipients ``{"as", "name"}`` mappings, and
    mappings plain dicts; other values are kept as they are.
    """
    return {name: _json_value(getattr(item, name)) for name in names}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, tuple) and all(isinstance(item, Recipient) for item in value):
        return [person.to_dict() for person in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


def deal_label(external_id: str | None, deal_id: int) -> str:
    """How an escalation names its deal: the external id, else the store's number."""
    return external_id if external_id is not None else str(deal_id)


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


def date_passed_at(value: date | datetime, timezone: tzinfo) -> datetime:
    """When a ``date_passed`` trigger's value has passed, as an aware UTC datetime.

    A date passes at the start of the next day in ``timezone``; a datetime is
    its own moment (a naive one is read as UTC, as the store writes it).
    """
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return _at(value + timedelta(days=1), time(0, 0), timezone)


def _at(day: date, moment: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, moment, tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class LevelTiming:
    """One level of a rule with its due-time function and the latest anchor that is due."""

    number: int
    level: EscalationLevel
    calendar: WorkingCalendar
    wait: Duration | None

    def due(self, anchor: datetime) -> datetime:
        """When this level is due for an episode anchored at ``anchor`` (see :func:`due_at`)."""
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


# --- one rule -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pinned:
    """Which deals a rule is evaluated on, by the playbook version they are pinned to: only the
    deals of ``versions`` (``inside``), or every deal but those."""

    versions: frozenset[int]
    inside: bool


class PreparedRule:
    """A rule of a playbook ready to be timed: its stages, trigger, levels and fixed texts.

    ``pinned`` narrows the deals it is evaluated on to some playbook versions
    (None: every deal of the playbook's id).
    """

    def __init__(
        self,
        playbook: Playbook,
        rule: Escalation,
        calendar: WorkingCalendar,
        *,
        pinned: Pinned | None = None,
        lang: str | None = None,
    ) -> None:
        self.playbook = playbook
        self.rule = rule
        # The language the rule's escalations are recorded in: the sweep's, else the playbook's.
        self.lang = spoken(lang or playbook.language)
        self.calendar = calendar
        self.kind = rule.trigger.kind
        self.pinned = pinned
        self.stages = rule_stages(playbook, rule)
        self.levels = tuple(
            LevelTiming(number, level, calendar, rule.trigger.duration)
            for number, level in enumerate(rule.levels, start=1)
        )
        self.field_spec = playbook.fields.get(rule.trigger.field or "")
        # A derived field is computed from stored ones: those are what the sweep reads.
        when = rule.when.fields if rule.when is not None else ()
        self.when_fields = tuple(sorted(stored_fields(playbook, when)))
        # Texts every escalation of the rule repeats: computed once, not once per deal.
        self.title = playbook.label(rule.title, self.lang, fallback=rule.id)
        self.trigger_values = _constant_trigger_values(rule)
        self._stage_names: dict[str, str] = {}

    def stage_name(self, stage_id: str) -> str:
        """The title of stage ``stage_id`` in the rule's language (the id when unknown)."""
        name = self._stage_names.get(stage_id)
        if name is None:
            stage = self.playbook.stage(stage_id)
            name = self.playbook.label(stage.title if stage else None, self.lang, stage_id)
            self._stage_names[stage_id] = name
        return name

    def anchor_time(self, value: Any) -> datetime:
        """The anchor of a stored value as an aware UTC datetime.

        ``value`` is the anchor column's value (a datetime), or, for a
        ``date_passed`` trigger, the field's value as the store keeps it (ISO text).
        """
        if self.kind != "date_passed":
            return cast(datetime, value)
        text = str(value)
        if self.field_spec is not None and self.field_spec.kind == "date":
            return date_passed_at(date.fromisoformat(text[:10]), self.calendar.timezone)
        return date_passed_at(datetime.fromisoformat(text), self.calendar.timezone)

    def episode(self, stage: str, anchor_value: Any, anchor_iso: str) -> str:
        """The episode key stored in the unique constraint (``anchor_iso``: the anchor in UTC)."""
        if self.kind == "in_stage":
            return f"{stage}@{anchor_iso}"[:100]
        if self.kind == "date_passed":
            return str(anchor_value)[:100]
        prefix = "activity" if self.kind == "since_last_activity" else "held"
        return f"{prefix}@{anchor_iso}"


# --- anchors of a deal's record -----------------------------------------------------------


def rule_stages(playbook: Playbook, rule: Escalation) -> tuple[str, ...]:
    """The stages ``rule`` applies in: its own ``stages``, else every open stage."""
    return rule.stages or tuple(s.id for s in playbook.stages if s.is_open)


def deal_anchor(
    playbook: Playbook, rule: Escalation, deal: DealState, timezone: tzinfo
) -> datetime | None:
    """The anchor of ``deal``'s current episode of ``rule``, from its record (None: no episode).

    The rule applies to a deal in one of its stages (:func:`rule_stages`)
    whose ``when`` holds, and, for a ``condition`` trigger, whose condition
    holds; for ``date_passed``, whose field has a value. The anchors are the
    sweep's (see the table above); ``timezone`` is the calendar's.
    """
    if not _in_stages(playbook, rule, deal.stage):
        return None
    values = with_derived(playbook, deal.fields)
    if rule.when is not None and not rule.when.test(values):
        return None
    trigger = rule.trigger
    entered = deal.stage_entered_at or deal.created_at
    if trigger.kind == "in_stage":
        return entered
    if trigger.kind == "since_last_activity":
        return deal.last_activity_at or deal.created_at or entered
    if trigger.kind == "condition":
        holds = trigger.condition is not None and trigger.condition.test(values)
        return entered if holds else None
    value = values.get(trigger.field or "")
    return date_passed_at(value, timezone) if isinstance(value, date) else None


def _in_stages(playbook: Playbook, rule: Escalation, stage_id: str) -> bool:
    """``stage_id in rule_stages(playbook, rule)`` without building the tuple (once per deal)."""
    if rule.stages:
        return stage_id in rule.stages
    stage = playbook.stage(stage_id)
    return stage is not None and stage.is_open


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
