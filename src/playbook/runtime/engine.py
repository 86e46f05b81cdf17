"""The engine: enforce a playbook on deals, and explain every decision.

:class:`Engine` is built once per playbook version. It answers, for a deal and
a target stage, whether the move is allowed and why not (:meth:`Engine.check`),
performs moves (:meth:`Engine.advance`), records required actions
(:meth:`Engine.complete_action`) and says what to do next
(:meth:`Engine.next_steps`). It is pure: no I/O, no clock (every call takes
``now``), and it never changes a deal in place: it returns a new
:class:`~playbook.deals.DealState` and the events to record.

The stage graph is one ``transitions`` machine per engine, with no model bound
to it: deals keep their stage as data. Decisions are read from tables built
once per ``(source, target)`` pair (the machine costs ~10-20 µs per trigger,
the tables well under one); :meth:`Engine.advance` then fires the machine's
trigger on a throw-away cursor so that the enter and exit callbacks that an
embedder registers (:meth:`Engine.on_enter`, :meth:`Engine.on_exit`) run.

Reason codes (stable):

=========  ====================  =====================================================
``PB541``  move-not-allowed      the stage graph has no such move
``PB542``  role-not-allowed      the actor holds none of the roles the stage, move or rule asks
``PB543``  guard-failed          the move's ``when`` does not hold
``PB544``  entry-criterion-failed  an entry criterion of the target stage does not hold
``PB545``  required-action-open  a required action of the current stage is not done
``PB546``  exit-criterion-failed   an exit criterion of the current stage does not hold
``PB547``  already-in-stage      the deal is already in the target stage
=========  ====================  =====================================================

An override (by a role of ``overrides.roles``, with a reason) passes PB543 to
PB546, never PB541, PB542 or PB547.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from transitions import Machine

from playbook.conditions import Predicate, render, to_python
from playbook.conditions.ir import (
    And,
    Compare,
    Const,
    Contains,
    Expr,
    Has,
    In,
    Not,
    Or,
    operand_fields,
)
from playbook.conditions.ir import atoms as _atoms_of
from playbook.errors import (
    ActorError,
    EvidenceMissingError,
    MoveBlockedError,
    OverrideError,
    PermissionDeniedError,
)
from playbook.model import (
    Condition,
    Criterion,
    Duration,
    Playbook,
    RequiredAction,
    Stage,
    Text,
)
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import ActionRecord, DealState, as_deal, check_stage, unknown_action
from playbook.values import Actor, check_actor, coerce_fields, is_empty, require_now, to_json_value

__all__ = [
    "REASON_CODES",
    "ActionCompleted",
    "Advance",
    "AvailableMove",
    "BlockedHook",
    "Deadline",
    "Decision",
    "Engine",
    "MissingForStage",
    "NextSteps",
    "OpenAction",
    "Reason",
    "ReasonKind",
    "RuleRef",
    "StageChanged",
    "StageHook",
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
_LANGS = ("en", "zh")
_EMPTY: Mapping[str, Any] = MappingProxyType({})

# The bilingual message catalogue. Stage, role, field and criterion names come from the
# playbook's labels in the same language; `{...}` are filled once when the engine is built,
# except the due time of an open action.
_CATALOGUE: dict[str, dict[str, str]] = {
    "graph": {
        "en": "{source} → {target} is not an allowed move; {options}",
        "zh": "不能从「{source}」推进到「{target}」；{options}",
    },
    "graph.options": {
        "en": "from {source} a deal can go to {targets}",
        "zh": "「{source}」可以推进到：{targets}",
    },
    "graph.final": {"en": "{source} is a final stage", "zh": "「{source}」是终止阶段"},
    "role.stage": {
        "en": "only {roles} may move a deal into {target}",
        "zh": "只有{roles}可以将商机推进到「{target}」",
    },
    "role.move": {
        "en": "only {roles} may move a deal from {source} to {target}",
        "zh": "只有{roles}可以将商机从「{source}」推进到「{target}」",
    },
    "role.rule": {
        "en": "only {roles} may move a deal into {target} when {condition}",
        "zh": "当 {condition} 时，只有{roles}可以将商机推进到「{target}」",
    },
    "guard": {
        "en": "the move from {source} to {target} needs {condition}",
        "zh": "从「{source}」推进到「{target}」需满足：{condition}",
    },
    "entry": {"en": "cannot enter {target}: {what}", "zh": "无法进入「{target}」：{what}"},
    "exit": {"en": "cannot leave {source}: {what}", "zh": "无法离开「{source}」：{what}"},
    "criterion.fill": {"en": "fill in {fields}", "zh": "请填写{fields}"},
    "criterion.title": {"en": "{title} is not met", "zh": "未满足「{title}」"},
    "criterion.condition": {"en": "{condition} does not hold", "zh": "条件 {condition} 不成立"},
    "action": {
        "en": "required action {action} ({roles}) is not done",
        "zh": "必做事项「{action}」（{roles}）尚未完成",
    },
    "action.due": {"en": "; due {due}", "zh": "，截止时间 {due}"},
    "action.overdue": {"en": "; overdue since {due}", "zh": "，已于 {due} 逾期"},
    "stay": {"en": "the deal is already in {target}", "zh": "商机已处于「{target}」阶段"},
    "or": {"en": " or ", "zh": "或"},
    "and": {"en": " and ", "zh": "、"},
    "comma": {"en": ", ", "zh": "、"},
    "anyone": {"en": "anyone", "zh": "任何人"},
}


# --- public result types -----------------------------------------------------------------


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
    """``2026-03-16 09:30 Asia/Shanghai``: ``moment`` in ``zone``, named by its IANA key.

    Abbreviations are not used: CST is China Standard Time and US Central Time.
    """
    local = moment.astimezone(zone) if zone is not None else moment
    name = getattr(zone, "key", None) or local.tzname() or ""
    text = f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"
    return f"{text} {name}" if name else text


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


StageHook = Callable[[StageChanged, DealState], None]
"""Called with the stage change and the deal after the move."""

BlockedHook = Callable[[Decision, DealState], None]
"""Called with the decision and the deal when ``advance`` refuses a move."""


# --- precomputed checks ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Node:
    """A condition prepared for explaining a failure: which comparisons made it false."""

    kind: Literal["atom", "and", "or", "not", "const"]
    test: Predicate
    text: str
    fields: tuple[str, ...]
    children: tuple[_Node, ...] = ()
    atoms: tuple[_Node, ...] = ()

    def blame(self, values: Mapping[str, Any], out: list[_Node]) -> None:
        """Append the atoms that make this (false) node false."""
        if self.kind == "atom":
            out.append(self)
        elif self.kind == "and":
            for child in self.children:
                if not child.test(values):
                    child.blame(values, out)
        elif self.kind == "or":
            for child in self.children:
                child.blame(values, out)
        elif self.kind == "not":
            out.extend(self.atoms)


def _node(expr: Expr) -> _Node:
    # evaluate_atoms compiles and renders every atom on each call; a blocked check must
    # stay in the microseconds, so the explanation tree is compiled once here.
    test = to_python(expr)
    if isinstance(expr, Compare | In | Contains | Has):
        names = tuple(dict.fromkeys(ref.name for ref in operand_fields(expr)))
        return _Node("atom", test, render(expr), names)
    if isinstance(expr, And | Or):
        children = tuple(_node(item) for item in expr.items)
        kind: Literal["and", "or"] = "and" if isinstance(expr, And) else "or"
        return _Node(kind, test, render(expr), (), children)
    if isinstance(expr, Not):
        below = tuple(_node(atom) for atom in _atoms_of(expr.item))
        return _Node("not", test, render(expr), (), atoms=below)
    assert isinstance(expr, Const)
    return _Node("const", test, render(expr), ())


@dataclass(frozen=True, slots=True)
class _ConditionCheck:
    """A criterion or guard: its predicate, its explanation tree, its reason template."""

    test: Predicate
    tree: _Node
    ref: RuleRef

    def reason(self, values: Mapping[str, Any]) -> Reason:
        """The reason for this check failing on ``values``."""
        tree = self.tree
        if tree.kind == "atom":  # the common case: one comparison, nothing to search
            read = {name: values.get(name) for name in tree.fields}
            return Reason(self.ref, read, (tree.text,))
        blamed: list[_Node] = []
        tree.blame(values, blamed)
        read = {name: values.get(name) for atom in blamed for name in atom.fields}
        return Reason(self.ref, read, tuple([atom.text for atom in blamed]))

    def empty_fields(self, values: Mapping[str, Any]) -> list[str]:
        """The fields read by the failing comparisons that are empty in ``values``."""
        blamed: list[_Node] = []
        self.tree.blame(values, blamed)
        names = (name for atom in blamed for name in atom.fields)
        return [name for name in dict.fromkeys(names) if is_empty(values.get(name))]


@dataclass(frozen=True, slots=True)
class _RoleCheck:
    """Who may make a move; ``when`` limits the check to deals where it holds."""

    roles: frozenset[str]
    when: Condition | None
    ref: RuleRef

    def reason(self, values: Mapping[str, Any]) -> Reason:
        """The reason for an actor without any of these roles."""
        if self.when is None:
            return Reason(self.ref)
        return Reason(self.ref, {name: values.get(name) for name in sorted(self.when.fields)})


@dataclass(frozen=True, slots=True)
class _ActionCheck:
    """A required action that blocks a forward move out of its stage until done."""

    action: RequiredAction
    when: Predicate | None
    ref: RuleRef


@dataclass(frozen=True, slots=True)
class _Gate:
    """Everything that decides one ``(source, target)`` move, computed once."""

    source: Stage
    target: Stage
    allowed_by_graph: bool
    fixed: tuple[Reason, ...]
    roles: tuple[_RoleCheck, ...]
    guard: _ConditionCheck | None
    entry: tuple[_ConditionCheck, ...]
    actions: tuple[_ActionCheck, ...]
    exit: tuple[_ConditionCheck, ...]
    same_stage: bool = False
    forward: bool = False
    trigger: str | None = None


class _Cursor:
    """The throw-away model the machine moves: only a ``state`` attribute, never bound."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


