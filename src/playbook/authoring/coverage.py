"""Running playbook tests, and their coverage: which parts of a playbook no scenario exercised.

:func:`run_tests` runs every scenario file under the paths given (``playbook
test``) and measures, for each playbook found there, what the scenarios
exercised; a playbook under those paths with no scenario file counts as not
covered at all. :func:`junit_xml` writes the results as JUnit XML for CI.

A playbook's parts, by category, and what covers each one:

==============  ===============================================================
``stages``      a scenario's deal was in the stage (at the start or after a move)
``transitions`` an allowed move was checked or made along it (or made by override)
``criteria``    an entry or exit criterion blocked a check or a move (it bites)
``guards``      a transition's ``when`` or a transition rule blocked a move
``actions``     the action was completed, or blocked a move while open
``escalations`` a sweep saw the rule fire
==============  ===============================================================

Criteria and guards count only when a scenario saw them block: a rule that
never blocked in any scenario is a rule whose effect nobody has checked.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.authoring.scenario_files import find_scenario_files, read_scenarios
from playbook.authoring.scenarios import ScenarioResult, Trace, criterion_rule, run_file
from playbook.definition.loader import read_document
from playbook.definition.validate import find_playbooks, is_playbook_like, load
from playbook.errors import PathNotFoundError
from playbook.i18n import Message
from playbook.model import Playbook

__all__ = [
    "CATEGORIES",
    "Coverage",
    "CoverageItem",
    "TestReport",
    "coverage_of",
    "junit_xml",
    "overall_percent",
    "run_tests",
]

CATEGORIES: tuple[str, ...] = (
    "stages",
    "transitions",
    "criteria",
    "guards",
    "actions",
    "escalations",
)


@dataclass(frozen=True, slots=True)
class CoverageItem:
    """One part of a playbook, where it is written, and whether a scenario exercised it."""

    category: str
    id: str
    line: int
    covered: bool


@dataclass(frozen=True, slots=True)
class Coverage:
    """The coverage of one playbook by the scenarios that name it."""

    playbook_path: str
    playbook_key: str
    items: tuple[CoverageItem, ...]
    language: str = "en"
    """The playbook's language: what ``playbook test`` speaks when every playbook agrees."""

    @property
    def percent(self) -> float:
        """Covered items over all items, in percent (100 for a playbook with no items)."""
        if not self.items:
            return 100.0
        return 100.0 * sum(item.covered for item in self.items) / len(self.items)

    @property
    def missing(self) -> tuple[CoverageItem, ...]:
        """The items no scenario exercised, in category order."""
        return tuple(item for item in self.items if not item.covered)

    def by_category(self) -> dict[str, tuple[int, int]]:
        """``{category: (covered, total)}`` for every category."""
        total = Counter(item.category for item in self.items)
        covered = Counter(item.category for item in self.items if item.covered)
        return {category: (covered[category], total[category]) for category in CATEGORIES}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: percent, per-category counts and the missing items."""
        return {
            "playbook": self.playbook_path,
            "key": self.playbook_key,
            "percent": round(self.percent, 2),
            "categories": {
                name: {"covered": done, "total": total}
                for name, (done, total) in self.by_category().items()
            },
            "missing": [
                {"category": item.category, "id": item.id, "line": item.line}
                for item in self.missing
            ],
        }


def coverage_of(playbook: Playbook, trace: Trace, playbook_path: str) -> Coverage:
    """Which parts of ``playbook`` the scenarios behind ``trace`` exercised."""
    items = tuple(
        CoverageItem(category, item_id, line, covered)
        for category, item_id, line, covered in _items(playbook, trace)
    )
    return Coverage(playbook_path, playbook.key, items, playbook.language)


def overall_percent(coverages: Sequence[Coverage]) -> float:
    """Covered items over all items of every playbook, in percent (100 when there are none)."""
    items = [item for coverage in coverages for item in coverage.items]
    if not items:
        return 100.0
    return 100.0 * sum(item.covered for item in items) / len(items)


def _items(playbook: Playbook, trace: Trace) -> Iterator[tuple[str, str, int, bool]]:
    for stage in playbook.stages:
        yield "stages", stage.id, stage.line, stage.id in trace.stages
    for move in playbook.transitions:
        name = f"{move.source}->{move.target}"
        source = playbook.stage(move.source)
        # A default move is written nowhere: point at the stage it leaves.
        line = move.line or (source.line if source is not None else 0)
        yield "transitions", name, line, name in trace.transitions
    for stage in playbook.stages:
        for kind, criteria in (("entry", stage.entry), ("exit", stage.exit)):
            for item in criteria:
                rule = criterion_rule(stage.id, kind, item.id)
                yield "criteria", rule, item.line, rule in trace.rules
    yield from _guards(playbook, trace.rules)
    for stage in playbook.stages:
        for action in stage.actions:
            yield "actions", action.id, action.line, action.id in trace.actions
    for escalation in playbook.escalations:
        yield "escalations", escalation.id, escalation.line, escalation.id in trace.escalations


def _guards(playbook: Playbook, blocked: Iterable[str]) -> Iterator[tuple[str, str, int, bool]]:
    seen = set(blocked)
    for move in playbook.transitions:
        if move.guard is not None:
            rule = f"transitions[{move.source}->{move.target}].when"
            yield "guards", rule, move.guard.line, rule in seen
    for index, item in enumerate(playbook.rules):
        rule = f"transitions.rules[{index}]"
        yield "guards", rule, item.line, rule in seen


@dataclass(frozen=True, slots=True)
class TestReport:
    """Every scenario run under the paths given, and the coverage of each playbook."""

    results: tuple[ScenarioResult, ...]
    coverages: tuple[Coverage, ...]

    __test__ = False  # not a pytest test class, despite its name

    @property
    def failed(self) -> int:
        """How many scenarios failed."""
        return sum(not result.passed for result in self.results)

    @property
    def passed(self) -> int:
        """How many scenarios passed."""
        return len(self.results) - self.failed

    @property
    def percent(self) -> float:
        """The coverage of every playbook together, in percent."""
        return overall_percent(self.coverages)

    def exit_code(self, min_coverage: float | None = None) -> int:
        """0 when every scenario passed (and coverage is at least ``min_coverage``), else 1."""
        if self.failed or (min_coverage is not None and self.percent < min_coverage):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: results, summary counts and coverage."""
        return {
            "results": [result.to_dict() for result in self.results],
            "summary": {
                "passed": self.passed,
                "failed": self.failed,
                "coverage": round(self.percent, 2),
            },
            "coverage": [coverage.to_dict() for coverage in self.coverages],
        }


