"""Generated paths: the shortest way a new deal reaches each stage.

The idea comes from model-based testing of statecharts: walk the stage graph
breadth first from the first stage; for every move, find field values that
make its guard, the target's entry criteria and (forward) the source's exit
criteria hold, complete the source's required actions, pick a role that may
make the move, and let the engine confirm it. The result, per stage, is the
list of steps a scenario can replay, and :func:`starter_scenarios` writes them
as a scenario file to start a playbook's tests from.

Field values come from a small solver over the condition IR: the condition in
disjunctive normal form, one value per atom (the smallest that satisfies it:
``amount > 0`` gives 1, ``gross_margin >= 0.15`` gives 0.15), checked with the
compiled predicate. A move whose conditions it cannot satisfy is reported,
never guessed.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import yaml

from playbook.conditions import And, Compare, Contains, Expr, Has, In, Len, Not, Or, to_python
from playbook.conditions.ir import Const, FieldRef, Literal, all_of
from playbook.errors import PlaybookError
from playbook.i18n import join, say
from playbook.model import FieldSpec, Playbook, RequiredAction, Stage
from playbook.runtime.deals import DealState, new_deal
from playbook.runtime.engine import Engine
from playbook.values import Actor, is_empty, to_json_value

__all__ = ["PathStep", "StagePath", "generate_paths", "satisfying_values", "starter_scenarios"]

MAX_TERMS = 64
"""Largest disjunctive normal form the solver tries, term by term."""

_Signed = tuple[Any, bool]


@dataclass(frozen=True, slots=True)
class PathStep:
    """One step of a generated path: set fields, complete an action, or advance."""

    kind: str
    target: Any
    roles: tuple[str, ...] = ()
    evidence: Any = None

    def to_scenario(self) -> dict[str, Any]:
        """The step as a scenario-file step (plain data)."""
        if self.kind == "set":
            return {"set": {key: to_json_value(value) for key, value in self.target.items()}}
        step: dict[str, Any] = {self.kind: self.target, "as": _one_or_list(self.roles)}
        if self.evidence is not None:
            step["evidence"] = to_json_value(self.evidence)
        return step

    def describe(self, lang: str | None = None) -> str:
        """The step in words, in ``lang`` (English by default); ids and values as they are."""
        if self.kind == "set":
            values = [f"{k} = {to_json_value(v)!r}" for k, v in self.target.items()]
            return say("cli.paths.step.set", lang, values=join(values, lang, last=None))
        value = to_json_value(self.evidence)
        evidence = (
            "" if self.evidence is None else say("cli.paths.step.evidence", lang, value=repr(value))
        )
        return say(
            f"cli.paths.step.{self.kind}",
            lang,
            target=self.target,
            who="/".join(self.roles),
            evidence=evidence,
        )

    def __str__(self) -> str:
        return self.describe("en")


@dataclass(frozen=True, slots=True)
class StagePath:
    """The shortest path found from a new deal to ``stage``; ``steps`` is empty if none."""

    stage: str
    steps: tuple[PathStep, ...]
    reached: bool
    moves: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: stage, reached, moves and steps."""
        return {
            "stage": self.stage,
            "reached": self.reached,
            "moves": list(self.moves),
            "steps": [step.to_scenario() for step in self.steps],
        }


def generate_paths(playbook: Playbook, now: datetime) -> tuple[StagePath, ...]:
    """The shortest path (fewest moves) from a new deal at ``now`` to every stage, in stage order.

    Each path is confirmed by the engine step by step. A stage that no path
    reaches (because no values satisfy a move's conditions) has ``reached`` False.
    """
    engine = Engine(playbook)
    first = playbook.first_stage.id
    start = new_deal(playbook, "path", now=now, owner="owner")
    found: dict[str, tuple[DealState, tuple[PathStep, ...], tuple[str, ...]]] = {
        first: (start, (), (first,))
    }
    queue = deque([first])
    while queue:
        deal, steps, moves = found[queue.popleft()]
        for move in playbook.transitions_from(deal.stage):
            if move.target in found:
                continue
            step = _try_move(engine, deal, move.target, now)
            if step is not None:
                found[move.target] = (step[0], steps + step[1], (*moves, move.target))
                queue.append(move.target)
    return tuple(
        StagePath(s.id, found[s.id][1], True, found[s.id][2])
        if s.id in found
        else StagePath(s.id, (), False)
        for s in playbook.stages
    )