# --- the engine --------------------------------------------------------------------------


class Engine:
    """Enforces one playbook version on deals; build once and share (it is thread-safe
    once the hooks are registered).

    Raises :class:`~playbook.errors.InvalidPlaybookError` when the playbook's
    calendar names an unknown holiday country.
    """

    def __init__(self, playbook: Playbook, *, calendar: WorkingCalendar | None = None) -> None:
        self.playbook = playbook
        self.calendar = calendar or WorkingCalendar.from_playbook(playbook)
        self._words = _Words(playbook, self.calendar.timezone)
        self._role_ids = frozenset(playbook.roles)
        self._override_roles = frozenset(playbook.override_roles)
        self._may_override = bool(playbook.override_roles)
        self._actions = {s.id: {a.id: a for a in s.actions} for s in playbook.stages}
        self._blocked_hooks: list[BlockedHook] = []
        self._gates = _GateBuilder(playbook, self._words).build()
        self._machine = self._build_machine()

    # --- hooks ---------------------------------------------------------------------------

    def on_enter(self, stage: str, callback: StageHook) -> None:
        """Call ``callback(change, deal)`` after every ``advance`` into ``stage``."""
        check_stage(self.playbook, stage)
        self._machine.get_state(stage).add_callback("enter", _adapt(callback))

    def on_exit(self, stage: str, callback: StageHook) -> None:
        """Call ``callback(change, deal)`` on every ``advance`` out of ``stage``.

        Exit callbacks run before enter callbacks; ``deal`` is the state after the move.
        """
        check_stage(self.playbook, stage)
        self._machine.get_state(stage).add_callback("exit", _adapt(callback))

    def on_blocked(self, callback: BlockedHook) -> None:
        """Call ``callback(decision, deal)`` whenever ``advance`` refuses a move."""
        self._blocked_hooks.append(callback)

    # --- decisions -----------------------------------------------------------------------

    def check(self, deal: Any, to_stage: str, *, actor: Actor | None, now: datetime) -> Decision:
        """Whether ``deal`` may move to ``to_stage`` now, with every reason it may not.

        Pure: nothing changes and no hook runs. ``actor=None`` skips the role
        checks (PB542), to ask whether the deal itself is ready. ``now`` must be
        timezone-aware (:class:`~playbook.errors.MissingClockError`). Raises
        :class:`~playbook.errors.UnknownStageError` for a target the playbook does
        not define, and the errors of :func:`~playbook.deals.as_deal` for a bad deal.
        """
        at = require_now(now)
        state = self._deal(deal)
        roles = None if actor is None else self._actor(actor).roles
        return self._decision(state, to_stage, roles, at)

    def advance(
        self,
        deal: Any,
        to_stage: str,
        *,
        actor: Actor,
        now: datetime,
        override: str | None = None,
    ) -> Advance:
        """Move ``deal`` to ``to_stage``: the new state and the :class:`StageChanged` event.

        Raises :class:`~playbook.errors.MoveBlockedError` (with the decision) when
        the move is blocked. ``override`` (a written reason) lets an actor holding
        an override role pass reasons PB543-PB546; a blank reason or an actor
        without such a role raises :class:`~playbook.errors.OverrideError`. The
        input deal is never changed; the new state is in ``to_stage``, entered at
        ``now``, with no completed actions and ``version + 1``.
        """
        at = require_now(now)
        state = self._deal(deal)
        who = self._actor(actor, required=True)
        why = self._override_reason(override, who)
        decision = self._decision(state, to_stage, who.roles, at)
        overridden: tuple[str, ...] = ()
        if not decision.allowed:
            if why is None or not decision.overridable:
                self._refuse(decision, state, overriding=why is not None)
            overridden = tuple(dict.fromkeys(decision.codes))
        moved = DealState(
            state.id,
            state.playbook_id,
            state.playbook_version,
            to_stage,
            state.fields,
            at,
            state.created_at,
            state.last_activity_at,
            state.owner,
            state.team,
            _EMPTY,
            state.version + 1,
        )
        change = StageChanged(
            state.id,
            self.playbook.id,
            self.playbook.version,
            state.stage,
            to_stage,
            who.id,
            tuple(sorted(who.roles)),
            at,
            why if overridden else None,
            overridden,
        )
        self._fire(self._gates[state.stage, to_stage], change, moved)
        return Advance(moved, (change,), decision)

    def complete_action(
        self,
        deal: Any,
        action_id: str,
        *,
        actor: Actor,
        now: datetime,
        evidence: Any = None,
    ) -> Advance:
        """Record ``action_id`` of the deal's current stage as done by ``actor`` at ``now``.

        The actor must hold one of the action's roles
        (:class:`~playbook.errors.PermissionDeniedError`). An action with an
        ``evidence`` field needs it filled: ``evidence`` is converted to the
        field's type and stored in the deal's fields, or the deal already has a
        value (else :class:`~playbook.errors.EvidenceMissingError`). Completing an
        action again replaces its record. Raises
        :class:`~playbook.errors.UnknownActionError` (with a did-you-mean) for an
        action the current stage does not define.
        """
        at = require_now(now)
        state = self._deal(deal)
        who = self._actor(actor, required=True)
        action = self._actions[state.stage].get(action_id)
        if action is None:
            raise unknown_action(self.playbook, state.stage, str(action_id))
        self._may_do(action, who)
        fields, proof = self._evidence(state, action, evidence)
        done = {**state.completed_actions, action.id: ActionRecord(action.id, who.id, at, proof)}
        updated = DealState(
            state.id,
            state.playbook_id,
            state.playbook_version,
            state.stage,
            fields,
            state.stage_entered_at,
            state.created_at,
            state.last_activity_at,
            state.owner,
            state.team,
            done,
            state.version + 1,
        )
        event = ActionCompleted(state.id, state.stage, action.id, who.id, at, proof)
        return Advance(updated, (event,))

    def next_steps(self, deal: Any, *, now: datetime, actor: Actor | None = None) -> NextSteps:
        """What to do next: open required actions (due, overdue), what the next stages
        miss, and every move the graph allows from here with whether it is allowed now.

        Without ``actor`` the role checks are skipped in ``available``.
        """
        at = require_now(now)
        state = self._deal(deal)
        roles = None if actor is None else self._actor(actor).roles
        gates = [
            gate
            for (source, _), gate in self._gates.items()
            if source == state.stage and gate.allowed_by_graph
        ]
        return NextSteps(
            state.id,
            state.stage,
            self._open_actions(state, at),
            tuple(self._missing(state, gate) for gate in gates if gate.forward),
            tuple(self._available(state, gate, roles, at) for gate in gates),
        )

    # --- the decision core ---------------------------------------------------------------

    def _decision(
        self, state: DealState, to_stage: str, roles: frozenset[str] | None, now: datetime
    ) -> Decision:
        gate = self._gates.get((state.stage, to_stage))
        if gate is None:
            check_stage(self.playbook, to_stage)
            raise AssertionError("every pair of stages has a gate")  # pragma: no cover
        reasons = self._reasons(state, gate, roles, now)
        if not reasons:
            return Decision(True, state.id, state.stage, to_stage)
        # Reasons come in a fixed order, and those an override never passes (graph, same
        # stage, roles) come first: the first reason decides.
        overridable = self._may_override and reasons[0].ref.overridable
        return Decision(False, state.id, state.stage, to_stage, reasons, overridable)

    def _reasons(
        self, state: DealState, gate: _Gate, roles: frozenset[str] | None, now: datetime
    ) -> tuple[Reason, ...]:
        if gate.same_stage:
            return gate.fixed
        values = state.fields
        reasons = list(gate.fixed)
        if roles is not None:
            for check in gate.roles:
                if roles.isdisjoint(check.roles) and (
                    check.when is None or check.when.test(values)
                ):
                    reasons.append(check.reason(values))
        if gate.guard is not None and not gate.guard.test(values):
            reasons.append(gate.guard.reason(values))
        for criterion in gate.entry:
            if not criterion.test(values):
                reasons.append(criterion.reason(values))
        if gate.forward:
            done = state.completed_actions
            for item in gate.actions:
                if item.action.id not in done and (item.when is None or item.when(values)):
                    reasons.append(Reason(item.ref, _EMPTY, (), self._deadline(item, state, now)))
            for criterion in gate.exit:
                if not criterion.test(values):
                    reasons.append(criterion.reason(values))
        return tuple(reasons)

    def _deadline(self, item: _ActionCheck, state: DealState, now: datetime) -> Deadline | None:
        duration, start = item.action.due, state.stage_entered_at
        if duration is None or start is None:
            return None
        return Deadline(self.calendar, start, duration, now)

    def _due(self, action: RequiredAction, state: DealState) -> datetime | None:
        if action.due is None or state.stage_entered_at is None:
            return None
        return self.calendar.add(state.stage_entered_at, action.due)

    # --- next steps ----------------------------------------------------------------------

    def _open_actions(self, state: DealState, now: datetime) -> tuple[OpenAction, ...]:
        stage = self._stage(state.stage)
        values, done = state.fields, state.completed_actions
        out: list[OpenAction] = []
        for action in stage.actions:
            if action.optional or action.id in done:
                continue
            if action.when is not None and not action.when.test(values):
                continue
            due = self._due(action, state)
            overdue = due is not None and due < now
            out.append(
                OpenAction(action, self._words.titles(action.title, action.id), due, overdue)
            )
        return tuple(out)

    def _missing(self, state: DealState, gate: _Gate) -> MissingForStage:
        values = state.fields
        failing = [check for check in gate.entry if not check.test(values)]
        empty = (name for check in failing for name in check.empty_fields(values))
        return MissingForStage(
            gate.target.id,
            self._words.titles(gate.target.title, gate.target.id),
            tuple(dict.fromkeys(empty)),
            tuple(check.reason(values) for check in failing),
        )

    def _available(
        self, state: DealState, gate: _Gate, roles: frozenset[str] | None, now: datetime
    ) -> AvailableMove:
        reasons = self._reasons(state, gate, roles, now)
        titles = self._words.titles(gate.target.title, gate.target.id)
        return AvailableMove(gate.target.id, titles, not reasons, reasons)

    # --- inputs --------------------------------------------------------------------------

    def _deal(self, deal: Any) -> DealState:
        if (
            type(deal) is DealState
            and deal.playbook_id == self.playbook.id
            and deal.playbook_version == self.playbook.version
            and deal.stage in self._actions
        ):
            return deal  # the hot path: a deal already read for this playbook
        return as_deal(deal, self.playbook)

    def _actor(self, actor: Any, *, required: bool = False) -> Actor:
        if actor is None and required:
            raise ActorError(
                "this needs an actor: who makes the change",
                hint="pass actor=Actor('id', frozenset({'sales_rep'}))",
            )
        if isinstance(actor, Actor) and actor.roles <= self._role_ids:
            return actor
        return check_actor(actor, self.playbook)

    def _stage(self, stage_id: str) -> Stage:
        stage = self.playbook.stage(stage_id)
        assert stage is not None  # deals are checked on the way in
        return stage

    def _override_reason(self, override: str | None, actor: Actor) -> str | None:
        if override is None:
            return None
        if not isinstance(override, str) or not override.strip():
            raise OverrideError(
                "an override needs a written reason",
                hint='pass override="why this gate may be passed"',
            )
        if actor.roles.isdisjoint(self._override_roles):
            allowed = ", ".join(self.playbook.override_roles) or "nobody (no `overrides` section)"
            raise OverrideError(
                f"actor {actor.id!r} may not override: only {allowed} may",
                details={"actor_roles": sorted(actor.roles), "override_roles": allowed},
            )
        return override.strip()

    def _may_do(self, action: RequiredAction, actor: Actor) -> None:
        if not action.roles or not actor.roles.isdisjoint(action.roles):
            return
        raise PermissionDeniedError(
            f"actor {actor.id!r} ({', '.join(sorted(actor.roles))}) may not complete "
            f"{action.id!r}: it is for {', '.join(action.roles)}",
            details={"action": action.id, "roles": list(action.roles)},
        )

    def _evidence(
        self, state: DealState, action: RequiredAction, evidence: Any
    ) -> tuple[Mapping[str, Any], Any]:
        name = action.evidence
        if name is None:
            return state.fields, evidence
        if not is_empty(evidence):
            value = coerce_fields(self.playbook, {name: evidence})[name]
            return {**state.fields, name: value}, value
        current = state.fields.get(name)
        if is_empty(current):
            raise EvidenceMissingError(
                f"action {action.id!r} needs evidence: fill in field {name!r}",
                hint=f"pass evidence=... or set {name!r} on the deal first",
                details={"action": action.id, "field": name},
            )
        return state.fields, current

    # --- effects at the edge -------------------------------------------------------------

    def _refuse(self, decision: Decision, state: DealState, *, overriding: bool) -> None:
        for hook in self._blocked_hooks:
            hook(decision, state)
        summary = "; ".join(reason.message for reason in decision.reasons)
        hint = None
        if overriding:
            hint = "an override passes failing criteria, guards and open actions, not " + ", ".join(
                sorted({r.code for r in decision.reasons if not r.overridable})
            )
        elif decision.overridable:
            hint = f"{' or '.join(self.playbook.override_roles)} may override with a reason"
        raise MoveBlockedError(
            f"deal {decision.deal_id!r} cannot move from {decision.from_stage!r} to "
            f"{decision.to_stage!r}: {summary}",
            decision,
            hint=hint,
            details={"codes": list(decision.codes)},
        )

    def _build_machine(self) -> Any:
        machine = Machine(
            model=None,
            states=[stage.id for stage in self.playbook.stages],
            initial=self.playbook.first_stage.id,
            auto_transitions=False,
            send_event=True,
        )
        for gate in self._gates.values():
            if gate.trigger is not None:
                machine.add_transition(gate.trigger, gate.source.id, gate.target.id)
        return machine

    def _fire(self, gate: _Gate, change: StageChanged, deal: DealState) -> None:
        assert gate.trigger is not None  # an allowed or overridden move is always in the graph
        self._machine.events[gate.trigger].trigger(
            _Cursor(gate.source.id), change=change, deal=deal
        )


