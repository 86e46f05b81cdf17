"""`playbook serve --mapping`: a bad mapping stops the server before it listens (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbook.cli import main

PLAYBOOK = """\
playbook: crm-test
version: 1
title: CRM test
roles: {rep: {title: Rep}}
fields:
  amount: {type: decimal, title: Amount}
stages:
  - {id: lead, title: Lead}
  - {id: won, title: Won, outcome: won}
"""


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, str]:
    """A folder with one playbook and an initialised SQLite store."""
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "crm-test.yaml").write_text(PLAYBOOK, "utf-8")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["db", "init", "--db", url]) == 0
    return tmp_path, url


@pytest.mark.parametrize(
    ("mapping", "given", "said"),
    [
        (None, "crm-test", "PLAYBOOK=MAPPING.yaml"),
        (None, "nope=m.yaml", "'nope' is not registered"),
        ("external_id: id\nfields:\n  amuont: amount\n", "crm-test=m.yaml", "amount"),
    ],
)
def test_a_bad_mapping_stops_serve(
    store: tuple[Path, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mapping: str | None,
    given: str,
    said: str,
) -> None:
    """PLAYBOOK=FILE, a registered playbook, fields it declares: else exit 2, nothing served."""
    folder, url = store
    monkeypatch.chdir(folder)
    if mapping is not None:
        (folder / "m.yaml").write_text(mapping, "utf-8")
    argv = ["serve", "--db", url, "--playbooks", "playbooks", "--mapping", given, "--port", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err
    assert "/api/v1" not in err  # the "listening on" line never came
