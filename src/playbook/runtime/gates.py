"""The gate compiler: every ``(source, target)`` move of a playbook, decided from tables.

:func:`build_gates` runs once per engine. For each pair of stages it gathers
what decides the move (the graph, role rules, the move's guard, the target's
entry criteria, the source's required actions and exit criteria) with each
condition compiled to a predicate, an explanation tree that names the
comparisons that failed, and the reason's sentences already written in every
language. A decision then only runs predicates and points at these reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal

from playbook.conditions import Predicate, render, to_python
from playbook.conditions.codegen import FailingMask, compile_failing
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
    referenced_fields,
)
from playbook.conditions.ir import atoms as _atoms_of
from playbook.i18n import LANGUAGES, join, say
from playbook.model import Condition, Criterion, Playbook, RequiredAction, Stage
from playbook.runtime.approvals import ApprovalCheck, approval_checks
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import DealState
from playbook.runtime.decisions import REASON_CODES, Deadline, Decision, Reason, RuleRef, made
from playbook.runtime.reading import DealView, FieldReader, field_reader
from playbook.runtime.tables import with_derived
from playbook.runtime.words import Words, sentences
from playbook.values import FrozenMap, is_empty

__all__ = ["ActionCheck", "Gate", "build_gates"]


def build_gates(
    playbook: Playbook, words: Words, calendar: WorkingCalendar
) -> dict[tuple[str, str], Gate]:
    """The gate of every ordered pair of the playbook's stages (a stage to itself included)."""
    return _GateBuilder(playbook, words, calendar).build()


@dataclass(frozen=True, slots=True)
class _Node:
    """A condition prepared for explaining a failure: which comparisons made it false."""

    kind: Literal["atom", "and", "or", "not", "const"]
    test: Predicate
    text: str
    fields: tuple[str, ...]
    children: tuple[_Node, ...] = ()
    atoms: tuple[_Node, ...] = ()
    texts: tuple[str, ...] = ()
    """``(text,)`` for an atom: what its reason reports as failed, built once."""

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
        text = render(expr)
        return _Node("atom", test, text, names, texts=(text,))
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
    shared: dict[object, Reason] = field(default_factory=dict, compare=False, repr=False)
    """For an atom on one field: its reason per value, for values of a small domain."""

    def reason(self, values: Mapping[str, Any]) -> Reason:
        """The reason for this check failing on ``values``."""
        tree = self.tree
        if tree.kind == "atom":  # the common case: one comparison, nothing to search
            fields = tree.fields
            if len(fields) == 1:
                name = fields[0]
                return _reason(Reason, (self.ref, {name: values.get(name)}, tree.texts, None))
            read = {n: values.get(n) for n in fields}
            return _reason(Reason, (self.ref, read, tree.texts, None))
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
class ActionCheck:
    """A required action that blocks a forward move out of its stage until done."""

    action: RequiredAction
    when: Predicate | None
    ref: RuleRef


_NO_VALUES: Mapping[str, Any] = FrozenMap()
_reason = tuple.__new__  # builds a Reason without the Python frame of its __new__

_Step = tuple[RuleRef, str | None, tuple[str, ...], _ConditionCheck, dict[object, Reason]]
"""A failing check as its reason is built: an atom on one field inline, anything else by
its ``reason`` method (``ref``, the field or None, what failed, the check, its shared reasons)."""
_Plan = tuple[tuple[_Step, ...], tuple[_Step, ...], tuple[_Step, ...]]
"""The failing checks of one mask: before the open actions, after them, and all in order."""
_PLANS_PER_GATE = 256
_SHARED_PER_CHECK = 64
# Values whose reasons are shared: None, booleans and text (an enum's values, an empty
# string); most criteria fail on one of these ("not filled in", "not confirmed").
_SHAREABLE = frozenset({bool, str, type(None)})


def _step(check: _ConditionCheck) -> _Step:
    tree = check.tree
    single = tree.kind == "atom" and len(tree.fields) == 1
    return (check.ref, tree.fields[0] if single else None, tree.texts, check, check.shared)


def _reasons(steps: tuple[_Step, ...], values: Mapping[str, Any]) -> list[Reason]:
    """The reasons of failing ``steps`` on ``values``: what ``_ConditionCheck.reason`` builds.

    An atom on one field (the common criterion) is built here without a call, and a
    value of a small domain (None, a boolean, text) gets the one reason built for it
    before: a reason is immutable (its values a read-only map), so decisions share it.
    """
    get = values.get
    out: list[Reason] = []
    for ref, name, texts, check, shared in steps:
        if name is None:
            out.append(check.reason(values))
            continue
        value = get(name)
        if type(value) not in _SHAREABLE:
            out.append(_reason(Reason, (ref, {name: value}, texts, None)))
            continue
        reason = shared.get(value)
        if reason is None:
            reason = _reason(Reason, (ref, FrozenMap({name: value}), texts, None))
            if len(shared) < _SHARED_PER_CHECK:  # racing threads store equal reasons
                shared[value] = reason
        out.append(reason)
    return out