def _try_move(
    engine: Engine, deal: DealState, target: str, now: datetime
) -> tuple[DealState, tuple[PathStep, ...]] | None:
    playbook = engine.playbook
    source, goal = _stage(playbook, deal.stage), _stage(playbook, target)
    forward = goal.outcome != "lost" and (goal.index > source.index or goal.outcome == "won")
    needed = [c.condition.expr for c in goal.entry]
    move = playbook.transition(source.id, goal.id)
    if move is not None and move.guard is not None:
        needed.append(move.guard.expr)
    if forward:
        needed += [c.condition.expr for c in source.exit]
    values = satisfying_values(all_of(needed), playbook.fields, deal.fields, now)
    if values is None:
        return None
    steps: list[PathStep] = []
    fields = {**deal.fields, **values}
    changed = {k: v for k, v in values.items() if deal.fields.get(k) != v}
    if changed:
        steps.append(PathStep("set", changed))
    state = _with_fields(deal, fields)
    try:
        if forward:
            state = _complete_actions(engine, state, source, now, steps)
        roles = _roles_for(engine, state, target, now)
        if roles is None:
            return None
        result = engine.advance(state, target, actor=Actor("path", frozenset(roles)), now=now)
    except PlaybookError:
        return None
    steps.append(PathStep("advance", target, roles))
    return result.deal, tuple(steps)


def _complete_actions(
    engine: Engine, state: DealState, stage: Stage, now: datetime, steps: list[PathStep]
) -> DealState:
    for action in stage.actions:
        if action.optional or (action.when is not None and not action.when.test(state.fields)):
            continue
        evidence = _evidence(engine.playbook, action, state, now)
        role = action.roles[0] if action.roles else next(iter(engine.playbook.roles))
        state = engine.complete_action(
            state, action.id, actor=Actor("path", frozenset({role})), now=now, evidence=evidence
        ).deal
        steps.append(PathStep("complete", action.id, (role,), evidence))
    return state


def _evidence(playbook: Playbook, action: RequiredAction, state: DealState, now: datetime) -> Any:
    name = action.evidence
    if name is None or not is_empty(state.fields.get(name)):
        return None
    spec = playbook.fields[name]
    return _sample(spec, now)


def _roles_for(
    engine: Engine, state: DealState, target: str, now: datetime
) -> tuple[str, ...] | None:
    """The first single role (in declaration order) that may make the move, else all roles."""
    roles = tuple(engine.playbook.roles)
    for role in roles:
        decision = engine.check(state, target, actor=Actor("path", frozenset({role})), now=now)
        if decision.allowed:
            return (role,)
    everyone = engine.check(state, target, actor=Actor("path", frozenset(roles)), now=now)
    return roles if everyone.allowed and roles else None


def _stage(playbook: Playbook, stage_id: str) -> Stage:
    stage = playbook.stage(stage_id)
    assert stage is not None
    return stage


def _with_fields(deal: DealState, fields: Mapping[str, Any]) -> DealState:
    return replace(deal, fields={k: v for k, v in fields.items() if v is not None})


# --- the solver ---------------------------------------------------------------------------


def satisfying_values(
    expr: Expr, fields: Mapping[str, FieldSpec], base: Mapping[str, Any], now: datetime
) -> dict[str, Any] | None:
    """Field values that, over ``base``, make ``expr`` hold; ``{}`` when it already holds.

    ``None`` as a value clears that field. Returns None when no term of the
    condition's normal form (up to :data:`MAX_TERMS`) yields values that hold.
    """
    test = to_python(expr)
    if test(base):
        return {}
    found = [
        values
        for values in (_solve(term, fields, base, now) for term in _dnf(expr, positive=True))
        if values is not None and test({**base, **values})
    ]
    # Prefer what keeps the deal's own values, then what sets the fewest fields.
    return min(found, key=lambda v: (sum(k in base for k in v), len(v)), default=None)


