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
``log: call``         log an activity (a call, meeting, email, note or visit)
``sweep: TIME``       which escalation rules fire at TIME

Every step may carry ``at`` (the time of the step; later steps keep it) and
``expect``: ``allowed``, ``reasons`` (codes), ``rules`` (rule paths or ids that
blocked), ``stage`` (after the step), ``error`` (a ``PB`` code the step raises)
and, for a sweep, ``fire`` (escalation ids) and ``levels`` (``{id: levels due}``).
A step without ``expect`` must succeed. Running records what each step
exercised (:class:`Trace`) for :mod:`playbook.authoring.coverage`.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal, NoReturn

from playbook.definition.loader import Document, read_document
from playbook.definition.validate import load
from playbook.errors import (
    DealError,
    MoveBlockedError,
    PathNotFoundError,
    PlaybookError,
    ScenarioError,
)
from playbook.model import Escalation, Playbook
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.deals import DealState, as_deal
from playbook.runtime.decisions import Decision
from playbook.runtime.engine import Engine
from playbook.values import Actor, coerce_fields

__all__ = [
    "SCENARIO_SUFFIXES",
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
    "find_scenario_files",
    "iter_results",
    "read_scenarios",
    "rule_paths",
    "run_scenario",
]

SCENARIO_SUFFIXES = (".test.yaml", ".test.yml")
"""How a scenario file's name ends; the playbook is the same name without ``.test``."""

StepKind = Literal["check", "advance", "complete", "set", "log", "sweep"]
_STEP_KINDS: tuple[StepKind, ...] = ("check", "advance", "complete", "set", "log", "sweep")
_STEP_KEYS = frozenset(
    {*_STEP_KINDS, "as", "actor", "at", "override", "evidence", "expect", "note"}
)
_EXPECT_KEYS = frozenset({"allowed", "reasons", "rules", "stage", "error", "fire", "levels"})
_SCENARIO_KEYS = frozenset({"name", "now", "deal", "steps"})
_DEAL_KEYS = frozenset(
    {
        "id",
        "stage",
        "fields",
        "stage_entered_at",
        "created_at",
        "last_activity_at",
        "owner",
        "team",
        "completed_actions",
    }
)
_LOG_KINDS = frozenset({"call", "meeting", "email", "note", "visit"})
_CODE = re.compile(r"^PB\d{3}$")

_YamlPath = tuple[str | int, ...]


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


# --- finding and reading files ------------------------------------------------------------


def find_scenario_files(paths: Sequence[str | Path]) -> list[Path]:
    """The scenario files named in ``paths`` or found (recursively, sorted) under directories.

    Raises :class:`~playbook.errors.PathNotFoundError` for a path that does not exist.
    """
    found: dict[Path, None] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.update(
                    dict.fromkeys(Path(root) / n for n in sorted(names) if _is_scenario(n))
                )
        elif path.is_file():
            found[path] = None
        else:
            raise PathNotFoundError(
                f"no such file or directory: {given}", hint="check the path", file=str(given)
            )
    return list(found)


def _is_scenario(name: str) -> bool:
    return name.endswith(SCENARIO_SUFFIXES)


def read_scenarios(path: str | Path, playbook: Playbook | None = None) -> ScenarioFile:
    """Read a scenario file strictly and check every name in it against its playbook.

    The playbook is ``playbook:`` in the file (relative to it), else the file's
    name without ``.test``; ``playbook`` given here is used instead of loading it.
    Raises :class:`~playbook.errors.ScenarioError` (with file, line and column)
    for anything the playbook does not define, and
    :class:`~playbook.errors.InvalidPlaybookError` when the playbook is not valid.
    """
    loaded = read_document(path, display_name=str(path))
    errors = [d for d in loaded.diagnostics if d.severity == "error"]
    if loaded.document is None or errors:
        first = errors[0]
        raise ScenarioError(
            f"{first.code} {first.message}", file=str(path), line=first.line, column=first.column
        )
    reader = _Reader(loaded.document)
    playbook_path = reader.playbook_path(Path(path))
    model = playbook if playbook is not None else reader.load_playbook(playbook_path)
    return reader.scenario_file(str(playbook_path), model)


