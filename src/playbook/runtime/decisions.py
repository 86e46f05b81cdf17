"""What the engine answers: decisions and their reasons, events, next steps.

Reason codes (stable):

=========  ======================  =====================================================
``PB541``  move-not-allowed        the stage graph has no such move
``PB542``  role-not-allowed        the actor holds none of the roles the stage, move or rule asks
``PB543``  guard-failed            the move's ``when`` does not hold
``PB544``  entry-criterion-failed  an entry criterion of the target stage does not hold
``PB545``  required-action-open    a required action of the current stage is not done
``PB546``  exit-criterion-failed   an exit criterion of the current stage does not hold
``PB547``  already-in-stage        the deal is already in the target stage
=========  ======================  =====================================================

An override (by a role of ``overrides.roles``, with a reason) passes PB543 to
PB546, never PB541, PB542 or PB547.

Every type here is immutable and JSON-ready (``to_dict``). What a reason says
is built when the engine is built (:mod:`playbook.runtime.gates`), in every
language of :data:`playbook.i18n.LANGUAGES`; a reason made during a decision
only points at it, and works out an open action's due time when first read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from playbook.model import Duration, RequiredAction
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import DealState
from playbook.values import shown_time, to_json_value

__all__ = [
    "REASON_CODES",
    "ActionCompleted",
    "Advance",
    "AvailableMove",
    "Deadline",
    "Decision",
    "Event",
    "MissingForStage",
    "NextSteps",
    "OpenAction",
    "Reason",
    "ReasonKind",
    "RuleRef",
    "StageChanged",
    "format_local_time",
]

ReasonKind = Literal["graph", "role", "guard", "entry", "action", "exit", "stage"]

REASON_CODES: Mapping[str, tuple[str, ReasonKind]] = MappingProxyType(
    {
        "PB541": ("move-not-allowed", "graph"),
        "PB542": ("role-not-allowed", "role"),
        "PB543": ("guard-failed", "guard"),
        "PB544": ("entry-criterion-failed", "entry"),
        "PB545": ("required-action-open", "action"),
        "PB546": ("exit-criterion-failed", "exit"),
        "PB547": ("already-in-stage", "stage"),
    }
)
"""Every reason code: its name and kind."""

_OVERRIDABLE = frozenset({"PB543", "PB544", "PB545", "PB546"})
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RuleRef:
    """The rule a reason comes from: its code, its path and line in the playbook, its words.

    ``templates`` are the messages per language; for an action with a deadline,
    ``due_templates`` and ``overdue_templates`` hold ``{due}`` where the time goes.
    """

    code: str
    kind: ReasonKind
    rule: str
    line: int
    templates: Mapping[str, str]
    roles: tuple[str, ...] = ()
    due_templates: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    overdue_templates: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    zone: tzinfo | None = field(default=None, compare=False)
    overridable: bool = field(init=False)
    """True for the codes an override passes (PB543-PB546)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "overridable", self.code in _OVERRIDABLE)


