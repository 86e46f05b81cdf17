"""Stage diagrams: Mermaid and DOT text, and DOT accepted by Graphviz."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from playbook.authoring.graph import to_dot, to_mermaid, to_svg
from playbook.definition.validate import load

REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPO / "playbooks").glob("*.yaml"))
SAMPLES = [p for p in SAMPLES if not p.name.endswith(".test.yaml")]


def _need_dot() -> str:
    found = shutil.which("dot")
    if found is None:
        if os.environ.get("PLAYBOOK_REQUIRE_TOOLS") == "1":
            pytest.fail("Graphviz `dot` is required (PLAYBOOK_REQUIRE_TOOLS=1) but not installed")
        pytest.skip("Graphviz `dot` is not installed (apt-get install graphviz)")
    return found


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_mermaid_has_every_stage_and_move(path: Path) -> None:
    """One node per stage and one arrow per allowed move, lost moves dashed."""
    playbook = load(path)
    text = to_mermaid(playbook)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    for stage in playbook.stages:
        assert any(line.startswith(f"  {stage.id}[") for line in lines)
    arrows = [line for line in lines if "-->" in line or "-.->" in line]
    assert len(arrows) == len(playbook.transitions)


@pytest.mark.parametrize(
    ("needle", "lang"),
    [
        ("招标项目直接进入需求分析，角色：销售代表、销售经理，条件：public_tender", "zh"),
        ("仅限公司高管、销售经理（当 amount #gt;= 1000000）", "zh"),
        ("签署合同 [销售代表, 10 个工作日]", "zh"),
        ("Tender published: go to needs analysis; roles: Sales rep, Sales manager; when", "en"),
        ("only Executive, Sales manager if amount #gt;= 1000000", "en"),
        ("Sign the contract [Sales rep, 10 working days]", "en"),
    ],
)
def test_mermaid_labels(needle: str, lang: str) -> None:
    """Arrows carry titles, roles, guards and rules; boxes carry actions with roles and due."""
    assert needle in to_mermaid(load(REPO / "playbooks" / "b2b-project-sales.yaml"), lang)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_dot_output_passes_graphviz(path: Path) -> None:
    """``dot -Tsvg`` accepts the DOT output of every sample and draws every stage."""
    dot = _need_dot()
    playbook = load(path)
    done = subprocess.run(
        [dot, "-Tsvg"], input=to_dot(playbook), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    root = ET.fromstring(done.stdout)
    titles = [el.text for el in root.iter("{http://www.w3.org/2000/svg}title")]
    for stage in playbook.stages:
        assert stage.id in titles


def test_svg_through_graphviz() -> None:
    """``to_svg`` returns the SVG Graphviz drew."""
    _need_dot()
    svg = to_svg(load(REPO / "playbooks" / "smb-standard-funnel.yaml"), "zh")
    assert svg.lstrip().startswith("<?xml")
    assert "线索甄别" in svg


def test_dot_escapes_quotes(make_playbook) -> None:  # type: ignore[no-untyped-def]
    """Quotes and backslashes in titles cannot break the DOT syntax."""
    playbook = make_playbook("""
    playbook: q
    version: 1
    title: Q
    stages:
      - {id: a, title: 'say "hi" \\ bye'}
      - {id: won, title: Won, outcome: won}
    """)
    assert 'label="say \\"hi\\" \\\\ bye (a)' in to_dot(playbook)
