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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, Protocol

from playbook.model import Duration, RequiredAction
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import DealState
from playbook.runtime.forms import (
    ActionCompletedDict,
    AvailableMoveDict,
    DecisionDict,
    MissingForStageDict,
    NextStepsDict,
    OpenActionDict,
    ReasonDict,
    ReasonKind,
    StageChangedDict,
)
from playbook.runtime.reading import DealView
from playbook.values import FrozenMap, shown_time, to_json_value

__all__ = [
    "REASON_CODES",
    "ActionCompleted",
    "ActionCompletedDict",
    "Advance",
    "AvailableMove",
    "AvailableMoveDict",
    "Deadline",
    "Decision",
    "DecisionDict",
    "Event",
    "Explainer",
    "MissingForStage",
    "MissingForStageDict",
    "NextSteps",
    "NextStepsDict",
    "OpenAction",
    "OpenActionDict",
    "Reason",
    "ReasonDict",
    "ReasonKind",
    "RuleRef",
    "StageChanged",
    "format_local_time",
    "made",
]


REASON_CODES: Mapping[str, tuple[str, ReasonKind]] = MappingProxyType(
    {
        "PB541": ("move-not-allowed", "graph"),
        "PB542": ("role-not-allowed", "role"),
        "PB543": ("guard-failed", "guard"),
        "PB544": ("entry-criterion-failed", "entry"),
        "PB545": ("required-action-open", "action"),
        "PB546": ("exit-criterion-failed", "exit"),
        "PB547": ("already-in-stage", "stage"),
        "PB580": ("approval-missing", "approval"),
    }
)
"""Every reason code: its name and kind."""

_OVERRIDABLE = frozenset({"PB543", "PB544", "PB545", "PB546"})
_EMPTY: Mapping[str, Any] = FrozenMap()


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
        self,
        calendar: WorkingCalendar | None,
        start: datetime,
        duration: Duration | None,
        now: datetime,
        due: datetime | None = None,
    ) -> None:
        self._calendar = calendar
        self._start = start
        self._duration = duration
        self._now = now
        self._due = due

    def __reduce__(self) -> tuple[Any, ...]:
        # The calendar stays behind: a copy carries the worked-out time.
        return (Deadline, (None, self._start, None, self._now, self.due))

    @property
    def due(self) -> datetime:
        """The due time, aware UTC."""
        if self._due is None:
            assert self._calendar is not None
            assert self._duration is not None
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


class Reason(NamedTuple):
    """Why a move is blocked: a stable code, the rule and its line, and what failed.

    ``message`` is in English; ``messages`` maps ``en`` and ``zh`` to the same
    text built from the playbook's labels. ``values`` holds the deal's field
    values that made the rule fail and ``failed`` the comparisons that did not
    hold. ``roles`` are the roles that may make the move (PB542) or must do the
    action (PB545); ``due`` is when an open action is (or was) due, ``overdue``
    whether that time has passed.
    """

    # What does not depend on the deal is shared by every reason from the same rule: a
    # reason is a four-item tuple (the cheapest immutable object to build). Messages are
    # written out, and an action's due time worked out on the calendar, only when read.
    ref: RuleRef
    values: Mapping[str, object] = _EMPTY
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

    def to_dict(self, lang: str | None = None) -> ReasonDict:
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


class Explainer(Protocol):
    """What a decision made by the engine reads its stages and reasons from (a gate)."""

    @property
    def from_stage(self) -> str:
        """The stage the move starts from."""
        ...

    @property
    def to_stage(self) -> str:
        """The stage the move goes to."""
        ...

    @property
    def may_override(self) -> bool:
        """True when the playbook has override roles."""
        ...

    def explain(
        self,
        deal: DealState | DealView,
        roles: frozenset[str] | None,
        now: datetime,
        mask: int | None = None,
    ) -> tuple[Reason, ...]:
        """Every reason the move is blocked for ``deal``, in order (``mask``: the failing
        conditions, when known)."""
        ...


@dataclass(frozen=True, slots=True)
class _Given:
    """What a decision built by hand (not by the engine) holds."""

    allowed: bool
    deal_id: str
    from_stage: str
    to_stage: str
    overridable: bool


_ALLOWED: tuple[Reason, ...] = ()


