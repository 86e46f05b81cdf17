"""``playbook db`` and ``playbook deals`` end to end on an SQLite file: exit codes and output."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from playbook.cli import main

PLAYBOOK = """\
playbook: cli-test
version: 1
title: {en: CLI test, zh: 命令行测试}
roles:
  rep: {title: Rep}
  manager: {title: Manager}
fields:
  amount: {type: decimal}
  minutes: {type: string}
stages:
  - id: lead
    title: Lead
    actions:
      - {id: first_call, role: rep, evidence: minutes}
  - id: offer
    title: Offer
    entry: ["amount > 0"]
  - {id: won, title: Won, outcome: won}
  - {id: lost, title: Lost, outcome: lost}
overrides:
  roles: [manager]
"""

NOW = "2026-03-02T09:30:00+00:00"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a playbook, two deals in a CSV and an initialised store."""
    monkeypatch.setenv("PLAYBOOK_DB", f"sqlite:///{tmp_path / 'playbook.db'}")
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "external_id,stage,owner,amount\nD-1,lead,王丽,\nD-2,lead,li,500\n", encoding="utf-8"
    )
    assert main(["db", "init"]) == 0
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _import(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "deals", "import", str(workspace / "deals.csv"),
        "--playbook", str(workspace / "playbook.yaml"), "--now", NOW,
    )  # fmt: skip
    assert code == 0
    assert "2 created" in out


