"""The registered text is the rule, refused attempts are recorded, and database faults are coded.

Run through the CLI on SQLite and PostgreSQL: an edited copy of a registered
playbook (same id@version, an entry criterion removed) cannot move a deal; a
blocked move and a role that may not complete an action are refused and kept
with who, what, when and why; `playbook audit` and `deals history` list them.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from playbook.cli import main
from playbook.errors import DiskFullError
from playbook.store.db import Database, open_database
from playbook.store.repository import DealStore

PLAYBOOK = """\
playbook: audit-test
version: 1
title: {en: Audit test, zh: 审计测试}
roles:
  rep: {title: Rep}
  presales: {title: Presales}
  manager: {title: Manager}
fields:
  amount: {type: decimal}
stages:
  - id: lead
    title: Lead
    actions:
      - {id: demo, role: presales}
  - id: offer
    title: Offer
    entry: ["amount > 1000"]
  - {id: won, title: Won, outcome: won}
  - {id: lost, title: Lost, outcome: lost}
overrides:
  roles: [manager]
"""
NOW = "2026-03-02T09:30:00+00:00"
LATER = "2026-03-02T10:00:00+00:00"


@pytest.fixture
def workspace(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store holding deal D-1 (amount 10, stage lead) imported with the registered playbook."""
    monkeypatch.setenv("PLAYBOOK_DB", db_url)
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (tmp_path / "deals.csv").write_text("external_id,stage,amount\nD-1,lead,10\n", "utf-8")
    assert main(["db", "init"]) == 0
    pb = str(tmp_path / "playbook.yaml")
    assert main(["deals", "import", str(tmp_path / "deals.csv"), "--playbook", pb]) == 0
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _audit(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    code, out, _ = _run(capsys, "audit", "--format", "json", *args)
    assert code == 0
    return list(json.loads(out))


def test_an_edited_copy_cannot_move_a_deal(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same id@version, entry criterion removed: refused with PB605, recorded, deal unmoved."""
    capsys.readouterr()
    edited = workspace / "edited.yaml"
    edited.write_text(PLAYBOOK.replace('    entry: ["amount > 1000"]\n', ""), "utf-8")
    code, out, err = _run(
        capsys, "deals", "advance", "D-1", "--to", "offer", "--as", "rep", "--actor", "mallory",
        "--playbook", str(edited), "--now", NOW,
    )  # fmt: skip
    assert code == 2
    assert "PB605" in err
    assert "bump `version`" in err
    code, out, _ = _run(capsys, "deals", "show", "D-1", "--format", "json", "--now", LATER)
    assert json.loads(out)["deal"]["stage"] == "lead"
    [refusal] = _audit(capsys)
    assert (refusal["actor"], refusal["code"], refusal["action"], refusal["deal"]) == (
        "mallory",
        "PB605",
        "playbook",
        "D-1",
    )
    # The unedited file is the registered text: it is accepted (and the gate still holds).
    code, out, _ = _run(
        capsys, "deals", "advance", "D-1", "--to", "offer", "--as", "rep", "--actor", "mallory",
        "--playbook", str(workspace / "playbook.yaml"), "--now", LATER,
    )  # fmt: skip
    assert code == 1
    assert "amount" in out


def test_blocked_moves_and_wrong_roles_are_recorded_and_listed(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Who, what, when and why of every refusal; `deals history` shows them in time order."""
    capsys.readouterr()
    code, _, _ = _run(
        capsys, "deals", "advance", "D-1", "--to", "offer", "--as", "rep", "--actor", "li",
        "--now", NOW,
    )  # fmt: skip
    assert code == 1
    code, _, err = _run(
        capsys, "deals", "complete", "D-1", "demo", "--as", "rep", "--actor", "li", "--now", LATER
    )
    assert code != 0
    assert "PB530" in err
    refusals = _audit(capsys, "--deal", "D-1")
    assert [(r["action"], r["subject"], r["code"]) for r in refusals] == [
        ("advance", "offer", "PB540"),
        ("complete", "demo", "PB530"),
    ]
    blocked = refusals[0]
    assert blocked["actor"] == "li"
    assert blocked["actor_roles"] == ["rep"]
    assert blocked["at"] == NOW
    assert "amount" in str(blocked["reason"])
    assert "PB541" in json.dumps(blocked["details"]) or blocked["details"]["codes"]
    assert [r["code"] for r in _audit(capsys, "--action", "complete")] == ["PB530"]
    assert _audit(capsys, "--since", LATER)[0]["code"] == "PB530"
    code, out, _ = _run(capsys, "deals", "history", "D-1")
    assert code == 0
    refused_lines = [line for line in out.splitlines() if "REFUSED" in line]
    assert len(refused_lines) == 2
    assert "REFUSED advance offer: PB540" in refused_lines[0]
    code, out, _ = _run(capsys, "deals", "history", "D-1", "--format", "json")
    kinds = [entry["kind"] for entry in json.loads(out)]
    assert kinds.count("refused") == 2


def test_a_manager_override_is_not_a_refusal(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An allowed override writes the move and records no refusal."""
    capsys.readouterr()
    code, _, _ = _run(
        capsys, "deals", "advance", "D-1", "--to", "offer", "--as", "manager", "--actor", "wang",
        "--override", "pilot approved", "--now", NOW,
    )  # fmt: skip
    assert code == 0
    assert _audit(capsys) == []


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == b"locked"
    return holder


def test_a_locked_sqlite_database_is_pb606_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer holding the lock longer than the busy timeout: coded, not internal."""
    db = tmp_path / "locked.db"
    monkeypatch.setenv("PLAYBOOK_DB", f"sqlite:///{db}")
    monkeypatch.setenv("PLAYBOOK_BUSY_TIMEOUT_MS", "300")
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (tmp_path / "deals.csv").write_text("external_id,stage,amount\nD-1,lead,10\n", "utf-8")
    assert main(["db", "init"]) == 0
    holder = _hold_lock(db, 10)
    try:
        started = time.monotonic()
        code, _, err = _run(
            capsys, "deals", "import", str(tmp_path / "deals.csv"),
            "--playbook", str(tmp_path / "playbook.yaml"),
        )  # fmt: skip
        assert time.monotonic() - started < 8
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert code == 3
    assert "PB606" in err
    assert "internal error" not in err


def test_a_read_only_sqlite_database_is_pb607_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reading works on a read-only database; writing is coded PB607, exit 3."""
    db = tmp_path / "ro.db"
    assert main(["db", "init", "--db", f"sqlite:///{db}"]) == 0
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (tmp_path / "deals.csv").write_text("external_id,stage,amount\nD-1,lead,10\n", "utf-8")
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    capsys.readouterr()
    code, out, _ = _run(capsys, "deals", "list", "--db", read_only)
    assert (code, out.strip()) == (0, "no deals")
    code, _, err = _run(
        capsys, "deals", "import", str(tmp_path / "deals.csv"),
        "--playbook", str(tmp_path / "playbook.yaml"), "--db", read_only,
    )  # fmt: skip
    assert code == 3
    assert "PB607" in err


def test_a_full_sqlite_database_is_pb608_and_keeps_nothing_of_the_write(tmp_path: Path) -> None:
    """SQLITE_FULL (here: a page limit) becomes DiskFullError; the transaction rolls back."""
    db = tmp_path / "full.db"
    assert main(["db", "init", "--db", f"sqlite:///{db}"]) == 0
    database = open_database(f"sqlite:///{db}")
    try:
        before = DealStore(database).count()
        with database.engine.connect() as connection:
            pages = connection.execute(text("PRAGMA page_count")).scalar_one()
        with pytest.raises(DiskFullError) as full:
            _fill(database, int(pages) + 2)
        assert full.value.code == "PB608"
        assert full.value.exit_code == 3
        assert DealStore(database).count() == before
    finally:
        database.dispose()
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM playbook_people").fetchone() == (0,)


def _fill(database: Database, max_pages: int) -> None:
    """Insert people in one transaction until SQLite's page limit is reached."""
    with database.transaction(write=True) as session:
        session.execute(text(f"PRAGMA max_page_count = {max_pages:d}"))
        for n in range(2000):
            session.execute(
                text("INSERT INTO playbook_people (name, updated_at) VALUES (:name, :at)"),
                {"name": f"person-{n}-" + "x" * 150, "at": "2026-03-02 09:30:00.000000"},
            )


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1899-12-31T23:00:00+00:00"],
)
def test_extreme_now_is_a_bad_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """Times that overflow or leave the supported years exit 2 with a message, not 70."""
    code, _, err = _run(capsys, "audit", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--since", value)
    assert code == 2
    assert "--since" in err
    assert "internal error" not in err