class Decision:
    """Whether ``deal_id`` may move from ``from_stage`` to ``to_stage``, with every reason not.

    ``overridable`` is true for a blocked move whose reasons an actor holding
    one of the playbook's override roles could pass with a written reason.
    Immutable; equal when every attribute is; pickles and copies with its
    reasons written out.
    """

    # A decision made by the engine holds its gate, the deal as read, the roles, the time
    # and a bit per failing condition: six slots. Its reasons are worked out when first
    # read, so an allowed decision allocates nothing but itself and a blocked one kept
    # for later stays small.
    __slots__ = ("_deal", "_gate", "_mask", "_now", "_reasons", "_roles")

    _gate: Explainer | _Given
    _deal: DealState | DealView | None
    _roles: frozenset[str] | None
    _now: datetime | None
    _mask: int
    _reasons: tuple[Reason, ...] | None

    def __init__(
        self,
        allowed: bool,
        deal_id: str,
        from_stage: str,
        to_stage: str,
        reasons: Iterable[Reason] = (),
        overridable: bool = False,
    ) -> None:
        self._gate = _Given(allowed, deal_id, from_stage, to_stage, overridable)
        self._deal = self._roles = self._now = None
        self._mask = 0
        self._reasons = tuple(reasons)

    @classmethod
    def made(
        cls,
        gate: Explainer,
        deal: DealState | DealView,
        roles: frozenset[str] | None,
        now: datetime,
        mask: int,
        allowed: bool,
    ) -> Decision:
        """The engine's decision on ``deal`` at ``gate``; reasons are worked out when read."""
        return made(gate, deal, roles, now, mask, allowed)

    @property
    def allowed(self) -> bool:
        """True when the move may be made now."""
        gate = self._gate
        if type(gate) is _Given:
            return gate.allowed
        return self._reasons is _ALLOWED

    @property
    def deal_id(self) -> str:
        """The deal's id."""
        gate = self._gate
        if isinstance(gate, _Given):
            return gate.deal_id
        assert self._deal is not None
        return self._deal.id

    @property
    def from_stage(self) -> str:
        """The stage the deal is in."""
        return self._gate.from_stage

    @property
    def to_stage(self) -> str:
        """The stage it was asked to move to."""
        return self._gate.to_stage

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Every reason the move is blocked, in a stable order (empty when allowed)."""
        reasons = self._reasons
        if reasons is None:
            gate = self._gate
            assert not isinstance(gate, _Given)
            assert self._deal is not None
            assert self._now is not None
            # Idempotent: two threads racing here compute and store equal tuples.
            reasons = gate.explain(self._deal, self._roles, self._now, self._mask)
            self._reasons = reasons
        return reasons

    @property
    def overridable(self) -> bool:
        """True when an override role could pass every reason with a written reason."""
        gate = self._gate
        if isinstance(gate, _Given):
            return gate.overridable
        if self._reasons is _ALLOWED or not gate.may_override:
            return False
        # Reasons come in a fixed order, and those an override never passes (graph,
        # same stage, roles) come first: the first reason decides.
        return self.reasons[0].ref.overridable

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(reason.code for reason in self.reasons)

    def _key(self) -> tuple[object, ...]:
        return (
            self.allowed,
            self.deal_id,
            self.from_stage,
            self.to_stage,
            self.reasons,
            self.overridable,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Decision(allowed={self.allowed!r}, deal_id={self.deal_id!r}, "
            f"from_stage={self.from_stage!r}, to_stage={self.to_stage!r}, "
            f"reasons={self.reasons!r}, overridable={self.overridable!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (Decision, self._key())

    def to_dict(self, lang: str | None = None) -> DecisionDict:
        """The JSON form: ``allowed``, the deal and stages, and ``reasons`` in ``lang``."""
        return {
            "allowed": self.allowed,
            "deal_id": self.deal_id,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "overridable": self.overridable,
            "reasons": [reason.to_dict(lang) for reason in self.reasons],
        }


_new = object.__new__


def made(
    gate: Explainer,
    deal: DealState | DealView,
    roles: frozenset[str] | None,
    now: datetime,
    mask: int,
    allowed: bool,
) -> Decision:
    """:meth:`Decision.made` as a plain function: what a gate calls on every decision."""
    decision = _new(Decision)
    decision._gate = gate
    decision._deal = deal
    decision._roles = roles
    decision._now = now
    decision._mask = mask
    decision._reasons = _ALLOWED if allowed else None
    return decision


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

    def to_dict(self) -> StageChangedDict:
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

    def to_dict(self) -> ActionCompletedDict:
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

    def to_dict(self, lang: str | None = None) -> OpenActionDict:
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

    def to_dict(self, lang: str | None = None) -> MissingForStageDict:
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

    def to_dict(self, lang: str | None = None) -> AvailableMoveDict:
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

    def to_dict(self, lang: str | None = None) -> NextStepsDict:
        """The JSON form; texts in ``lang``."""
        return {
            "deal_id": self.deal_id,
            "stage": self.stage,
            "open_actions": [item.to_dict(lang) for item in self.open_actions],
            "missing_for_next": [item.to_dict(lang) for item in self.missing_for_next],
            "available": [item.to_dict(lang) for item in self.available],
        }
