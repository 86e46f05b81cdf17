"""Generated paths: the solver's values, the shortest route to every stage, starter scenarios."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from playbook.authoring.coverage import run_tests
from playbook.authoring.paths import generate_paths, satisfying_values, starter_scenarios
from playbook.conditions import parse_condition
from playbook.definition.validate import load

REPO = Path(__file__).resolve().parents[2]
SAMPLES = [
    REPO / "playbooks" / "b2b-project-sales.yaml",
    REPO / "playbooks" / "smb-standard-funnel.yaml",
    REPO / "playbooks" / "sales-cycle-kpis.yaml",
    REPO / "examples" / "maven-crm" / "playbook.yaml",
]
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("condition", "base", "expected"),
    [
        ("amount > 0", {}, {"amount": Decimal(1)}),
        ("amount > 0", {"amount": Decimal(5)}, {}),
        ("gross_margin >= 0.15", {}, {"gross_margin": 0.15}),
        ("amount < 1000000 or site_visits >= 1", {"amount": Decimal(2000000)}, {"site_visits": 1}),
        ("budget_confirmed", {}, {"budget_confirmed": True}),
        ("has(decision_maker)", {}, {"decision_maker": "decision_maker"}),
        ("has(contract_no)", {}, {"contract_no": "HT-0000-0000"}),
        ("industry in ['energy', 'chemicals']", {}, {"industry": "energy"}),
        ("not has(lost_reason)", {"lost_reason": "price"}, {"lost_reason": None}),
        ("len(competitors) >= 2", {}, {"competitors": ("siemens", "abb")}),
        ("payment_terms != 'net_90'", {}, {"payment_terms": "full_prepayment"}),
    ],
)
def test_satisfying_values(condition: str, base: dict[str, Any], expected: dict[str, Any]) -> None:
    """The solver picks the smallest values that make the condition hold over the deal."""
    playbook = load(SAMPLES[0])
    types = {name: spec.type for name, spec in playbook.fields.items()}
    expr = parse_condition(condition, types)
    assert satisfying_values(expr, playbook.fields, base, NOW) == expected


def test_contradictions_have_no_values() -> None:
    """A condition that cannot hold gets None, not a guess."""
    playbook = load(SAMPLES[0])
    types = {name: spec.type for name, spec in playbook.fields.items()}
    expr = parse_condition("amount > 10 and amount < 5", types)
    assert satisfying_values(expr, playbook.fields, {}, NOW) is None


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_stage_of_the_samples_is_reached(path: Path) -> None:
    """Each sample stage has a path, and each path's moves start at the first stage."""
    playbook = load(path)
    found = generate_paths(playbook, NOW)
    assert [p.stage for p in found] == [s.id for s in playbook.stages]
    assert all(p.reached for p in found)
    assert all(p.moves[0] == playbook.first_stage.id for p in found)


def test_shortest_path_uses_the_tender_skip() -> None:
    """The b2b playbook reaches needs analysis in one move, through the public-tender skip."""
    found = {p.stage: p for p in generate_paths(load(SAMPLES[0]), NOW)}
    assert found["needs_analysis"].moves == ("lead_identification", "needs_analysis")
    first = found["needs_analysis"].steps[0]
    assert first.kind == "set"
    assert first.target["public_tender"] is True


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_starter_scenarios_pass(tmp_path: Path, path: Path) -> None:
    """The starter scenario file written from the paths runs green and covers every stage."""
    playbook = load(path)
    target = tmp_path / "starter.test.yaml"
    found = generate_paths(playbook, NOW)
    target.write_text(starter_scenarios(playbook, found, NOW, str(path)), encoding="utf-8")
    report = run_tests([target])
    assert report.failed == 0, [r.failure for r in report.results if not r.passed]
    stages = report.coverages[0].by_category()["stages"]
    assert stages[0] == stages[1]