@dataclass(frozen=True, slots=True)
class Gate:
    """Everything that decides one ``(source, target)`` move, computed once.

    ``failing`` is the guard, the entry criteria and (for a forward move) the exit
    criteria compiled into one generated function that returns a bit per failing
    check: a decision costs one call for all of them. The reasons of a blocked
    move are worked out by :meth:`explain` only when someone reads them.
    """

    source: Stage
    target: Stage
    allowed_by_graph: bool
    fixed: tuple[Reason, ...]
    roles: tuple[_RoleCheck, ...]
    guard: _ConditionCheck | None
    entry: tuple[_ConditionCheck, ...]
    actions: tuple[ActionCheck, ...]
    exit: tuple[_ConditionCheck, ...]
    same_stage: bool = False
    forward: bool = False
    trigger: str | None = None
    failing: FailingMask | None = None
    conditions: tuple[_ConditionCheck, ...] = ()
    """The checks ``failing`` tests, bit by bit: guard, entry, then exit criteria."""
    may_override: bool = False
    calendar: WorkingCalendar | None = None
    # --- the fast path (filled by _GateBuilder; see decide and explain) ---
    # Whatever new decides a move (a decision table, an approval...) must (1) make
    # `plain` False, so that decide() and explain() take their full path, and (2) add
    # the fields it reads to `reads` (_GateBuilder._reader): a DealView converts only those.
    reads: FieldReader | None = None
    """Converts the fields this gate reads (and only those) from a deal's raw values."""
    plain: bool = False
    """True when only ``conditions`` decide: no fixed reason, role rule or required action."""
    plans: dict[int, _Plan] = field(default_factory=dict, compare=False, repr=False)
    """The failing checks per mask, worked out on first use (bounded)."""
    approvals: tuple[ApprovalCheck, ...] = ()
    """The approvals the move needs when their conditions hold (PB580, after everything else)."""
    derive: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    """Puts the playbook's derived fields (decision tables) on top of a deal's values."""

    @property
    def from_stage(self) -> str:
        """The id of the stage the move starts from."""
        return self.source.id

    @property
    def to_stage(self) -> str:
        """The id of the stage the move goes to."""
        return self.target.id

    def decide(
        self, deal: DealState | DealView, roles: frozenset[str] | None, now: datetime
    ) -> Decision:
        """The decision on ``deal``; its reasons are worked out when first read."""
        # A view converts only the fields this gate reads (`reads`), once.
        values = deal.values(self.reads) if isinstance(deal, DealView) else deal.fields
        if self.derive is not None:  # decision tables' outputs on top (reads is None then)
            values = self.derive(values)
        failing = self.failing
        mask = failing(values) if failing is not None else 0
        if self.plain:  # the common gate: one call decides
            return made(self, deal, roles, now, mask, not mask)
        allowed = (
            not mask
            and not self.fixed
            and (roles is None or not self._role_failures(values, roles))
            and not (self.actions and self._open_actions(deal, values))
            and not (
                self.approvals and any(a.blocks(values, deal.approvals) for a in self.approvals)
            )
        )
        return made(self, deal, roles, now, mask, allowed)

    def explain(
        self,
        deal: DealState | DealView,
        roles: frozenset[str] | None,
        now: datetime,
        mask: int | None = None,
    ) -> tuple[Reason, ...]:
        """Every reason the move is blocked for ``deal``, in the documented order.

        ``mask`` is what :attr:`failing` returned for the deal, when known.
        """
        if self.same_stage:
            return self.fixed
        values = deal.values(self.reads) if isinstance(deal, DealView) else deal.fields
        if self.derive is not None:
            values = self.derive(values)
        if mask is None:
            mask = self.failing(values) if self.failing is not None else 0
        plan = self.plans.get(mask) or self._plan(mask)
        if self.plain:
            return tuple(_reasons(plan[2], values))
        reasons = list(self.fixed)
        if roles is not None and self.roles:
            reasons += [check.reason(values) for check in self._role_failures(values, roles)]
        # The guard and entry criteria, open actions, then exit criteria.
        reasons += _reasons(plan[0], values)
        if self.actions:
            for item in self._open_actions(deal, values):
                deadline = self._deadline(item, deal, now)
                reasons.append(Reason(item.ref, _NO_VALUES, (), deadline))
        reasons += _reasons(plan[1], values)
        reasons += self.approval_reasons(deal, now)
        return tuple(reasons)

    def _plan(self, mask: int) -> _Plan:
        # Bits below `first_exit` are the guard and entry criteria, the rest exit criteria.
        first_exit = len(self.conditions) - len(self.exit)
        failing = [(i, _step(check)) for i, check in enumerate(self.conditions) if mask >> i & 1]
        before = tuple(check for i, check in failing if i < first_exit)
        after = tuple(check for i, check in failing if i >= first_exit)
        plan = (before, after, before + after)
        if len(self.plans) < _PLANS_PER_GATE:  # racing threads store equal plans
            self.plans[mask] = plan
        return plan

    def approval_reasons(self, deal: DealState | DealView, now: datetime) -> tuple[Reason, ...]:
        """A PB580 reason for each approval the move needs that is pending or rejected."""
        if not self.approvals:
            return ()
        values = deal.fields if self.derive is None else self.derive(deal.fields)
        events = deal.approvals
        statuses = (check.status(values, events) for check in self.approvals)
        return tuple(
            check.reason(status, now)
            for check, status in zip(self.approvals, statuses, strict=True)
            if status.step is not None
        )

    def _role_failures(self, values: Mapping[str, Any], roles: frozenset[str]) -> list[_RoleCheck]:
        return [
            check
            for check in self.roles
            if roles.isdisjoint(check.roles) and (check.when is None or check.when.test(values))
        ]

    def _open_actions(
        self, deal: DealState | DealView, values: Mapping[str, Any]
    ) -> list[ActionCheck]:
        if not self.actions:
            return []
        done = deal.completed_actions
        return [
            item
            for item in self.actions
            if item.action.id not in done and (item.when is None or item.when(values))
        ]

    def _deadline(
        self, item: ActionCheck, deal: DealState | DealView, now: datetime
    ) -> Deadline | None:
        duration, start = item.action.due, deal.stage_entered_at
        if duration is None or start is None or self.calendar is None:
            return None
        return Deadline(self.calendar, start, duration, now)


