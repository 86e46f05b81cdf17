"""``playbook check`` and ``playbook next`` end to end, with golden deals.

Each ``tests/golden/check/<playbook>/<case>.json`` holds a deal, a move and
the expected answer, written by hand::

    {"deal": {...}, "to": "solution", "as": "sales_rep" | null, "now": "ISO",
     "expect": {"allowed": false, "codes": ["PB544", "PB545"]}}

or ``"expect": {"exit": 2, "error": "PB501"}`` for input the command refuses.
The playbook is ``<playbook>/playbook.yaml`` beside the cases, or else
``playbooks/<playbook>.yaml`` of the repository.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from playbook.cli import main

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "check"
ENGINE_PLAYBOOK = GOLDEN / "engine-test" / "playbook.yaml"
B2B_PLAYBOOK = REPO / "playbooks" / "b2b-project-sales.yaml"
CASES = sorted(GOLDEN.glob("*/*.json"))


def _playbook_for(case: Path) -> Path:
    beside = case.parent / "playbook.yaml"
    return beside if beside.exists() else REPO / "playbooks" / f"{case.parent.name}.yaml"


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write_deal(tmp_path: Path, deal: dict[str, Any]) -> Path:
    path = tmp_path / "deal.json"
    path.write_text(json.dumps(deal, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.stem}" for c in CASES])
def test_golden_decisions(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command's exit code and reason codes match the hand-written expectation."""
    playbook = _playbook_for(case)
    if not playbook.exists():
        pytest.skip(f"sample playbook {playbook.name} is not in this checkout")
    spec = json.loads(case.read_text(encoding="utf-8"))
    args = [
        "check",
        "--playbook",
        str(playbook),
        "--deal",
        str(_write_deal(tmp_path, spec["deal"])),
    ]
    args += ["--to", spec["to"], "--now", spec["now"], "--format", "json"]
    if spec["as"]:
        args += ["--as", spec["as"]]
    code, out, _ = _run(args, capsys)
    expect = spec["expect"]
    result = json.loads(out)
    if "error" in expect:
        assert (code, result["error"]["code"]) == (expect["exit"], expect["error"])
        return
    assert [r["code"] for r in result["reasons"]] == expect["codes"]
    assert result["allowed"] is expect["allowed"]
    assert code == (0 if expect["allowed"] else 1)


def test_golden_cases_exist_for_every_playbook() -> None:
    """Each golden folder has cases for allowed and for blocked moves."""
    for folder in sorted(p for p in GOLDEN.iterdir() if p.is_dir()):
        expects = [
            json.loads(c.read_text(encoding="utf-8"))["expect"] for c in folder.glob("*.json")
        ]
        assert any(e.get("allowed") is True for e in expects), folder.name
        assert any(e.get("allowed") is False for e in expects), folder.name


def _engine_deal(**fields: Any) -> dict[str, Any]:
    values = {"amount": "600000", "decision_maker": "Wang", "industry": "energy"}
    values.update(fields)
    return {
        "id": "E-9",
        "stage": "qualified",
        "stage_entered_at": "2026-03-02T09:00:00+08:00",
        "fields": values,
    }


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        pytest.param(
            None,
            [
                "E-9: qualified → proposal  BLOCKED",
                "  ✗ PB544 cannot enter Proposal: Visit the site before the proposal.",
                "      rule: stages[proposal].entry.site_visit (",
                "      failed: amount < 500000, visits >= 1",
                "      values: amount = 600000, visits = (empty)",
                "  ✗ PB545 required action Technical exchange (Presales engineer) is not done; "
                "due 2026-03-05 09:00 +08:00",
                "can be overridden with a reason by: manager",
            ],
            id="default-language-of-the-playbook",
        ),
        pytest.param(
            "zh",
            [
                "E-9: qualified → proposal  不允许",
                "  ✗ PB544 无法进入「方案」：请先完成现场勘查再出方案。",
                "      当前值: amount = 600000, visits = （空）",
                "可由以下角色填写理由后越权放行：manager",
            ],
            id="chinese",
        ),
    ],
)
def test_check_text_output(
    lang: str | None,
    expected: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The text output says the verdict, then each reason with its rule, values and line."""
    deal = _write_deal(tmp_path, _engine_deal(budget_confirmed=True))
    args = ["check", "--playbook", str(ENGINE_PLAYBOOK), "--deal", str(deal), "--to", "proposal"]
    args += ["--as", "rep", "--now", "2026-03-04T10:00:00"]
    if lang:
        args += ["--lang", lang]
    code, out, _ = _run(args, capsys)
    assert code == 1
    lines = out.splitlines()
    for line in expected:
        assert any(candidate.startswith(line) for candidate in lines), (line, out)
    assert f"{ENGINE_PLAYBOOK}:" in out


def test_check_reads_the_deal_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--deal -`` reads the JSON deal from standard input."""
    deal = _engine_deal(amount="100", budget_confirmed=True)
    deal["completed_actions"] = ["tech_exchange"]
    deal["fields"]["minutes"] = "m"
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(deal)))
    args = ["check", "--playbook", str(ENGINE_PLAYBOOK), "--deal", "-", "--to", "proposal"]
    code, out, _ = _run([*args, "--as", "rep", "--now", "2026-03-04T10:00:00Z"], capsys)
    assert (code, out) == (0, "E-9: qualified → proposal  ALLOWED\n")


