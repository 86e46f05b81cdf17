"""Playbook tests: scenario files that say what the engine must decide for a deal.

A scenario file (``b2b-project-sales.test.yaml`` next to ``b2b-project-sales.yaml``)
is read with the strict loader and checked against its playbook before anything
runs: a step that names an unknown stage, field, action, role, rule or
escalation is a :class:`~playbook.errors.ScenarioError` with the file, line and
column. Each scenario starts from a deal (stage, fields, times, completed
actions) and runs steps in order:

``check: STAGE``      ask the engine whether the move is allowed (``as`` optional)
``advance: STAGE``    move the deal (``as`` required, ``override`` optional)
``complete: ACTION``  record a required action (``as`` required, ``evidence`` optional)
``set: {field: value}``  change field values (``null`` clears one)
``log: call``         log an activity of one of the playbook's ``activity_kinds``
``sweep: TIME``       which escalation rules fire at TIME

Every step may carry ``at`` (the time of the step; later steps keep it) and
``expect``: ``allowed``, ``reasons`` (codes), ``rules`` (rule paths or ids that
blocked), ``stage`` (after the step), ``error`` (a ``PB`` code the step raises)
and, for a sweep, ``fire`` (escalation ids) and ``levels`` (``{id: levels due}``).
A step without ``expect`` must succeed. Running records what each step
exercised (:class:`Trace`) for :mod:`playbook.authoring.coverage`. Reading and
checking the files is :mod:`playbook.authoring.scenario_files`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from playbook.errors import MoveBlockedError, PlaybookError
from playbook.escalation.rules import deal_anchor, due_at
from playbook.i18n import Message
from playbook.model import Escalation, Playbook
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import DealState
from playbook.runtime.decisions import Decision
from playbook.runtime.engine import Engine
from playbook.values import Actor, coerce_fields

__all__ = [
    "STEP_KINDS",
    "DueEscalation",
    "Expectation",
    "Scenario",
    "ScenarioFile",
    "ScenarioResult",
    "Step",
    "StepKind",
    "Trace",
    "criterion_rule",
    "due_escalations",
    "iter_results",
    "rule_id_of",
    "rule_paths",
    "run_file",
    "run_scenario",
]

StepKind = Literal["check", "advance", "complete", "set", "log", "sweep"]
STEP_KINDS: tuple[StepKind, ...] = ("check", "advance", "complete", "set", "log", "sweep")
"""The kinds of step, in the order a step's error message lists them."""


# --- the model of a scenario file ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a step must produce; ``None`` members are not checked."""

    allowed: bool | None = None
    reasons: tuple[str, ...] | None = None
    rules: tuple[str, ...] | None = None
    stage: str | None = None
    error: str | None = None
    fire: tuple[str, ...] | None = None
    levels: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a scenario, with its position in the scenario file."""

    kind: StepKind
    target: Any
    line: int
    at: datetime | None = None
    roles: tuple[str, ...] | None = None
    actor: str = "tester"
    override: str | None = None
    evidence: Any = None
    expect: Expectation | None = None

    def describe(self) -> str:
        """``advance solution``: the step as a reader names it."""
        if self.kind == "set":
            return "set " + ", ".join(sorted(self.target))
        if self.kind == "sweep":
            return f"sweep at {self.target.isoformat()}"
        return f"{self.kind} {self.target}"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named scenario: the starting deal, the time, and the steps."""

    name: str
    file: str
    line: int
    deal: DealState
    now: datetime
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class ScenarioFile:
    """A scenario file read and checked against its playbook."""

    path: str
    playbook_path: str
    playbook: Playbook
    scenarios: tuple[Scenario, ...]


