"""`playbook deals reassign` and `playbook deals delete`: recorded who, when and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playbook.cli import main
from playbook.errors import DealNotFoundError

PLAYBOOK = """\
playbook: lifecycle
version: 1
title: {en: Lifecycle, zh: 生命周期}
roles:
  rep: {title: Rep}
  manager: {title: Manager}
fields:
  amount: {type: decimal}
stages:
  - {id: lead, title: Lead}
  - {id: won, title: Won, outcome: won}
"""

NOW = "2026-03-02T09:30:00+00:00"
LATER = "2026-03-03T10:00:00+00:00"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised store holding D-1 (owner li) and D-2 (owner wang, team north)."""
    monkeypatch.setenv("PLAYBOOK_DB", f"sqlite:///{tmp_path / 'playbook.db'}")
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK, encoding="utf-8")
    (tmp_path / "deals.csv").write_text(
        "external_id,stage,owner,team,amount\nD-1,lead,li,,\nD-2,lead,wang,north,500\n",
        encoding="utf-8",
    )
    assert main(["db", "init"]) == 0
    code = main(["deals", "import", str(tmp_path / "deals.csv"),
                 "--playbook", str(tmp_path / "playbook.yaml"), "--now", NOW])  # fmt: skip
    assert code == 0
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_reassign_is_one_recorded_step(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The new owner and team are stored; the history says who, when, why, from and to."""
    capsys.readouterr()
    code, out, _ = _run(capsys, "deals", "reassign", "D-2", "--owner", "zhao", "--team", "east",
                        "--reason", "wang left", "--as", "manager", "--actor", "boss",
                        "--now", LATER)  # fmt: skip
    assert code == 0
    assert "wang → zhao" in out
    assert "north → east" in out
    code, out, _ = _run(capsys, "deals", "list", "--format", "json")
    owners = {deal["external_id"]: (deal["owner"], deal["team"]) for deal in json.loads(out)}
    assert owners == {"D-1": ("li", None), "D-2": ("zhao", "east")}
    code, out, _ = _run(capsys, "deals", "history", "D-2", "--format", "json")
    last = json.loads(out)[-1]
    assert last["kind"] == "reassign"
    assert (last["actor"], last["at"], last["note"]) == ("boss", LATER, "wang left")
    assert last["changes"] == {"owner": ["wang", "zhao"], "team": ["north", "east"]}
    assert last["actor_roles"] == ["manager"]
    code, out, _ = _run(capsys, "deals", "history", "D-2")
    assert "reassigned wang → zhao, team north → east: wang left" in out


def test_delete_removes_the_deal_and_keeps_the_record(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deleted deal leaves the list; reading it says who deleted it and why."""
    capsys.readouterr()
    code, out, _ = _run(capsys, "deals", "delete", "D-1", "--reason", "duplicate of D-2",
                        "--as", "manager", "--actor", "boss", "--now", LATER,
                        "--format", "json")  # fmt: skip
    assert code == 0
    record = json.loads(out)
    assert (record["external_id"], record["deleted_by"], record["reason"]) == (
        "D-1",
        "boss",
        "duplicate of D-2",
    )
    assert record["deleted_at"] == LATER
    code, out, _ = _run(capsys, "deals", "list", "--format", "json")
    assert [deal["external_id"] for deal in json.loads(out)] == ["D-2"]
    code, _, err = _run(capsys, "deals", "history", "D-1")
    assert code == DealNotFoundError.exit_code
    assert "deal 'D-1' was deleted by boss" in err
    assert "duplicate of D-2" in err


@pytest.mark.parametrize(
    "args",
    [
        ("deals", "delete", "D-1", "--as", "manager"),  # no reason
        ("deals", "delete", "D-1", "--reason", " ", "--as", "manager"),  # a blank reason
        ("deals", "reassign", "D-1", "--owner", "zhao"),  # no --as
    ],
)
def test_missing_reason_or_role_is_bad_input(
    workspace: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    """Without a reason (delete) or a role (both), nothing changes and the exit code is 2."""
    capsys.readouterr()
    code, _, _ = _run(capsys, *args)
    assert code == 2
    code, out, _ = _run(capsys, "deals", "list", "--format", "json")
    assert [(d["external_id"], d["owner"]) for d in json.loads(out)] == [
        ("D-1", "li"),
        ("D-2", "wang"),
    ]