def _dnf(expr: Expr, *, positive: bool) -> list[tuple[_Signed, ...]]:
    if isinstance(expr, Not):
        return _dnf(expr.item, positive=not positive)
    if isinstance(expr, Const):
        return [()] if expr.value == positive else []
    if isinstance(expr, And | Or):
        conjunctive = isinstance(expr, And) == positive
        parts = [_dnf(item, positive=positive) for item in expr.items]
        if not conjunctive:
            return [term for part in parts for term in part][:MAX_TERMS]
        terms: list[tuple[_Signed, ...]] = [()]
        for part in parts:
            terms = [a + b for a in terms for b in part][:MAX_TERMS]
        return terms
    return [((expr, positive),)]


def _solve(
    term: tuple[_Signed, ...],
    fields: Mapping[str, FieldSpec],
    base: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any] | None:
    positive_fields = {ref.name for atom, sign in term if sign for ref in _fields_of(atom)}
    values: dict[str, Any] = {}
    for atom, sign in sorted(term, key=lambda item: item[1]):  # negatives first
        name = _fields_of(atom)[0].name
        if not sign and name not in positive_fields:
            values[name] = None  # null makes the atom false, so its negation holds
            continue
        value = _value_for(atom, sign, fields[name], {**base, **values}, now)
        if value is _UNSOLVED:
            return None
        values[name] = value
    return values


_UNSOLVED = object()


def _fields_of(atom: Any) -> tuple[FieldRef, ...]:
    if isinstance(atom, Compare):
        left = atom.left.field if isinstance(atom.left, Len) else atom.left
        return (left,)
    if isinstance(atom, In):
        operand = atom.operand
        return (operand.field if isinstance(operand, Len) else operand,)
    assert isinstance(atom, Contains | Has)
    return (atom.field,)


_NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _value_for(
    atom: Any, sign: bool, spec: FieldSpec, current: Mapping[str, Any], now: datetime
) -> Any:
    if isinstance(atom, Has):
        return _sample(spec, now) if sign else None
    if isinstance(atom, Contains):
        if sign:
            return (atom.value,)
        return tuple(v for v in (spec.type.values or ("other",)) if v != atom.value)[:1]
    if isinstance(atom, In):
        return _in_value(atom, sign, spec, now)
    assert isinstance(atom, Compare)
    op = atom.op if sign else _NEGATED[atom.op]
    target: Any
    if isinstance(atom.right, Literal):
        target = atom.right.value
    else:
        right = atom.right.field if isinstance(atom.right, Len) else atom.right
        target = current.get(right.name)
        if target is None:
            return _UNSOLVED
    if isinstance(atom.left, Len):
        return _sized(spec, int(_compared(int(target), op, "integer")), now)
    return _compared(target, op, spec.kind, spec.type.values)


def _in_value(atom: In, sign: bool, spec: FieldSpec, now: datetime) -> Any:
    inside = sign != atom.negated
    if isinstance(atom.operand, Len):
        counts = [int(str(v)) for v in atom.values]
        size = counts[0] if inside and counts else max(counts, default=0) + 1
        return _sized(spec, size, now)
    if inside:
        return atom.values[0] if atom.values else _UNSOLVED
    others = [v for v in (spec.type.values or ()) if v not in atom.values]
    if others:
        return others[0]
    sample = _sample(spec, now)
    return sample if sample not in atom.values else _UNSOLVED