@pytest.mark.parametrize(
    ("deal_text", "words"),
    [
        pytest.param('{"id": "E-9", ', "not valid JSON", id="bad-json"),
        pytest.param('{"id": "E-9", "stage": "qualifed"}', "did you mean 'qualified'", id="stage"),
        pytest.param(
            '{"id": "E-9", "stage": "qualified", "fields": {"visits": 1.5}}', "visits", id="type"
        ),
    ],
)
def test_bad_deal_exits_2(
    deal_text: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deal that cannot be used is bad input: exit 2, the reason on stderr, no traceback."""
    path = tmp_path / "deal.json"
    path.write_text(deal_text, encoding="utf-8")
    args = ["check", "--playbook", str(ENGINE_PLAYBOOK), "--deal", str(path), "--to", "proposal"]
    code, out, err = _run(args, capsys)
    assert code == 2
    assert out == ""
    assert words in err
    assert "Traceback" not in err


def test_invalid_playbook_shows_its_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A playbook that does not validate is reported with its diagnostics, exit 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("playbook: bad\nversion: 1\ntitle: Bad\nstages: []\n", encoding="utf-8")
    deal = _write_deal(tmp_path, {"id": "X", "stage": "lead"})
    code, out, err = _run(
        ["check", "--playbook", str(bad), "--deal", str(deal), "--to", "won"], capsys
    )
    assert code == 2
    assert out == ""
    assert "is not a valid playbook" in err
    assert "bad.yaml:4" in err


def test_bad_now_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--now`` must be ISO 8601."""
    deal = _write_deal(tmp_path, _engine_deal())
    args = ["check", "--playbook", str(ENGINE_PLAYBOOK), "--deal", str(deal), "--to", "proposal"]
    code, _, err = _run([*args, "--now", "tomorrow"], capsys)
    assert code == 2
    assert "--now" in err


def test_json_error_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With ``--format json`` a refused input is a JSON error object on stdout."""
    deal = _write_deal(tmp_path, {**_engine_deal(), "playbook_version": 9})
    args = ["check", "--playbook", str(ENGINE_PLAYBOOK), "--deal", str(deal), "--to", "proposal"]
    code, out, _ = _run([*args, "--format", "json"], capsys)
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "PB503"
    assert "version 9" in error["message"]


def test_next_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``next`` lists open actions with due times, missing fields and the moves."""
    deal = _write_deal(tmp_path, _engine_deal())
    args = ["next", "--playbook", str(ENGINE_PLAYBOOK), "--deal", str(deal)]
    code, out, _ = _run([*args, "--now", "2026-03-06T10:00:00+08:00"], capsys)
    assert code == 0
    assert out.splitlines() == [
        "E-9 is in Qualified (qualified)",
        "Open actions:",
        "  - Technical exchange [tech_exchange] (Presales engineer)  OVERDUE since "
        "2026-03-05 09:00 +08:00",
        "Missing for Proposal:",
        "  fill in: Site visits (visits)",
        "  - PB544 cannot enter Proposal: Visit the site before the proposal.",
        "Moves:",
        "  ✗ proposal (Proposal)  PB544 PB545 PB546",
        "  ✗ lost (Lost)  PB544",
    ]


def test_next_json_in_chinese(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``next --format json --lang zh`` gives the same facts as data, titles in Chinese."""
    deal = _write_deal(tmp_path, _engine_deal())
    args = ["next", "--playbook", str(ENGINE_PLAYBOOK), "--deal", str(deal), "--lang", "zh"]
    code, out, _ = _run([*args, "--now", "2026-03-06T10:00:00+08:00", "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["playbook"] == "engine-test@3"
    assert data["open_actions"][0]["title"] == "技术交流"
    assert data["open_actions"][0]["overdue"] is True
    assert data["missing_for_next"][0]["fields"] == ["visits"]
    assert [m["to"] for m in data["available"]] == ["proposal", "lost"]


def test_sample_playbook_speaks_chinese_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A playbook with ``language: zh`` gets Chinese text output without ``--lang``."""
    if not B2B_PLAYBOOK.exists():
        pytest.skip("sample playbook b2b-project-sales.yaml is not in this checkout")
    deal = _write_deal(tmp_path, {"id": "B", "stage": "lead_identification"})
    args = [
        "check",
        "--playbook",
        str(B2B_PLAYBOOK),
        "--deal",
        str(deal),
        "--to",
        "initial_contact",
    ]
    code, out, _ = _run([*args, "--now", "2026-03-04T10:00:00+08:00"], capsys)
    assert code == 1
    assert "不允许" in out
    assert "请填写所属行业、客户分级" in out


def test_check_runs_without_the_database_layer(tmp_path: Path) -> None:
    """``playbook check`` never imports SQLAlchemy: it works where no database exists."""
    deal = _write_deal(tmp_path, _engine_deal())
    script = (
        "import sys\n"
        "from playbook.cli import main\n"
        f"code = main(['check', '--playbook', {str(ENGINE_PLAYBOOK)!r}, '--deal', {str(deal)!r},"
        " '--to', 'proposal', '--now', '2026-03-04T10:00:00Z'])\n"
        "code = main(['next', '--playbook', "
        f"{str(ENGINE_PLAYBOOK)!r}, '--deal', {str(deal)!r}, '--now', '2026-03-04T10:00:00Z'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.splitlines()[-1] == "[]"