class _Reader:
    """Turns a scenario document into the model, failing at the first unknown name."""

    def __init__(self, document: Document) -> None:
        self.doc = document
        self.file = document.file

    def fail(
        self, path: _YamlPath, message: str, hint: str | None = None, *, key: bool = False
    ) -> NoReturn:
        mark = self.doc.mark(path, key=key)
        raise ScenarioError(message, hint=hint, file=self.file, line=mark.line, column=mark.column)

    def line(self, path: _YamlPath) -> int:
        return self.doc.mark(path).line

    def playbook_path(self, path: Path) -> Path:
        data = self.doc.data
        if not isinstance(data, Mapping):
            self.fail((), "a scenario file is a mapping with `playbook` and `scenarios`")
        named = data.get("playbook")
        if named is None:
            stem = path.name
            for suffix in SCENARIO_SUFFIXES:
                stem = stem.removesuffix(suffix)
            return path.with_name(stem + ".yaml")
        if not isinstance(named, str):
            self.fail(("playbook",), "`playbook` is the path of the playbook file, as text")
        return path.parent / named

    def load_playbook(self, path: Path) -> Playbook:
        if not path.is_file():
            self.fail(
                ("playbook",), f"the playbook {path} does not exist", "name it with `playbook:`"
            )
        return load(path)

    def scenario_file(self, playbook_path: str, playbook: Playbook) -> ScenarioFile:
        data = self.doc.data
        self._keys((), data, frozenset({"playbook", "scenarios"}))
        items = data.get("scenarios")
        if not isinstance(items, list) or not items:
            self.fail(("scenarios",), "`scenarios` must be a non-empty list of scenarios")
        known = _Names(playbook)
        scenarios = tuple(
            self._scenario(("scenarios", i), raw, playbook, known) for i, raw in enumerate(items)
        )
        return ScenarioFile(self.file, playbook_path, playbook, scenarios)

    def _keys(self, path: _YamlPath, raw: Any, allowed: frozenset[str]) -> None:
        if not isinstance(raw, Mapping):
            self.fail(path, "expected a mapping here")
        for key in raw:
            if key not in allowed:
                self.fail(
                    (*path, key), f"unknown key {key!r}", _did_you_mean(key, allowed), key=True
                )

    def _scenario(self, path: _YamlPath, raw: Any, playbook: Playbook, known: _Names) -> Scenario:
        self._keys(path, raw, _SCENARIO_KEYS)
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.fail(path, "every scenario needs a `name`")
        now = self._time((*path, "now"), raw.get("now"), playbook, required=True)
        assert now is not None
        deal = self._deal((*path, "deal"), raw.get("deal") or {}, playbook, known, now, name)
        steps_raw = raw.get("steps")
        if not isinstance(steps_raw, list) or not steps_raw:
            self.fail((*path, "steps"), "`steps` must be a non-empty list")
        steps = tuple(
            self._step((*path, "steps", i), item, playbook, known)
            for i, item in enumerate(steps_raw)
        )
        return Scenario(name, self.file, self.line(path), deal, now, steps)

    def _time(
        self, path: _YamlPath, raw: Any, playbook: Playbook, *, required: bool = False
    ) -> datetime | None:
        if raw is None:
            if required:
                self.fail(path, "a scenario needs `now`: the time its steps run at")
            return None
        if not isinstance(raw, str):
            self.fail(path, f"{raw!r} is not a time", "write ISO 8601: 2026-03-02T09:30:00+08:00")
        try:
            return _parse_time(raw, playbook)
        except ValueError:
            self.fail(path, f"{raw!r} is not a time", "write ISO 8601: 2026-03-02T09:30:00+08:00")
        raise AssertionError  # pragma: no cover

    def _deal(
        self,
        path: _YamlPath,
        raw: Any,
        playbook: Playbook,
        known: _Names,
        now: datetime,
        name: str,
    ) -> DealState:
        self._keys(path, raw, _DEAL_KEYS)
        stage = raw.get("stage", playbook.first_stage.id)
        known.stage((*path, "stage"), stage, self)
        fields = raw.get("fields") or {}
        self._fields((*path, "fields"), fields, playbook, known)
        done = raw.get("completed_actions") or []
        if not isinstance(done, list):
            self.fail((*path, "completed_actions"), "`completed_actions` is a list of action ids")
        for i, action in enumerate(done):
            known.action((*path, "completed_actions", i), action, self, stage=stage)
        times = {}
        for key in ("stage_entered_at", "created_at", "last_activity_at"):
            moment = self._time((*path, key), raw.get(key), playbook)
            times[key] = moment or now
        record = {
            "id": str(raw.get("id") or _slug(name)),
            "stage": stage,
            "fields": dict(fields),
            "completed_actions": list(done),
            "owner": raw.get("owner", "owner"),
            "team": raw.get("team"),
            **times,
        }
        try:
            return as_deal(record, playbook)
        except DealError as error:
            self.fail(path, f"the deal is not valid: {error.message}", error.hint)
        raise AssertionError  # pragma: no cover

    def _fields(
        self, path: _YamlPath, raw: Any, playbook: Playbook, known: _Names
    ) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            self.fail(path, "field values are a mapping: {field: value}")
        for key, value in raw.items():
            known.field((*path, key), key, self)
            try:
                coerce_fields(playbook, {key: value})
            except DealError as error:
                self.fail((*path, key), error.message, error.hint)
        return dict(raw)

    def _step(self, path: _YamlPath, raw: Any, playbook: Playbook, known: _Names) -> Step:
        self._keys(path, raw, _STEP_KEYS)
        kinds = [kind for kind in _STEP_KINDS if kind in raw]
        if len(kinds) != 1:
            self.fail(path, "a step has exactly one of: " + ", ".join(_STEP_KINDS))
        kind = kinds[0]
        target = self._target((*path, kind), kind, raw[kind], playbook, known)
        roles = self._roles((*path, "as"), raw.get("as"), known)
        if kind in ("advance", "complete") and roles is None:
            self.fail(path, f"a `{kind}` step needs `as`: the role(s) of who acts")
        expect = None
        if "expect" in raw:
            expect = self._expect((*path, "expect"), raw["expect"], kind, known)
        elif kind in ("check", "sweep"):
            self.fail(path, f"a `{kind}` step needs `expect`: what the engine must answer")
        override = raw.get("override")
        if override is not None and kind != "advance":
            self.fail((*path, "override"), "only an `advance` step can override")
        return Step(
            kind,
            target,
            self.line(path),
            self._time((*path, "at"), raw.get("at"), playbook),
            roles,
            str(raw.get("actor") or "tester"),
            None if override is None else str(override),
            raw.get("evidence"),
            expect,
        )

    def _target(
        self, path: _YamlPath, kind: StepKind, raw: Any, playbook: Playbook, known: _Names
    ) -> Any:
        if kind in ("check", "advance"):
            known.stage(path, raw, self)
            return raw
        if kind == "complete":
            known.action(path, raw, self)
            return raw
        if kind == "set":
            return self._fields(path, raw, playbook, known)
        if kind == "log":
            if raw not in _LOG_KINDS:
                self.fail(
                    path,
                    f"unknown activity {raw!r}",
                    "log one of: " + ", ".join(sorted(_LOG_KINDS)),
                )
            return raw
        return self._time(path, raw, playbook, required=True)

    def _roles(self, path: _YamlPath, raw: Any, known: _Names) -> tuple[str, ...] | None:
        if raw is None:
            return None
        roles = [raw] if isinstance(raw, str) else raw
        if not isinstance(roles, list) or not roles:
            self.fail(path, "`as` is a role id or a list of role ids")
        for i, role in enumerate(roles):
            known.role(path if isinstance(raw, str) else (*path, i), role, self)
        return tuple(roles)

    def _expect(self, path: _YamlPath, raw: Any, kind: StepKind, known: _Names) -> Expectation:
        self._keys(path, raw, _EXPECT_KEYS)
        allowed = raw.get("allowed")
        if allowed is not None and not isinstance(allowed, bool):
            self.fail((*path, "allowed"), "`allowed` is true or false")
        about_escalations = "fire" in raw or "levels" in raw
        if kind == "sweep" and not about_escalations:
            self.fail(path, "a sweep expects `fire` (and optionally `levels`)")
        if kind != "sweep" and about_escalations:
            self.fail(path, "only a `sweep` step expects `fire` or `levels`")
        reasons = self._codes((*path, "reasons"), raw.get("reasons"))
        error = raw.get("error")
        if error is not None and not (isinstance(error, str) and _CODE.match(error)):
            self.fail((*path, "error"), "`error` is a code such as PB530")
        rules = self._list((*path, "rules"), raw.get("rules"))
        for i, rule in enumerate(rules or ()):
            known.rule((*path, "rules", i), rule, self)
        stage = raw.get("stage")
        if stage is not None:
            known.stage((*path, "stage"), stage, self)
        fire = self._list((*path, "fire"), raw.get("fire"))
        for i, rule_id in enumerate(fire or ()):
            known.escalation((*path, "fire", i), rule_id, self)
        levels = raw.get("levels")
        if levels is not None:
            if not isinstance(levels, Mapping):
                self.fail((*path, "levels"), "`levels` maps escalation ids to a number of levels")
            for key, count in levels.items():
                known.escalation((*path, "levels", key), key, self)
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    self.fail((*path, "levels", key), "a number of levels is an integer >= 0")
        return Expectation(allowed, reasons, rules, stage, error, fire, levels)

    def _codes(self, path: _YamlPath, raw: Any) -> tuple[str, ...] | None:
        codes = self._list(path, raw)
        for i, code in enumerate(codes or ()):
            if not _CODE.match(code):
                self.fail((*path, i), f"{code!r} is not a reason code such as PB544")
        return codes

    def _list(self, path: _YamlPath, raw: Any) -> tuple[str, ...] | None:
        if raw is None:
            return None
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            self.fail(path, "expected a list of text")
        return tuple(raw)


