"""``playbook approvals`` on a real SQLite store: exit codes, English and Chinese, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playbook.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "valid" / "approvals.yaml"
NOW = "2026-11-16T10:00:00+08:00"
DEALS = (
    "id,stage,owner,manager,amount,discount,finance_contact\n"
    "Q-1,qualification,wang,li,2000000,0.1,sun\n"
)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store holding deal Q-1 (CNY 2,000,000) of the golden approvals example."""
    monkeypatch.setenv("PLAYBOOK_DB", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.delenv("PLAYBOOK_LANG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "deals.csv").write_text(DEALS, encoding="utf-8")
    assert main(["db", "init"]) == 0
    assert main(["deals", "import", str(tmp_path / "deals.csv"), "--playbook", str(EXAMPLE)]) == 0
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_blocked_refused_delegated_granted_then_moved(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole flow through the CLI, each step's exit code and words."""
    advance = ["deals", "advance", "Q-1", "--to", "quote", "--as", "sales_rep", "--actor", "wang"]
    code, out, _ = _run(capsys, *advance, "--now", NOW)
    assert code == 1
    assert "PB580" in out
    assert "waits for Sales director" in out

    who = ("--as", "wang:sales_rep", "--now", NOW)
    assert _run(capsys, "approvals", "request", "Q-1", "large_or_discounted", *who)[0] == 0
    code, _, err = _run(capsys, "approvals", "grant", "Q-1", "large_or_discounted", *who)
    assert code == 1
    assert "PB582" in err

    zh = ("--lang", "zh", "--now", NOW)
    code, out, _ = _run(capsys, "approvals", "list", "Q-1", *zh)
    assert code == 0
    assert "大额或高折扣审批：待审批" in out

    director = ("--as", "zhou:sales_director", "--to", "chen", "--reason", "on leave")
    assert _run(capsys, "approvals", "delegate", "Q-1", "large_or_discounted", *director)[0] == 0
    chen = ("--as", "chen:sales_rep", "--format", "json")
    code, out, _ = _run(capsys, "approvals", "grant", "Q-1", "large_or_discounted", *chen)
    assert code == 0
    assert json.loads(out)["approval"]["step"] == "finance"
    code, out, _ = _run(
        capsys, "approvals", "grant", "Q-1", "large_or_discounted", "--as", "qian:finance"
    )
    assert code == 0
    assert "granted" in out
    assert _run(capsys, *advance, "--now", "2026-11-16T12:00:00+08:00")[0] == 0


def test_a_rejection_needs_a_reason_and_an_unknown_approval_is_usage(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reject`` without ``--reason`` is a usage error; an unknown approval id is PB583, exit 2."""
    who = ("--as", "zhou:sales_director")
    assert _run(capsys, "approvals", "reject", "Q-1", "large_or_discounted", *who)[0] == 2
    code, _, err = _run(capsys, "approvals", "grant", "Q-1", "no_such", *who)
    assert code == 2
    assert "PB583" in err