def test_import_list_and_show(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Imported deals are listed (table, json, csv) and shown with next steps and history."""
    _import(workspace, capsys)
    code, out, _ = _run(capsys, "deals", "list", "--owner", "王丽")
    assert code == 0
    assert out.splitlines()[1].startswith("D-1  ")
    code, out, _ = _run(capsys, "deals", "list", "--format", "json")
    assert [d["external_id"] for d in json.loads(out)] == ["D-1", "D-2"]
    code, out, _ = _run(capsys, "deals", "list", "--format", "csv", "--stage", "lead")
    assert out.splitlines()[0].startswith("id,stage,owner")
    code, out, _ = _run(capsys, "deals", "show", "D-1", "--now", NOW)
    assert code == 0
    assert "first_call" in out
    assert "History:" in out
    code, out, _ = _run(capsys, "deals", "show", "D-1", "--format", "json", "--now", NOW)
    shown = json.loads(out)
    assert shown["deal"]["stage"] == "lead"
    assert shown["history"][0]["source"] == "import"


def test_blocked_move_prints_reasons_and_exits_1(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine's reasons are printed; nothing changes but the recorded refusal."""
    _import(workspace, capsys)
    code, out, _ = _run(
        capsys, "deals", "advance", "D-1", "--to", "offer", "--as", "rep", "--actor", "wang",
        "--now", NOW,
    )  # fmt: skip
    assert code == 1
    assert "BLOCKED" in out
    assert "PB544" in out
    assert "PB545" in out
    code, out, _ = _run(capsys, "deals", "history", "D-1", "--format", "json")
    history = json.loads(out)
    assert [entry["kind"] for entry in history] == ["stage_change", "refused"]
    assert history[1]["code"] == "PB540"


def test_complete_advance_log_and_history(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A completed action, an allowed move and a logged call each add one history step."""
    _import(workspace, capsys)
    args = ("--actor", "wang", "--now", NOW)
    assert _run(capsys, "deals", "complete", "D-2", "first_call", "--as", "rep",
                "--evidence", "纪要", *args)[0] == 0  # fmt: skip
    code, out, _ = _run(capsys, "deals", "advance", "D-2", "--to", "offer", "--as", "rep", *args)
    assert code == 0
    assert "lead → offer" in out
    assert _run(capsys, "deals", "log", "D-2", "--kind", "call", "--note", "回访", *args)[0] == 0
    code, out, _ = _run(capsys, "deals", "history", "D-2")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["v1", "v2", "v3", "v4"]
    assert "回访" in out


def test_override_needs_a_manager(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A manager may pass failing gates with a reason; it shows in the history."""
    _import(workspace, capsys)
    code, out, _ = _run(
        capsys, "deals", "advance", "D-1", "--to", "offer", "--as", "manager", "--actor", "zhao",
        "--override", "客户口头确认", "--now", NOW,
    )  # fmt: skip
    assert code == 0
    assert "override" in out
    assert "客户口头确认" in _run(capsys, "deals", "history", "D-1")[1]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("deals", "show", "nope"), 2, "PB601"),
        (("deals", "advance", "D-1", "--to", "moon", "--as", "rep"), 2, "PB502"),
        (
            ("deals", "list", "--db", "postgresql://x@127.0.0.1:1/none?connect_timeout=2"),
            3,
            "PB603",
        ),
    ],
)
def test_bad_input_exits_with_its_code(
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    """Unknown deals and stages exit 2, an unreachable database exits 3, each with its code."""
    _import(workspace, capsys)
    result, _, err = _run(capsys, *args)
    assert result == code
    assert message in err


def test_import_with_bad_rows_exits_1(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad rows are listed with their line on stderr; good rows are imported."""
    bad = workspace / "bad.csv"
    bad.write_text("external_id,stage,amount\nD-9,lead,abc\nD-10,lead,1\n", encoding="utf-8")
    code, out, err = _run(
        capsys, "deals", "import", str(bad), "--playbook", str(workspace / "playbook.yaml")
    )
    assert code == 1
    assert "bad.csv:2: PB612" in err
    assert "1 created" in out


def test_export_writes_a_file(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`deals export --output` writes every deal in the chosen format."""
    _import(workspace, capsys)
    target = workspace / "out.jsonl"
    code, _, err = _run(capsys, "deals", "export", "--format", "jsonl", "--output", str(target))
    assert code == 0
    assert "2 deals" in err
    assert [json.loads(line)["external_id"] for line in target.read_text().splitlines()] == [
        "D-1",
        "D-2",
    ]


def test_db_current_and_newer_schema(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`db current` reports the revision; a newer schema makes commands exit 3."""
    code, out, _ = _run(capsys, "db", "current")
    assert code == 0
    assert "up to date" in out
    import sqlite3

    with sqlite3.connect(workspace / "playbook.db") as connection:
        connection.execute("UPDATE playbook_alembic_version SET version_num = '9999'")
    code, _, err = _run(capsys, "deals", "list")
    assert code == 3
    assert "PB604" in err
    assert "upgrade playbook" in err


def test_text_output_shows_times_on_the_playbook_clock(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stored in UTC, shown in the playbook's timezone as text; JSON keeps UTC."""
    pinned = workspace / "playbook.yaml"
    pinned.write_text(PLAYBOOK.replace("title: {en", "timezone: Asia/Shanghai\ntitle: {en"))
    _import(workspace, capsys)  # imported at 09:30 UTC, 17:30 in Shanghai
    local = "2026-03-02 17:30 +08:00"
    code, out, _ = _run(capsys, "deals", "list", "--owner", "li")
    assert code == 0
    assert out.splitlines()[1].split("  ")[0] == "D-2"
    assert local in out.splitlines()[1]
    assert _run(capsys, "deals", "list", "--format", "csv")[1].count(local) == 2
    code, out, _ = _run(capsys, "deals", "show", "D-2", "--now", NOW)
    assert f"stage: Lead (lead) since {local}" in out
    assert f"v1    {local}" in _run(capsys, "deals", "history", "D-2")[1]
    history = json.loads(_run(capsys, "deals", "history", "D-2", "--format", "json")[1])
    assert history[0]["at"] == NOW
    listed = json.loads(_run(capsys, "deals", "list", "--format", "json")[1])
    assert listed[0]["stage_entered_at"] == NOW


def test_history_columns_line_up_for_long_and_chinese_actors(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The activity column starts at the same screen column whatever the actor's name."""
    import unicodedata

    _import(workspace, capsys)
    for actor in ("James Ascencio-Smith", "欧阳明"):
        args = ("--kind", "call", "--as", "rep", "--actor", actor, "--now", NOW)
        assert _run(capsys, "deals", "log", "D-2", *args)[0] == 0
    lines = _run(capsys, "deals", "history", "D-2")[1].splitlines()[1:]

    def screen_column(line: str, text: str) -> int:
        before = line[: line.index(text)]
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in before)

    whats = ("lead", "call", "call")
    starts = {screen_column(line, what) for line, what in zip(lines, whats, strict=True)}
    assert len(starts) == 1, lines


def test_csv_cells_cannot_run_and_tables_cannot_repaint(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Formula-leading cells are quoted in CSV (not with --raw) and read back unchanged."""
    (workspace / "evil.csv").write_text(
        "external_id,stage,owner,amount\n"
        'E-1,lead,"=HYPERLINK(""http://x"")",-500\n'
        "E-2,lead,\x1b[2J\x1b[31mmallory,1\n",
        encoding="utf-8",
    )
    code, _, _ = _run(
        capsys, "deals", "import", str(workspace / "evil.csv"),
        "--playbook", str(workspace / "playbook.yaml"), "--now", NOW,
    )  # fmt: skip
    assert code == 0
    code, out, _ = _run(capsys, "deals", "export", "--format", "csv")
    rows = {row["external_id"]: row for row in csv.DictReader(io.StringIO(out))}
    assert rows["E-1"]["owner"] == '\'=HYPERLINK("http://x")'
    assert rows["E-1"]["amount"] == "-500"  # a number is not a formula
    code, raw, _ = _run(capsys, "deals", "export", "--format", "csv", "--raw")
    raw_rows = {row["external_id"]: row for row in csv.DictReader(io.StringIO(raw))}
    assert raw_rows["E-1"]["owner"] == '=HYPERLINK("http://x")'
    code, listed, _ = _run(capsys, "deals", "list")
    assert "\x1b" not in listed
    assert "mallory" in listed
    code, listed_csv, _ = _run(capsys, "deals", "list", "--format", "csv")
    owners = [row["owner"] for row in csv.DictReader(io.StringIO(listed_csv))]
    assert '\'=HYPERLINK("http://x")' in owners
    exported = workspace / "out.csv"
    assert main(["deals", "export", "--output", str(exported)]) == 0
    assert main(["db", "init", "--db", f"sqlite:///{workspace / 'copy.db'}"]) == 0
    code, _, _ = _run(
        capsys, "deals", "import", str(exported), "--playbook", str(workspace / "playbook.yaml"),
        "--db", f"sqlite:///{workspace / 'copy.db'}", "--now", NOW,
    )  # fmt: skip
    assert code == 0
    code, out, _ = _run(
        capsys, "deals", "show", "E-1", "--format", "json", "--db",
        f"sqlite:///{workspace / 'copy.db'}", "--now", NOW,
    )  # fmt: skip
    assert json.loads(out)["deal"]["owner"] == '=HYPERLINK("http://x")'