class _GateBuilder:
    """Builds the ``(source, target)`` table of an engine once."""

    def __init__(self, playbook: Playbook, words: Words, calendar: WorkingCalendar) -> None:
        self.playbook = playbook
        self.words = words
        self.calendar = calendar
        self.entry = {s.id: self._criteria(s, s.entry, "entry") for s in playbook.stages}
        self.exit = {s.id: self._criteria(s, s.exit, "exit") for s in playbook.stages}
        self.actions = {s.id: self._actions(s) for s in playbook.stages}

    def build(self) -> dict[tuple[str, str], Gate]:
        stages = self.playbook.stages
        return {(a.id, b.id): self._gate(a, b) for a in stages for b in stages}

    def _gate(self, source: Stage, target: Stage) -> Gate:
        if source.id == target.id:
            stay = self._fixed("PB547", f"stages[{target.id}]", target.line, target=target)
            return Gate(source, target, False, (stay,), (), None, (), (), (), same_stage=True)
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
        # In the order of Gate.conditions: guard, entry, exit.
        conditions = [move.guard.expr] if move is not None and move.guard is not None else []
        conditions += [item.condition.expr for item in target.entry]
        if forward:
            conditions += [item.condition.expr for item in source.exit]
        roles = self._role_checks(source, target)
        actions = self.actions[source.id] if forward else ()
        approvals = approval_checks(
            self.playbook, self.words, self.calendar, source, target, forward=forward
        )
        derive = partial(with_derived, self.playbook) if self.playbook.tables else None
        return Gate(
            source,
            target,
            move is not None,
            fixed,
            roles,
            guard,
            self.entry[target.id],
            actions,
            self.exit[source.id] if forward else (),
            forward=forward,
            trigger=f"to_{target.id}" if move is not None else None,
            failing=compile_failing(conditions) if conditions else None,
            conditions=(
                *((guard,) if guard is not None else ()),
                *self.entry[target.id],
                *(self.exit[source.id] if forward else ()),
            ),
            may_override=bool(self.playbook.override_roles),
            calendar=self.calendar,
            approvals=approvals,
            # Derived fields read a table's inputs, any field: a view converts them all.
            reads=None if derive else self._reader(conditions, roles, actions, approvals),
            plain=not fixed and not roles and not actions and not approvals,
            derive=derive,
        )

    def _reader(
        self,
        conditions: list[Expr],
        roles: tuple[_RoleCheck, ...],
        actions: tuple[ActionCheck, ...],
        approvals: tuple[ApprovalCheck, ...],
    ) -> FieldReader:
        """The reader of every field a decision at this gate (and its reasons) may read."""
        names = {name for expr in conditions for name in referenced_fields(expr)}
        for check in approvals:  # its condition and the values a grant is bound to
            names.update(check.approval.invalidate_on)
            if check.approval.when is not None:
                names.update(check.approval.when.fields)
        whens = [check.when for check in roles] + [item.action.when for item in actions]
        names.update(name for when in whens if when is not None for name in when.fields)
        return field_reader(self.playbook, names)

    # --- reasons that do not depend on the deal ------------------------------------------

    def _fixed(self, code: str, rule: str, line: int, **slots: Any) -> Reason:
        fills = {name: self._filler(value) for name, value in slots.items()}
        texts = sentences(f"reason.{code}", **fills)
        return Reason(RuleRef(code, REASON_CODES[code][1], rule, line, texts))

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
                return say("reason.PB541.final", lang, source=self.words.stage(source, lang))
            names = [self.words.stage(self._stage(t), lang) for t in targets]
            return say(
                "reason.PB541.options",
                lang,
                source=self.words.stage(source, lang),
                targets=join(names, lang, last="or"),
            )

        rule = f"transitions[{source.id}->{target.id}]"
        return self._fixed(
            "PB541", rule, target.line, source=source, target=target, options=options
        )

    def _role_checks(self, source: Stage, target: Stage) -> tuple[_RoleCheck, ...]:
        checks: list[_RoleCheck] = []
        words = self.words
        if target.roles is not None:
            texts = sentences(
                "reason.PB542.stage",
                roles=lambda lang: words.roles(target.roles or (), lang),
                target=lambda lang: words.stage(target, lang),
            )
            rule = f"stages[{target.id}].roles"
            checks.append(self._role_check(target.roles, None, texts, rule, target.line))
        move = self.playbook.transition(source.id, target.id)
        if move is not None and move.roles is not None:
            allowed = move.roles
            texts = sentences(
                "reason.PB542.move",
                roles=lambda lang: words.roles(allowed, lang),
                source=lambda lang: words.stage(source, lang),
                target=lambda lang: words.stage(target, lang),
            )
            rule = f"transitions[{source.id}->{target.id}].roles"
            checks.append(self._role_check(allowed, None, texts, rule, move.line))
        for index, item in enumerate(self.playbook.rules):
            if not item.matches(source.id, target.id):
                continue
            key = "reason.PB542.rule" if item.when is not None else "reason.PB542.stage"
            when_text = item.when.text if item.when is not None else ""
            texts = sentences(
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
        texts = sentences(
            "reason.PB543",
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
        code = "PB544" if kind == "entry" else "PB546"
        stage_name = {place: lambda lang: self.words.stage(stage, lang)}
        texts = sentences(f"reason.{code}", what=what, **stage_name)
        # Unnamed criteria are called entry[N]/exit[N] already.
        suffix = item.id if item.id.startswith(f"{kind}[") else f"{kind}.{item.id}"
        ref = RuleRef(code, kind, f"stages[{stage.id}].{suffix}", item.line, texts)
        return _ConditionCheck(item.condition.test, _node(item.condition.expr), ref)

    def _criterion_words(self, item: Criterion) -> Callable[[str], str]:
        words = self.words
        if item.message is not None:
            message = item.message
            return lambda lang: words.label(message, lang, item.id)
        if item.title is not None:
            title = item.title
            return lambda lang: say(
                "reason.criterion.title", lang, title=words.label(title, lang, item.id)
            )
        required = _required_fields(item.condition.expr)
        if required:
            return lambda lang: say(
                "reason.criterion.fill", lang, fields=words.fields(required, lang)
            )
        text = item.condition.text
        return lambda lang: say("reason.criterion.condition", lang, condition=text)

    def _actions(self, stage: Stage) -> tuple[ActionCheck, ...]:
        return tuple(self._action(stage, a) for a in stage.actions if not a.optional)

    def _action(self, stage: Stage, action: RequiredAction) -> ActionCheck:
        words = self.words
        texts = sentences(
            "reason.PB545",
            action=lambda lang: words.label(action.title, lang, action.id),
            roles=lambda lang: words.roles(action.roles, lang),
        )
        rule = f"stages[{stage.id}].actions.{action.id}"
        # "{due}" stays in the templates: the time is written in when a message is read.
        due = {lang: texts[lang] + say("reason.PB545.due", lang, due="{due}") for lang in LANGUAGES}
        late = {
            lang: texts[lang] + say("reason.PB545.overdue", lang, due="{due}") for lang in LANGUAGES
        }
        ref = RuleRef(
            "PB545",
            "action",
            rule,
            action.line,
            texts,
            action.roles,
            FrozenMap(due),
            FrozenMap(late),
            self.words.tz,
        )
        when = action.when.test if action.when is not None else None
        return ActionCheck(action, when, ref)

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