class _Names:
    """The names a scenario may use, from its playbook, with did-you-mean errors."""

    def __init__(self, playbook: Playbook) -> None:
        self.playbook = playbook
        self.stages = [s.id for s in playbook.stages]
        self.actions = {a.id: s.id for s in playbook.stages for a in s.actions}
        self.rules = rule_paths(playbook)
        self.rule_ids = {_rule_id(rule) for rule in self.rules}
        self.escalations = [e.id for e in playbook.escalations]

    def stage(self, path: _YamlPath, value: Any, reader: _Reader) -> None:
        if value not in self.stages:
            reader.fail(path, f"unknown stage {value!r}", _did_you_mean(value, self.stages))

    def field(self, path: _YamlPath, value: Any, reader: _Reader) -> None:
        if value not in self.playbook.fields:
            reader.fail(
                path,
                f"unknown field {value!r}",
                _did_you_mean(value, self.playbook.fields),
                key=True,
            )

    def role(self, path: _YamlPath, value: Any, reader: _Reader) -> None:
        if value not in self.playbook.roles:
            reader.fail(path, f"unknown role {value!r}", _did_you_mean(value, self.playbook.roles))

    def action(
        self, path: _YamlPath, value: Any, reader: _Reader, stage: str | None = None
    ) -> None:
        if value not in self.actions:
            reader.fail(path, f"unknown action {value!r}", _did_you_mean(value, self.actions))
        if stage is not None and self.actions[value] != stage:
            reader.fail(path, f"action {value!r} belongs to stage {self.actions[value]!r}")

    def rule(self, path: _YamlPath, value: str, reader: _Reader) -> None:
        if value not in self.rules and value not in self.rule_ids:
            reader.fail(
                path,
                f"unknown rule {value!r}",
                _did_you_mean(value, [*self.rules, *self.rule_ids])
                or "rules are paths such as stages[solution].entry.budget_known, or their ids",
            )

    def escalation(self, path: _YamlPath, value: Any, reader: _Reader) -> None:
        if value not in self.escalations:
            reader.fail(
                path, f"unknown escalation rule {value!r}", _did_you_mean(value, self.escalations)
            )


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


