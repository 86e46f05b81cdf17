"""Coverage of playbooks by their scenarios, and the JUnit XML of a test run."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from playbook.authoring.coverage import junit_xml, run_tests

REPO = Path(__file__).resolve().parents[2]
SAMPLES = ["b2b-project-sales", "smb-standard-funnel", "sales-cycle-kpis"]


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_playbook_is_fully_covered(name: str) -> None:
    """Every stage, move, criterion, guard, action and escalation of a sample is exercised."""
    report = run_tests([REPO / "playbooks" / f"{name}.test.yaml"])
    assert report.failed == 0, [r.failure for r in report.results if not r.passed]
    (coverage,) = report.coverages
    assert coverage.missing == ()
    assert coverage.percent == 100.0


def _partial(tmp_path: Path) -> Path:
    scenario = tmp_path / "partial.test.yaml"
    playbook = REPO / "playbooks" / "sales-cycle-kpis.yaml"
    scenario.write_text(
        f"playbook: {playbook}\n"
        "scenarios:\n"
        "  - name: a prospect is researched\n"
        '    now: "2026-03-02T10:00:00+08:00"\n'
        "    steps:\n"
        "      - check: contact\n"
        "        expect: {allowed: false, reasons: [PB544, PB545]}\n"
        "  - name: a wrong expectation\n"
        '    now: "2026-03-02T10:00:00+08:00"\n'
        "    steps:\n"
        "      - check: contact\n"
        "        expect: {allowed: true}\n",
        encoding="utf-8",
    )
    return scenario


@pytest.mark.parametrize(
    ("category", "item", "covered"),
    [
        ("stages", "prospecting", True),
        ("stages", "contact", False),
        ("criteria", "stages[contact].entry[0]", True),
        ("criteria", "stages[lost].entry[0]", False),
        ("actions", "research_company", True),
        ("actions", "deliver", False),
        ("transitions", "prospecting->contact", False),
        ("escalations", "quote_unanswered", False),
    ],
)
def test_partial_coverage_lists_what_is_missing(
    tmp_path: Path, category: str, item: str, covered: bool
) -> None:
    """Items are covered only by what a scenario exercised (a rule counts once it blocked)."""
    report = run_tests([_partial(tmp_path)])
    (coverage,) = report.coverages
    found = {(i.category, i.id): i.covered for i in coverage.items}
    assert found[category, item] is covered
    assert 0 < coverage.percent < 100
    assert report.exit_code() == 1  # the second scenario fails
    assert report.exit_code() == report.exit_code(min_coverage=0)


def test_min_coverage_fails_a_passing_run(tmp_path: Path) -> None:
    """Passing scenarios still fail the run when coverage is below the minimum."""
    text = _partial(tmp_path).read_text(encoding="utf-8").split("  - name: a wrong")[0]
    scenario = tmp_path / "passing.test.yaml"
    scenario.write_text(text, encoding="utf-8")
    report = run_tests([scenario])
    assert report.failed == 0
    assert report.exit_code() == 0
    assert report.exit_code(min_coverage=100) == 1


def test_a_directory_counts_playbooks_without_scenarios(tmp_path: Path) -> None:
    """A playbook under the directory given, with no scenario file, is counted as uncovered."""
    source = REPO / "playbooks"
    for name in ("sales-cycle-kpis.yaml", "sales-cycle-kpis.test.yaml", "smb-standard-funnel.yaml"):
        (tmp_path / name).write_text((source / name).read_text(encoding="utf-8"), encoding="utf-8")
    report = run_tests([tmp_path])
    percents = {Path(c.playbook_path).name: c.percent for c in report.coverages}
    assert percents == {"sales-cycle-kpis.yaml": 100.0, "smb-standard-funnel.yaml": 0.0}


def test_junit_output_reads_back(tmp_path: Path) -> None:
    """The JUnit XML parses with a JUnit parser: one case per scenario, failures with lines."""
    report = run_tests([_partial(tmp_path)])
    target = tmp_path / "report.xml"
    target.write_text(junit_xml(report), encoding="utf-8")
    xml = JUnitXml.fromfile(str(target))
    cases = [case for suite in xml for case in suite]
    assert [case.name for case in cases] == ["a prospect is researched", "a wrong expectation"]
    assert cases[0].is_passed
    failures = [r for r in cases[1].result if isinstance(r, Failure)]
    assert len(failures) == 1
    assert "expected allowed" in (failures[0].message or "")
    assert f"{report.results[1].scenario.file}:11:" in (failures[0].text or "")
    assert xml.failures == 1
