"""The example of docs/embedding.md runs as written, as a script of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import playbook

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "embedding.md"
SAMPLE = REPO / "playbooks" / "b2b-project-sales.yaml"
_EXAMPLE = re.compile(r"<!-- embedding-example[^>]*-->\n```python\n(?P<code>.*?)```", re.DOTALL)


def _example() -> str:
    found = _EXAMPLE.search(DOC.read_text(encoding="utf-8"))
    assert found, "docs/embedding.md has no block marked <!-- embedding-example -->"
    return found["code"]


def test_example_is_short() -> None:
    """The first example stays a short read: about twenty lines of code."""
    code_lines = [line for line in _example().splitlines() if line.strip()]
    assert len(code_lines) <= 25


def test_example_runs(tmp_path: Path) -> None:
    """The example loads a playbook, checks and advances a deal, and handles a blocked move."""
    if not SAMPLE.exists():
        pytest.skip("the example uses playbooks/b2b-project-sales.yaml, not in this checkout")
    missing = [name for name in ("load", "Engine", "Actor") if not hasattr(playbook, name)]
    if missing:
        pytest.skip(f"playbook does not export {', '.join(missing)} yet")
    script = tmp_path / "example.py"
    script.write_text(_example(), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["PB544", "PB545", "PB545", "PB546"]
    assert "stages[solution].entry.large_deal_site_survey" in lines[0]
    assert "方案制定" in lines[0]
    assert lines[4] == "blocked: PB544, PB545, PB545, PB546"
    assert lines[5] == "solution 1 ['PB544', 'PB545', 'PB546']"


_TRANSACTION = re.compile(
    r"<!-- embedding-transaction-example -->\n```python\n(?P<code>.*?)```", re.DOTALL
)


def test_transaction_example_runs(tmp_path: Path) -> None:
    """The store-inside-your-transaction example runs and prints the reassigned owner."""
    if not SAMPLE.exists():
        pytest.skip("the example uses playbooks/b2b-project-sales.yaml, not in this checkout")
    found = _TRANSACTION.search(DOC.read_text(encoding="utf-8"))
    assert found, "docs/embedding.md has no block marked <!-- embedding-transaction-example -->"
    script = tmp_path / "transaction.py"
    script.write_text(found["code"], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['wang']"]


EXAMPLE_FILE = REPO / "examples" / "embedding" / "first_example.py"

# Every public answer an embedder handles; reveal_type must show none of them as Any.
_PROBE = """\
from datetime import UTC, datetime
from decimal import Decimal
from dataclasses import dataclass

import playbook
from playbook import Actor, Engine

@dataclass
class MyDeal:
    id: str
    stage: str
    amount: Decimal | None

engine = Engine(playbook.load("playbooks/b2b-project-sales.yaml"))
now = datetime(2026, 3, 20, tzinfo=UTC)
rep = Actor("li.na", "sales_rep")
decision = engine.check(MyDeal("D-1", "needs_analysis", None), "solution", actor=rep, now=now)
reveal_type(decision)
reveal_type(decision.reasons)
reveal_type(decision.reasons[0].code)
reveal_type(decision.reasons[0].due)
reveal_type(decision.to_dict())
reveal_type(decision.to_dict()["reasons"][0]["values"])
lead = {"id": "D-1", "stage": "lead_identification"}
moved = engine.advance(lead, "initial_contact", actor=rep, now=now)
reveal_type(moved)
reveal_type(moved.deal.to_dict())
reveal_type(moved.events[0].to_dict())
steps = engine.next_steps(moved.deal, now=now)
reveal_type(steps.to_dict())
reveal_type(playbook.as_deal({"id": "D-2", "stage": "lead_identification"}, engine.playbook))
reveal_type(rep.to_dict())
"""


def test_example_file_is_the_doc_example() -> None:
    """examples/embedding/first_example.py is the example of docs/embedding.md, word for word."""
    assert EXAMPLE_FILE.read_text(encoding="utf-8") == _example()


def test_example_passes_mypy_strict_and_nothing_is_any(tmp_path: Path) -> None:
    """The example type-checks under mypy --strict, and no public answer is typed Any."""
    probe = tmp_path / "probe.py"
    probe.write_text(_PROBE, encoding="utf-8")
    revealed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            str(EXAMPLE_FILE),
            str(probe),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    notes = [line for line in revealed.stdout.splitlines() if "Revealed type is" in line]
    errors = [line for line in revealed.stdout.splitlines() if ": error:" in line]
    assert not errors, revealed.stdout
    assert len(notes) == _PROBE.count("reveal_type("), revealed.stdout
    assert not [line for line in notes if "Any" in line], "\n".join(notes)
