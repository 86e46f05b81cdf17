"""The typed, immutable object model of a playbook.

A :class:`Playbook` is built once from a validated document by
:func:`playbook.definition.build.build` (every condition already compiled to a
Python predicate) and is then shared freely: nothing in it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import TYPE_CHECKING, Any, Literal

from playbook.i18n import say

if TYPE_CHECKING:
    from playbook.conditions import Expr, FieldType

__all__ = [
    "BUILTIN_ACTIVITY_KINDS",
    "ActivityKind",
    "Approval",
    "ApprovalStep",
    "Approver",
    "Calendar",
    "Condition",
    "Criterion",
    "DecisionTable",
    "Duration",
    "DurationUnit",
    "Escalation",
    "EscalationLevel",
    "FieldSpec",
    "Kpi",
    "Migration",
    "Outcome",
    "Playbook",
    "RequiredAction",
    "Review",
    "Role",
    "Stage",
    "TableOutput",
    "TableRow",
    "Text",
    "Transition",
    "TransitionRule",
    "Trigger",
]

Outcome = Literal["open", "won", "lost"]
DurationUnit = Literal["days", "working_days", "hours", "working_hours"]


@dataclass(frozen=True, slots=True)
class Text:
    """A user-visible label in one or more languages (``{"en": ..., "zh": ...}``)."""

    labels: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, value: str | Mapping[str, str]) -> Text:
        """A Text from a plain string (language-neutral) or a language map."""
        if isinstance(value, str):
            return cls((("", value),))
        return cls(tuple((str(k), str(v)) for k, v in value.items()))

    def get(self, lang: str | None = None, default_lang: str = "en") -> str:
        """The label in ``lang``, else ``default_lang``, else ``en``, else the first one."""
        table = dict(self.labels)
        for key in (lang, default_lang, "en", ""):
            if key is not None and key in table:
                return table[key]
        if lang and "-" in lang and lang.split("-")[0] in table:
            return table[lang.split("-")[0]]
        return self.labels[0][1] if self.labels else ""

    def has(self, lang: str) -> bool:
        """True when a label in exactly ``lang`` was given."""
        return any(key == lang for key, _ in self.labels)

    def as_dict(self) -> dict[str, str]:
        """The labels as a plain mapping (a plain string maps from ``""``)."""
        return dict(self.labels)

    def __str__(self) -> str:
        return self.get()


@dataclass(frozen=True, slots=True)
class Duration:
    """An amount of time in one unit; working units follow the playbook's calendar."""

    unit: DurationUnit
    amount: float

    @property
    def nominal_hours(self) -> float:
        """A unit-blind size for ordering (a working day counts as one calendar day)."""
        return self.amount * (24.0 if self.unit in ("days", "working_days") else 1.0)

    def __str__(self) -> str:
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        return f"{amount} {self.unit.replace('_', ' ')}"

    def words(self, lang: str | None) -> str:
        """The duration as a reader of ``lang`` reads it: ``5 working days``, ``5 个工作日``."""
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        return f"{amount} {say(f'unit.{self.unit}', lang)}"


@dataclass(frozen=True, slots=True)
class Calendar:
    """Working weekdays (0 = Monday), holidays and make-up working days, working hours."""

    weekdays: frozenset[int] = frozenset(range(5))
    holidays_country: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    hours: tuple[time, time] | None = None


@dataclass(frozen=True, slots=True)
class Role:
    """A role that actors can hold (sales_rep, presales, legal...)."""

    id: str
    title: Text | None = None


@dataclass(frozen=True, slots=True)
class ActivityKind:
    """A kind of activity people log on deals (call, wechat, site_visit...)."""

    id: str
    title: Text | None = None