@dataclass(slots=True)
class Trace:
    """What the steps exercised: stages, moves, rules that blocked, actions, escalations."""

    stages: set[str] = field(default_factory=set)
    transitions: set[str] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    escalations: set[str] = field(default_factory=set)

    def merge(self, other: Trace) -> None:
        """Add everything ``other`` exercised."""
        self.stages |= other.stages
        self.transitions |= other.transitions
        self.rules |= other.rules
        self.actions |= other.actions
        self.escalations |= other.escalations


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """The outcome of one scenario: passed, or the first failing step and why."""

    scenario: Scenario
    trace: Trace
    failure: str | None = None
    failed_line: int | None = None
    expected: str | None = None
    actual: str | None = None

    @property
    def passed(self) -> bool:
        """True when every step did what it expected."""
        return self.failure is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: name, file, line, passed, and the failure when there is one."""
        data: dict[str, Any] = {
            "name": self.scenario.name,
            "file": self.scenario.file,
            "line": self.scenario.line,
            "passed": self.passed,
        }
        if self.failure is not None:
            data["failure"] = {
                "line": self.failed_line,
                "message": self.failure,
                "expected": self.expected,
                "actual": self.actual,
            }
        return data


# --- rule paths ---------------------------------------------------------------------------


def rule_paths(playbook: Playbook) -> dict[str, int]:
    """Every rule path the engine can name in a reason, with its line in the playbook.

    The same names as :attr:`playbook.runtime.decisions.Reason.rule`:
    ``stages[S].entry.ID`` (``stages[S].entry[N]`` when unnamed), ``stages[S].exit...``,
    ``stages[S].actions.ID``, ``stages[S].roles``, ``stages[S]``,
    ``transitions[A->B]``, ``transitions[A->B].roles``, ``transitions[A->B].when``
    and ``transitions.rules[N]``.
    """
    out: dict[str, int] = {}
    for stage in playbook.stages:
        out[f"stages[{stage.id}]"] = stage.line
        if stage.roles is not None:
            out[f"stages[{stage.id}].roles"] = stage.line
        for kind, criteria in (("entry", stage.entry), ("exit", stage.exit)):
            for item in criteria:
                out[criterion_rule(stage.id, kind, item.id)] = item.line
        for action in stage.actions:
            out[f"stages[{stage.id}].actions.{action.id}"] = action.line
        for target in playbook.stages:
            out[f"transitions[{stage.id}->{target.id}]"] = target.line
    for move in playbook.transitions:
        name = f"transitions[{move.source}->{move.target}]"
        if move.roles is not None:
            out[f"{name}.roles"] = move.line
        if move.guard is not None:
            out[f"{name}.when"] = move.guard.line
    for index, rule in enumerate(playbook.rules):
        out[f"transitions.rules[{index}]"] = rule.line
    return out


def criterion_rule(stage: str, kind: str, criterion_id: str) -> str:
    """The rule path of an entry or exit criterion, as the engine names it."""
    if criterion_id.startswith(f"{kind}["):
        return f"stages[{stage}].{criterion_id}"
    return f"stages[{stage}].{kind}.{criterion_id}"


def rule_id_of(rule: str) -> str:
    """The last part of a rule path: ``budget_known`` of ``stages[x].exit.budget_known``."""
    return rule.rsplit(".", 1)[-1]


def _rule_matches(actual: str, expected: str) -> bool:
    return actual == expected or rule_id_of(actual) == expected


# --- running ------------------------------------------------------------------------------


class _Failed(Exception):
    """A step did not do what it expected."""

    def __init__(self, message: Message, expected: str, actual: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class _Run:
    """One scenario being run: the deal as it is now, the clock, and the trace."""

    def __init__(self, scenario: Scenario, engine: Engine) -> None:
        self.engine = engine
        self.playbook = engine.playbook
        self.deal = scenario.deal
        self.now = scenario.now
        self.trace = Trace(stages={scenario.deal.stage})

    def step(self, step: Step) -> None:
        if step.at is not None:
            self.now = step.at
        handler = getattr(self, f"_{step.kind}")
        try:
            handler(step)
        except PlaybookError as error:
            if step.expect is None or step.expect.error is None:
                raise _Failed(
                    Message("error.scenarios.raised", describe=step.describe(), error=error),
                    "success",
                    error.code,
                ) from error
            if error.code != step.expect.error:
                raise _Failed(
                    Message(
                        "error.scenarios.expected_error_got",
                        describe=step.describe(),
                        error=step.expect.error,
                        code=error.code,
                    ),
                    step.expect.error,
                    error.code,
                ) from error
            return
        if step.expect is not None and step.expect.error is not None:
            raise _Failed(
                Message(
                    "error.scenarios.expected_error_succeeded",
                    describe=step.describe(),
                    error=step.expect.error,
                ),
                step.expect.error,
                "success",
            )

    def _check(self, step: Step) -> None:
        decision = self.engine.check(self.deal, step.target, actor=self._actor(step), now=self.now)
        self._record(decision)
        self._compare(step, decision)

    def _advance(self, step: Step) -> None:
        actor = self._actor(step)
        assert actor is not None
        try:
            result = self.engine.advance(
                self.deal, step.target, actor=actor, now=self.now, override=step.override
            )
        except MoveBlockedError as blocked:
            refused = blocked.decision
            assert isinstance(refused, Decision)  # the engine raises with its own decisions
            self._record(refused)
            if step.expect is None or step.expect.error is not None:
                raise
            self._compare(step, refused)
            return
        decision = result.decision
        assert decision is not None
        self._record(decision)
        if step.override is not None and not decision.allowed:
            self.trace.transitions.add(f"{decision.from_stage}->{decision.to_stage}")
        self.deal = result.deal
        self.trace.stages.add(self.deal.stage)
        self._compare(step, decision)

    def _complete(self, step: Step) -> None:
        actor = self._actor(step)
        assert actor is not None
        result = self.engine.complete_action(
            self.deal, step.target, actor=actor, now=self.now, evidence=step.evidence
        )
        self.deal = result.deal
        self.trace.actions.add(step.target)
        self._compare_stage(step)

    def _set(self, step: Step) -> None:
        values = {**self.deal.fields, **coerce_fields(self.playbook, step.target)}
        self.deal = replace(self.deal, fields={k: v for k, v in values.items() if v is not None})
        self._compare_stage(step)

    def _log(self, step: Step) -> None:
        self.deal = replace(self.deal, last_activity_at=self.now)
        self._compare_stage(step)

    def _sweep(self, step: Step) -> None:
        due = due_escalations(self.playbook, self.engine.calendar, self.deal, step.target)
        fired = {item.escalation.id: item.levels for item in due}
        self.trace.escalations |= set(fired)
        expect = step.expect
        assert expect is not None
        if expect.fire is not None and set(expect.fire) != set(fired):
            raise _Failed(
                Message(
                    "error.scenarios.expected_fire_got",
                    describe=step.describe(),
                    names=_names(expect.fire),
                    names2=_names(fired),
                ),
                _names(expect.fire),
                _names(fired),
            )
        for rule_id, count in (expect.levels or {}).items():
            if fired.get(rule_id, 0) != count:
                raise _Failed(
                    Message(
                        "error.scenarios.expected_level_due_got",
                        describe=step.describe(),
                        count=count,
                        rule_id=rule_id,
                        get=fired.get(rule_id, 0),
                    ),
                    str(count),
                    str(fired.get(rule_id, 0)),
                )

    def _actor(self, step: Step) -> Actor | None:
        if step.roles is None:
            return None
        return Actor(step.actor, frozenset(step.roles))

    def _record(self, decision: Decision) -> None:
        if decision.allowed:
            self.trace.transitions.add(f"{decision.from_stage}->{decision.to_stage}")
        for reason in decision.reasons:
            self.trace.rules.add(reason.rule)
            if reason.code == "PB545":
                self.trace.actions.add(rule_id_of(reason.rule))

    def _compare(self, step: Step, decision: Decision) -> None:
        expect = step.expect or Expectation()
        allowed = expect.allowed
        plain_advance = step.kind == "advance" and step.override is None
        if allowed is None and plain_advance and expect.reasons is None and expect.rules is None:
            allowed = True
        if allowed is not None and decision.allowed != allowed:
            raise _Failed(
                Message(
                    "error.scenarios.expected_got",
                    describe=step.describe(),
                    verdict=_verdict(allowed),
                    decision=_decision(decision),
                ),
                _verdict(allowed),
                _decision(decision),
            )
        if expect.reasons is not None and sorted(expect.reasons) != sorted(decision.codes):
            raise _Failed(
                Message(
                    "error.scenarios.expected_reasons_got",
                    describe=step.describe(),
                    names=_names(expect.reasons),
                    names2=_names(decision.codes),
                ),
                _names(expect.reasons),
                _names(decision.codes),
            )
        if expect.rules is not None:
            self._compare_rules(step, expect.rules, decision)
        self._compare_stage(step)

    def _compare_rules(self, step: Step, rules: tuple[str, ...], decision: Decision) -> None:
        actual = [reason.rule for reason in decision.reasons]
        unmatched = [r for r in rules if not any(_rule_matches(a, r) for a in actual)]
        extra = [a for a in actual if not any(_rule_matches(a, r) for r in rules)]
        if unmatched or extra:
            raise _Failed(
                Message(
                    "error.scenarios.expected_rules_got",
                    describe=step.describe(),
                    names=_names(rules),
                    names2=_names(actual),
                ),
                _names(rules),
                _names(actual),
            )

    def _compare_stage(self, step: Step) -> None:
        expected = step.expect.stage if step.expect is not None else None
        if expected is not None and self.deal.stage != expected:
            raise _Failed(
                Message(
                    "error.scenarios.expected_deal",
                    describe=step.describe(),
                    expected=expected,
                    stage=self.deal.stage,
                ),
                expected,
                self.deal.stage,
            )


def run_scenario(scenario: Scenario, engine: Engine) -> ScenarioResult:
    """Run ``scenario``'s steps in order with ``engine``; stop at the first failing step."""
    run = _Run(scenario, engine)
    for step in scenario.steps:
        try:
            run.step(step)
        except _Failed as failed:
            return ScenarioResult(
                scenario, run.trace, str(failed), step.line, failed.expected, failed.actual
            )
        except PlaybookError as error:
            return ScenarioResult(
                scenario, run.trace, f"{step.describe()}: {error}", step.line, "success", error.code
            )
    return ScenarioResult(scenario, run.trace)