def _adapt(callback: StageHook) -> Callable[[Any], None]:
    def call(event: Any) -> None:
        callback(event.kwargs["change"], event.kwargs["deal"])

    return call


# --- building the tables -----------------------------------------------------------------


class _Words:
    """The playbook's labels in English and Chinese, and the catalogue's sentences."""

    def __init__(self, playbook: Playbook, tz: tzinfo) -> None:
        self.playbook = playbook
        self.tz = tz

    def label(self, text: Text | None, lang: str, fallback: str) -> str:
        if text is None:
            return fallback
        return text.get(lang, "en" if lang == "en" else self.playbook.language)

    def titles(self, text: Text | None, fallback: str) -> Mapping[str, str]:
        return MappingProxyType({lang: self.label(text, lang, fallback) for lang in _LANGS})

    def stage(self, stage: Stage, lang: str) -> str:
        return self.label(stage.title, lang, stage.id)

    def roles(self, ids: Iterable[str], lang: str) -> str:
        names = [self.label(self._role_title(rid), lang, rid) for rid in ids]
        return _listing(names, "or", lang) if names else _say("anyone", lang)

    def fields(self, ids: Iterable[str], lang: str) -> str:
        specs = self.playbook.fields
        names = [self.label(specs[f].title if f in specs else None, lang, f) for f in ids]
        return _listing(names, "and", lang)

    def _role_title(self, role_id: str) -> Text | None:
        role = self.playbook.roles.get(role_id)
        return role.title if role is not None else None