class Deadline:
    """When an open action is due: worked out on the playbook's calendar when first read.

    Two deadlines are equal when they fall at the same time and are both overdue or not.
    """

    __slots__ = ("_calendar", "_due", "_duration", "_now", "_start")

    def __init__(
        self, calendar: WorkingCalendar, start: datetime, duration: Duration, now: datetime
    ) -> None:
        self._calendar = calendar
        self._start = start
        self._duration = duration
        self._now = now
        self._due: datetime | None = None

    @property
    def due(self) -> datetime:
        """The due time, aware UTC."""
        if self._due is None:
            # Idempotent: two threads racing here compute and store the same value.
            self._due = self._calendar.add(self._start, self._duration)
        return self._due

    @property
    def overdue(self) -> bool:
        """True when the due time is before the ``now`` of the decision."""
        return self.due < self._now

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Deadline):
            return NotImplemented
        return (self.due, self.overdue) == (other.due, other.overdue)

    def __hash__(self) -> int:
        return hash((self.due, self.overdue))

    def __repr__(self) -> str:
        return f"Deadline(due={self.due.isoformat()}, overdue={self.overdue})"


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a move is blocked: a stable code, the rule and its line, and what failed.

    ``message`` is in English; ``messages`` maps ``en`` and ``zh`` to the same
    text built from the playbook's labels. ``values`` holds the deal's field
    values that made the rule fail and ``failed`` the comparisons that did not
    hold. ``roles`` are the roles that may make the move (PB542) or must do the
    action (PB545); ``due`` is when an open action is (or was) due, ``overdue``
    whether that time has passed.
    """

    # What does not depend on the deal is shared by every reason from the same rule: a
    # blocked check then builds a four-slot object per reason. Messages are written out,
    # and an action's due time worked out on the calendar, only when someone reads them.
    ref: RuleRef
    values: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    failed: tuple[str, ...] = ()
    deadline: Deadline | None = None

    @property
    def due(self) -> datetime | None:
        """When the open action is (or was) due, in UTC; None when it has no deadline."""
        return self.deadline.due if self.deadline is not None else None

    @property
    def overdue(self) -> bool:
        """True when the open action's due time is before the decision's ``now``."""
        return self.deadline is not None and self.deadline.overdue

    @property
    def code(self) -> str:
        """The stable reason code (PB541-PB547)."""
        return self.ref.code

    @property
    def kind(self) -> ReasonKind:
        """graph, role, guard, entry, action, exit or stage."""
        return self.ref.kind

    @property
    def rule(self) -> str:
        """Where the rule is in the playbook, e.g. ``stages[needs_analysis].entry.budget_known``."""
        return self.ref.rule

    @property
    def line(self) -> int:
        """The rule's line in the playbook file (0 when the rule is implied)."""
        return self.ref.line

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles that may make the move (PB542) or that must do the action (PB545)."""
        return self.ref.roles

    @property
    def role(self) -> str | None:
        """The first of ``roles`` (the responsible role of an action), or None."""
        return self.ref.roles[0] if self.ref.roles else None

    @property
    def overridable(self) -> bool:
        """True when an override may pass this reason."""
        return self.ref.overridable

    @property
    def message(self) -> str:
        """The message in English."""
        return self.text("en")

    @property
    def messages(self) -> Mapping[str, str]:
        """The message in every language the engine speaks (``en``, ``zh``)."""
        return {lang: self.text(lang) for lang in self.ref.templates}

    def text(self, lang: str | None = None) -> str:
        """The message in ``lang`` (``en`` or ``zh``), English when that language is missing."""
        ref = self.ref
        due = self.due
        if due is None:
            templates = ref.templates
        else:
            templates = ref.overdue_templates if self.overdue else ref.due_templates
        template = templates.get(lang or "en") or templates.get("en", ref.code)
        if due is None:
            return template
        return template.replace("{due}", format_local_time(due, ref.zone))

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The JSON form; ``message`` is in ``lang`` (default English)."""
        return {
            "code": self.code,
            "kind": self.kind,
            "message": self.text(lang),
            "messages": dict(self.messages),
            "rule": self.rule,
            "line": self.line,
            "values": {key: to_json_value(value) for key, value in self.values.items()},
            "failed": list(self.failed),
            "roles": list(self.roles),
            "due": self.due.isoformat() if self.due else None,
            "overdue": self.overdue,
            "overridable": self.overridable,
        }


