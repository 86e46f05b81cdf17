"""``playbook decide``: the matching rows of the decision tables for a deal, in en and zh."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playbook.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "valid" / "decision-tables.yaml"
DEAL = {
    "id": "D-7",
    "stage": "lead",
    "fields": {
        "lead_score": 65,
        "industry": "energy",
        "budget_confirmed": True,
        "probability": 0.6,
    },
}


@pytest.fixture
def deal_file(tmp_path: Path) -> Path:
    """The deal as a JSON file."""
    path = tmp_path / "deal.json"
    path.write_text(json.dumps(DEAL), encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["decide", "--playbook", str(EXAMPLE), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_names_the_matching_rows_of_every_table(
    capsys: pytest.CaptureFixture[str], deal_file: Path
) -> None:
    """Score 65 in energy: row 2 of the grading (sql); budget and energy: rows 1 and 2 of fit."""
    code, out, _ = _run(capsys, "--deal", str(deal_file), "--format", "json")
    assert code == 0
    decisions = {d["table"]: d for d in json.loads(out)["decisions"]}
    assert decisions["lead_grading"] == {
        "table": "lead_grading",
        "rows": [2],
        "outputs": {"lead_grade": "sql"},
    }
    assert decisions["customer_tiers"]["rows"] == [4]  # no amount: the `empty` row
    assert decisions["forecast"]["outputs"] == {"forecast_category": "best_case"}
    assert decisions["fit_score"] == {"table": "fit_score", "rows": [1, 2], "outputs": {"fit": 70}}


def test_text_in_english_and_chinese(capsys: pytest.CaptureFixture[str], deal_file: Path) -> None:
    """The text says each row with its source line and condition, in the language asked for."""
    code, out, _ = _run(capsys, "--deal", str(deal_file), "--table", "fit_score")
    assert code == 0
    assert "fit_score (Fit score): hit policy collect sum" in out
    assert "✓ row 2 (line 62): budget_confirmed" in out
    assert "→ fit = 70" in out
    assert "lead_grading" not in out
    code, out, _ = _run(capsys, "--deal", str(deal_file), "--lang", "zh")
    assert code == 0
    assert "lead_grading (线索分级)：命中策略 first" in out
    assert "✓ 第 2 行（源码第 25 行）：lead_score >= 60" in out


def test_an_unknown_table_exits_2(capsys: pytest.CaptureFixture[str], deal_file: Path) -> None:
    """An unknown --table is PB571 with the known tables, exit 2."""
    code, _, err = _run(capsys, "--deal", str(deal_file), "--table", "grading")
    assert code == 2
    assert "PB571" in err
    assert "lead_grading" in err