def _rule_id(rule: str) -> str:
    """The last part of a rule path: ``budget_known`` of ``stages[x].exit.budget_known``."""
    return rule.rsplit(".", 1)[-1]


def _rule_matches(actual: str, expected: str) -> bool:
    return actual == expected or _rule_id(actual) == expected


# --- running ------------------------------------------------------------------------------


class _Failed(Exception):
    """A step did not do what it expected."""

    def __init__(self, message: str, expected: str, actual: str) -> None:
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
                raise _Failed(f"{step.describe()} raised {error}", "success", error.code) from error
            if error.code != step.expect.error:
                raise _Failed(
                    f"{step.describe()}: expected error {step.expect.error}, got {error.code}",
                    step.expect.error,
                    error.code,
                ) from error
            return
        if step.expect is not None and step.expect.error is not None:
            raise _Failed(
                f"{step.describe()}: expected error {step.expect.error}, it succeeded",
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
                f"{step.describe()}: expected {_names(expect.fire)} to fire, got {_names(fired)}",
                _names(expect.fire),
                _names(fired),
            )
        for rule_id, count in (expect.levels or {}).items():
            if fired.get(rule_id, 0) != count:
                raise _Failed(
                    f"{step.describe()}: expected {count} level(s) of {rule_id} due, "
                    f"got {fired.get(rule_id, 0)}",
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
                self.trace.actions.add(_rule_id(reason.rule))

    def _compare(self, step: Step, decision: Decision) -> None:
        expect = step.expect or Expectation()
        allowed = expect.allowed
        plain_advance = step.kind == "advance" and step.override is None
        if allowed is None and plain_advance and expect.reasons is None and expect.rules is None:
            allowed = True
        if allowed is not None and decision.allowed != allowed:
            raise _Failed(
                f"{step.describe()}: expected {_verdict(allowed)}, got {_decision(decision)}",
                _verdict(allowed),
                _decision(decision),
            )
        if expect.reasons is not None and sorted(expect.reasons) != sorted(decision.codes):
            raise _Failed(
                f"{step.describe()}: expected reasons {_names(expect.reasons)}, "
                f"got {_names(decision.codes)}",
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
                f"{step.describe()}: expected rules {_names(rules)}, got {_names(actual)}",
                _names(rules),
                _names(actual),
            )

    def _compare_stage(self, step: Step) -> None:
        expected = step.expect.stage if step.expect is not None else None
        if expected is not None and self.deal.stage != expected:
            raise _Failed(
                f"{step.describe()}: expected the deal in {expected}, it is in {self.deal.stage}",
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
    stage), its ``when`` holds, and its first level is due, with the due times
    of the sweep (:func:`playbook.escalation.sweep.due_at`: the trigger's wait and the
    level's delay on the working calendar, then the next working moment).
    Anchors: ``in_stage`` entering the stage, ``since_last_activity`` the last
    activity (else entering the stage), ``date_passed`` the start of the day
    after the date in the field (or the datetime itself), and ``condition``
    entering the stage while the condition holds (a deal record keeps no
    earlier time for it; the sweep tracks it from the first sweep that sees it).
    """
    from playbook.escalation.sweep import due_at  # loads the store layer: only when sweeping

    out: list[DueEscalation] = []
    for rule in playbook.escalations:
        anchor = _anchor(playbook, calendar, rule, deal)
        if anchor is None:
            continue
        wait = rule.trigger.duration
        levels = sum(
            1 for level in rule.levels if due_at(calendar, anchor, wait, level.after) <= now
        )
        if levels:
            out.append(DueEscalation(rule, anchor, levels))
    return tuple(out)


def _anchor(
    playbook: Playbook, calendar: WorkingCalendar, rule: Escalation, deal: DealState
) -> datetime | None:
    stage = playbook.stage(deal.stage)
    if rule.stages is not None:
        in_scope = deal.stage in rule.stages
    else:
        in_scope = stage is not None and stage.is_open
    if not in_scope or (rule.when is not None and not rule.when.test(deal.fields)):
        return None
    trigger = rule.trigger
    entered = deal.stage_entered_at or deal.created_at
    if trigger.kind == "in_stage":
        return entered
    if trigger.kind == "since_last_activity":
        return deal.last_activity_at or entered
    if trigger.kind == "condition":
        holds = trigger.condition is not None and trigger.condition.test(deal.fields)
        return entered if holds else None
    return _date_passed(deal.fields.get(trigger.field or ""), calendar)


def _date_passed(value: Any, calendar: WorkingCalendar) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        midnight = datetime.combine(value + timedelta(days=1), datetime.min.time())
        return midnight.replace(tzinfo=calendar.timezone).astimezone(UTC)
    return None


# --- small helpers ------------------------------------------------------------------------


def _parse_time(text: str, playbook: Playbook) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(playbook.timezone))
    return moment.astimezone(UTC)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:60] or "deal"


def _did_you_mean(name: Any, candidates: Iterable[str]) -> str | None:
    close = get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def iter_results(
    files: Sequence[ScenarioFile],
) -> Iterator[tuple[ScenarioFile, ScenarioResult]]:
    """Run every scenario of every file, one engine per playbook, in file order."""
    for scenario_file in files:
        engine = Engine(scenario_file.playbook)
        for scenario in scenario_file.scenarios:
            yield scenario_file, run_scenario(scenario, engine)