def _listing(names: list[str], last: str, lang: str) -> str:
    """``A, B and C`` (``A、B、C`` in Chinese, ``A、B或C`` for alternatives)."""
    if len(names) < 2:
        return "".join(names)
    return _say("comma", lang).join(names[:-1]) + _say(last, lang) + names[-1]


def _say(key: str, lang: str, **values: str) -> str:
    return _CATALOGUE[key][lang].format(**values)


def _sentences(key: str, **per_lang: Callable[[str], str]) -> Mapping[str, str]:
    """The catalogue sentence ``key`` in every language, each slot filled per language."""
    return MappingProxyType(
        {
            lang: _say(key, lang, **{k: fill(lang) for k, fill in per_lang.items()})
            for lang in _LANGS
        }
    )


class _GateBuilder:
    """Builds the ``(source, target)`` table of an engine once."""

    def __init__(self, playbook: Playbook, words: _Words) -> None:
        self.playbook = playbook
        self.words = words
        self.entry = {s.id: self._criteria(s, s.entry, "entry") for s in playbook.stages}
        self.exit = {s.id: self._criteria(s, s.exit, "exit") for s in playbook.stages}
        self.actions = {s.id: self._actions(s) for s in playbook.stages}

    def build(self) -> dict[tuple[str, str], _Gate]:
        stages = self.playbook.stages
        return {(a.id, b.id): self._gate(a, b) for a in stages for b in stages}

    def _gate(self, source: Stage, target: Stage) -> _Gate:
        if source.id == target.id:
            stay = self._fixed("PB547", "stay", f"stages[{target.id}]", target.line, target=target)
            return _Gate(source, target, False, (stay,), (), None, (), (), (), same_stage=True)
        move = self.playbook.transition(source.id, target.id)
        forward = target.outcome != "lost" and (
            target.index > source.index or target.outcome == "won"
        )
        fixed: tuple[Reason, ...] = ()
        if move is None:
            fixed = (self._graph_reason(source, target),)
        guard = None
        if move is not None and move.guard is not None:
            guard = self._guard(source, target, move.guard)
        return _Gate(
            source,
            target,
            move is not None,
            fixed,
            self._role_checks(source, target),
            guard,
            self.entry[target.id],
            self.actions[source.id] if forward else (),
            self.exit[source.id] if forward else (),
            forward=forward,
            trigger=f"to_{target.id}" if move is not None else None,
        )

    # --- reasons that do not depend on the deal ------------------------------------------

    def _fixed(self, code: str, key: str, rule: str, line: int, **slots: Any) -> Reason:
        fills = {name: self._filler(value) for name, value in slots.items()}
        return Reason(RuleRef(code, REASON_CODES[code][1], rule, line, _sentences(key, **fills)))

    def _filler(self, value: Any) -> Callable[[str], str]:
        if isinstance(value, Stage):
            return lambda lang: self.words.stage(value, lang)
        if callable(value):
            return value  # type: ignore[no-any-return]
        return lambda lang: str(value)

    def _graph_reason(self, source: Stage, target: Stage) -> Reason:
        targets = [t.target for t in self.playbook.transitions_from(source.id)]

        def options(lang: str) -> str:
            if not targets:
                return _say("graph.final", lang, source=self.words.stage(source, lang))
            names = [self.words.stage(self._stage(t), lang) for t in targets]
            return _say(
                "graph.options",
                lang,
                source=self.words.stage(source, lang),
                targets=_listing(names, "or", lang),
            )

        rule = f"transitions[{source.id}->{target.id}]"
        return self._fixed(
            "PB541", "graph", rule, target.line, source=source, target=target, options=options
        )

    def _role_checks(self, source: Stage, target: Stage) -> tuple[_RoleCheck, ...]:
        checks: list[_RoleCheck] = []
        words = self.words
        if target.roles is not None:
            texts = _sentences(
                "role.stage",
                roles=lambda lang: words.roles(target.roles or (), lang),
                target=lambda lang: words.stage(target, lang),
            )
            rule = f"stages[{target.id}].roles"
            checks.append(self._role_check(target.roles, None, texts, rule, target.line))
        move = self.playbook.transition(source.id, target.id)
        if move is not None and move.roles is not None:
            allowed = move.roles
            texts = _sentences(
                "role.move",
                roles=lambda lang: words.roles(allowed, lang),
                source=lambda lang: words.stage(source, lang),
                target=lambda lang: words.stage(target, lang),
            )
            rule = f"transitions[{source.id}->{target.id}].roles"
            checks.append(self._role_check(allowed, None, texts, rule, move.line))
        for index, item in enumerate(self.playbook.rules):
            if not item.matches(source.id, target.id):
                continue
            key = "role.rule" if item.when is not None else "role.stage"
            when_text = item.when.text if item.when is not None else ""
            texts = _sentences(
                key,
                roles=lambda lang, r=item.roles: words.roles(r, lang),  # type: ignore[misc]
                target=lambda lang: words.stage(target, lang),
                condition=lambda lang, t=when_text: t,  # type: ignore[misc]
            )
            rule = f"transitions.rules[{index}]"
            checks.append(self._role_check(item.roles, item.when, texts, rule, item.line))
        return tuple(checks)

    @staticmethod
    def _role_check(
        roles: Iterable[str], when: Condition | None, texts: Mapping[str, str], rule: str, line: int
    ) -> _RoleCheck:
        allowed = tuple(roles)
        return _RoleCheck(
            frozenset(allowed), when, RuleRef("PB542", "role", rule, line, texts, allowed)
        )

    def _guard(self, source: Stage, target: Stage, guard: Condition) -> _ConditionCheck:
        texts = _sentences(
            "guard",
            source=lambda lang: self.words.stage(source, lang),
            target=lambda lang: self.words.stage(target, lang),
            condition=lambda lang: guard.text,
        )
        rule = f"transitions[{source.id}->{target.id}].when"
        ref = RuleRef("PB543", "guard", rule, guard.line, texts)
        return _ConditionCheck(guard.test, _node(guard.expr), ref)

    def _criteria(
        self, stage: Stage, criteria: tuple[Criterion, ...], kind: Literal["entry", "exit"]
    ) -> tuple[_ConditionCheck, ...]:
        return tuple(self._criterion(stage, item, kind) for item in criteria)

    def _criterion(
        self, stage: Stage, item: Criterion, kind: Literal["entry", "exit"]
    ) -> _ConditionCheck:
        what = self._criterion_words(item)
        place = "target" if kind == "entry" else "source"
        texts = _sentences(kind, what=what, **{place: lambda lang: self.words.stage(stage, lang)})
        # Unnamed criteria are called entry[N]/exit[N] already.
        suffix = item.id if item.id.startswith(f"{kind}[") else f"{kind}.{item.id}"
        code = "PB544" if kind == "entry" else "PB546"
        ref = RuleRef(code, kind, f"stages[{stage.id}].{suffix}", item.line, texts)
        return _ConditionCheck(item.condition.test, _node(item.condition.expr), ref)

    def _criterion_words(self, item: Criterion) -> Callable[[str], str]:
        words = self.words
        if item.message is not None:
            message = item.message
            return lambda lang: words.label(message, lang, item.id)
        if item.title is not None:
            title = item.title
            return lambda lang: _say(
                "criterion.title", lang, title=words.label(title, lang, item.id)
            )
        required = _required_fields(item.condition.expr)
        if required:
            return lambda lang: _say("criterion.fill", lang, fields=words.fields(required, lang))
        text = item.condition.text
        return lambda lang: _say("criterion.condition", lang, condition=text)

    def _actions(self, stage: Stage) -> tuple[_ActionCheck, ...]:
        return tuple(self._action(stage, a) for a in stage.actions if not a.optional)

    def _action(self, stage: Stage, action: RequiredAction) -> _ActionCheck:
        words = self.words
        texts = _sentences(
            "action",
            action=lambda lang: words.label(action.title, lang, action.id),
            roles=lambda lang: words.roles(action.roles, lang),
        )
        rule = f"stages[{stage.id}].actions.{action.id}"
        # "{due}" stays in the templates: the time is written in when a message is read.
        due = {lang: texts[lang] + _CATALOGUE["action.due"][lang] for lang in _LANGS}
        late = {lang: texts[lang] + _CATALOGUE["action.overdue"][lang] for lang in _LANGS}
        ref = RuleRef(
            "PB545",
            "action",
            rule,
            action.line,
            texts,
            action.roles,
            MappingProxyType(due),
            MappingProxyType(late),
            self.words.tz,
        )
        when = action.when.test if action.when is not None else None
        return _ActionCheck(action, when, ref)

    def _stage(self, stage_id: str) -> Stage:
        stage = self.playbook.stage(stage_id)
        assert stage is not None
        return stage


def _required_fields(expr: Expr) -> tuple[str, ...]:
    """The fields of a criterion that only asks for fields to be filled (``required: [...]``)."""
    items = expr.items if isinstance(expr, And) else (expr,)
    if all(isinstance(item, Has) for item in items):
        return tuple(item.field.name for item in items if isinstance(item, Has))
    return ()