def run_tests(paths: Sequence[str | Path]) -> TestReport:
    """Run the scenario files named in or found under ``paths``; measure each playbook's coverage.

    Playbooks found under directories among ``paths`` that no scenario file
    names are reported with nothing covered. Raises
    :class:`~playbook.errors.ScenarioError` for an invalid scenario file and
    :class:`~playbook.errors.PathNotFoundError` for a missing path or when
    there is no scenario file at all.
    """
    files = [read_scenarios(path) for path in find_scenario_files(paths)]
    if not files:
        raise PathNotFoundError(
            Message("error.coverage.no_scenario_files_test", names=[str(p) for p in paths]),
            hint=Message("error.coverage.write_one_next_playbook"),
        )
    results: list[ScenarioResult] = []
    traces: dict[str, tuple[Playbook, Trace]] = {}
    for scenario_file in files:
        key = str(Path(scenario_file.playbook_path).resolve())
        trace = traces.setdefault(key, (scenario_file.playbook, Trace()))[1]
        for result in run_file(scenario_file):
            results.append(result)
            trace.merge(result.trace)
    for path in _untested_playbooks(paths, traces):
        traces[str(Path(path).resolve())] = (load(path), Trace())
    coverages = tuple(
        coverage_of(playbook, trace, _shown(key)) for key, (playbook, trace) in traces.items()
    )
    return TestReport(tuple(results), coverages)


def _untested_playbooks(paths: Sequence[str | Path], tested: Iterable[str]) -> list[str]:
    directories = [p for p in paths if Path(p).is_dir()]
    if not directories:
        return []
    known = set(tested)
    return [
        path
        for path in find_playbooks(directories)
        if str(Path(path).resolve()) not in known and is_playbook_like(read_document(path))
    ]


def _shown(resolved: str) -> str:
    """A path relative to the working directory when it is below it."""
    path = Path(resolved)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def junit_xml(report: TestReport) -> str:
    """The results as JUnit XML: one ``testsuite`` per scenario file, one ``testcase`` each."""
    root = ET.Element("testsuites", tests=str(len(report.results)), failures=str(report.failed))
    suites: dict[str, ET.Element] = {}
    for result in report.results:
        scenario = result.scenario
        suite = suites.get(scenario.file)
        if suite is None:
            suite = ET.SubElement(root, "testsuite", name=scenario.file, tests="0", failures="0")
            suites[scenario.file] = suite
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
        case = ET.SubElement(
            suite,
            "testcase",
            name=scenario.name,
            classname=Path(scenario.file).name,
            file=scenario.file,
            line=str(scenario.line),
            time="0",
        )
        if not result.passed:
            suite.set("failures", str(int(suite.get("failures", "0")) + 1))
            failure = ET.SubElement(case, "failure", message=result.failure or "", type="failure")
            failure.text = (
                f"{scenario.file}:{result.failed_line}: {result.failure}\n"
                f"expected: {result.expected}\nactual: {result.actual}"
            )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
