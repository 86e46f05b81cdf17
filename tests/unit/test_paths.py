"""Generated paths: the solver's values, the shortest route to every stage, starter scenarios."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from playbook.authoring.coverage import run_tests
from playbook.authoring.paths import (
    PathStep,
    generate_paths,
    satisfying_values,
    starter_scenarios,
)
from playbook.cli import main
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


@pytest.mark.parametrize(
    ("step", "lang", "words"),
    [
        (PathStep("set", {"amount": "1", "tier": "key"}), "en", "set amount = '1', tier = 'key'"),
        (PathStep("set", {"amount": "1", "tier": "key"}), "zh", "设置 amount = '1'、tier = 'key'"),
        (PathStep("complete", "grade", ("sales_rep",), "key"), "en",
         "complete grade as sales_rep (evidence 'key')"),
        (PathStep("complete", "grade", ("sales_rep",), "key"), "zh",
         "以 sales_rep 身份完成 grade（证据：'key'）"),
        (PathStep("advance", "won", ("rep", "boss")), "en", "advance won as rep/boss"),
        (PathStep("advance", "won", ("rep", "boss")), "zh", "以 rep/boss 身份推进到 won"),
    ],
)  # fmt: skip
def test_a_step_is_described_in_the_reader_language(step: PathStep, lang: str, words: str) -> None:
    """`paths` prints its steps in --lang; ids and values stay as they are."""
    assert step.describe(lang) == words
    assert str(step) == step.describe("en")


def test_paths_prints_steps_in_the_run_language(capsys: pytest.CaptureFixture[str]) -> None:
    """A Chinese playbook's steps read in English with --lang en, in Chinese by default."""
    book = str(REPO / "playbooks" / "b2b-project-sales.yaml")
    main(["paths", book, "--now", "2026-11-20T10:00:00+08:00", "--lang", "en"])
    english = capsys.readouterr().out
    main(["paths", book, "--now", "2026-11-20T10:00:00+08:00"])
    chinese = capsys.readouterr().out
    assert "  complete grade_customer as sales_rep (evidence 'key')" in english
    assert "  以 sales_rep 身份完成 grade_customer（证据：'key'）" in chinese
    assert "  advance " not in chinese
    assert "evidence" not in chinese