BUILTIN_ACTIVITY_KINDS: tuple[ActivityKind, ...] = (
    ActivityKind("call", Text.of({"en": "Call", "zh": "电话"})),
    ActivityKind("meeting", Text.of({"en": "Meeting", "zh": "会议"})),
    ActivityKind("email", Text.of({"en": "Email", "zh": "邮件"})),
    ActivityKind("note", Text.of({"en": "Note", "zh": "备注"})),
    ActivityKind("visit", Text.of({"en": "Visit", "zh": "拜访"})),
)
"""The kinds of a playbook that declares no ``activity_kinds``."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A declared deal field: its type and constraints."""

    id: str
    type: FieldType
    title: Text | None = None
    description: Text | None = None
    minimum: Any = None
    maximum: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    min_items: int | None = None
    max_items: int | None = None
    format: str | None = None
    """``url`` for a string field that holds a link (evidence kept elsewhere: a drive, a server)."""
    line: int = 0
    value_titles: tuple[tuple[str, Text], ...] = ()
    """The titles of enum values (and list items) that have one: ``(id, title)`` pairs."""

    @property
    def kind(self) -> str:
        """The field's type name (``decimal``, ``enum``...)."""
        return self.type.kind

    def value_title(self, value: str) -> Text | None:
        """The title of the enum value (or list item) ``value``, or None when it has none."""
        return next((title for key, title in self.value_titles if key == value), None)


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition: its IR, canonical text, Python predicate and source position."""

    expr: Expr
    text: str
    test: Callable[[Mapping[str, Any]], bool] = field(compare=False, repr=False)
    fields: frozenset[str] = frozenset()
    line: int = 0
    column: int = 0

    def __reduce__(self) -> tuple[Any, ...]:
        # The predicate is generated code: a copy compiles its own from the IR.
        return (_compiled, (self.expr, self.text, self.fields, self.line, self.column))


def _compiled(expr: Expr, text: str, fields: frozenset[str], line: int, column: int) -> Condition:
    """A :class:`Condition` rebuilt from its IR (how conditions pickle and copy)."""
    from playbook.conditions.codegen import to_python  # only when a condition is unpickled

    return Condition(expr, text, to_python(expr), fields, line, column)


@dataclass(frozen=True, slots=True)
class Criterion:
    """An entry or exit criterion: a condition with an id and the words a blocked user reads."""

    id: str
    condition: Condition
    title: Text | None = None
    message: Text | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class RequiredAction:
    """Something that must be done in a stage, by a role, possibly by a deadline."""

    id: str
    stage: str
    roles: tuple[str, ...]
    title: Text | None = None
    description: Text | None = None
    due: Duration | None = None
    when: Condition | None = None
    evidence: str | None = None
    optional: bool = False
    line: int = 0


@dataclass(frozen=True, slots=True)
class Stage:
    """A stage of the sale, in forward order."""

    id: str
    index: int
    title: Text
    outcome: Outcome = "open"
    probability: float | None = None
    description: Text | None = None
    goal: Text | None = None
    roles: tuple[str, ...] | None = None
    entry: tuple[Criterion, ...] = ()
    actions: tuple[RequiredAction, ...] = ()
    exit: tuple[Criterion, ...] = ()
    line: int = 0

    @property
    def is_open(self) -> bool:
        """True for stages that are neither won nor lost."""
        return self.outcome == "open"

    @property
    def is_closed(self) -> bool:
        """True for won and lost stages."""
        return self.outcome != "open"


@dataclass(frozen=True, slots=True)
class Transition:
    """An allowed move between two stages, with its own role limits and guard."""

    source: str
    target: str
    kind: Literal["forward", "to_lost", "explicit"]
    roles: tuple[str, ...] | None = None
    guard: Condition | None = None
    title: Text | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class TransitionRule:
    """Limits matching moves: who may make them, optionally only when a guard holds."""

    targets: tuple[str, ...] | None
    sources: tuple[str, ...] | None
    roles: tuple[str, ...]
    when: Condition | None = None
    line: int = 0

    def matches(self, source: str, target: str) -> bool:
        """True when the rule applies to the move ``source -> target``."""
        return (self.targets is None or target in self.targets) and (
            self.sources is None or source in self.sources
        )


@dataclass(frozen=True, slots=True)
class Kpi:
    """A KPI target declared in the playbook; computed by the KPI module."""

    id: str
    metric: str
    title: Text | None = None
    description: Text | None = None
    target_min: float | None = None
    target_max: float | None = None
    period: str | None = None
    by: tuple[str, ...] = ()
    where: Condition | None = None
    unit: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0
    per: str | None = None
    """``owner`` when the target is per member of a group (see docs/kpis.md)."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """What starts an escalation: time in stage, time since activity, a held condition, a date."""

    kind: Literal["in_stage", "since_last_activity", "condition", "date_passed"]
    duration: Duration | None = None
    condition: Condition | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    """Who is told at one level, and how long after the trigger."""

    notify: tuple[str, ...]
    after: Duration
    message: Text | None = None


@dataclass(frozen=True, slots=True)
class Escalation:
    """A rule that fires when a deal sits too long, in levels."""

    id: str
    trigger: Trigger
    levels: tuple[EscalationLevel, ...]
    title: Text | None = None
    stages: tuple[str, ...] | None = None
    when: Condition | None = None
    max_lateness: Duration | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Approver:
    """Who may grant a step: a role's holders, a named person, or the person in a deal field."""

    kind: Literal["role", "person", "person_field"]
    name: str

    @property
    def key(self) -> str:
        """``role:finance``, ``person:zhang.wei``, ``person_field:manager``: how grants name it."""
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class ApprovalStep:
    """One step of an approval: ``any`` one of its approvers, or ``all`` of them, by ``due``."""

    id: str
    approvers: tuple[Approver, ...]
    require: Literal["any", "all"] = "any"
    title: Text | None = None
    due: Duration | None = None
    escalate: tuple[EscalationLevel, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class Approval:
    """An approval a deal needs when ``when`` holds: for a move into ``stages`` or a field change.

    ``fields`` (a field-change approval) gates every forward move while the
    condition holds; ``invalidate_on`` lists the fields whose change after a
    grant voids it (see docs/approvals.md).
    """

    id: str
    steps: tuple[ApprovalStep, ...]
    when: Condition | None = None
    stages: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    invalidate_on: tuple[str, ...] = ()
    delegation: bool = True
    title: Text | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Review:
    """The recurring funnel review."""

    every: str = "week"
    weekday: int = 0
    title: Text | None = None


@dataclass(frozen=True, slots=True)
class Migration:
    """How deals of an older version map onto this version's stages."""

    from_version: int
    stages: Mapping[str, str]
    line: int = 0


HitPolicy = Literal["unique", "first", "priority", "collect"]


@dataclass(frozen=True, slots=True)
class TableOutput:
    """An output column of a decision table: the derived field it sets, with its type."""

    id: str
    type: FieldType
    title: Text | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class TableRow:
    """One rule of a decision table: when its condition holds, its outputs apply."""

    index: int
    condition: Condition
    outputs: tuple[Any, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class DecisionTable:
    """Rows of input tests and output values, and a hit policy that picks the result.

    ``aggregate`` (``sum``/``max``/``count``) only with ``collect``; ``complete``
    declares that some row matches every deal. ``match`` is the compiled
    evaluator (:mod:`playbook.conditions.rows`): for ``first`` and ``priority``
    the index of the first matching row in ``order`` (-1 for none), otherwise
    the bit mask of matching rows.
    """

    id: str
    hit: HitPolicy
    inputs: tuple[str, ...]
    outputs: tuple[TableOutput, ...]
    rows: tuple[TableRow, ...]
    match: Callable[[Mapping[str, Any]], int] = field(compare=False, repr=False)
    order: tuple[int, ...] = ()
    """Row indexes in the order ``match`` tries them (priority: by output rank)."""
    aggregate: Literal["sum", "max", "count"] | None = None
    complete: bool = False
    title: Text | None = None
    reads: frozenset[str] = frozenset()
    line: int = 0

    def __reduce__(self) -> tuple[Any, ...]:
        # The evaluator is generated code: a copy compiles its own from the rows.
        values = tuple(getattr(self, name) for name in _TABLE_FIELDS)
        return (_table, values)


_TABLE_FIELDS = (
    "id", "hit", "inputs", "outputs", "rows", "order", "aggregate", "complete", "title", "reads",
    "line",
)  # fmt: skip


def _table(*values: Any) -> DecisionTable:
    """A :class:`DecisionTable` rebuilt with a freshly compiled evaluator (pickle and copy)."""
    from playbook.conditions.codegen import compile_first, compile_matching  # only when copied

    known = dict(zip(_TABLE_FIELDS, values, strict=True))
    exprs = [known["rows"][index].condition.expr for index in known["order"]]
    first = known["hit"] in ("first", "priority")
    match = compile_first(exprs) if first else compile_matching(exprs)
    return DecisionTable(match=match, **known)


@dataclass(frozen=True, slots=True)
class Playbook:
    """A validated playbook: stages in order, the allowed moves, KPIs and escalations."""

    id: str
    version: int
    title: Text
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    roles: Mapping[str, Role] = field(default_factory=dict)
    activity_kinds: tuple[ActivityKind, ...] = BUILTIN_ACTIVITY_KINDS
    rules: tuple[TransitionRule, ...] = ()
    override_roles: tuple[str, ...] = ()
    kpis: tuple[Kpi, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    description: Text | None = None
    language: str = "en"
    currency: str | None = None
    timezone: str = "UTC"
    calendar: Calendar = field(default_factory=Calendar)
    review: Review | None = None
    migrations: tuple[Migration, ...] = ()
    approvals: tuple[Approval, ...] = ()
    notifications: Mapping[str, str] = field(default_factory=dict)
    """Sink name → sink spec (``webhook:URL``...), ``${NAME}`` not yet expanded."""
    source: str | None = None
    tables: tuple[DecisionTable, ...] = ()
    """Decision tables in evaluation order (a table comes after those it reads)."""
    _stage_index: Mapping[str, Stage] = field(default_factory=dict, repr=False, compare=False)
    _moves: Mapping[tuple[str, str], Transition] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_stage_index", {s.id: s for s in self.stages})
        object.__setattr__(self, "_moves", {(t.source, t.target): t for t in self.transitions})

    @property
    def activity_ids(self) -> tuple[str, ...]:
        """The ids of the activity kinds people may log, in declared order."""
        return tuple(kind.id for kind in self.activity_kinds)

    @property
    def key(self) -> str:
        """``id@version``: how deals and records name the playbook they are pinned to."""
        return f"{self.id}@{self.version}"

    @property
    def first_stage(self) -> Stage:
        """The stage new deals start in."""
        return self.stages[0]

    def stage(self, stage_id: str) -> Stage | None:
        """The stage with this id, or None."""
        return self._stage_index.get(stage_id)

    def has_stage(self, stage_id: str) -> bool:
        """True when the playbook defines this stage."""
        return stage_id in self._stage_index

    def transition(self, source: str, target: str) -> Transition | None:
        """The allowed move from ``source`` to ``target``, or None when the graph forbids it."""
        return self._moves.get((source, target))

    def transitions_from(self, source: str) -> Iterator[Transition]:
        """Every allowed move out of ``source``, in stage order of the target."""
        return (t for t in self.transitions if t.source == source)

    def rules_for(self, source: str, target: str) -> tuple[TransitionRule, ...]:
        """The transition rules that apply to the move ``source -> target``."""
        return tuple(r for r in self.rules if r.matches(source, target))

    def action(self, action_id: str) -> RequiredAction | None:
        """The required action with this id (action ids are unique in a playbook)."""
        for stage in self.stages:
            for action in stage.actions:
                if action.id == action_id:
                    return action
        return None

    def label(self, text: Text | None, lang: str | None = None, fallback: str = "") -> str:
        """A Text in ``lang`` (default: the playbook's language), or ``fallback``."""
        if text is None:
            return fallback
        return text.get(lang or self.language, self.language)

    def value_label(self, field_id: str, value: object, lang: str | None = None) -> str:
        """A field's value as a reader sees it: an enum value (list item) by its title.

        Values without a title, and fields that are not enums or lists, show
        as text; a list shows its items joined by commas. Ids stay what JSON
        and conditions use: only what people read changes.
        """
        spec = self.fields.get(field_id)
        if isinstance(value, list | tuple | frozenset | set):
            return ", ".join(self.value_label(field_id, item, lang) for item in value)
        text = str(value)
        if spec is None or not spec.value_titles:
            return text
        return self.label(spec.value_title(text), lang, text)