def _verdict(allowed: bool) -> str:
    return "allowed" if allowed else "blocked"


def _decision(decision: Decision) -> str:
    if decision.allowed:
        return "allowed"
    return "blocked by " + ", ".join(f"{r.code} {r.rule}" for r in decision.reasons)


def _names(items: Iterable[str]) -> str:
    listed = sorted(items)
    return "[" + ", ".join(listed) + "]" if listed else "nothing"


# --- escalations due ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueEscalation:
    """An escalation rule that fires for a deal at a time: its anchor time, levels due."""

    escalation: Escalation
    anchor: datetime
    levels: int


def due_escalations(
    playbook: Playbook, calendar: WorkingCalendar, deal: DealState, now: datetime
) -> tuple[DueEscalation, ...]:
    """The escalation rules of ``playbook`` that fire for ``deal`` at ``now``, in order.

    A rule fires when the deal is in one of its stages (default: every open
    stage), its ``when`` holds, and its first level is due. Anchors and due
    times are the sweep's own (:mod:`playbook.escalation.rules`); a deal
    record keeps no earlier time for a ``condition`` than the stage's entry
    (the sweep tracks it from the first sweep that sees it hold).
    """
    out: list[DueEscalation] = []
    for rule in playbook.escalations:
        anchor = deal_anchor(playbook, rule, deal, calendar.timezone)
        if anchor is None:
            continue
        wait = rule.trigger.duration
        levels = sum(
            1 for level in rule.levels if due_at(calendar, anchor, wait, level.after) <= now
        )
        if levels:
            out.append(DueEscalation(rule, anchor, levels))
    return tuple(out)


def run_file(scenario_file: ScenarioFile) -> Iterator[ScenarioResult]:
    """Run every scenario of ``scenario_file`` with one engine, in file order."""
    engine = Engine(scenario_file.playbook)
    for scenario in scenario_file.scenarios:
        yield run_scenario(scenario, engine)


def iter_results(
    files: Sequence[ScenarioFile],
) -> Iterator[tuple[ScenarioFile, ScenarioResult]]:
    """Run every scenario of every file, one engine per playbook, in file order."""
    for scenario_file in files:
        for result in run_file(scenario_file):
            yield scenario_file, result