def _compared(value: Any, op: str, kind: str, choices: Iterable[str] | None = None) -> Any:
    if op in ("==", "<=", ">="):
        return value
    if kind == "boolean":
        return not value if op == "!=" else _UNSOLVED
    if kind in ("enum", "string"):
        if op != "!=":
            return _UNSOLVED
        others = [v for v in (choices or ()) if v != value]
        return others[0] if others else f"{value}-other"
    step = _STEPS.get(kind)
    if step is None:
        return _UNSOLVED
    if op == "!=":
        return value + step
    return value + step if op == ">" else value - step


_STEPS: dict[str, Any] = {
    "integer": 1,
    "decimal": Decimal(1),
    "number": 0.01,
    "date": timedelta(days=1),
    "datetime": timedelta(minutes=1),
}


def _sized(spec: FieldSpec, size: int, now: datetime) -> Any:
    if size < 0:
        return _UNSOLVED
    if spec.kind == "list":
        choices = list(spec.type.values or ("item",))
        return tuple((choices * (size // len(choices) + 1))[:size])
    return "x" * size


def _sample(spec: FieldSpec, now: datetime) -> Any:
    """A value that fills the field and meets its declared constraints."""
    kind = spec.kind
    if kind in ("enum", "list"):
        first = (spec.type.values or ("item",))[0]
        return first if kind == "enum" else (first,)
    if kind == "boolean":
        return True
    if kind in ("integer", "decimal", "number"):
        low = spec.minimum if spec.minimum is not None and spec.minimum > 0 else 1
        high = spec.maximum
        value = low if high is None or low <= high else high
        return {"integer": int, "decimal": Decimal, "number": float}[kind](str(value))
    if kind == "date":
        return now.date()
    if kind == "datetime":
        return now
    return _text(spec)


def _text(spec: FieldSpec) -> str:
    text = _matching(spec.pattern) if spec.pattern else spec.id
    if spec.min_length is not None and len(text) < spec.min_length:
        text = text.ljust(spec.min_length, "x")
    if spec.max_length is not None:
        text = text[: spec.max_length]
    return text


def _matching(pattern: str) -> str:
    """A short text that the regular expression ``pattern`` matches whole."""
    parser: Any = importlib.import_module("re._parser")
    return "".join(_emit(parser.parse(pattern)))


def _emit(items: Any) -> Iterator[str]:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            yield chr(arg)
        elif name == "IN":
            yield _first_of_set(arg)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _, body = arg
            for _ in range(max(low, 1) if low else 0):
                yield from _emit(body)
        elif name == "SUBPATTERN":
            yield from _emit(arg[-1])
        elif name == "BRANCH":
            yield from _emit(arg[1][0])
        elif name == "ANY":
            yield "a"
        elif name == "CATEGORY":
            yield _category(str(arg))


def _first_of_set(items: Any) -> str:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            return chr(arg)
        if name == "RANGE":
            return chr(arg[0])
        if name == "CATEGORY":
            return _category(str(arg))
    return "a"


def _category(name: str) -> str:
    return "0" if "DIGIT" in name else " " if "SPACE" in name else "a"


# --- a starter scenario file --------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Writes plain YAML: no anchors or aliases, which strict readers may refuse."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def starter_scenarios(
    playbook: Playbook, paths: Iterable[StagePath], now: datetime, playbook_file: str
) -> str:
    """A scenario file (YAML text) with one scenario per reached stage, replaying its path."""
    scenarios = []
    for path in paths:
        if not path.reached or not path.steps:
            continue
        steps = [step.to_scenario() for step in path.steps]
        steps[-1]["expect"] = {"allowed": True, "stage": path.stage}
        scenarios.append(
            {
                "name": f"a new deal reaches {path.stage}: " + " -> ".join(path.moves),
                "now": now.isoformat(),
                "steps": steps,
            }
        )
    header = (
        f"# Scenarios for {playbook.key}, generated by `playbook paths`: the shortest way\n"
        "# a new deal reaches each stage. Add the scenarios that show each rule blocking.\n"
    )
    body = {"playbook": playbook_file, "scenarios": scenarios}
    return header + yaml.dump(body, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)


def _one_or_list(roles: tuple[str, ...]) -> Any:
    return roles[0] if len(roles) == 1 else list(roles)