def format_local_time(moment: datetime, zone: tzinfo | None) -> str:
    """``2026-03-16 09:30 +08:00``: ``moment`` in ``zone`` with its offset (UTC without one).

    The one form every text output shows times in (:func:`playbook.values.shown_time`);
    abbreviations are not used: CST is China Standard Time and US Central Time.
    """
    return shown_time(moment, zone if zone is not None else UTC)


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether ``deal_id`` may move from ``from_stage`` to ``to_stage``, with every reason not.

    ``overridable`` is true for a blocked move whose reasons an actor holding
    one of the playbook's override roles could pass with a written reason.
    """

    allowed: bool
    deal_id: str
    from_stage: str
    to_stage: str
    reasons: tuple[Reason, ...] = ()
    overridable: bool = False

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(reason.code for reason in self.reasons)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The JSON form: ``allowed``, the deal and stages, and ``reasons`` in ``lang``."""
        return {
            "allowed": self.allowed,
            "deal_id": self.deal_id,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "overridable": self.overridable,
            "reasons": [reason.to_dict(lang) for reason in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class StageChanged:
    """A deal moved from one stage to another: who, when, under which playbook version.

    ``override_reason`` is set when the move passed failing gates by override;
    ``overridden`` lists the codes of the reasons it passed.
    """

    deal_id: str
    playbook_id: str
    playbook_version: int
    from_stage: str
    to_stage: str
    actor_id: str
    actor_roles: tuple[str, ...]
    at: datetime
    override_reason: str | None = None
    overridden: tuple[str, ...] = ()
    type: ClassVar[str] = "stage_changed"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with ``"type": "stage_changed"``."""
        return {
            "type": self.type,
            "deal_id": self.deal_id,
            "playbook": self.playbook_id,
            "playbook_version": self.playbook_version,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "actor_id": self.actor_id,
            "actor_roles": list(self.actor_roles),
            "at": self.at.isoformat(),
            "override_reason": self.override_reason,
            "overridden": list(self.overridden),
        }


@dataclass(frozen=True, slots=True)
class ActionCompleted:
    """A required action was done in the deal's current stage, by whom, with what evidence."""

    deal_id: str
    stage: str
    action_id: str
    actor_id: str
    at: datetime
    evidence: Any = None
    type: ClassVar[str] = "action_completed"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with ``"type": "action_completed"``."""
        return {
            "type": self.type,
            "deal_id": self.deal_id,
            "stage": self.stage,
            "action_id": self.action_id,
            "actor_id": self.actor_id,
            "at": self.at.isoformat(),
            "evidence": to_json_value(self.evidence),
        }


Event = StageChanged | ActionCompleted


@dataclass(frozen=True, slots=True)
class Advance:
    """The result of a change: the new deal state, the events to record, the decision made."""

    deal: DealState
    events: tuple[Event, ...]
    decision: Decision | None = None


@dataclass(frozen=True, slots=True)
class OpenAction:
    """A required action of the current stage not done yet, with its due time."""

    action: RequiredAction
    titles: Mapping[str, str]
    due: datetime | None
    overdue: bool

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The JSON form; ``title`` in ``lang``."""
        return {
            "action": self.action.id,
            "title": self.titles.get(lang or "en", self.titles["en"]),
            "roles": list(self.action.roles),
            "due": self.due.isoformat() if self.due else None,
            "overdue": self.overdue,
            "evidence": self.action.evidence,
        }


@dataclass(frozen=True, slots=True)
class MissingForStage:
    """What keeps the deal out of a next stage: empty fields and failing entry criteria."""

    stage: str
    titles: Mapping[str, str]
    fields: tuple[str, ...]
    failing: tuple[Reason, ...]

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The JSON form; texts in ``lang``."""
        return {
            "stage": self.stage,
            "title": self.titles.get(lang or "en", self.titles["en"]),
            "fields": list(self.fields),
            "failing": [reason.to_dict(lang) for reason in self.failing],
        }


@dataclass(frozen=True, slots=True)
class AvailableMove:
    """A move the graph allows from the current stage, and whether it is allowed right now."""

    target: str
    titles: Mapping[str, str]
    allowed: bool
    reasons: tuple[Reason, ...]

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The JSON form; texts in ``lang``."""
        return {
            "to": self.target,
            "title": self.titles.get(lang or "en", self.titles["en"]),
            "allowed": self.allowed,
            "reasons": [reason.to_dict(lang) for reason in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class NextSteps:
    """What the owner of a deal must do next, at a given time."""

    deal_id: str
    stage: str
    open_actions: tuple[OpenAction, ...]
    missing_for_next: tuple[MissingForStage, ...]
    available: tuple[AvailableMove, ...]

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The JSON form; texts in ``lang``."""
        return {
            "deal_id": self.deal_id,
            "stage": self.stage,
            "open_actions": [item.to_dict(lang) for item in self.open_actions],
            "missing_for_next": [item.to_dict(lang) for item in self.missing_for_next],
            "available": [item.to_dict(lang) for item in self.available],
        }
