"""``playbook test|paths|diff|migrate|graph|docs|init`` end to end: exit codes and output.

``test_sample_scenarios_pass_with_full_coverage`` is how ``make test`` runs
``playbook test playbooks/ --min-coverage 100``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from junitparser import JUnitXml

from playbook.cli import main

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
MAVEN = REPO / "examples" / "maven-crm"
NOW = "2026-03-02T10:00:00+08:00"


def test_sample_scenarios_pass_with_full_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    """`playbook test playbooks/ --min-coverage 100` exits 0 and says so."""
    assert main(["test", str(PLAYBOOKS), "--min-coverage", "100", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "coverage: 100.0% (minimum 100%: ok)" in out
    assert out.rstrip().endswith("37 passed, 0 failed")


def _failing(tmp_path: Path) -> Path:
    path = tmp_path / "b2b.test.yaml"
    path.write_text(
        f"playbook: {PLAYBOOKS / 'b2b-project-sales.yaml'}\n"
        "scenarios:\n"
        "  - name: wrong on purpose\n"
        f'    now: "{NOW}"\n'
        "    steps:\n"
        "      - check: initial_contact\n"
        "        expect: {allowed: true}\n",
        encoding="utf-8",
    )
    return path


def test_failures_exit_1_with_file_line_expected_actual(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing scenario: exit 1, with where it failed and what was expected versus found."""
    path = _failing(tmp_path)
    assert main(["test", str(path), "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {path}:3 wrong on purpose" in out
    assert f"{path}:6: check initial_contact: expected allowed" in out
    assert "expected: allowed" in out
    assert "actual:   blocked by PB544" in out


@pytest.mark.parametrize("fmt", ["json", "junit"])
def test_machine_formats(tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON and JUnit outputs carry the same failure; JUnit reads back with a JUnit parser."""
    target = tmp_path / f"out.{fmt}"
    args = ["test", str(_failing(tmp_path)), "--format", fmt, "--output", str(target)]
    assert main([*args, "--lang", "en"]) == 1
    assert capsys.readouterr().err.strip() == "0 passed, 1 failed"
    assert main(args) == 1  # the sample playbook is a Chinese one
    assert capsys.readouterr().err.strip() == "通过 0 个，失败 1 个"
    if fmt == "json":
        data = json.loads(target.read_text(encoding="utf-8"))
        assert data["summary"]["failed"] == 1
        assert data["results"][0]["failure"]["line"] == 6
    else:
        suites = list(JUnitXml.fromfile(str(target)))
        assert [case.name for suite in suites for case in suite] == ["wrong on purpose"]
        assert suites[0].failures == 1


def test_bad_scenario_exits_2_with_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown stage in a scenario is a usage error pointing at its line."""
    path = _failing(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("initial_contact", "initial_contct"))
    assert main(["test", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:6:16: PB900 unknown stage 'initial_contct'" in err
    assert "did you mean 'initial_contact'?" in err


def test_paths_writes_a_starter_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`paths --write` lists each stage's route and writes a scenario file that passes."""
    target = tmp_path / "starter.test.yaml"
    assert (
        main(
            [
                "paths",
                str(PLAYBOOKS / "smb-standard-funnel.yaml"),
                "--now",
                NOW,
                "--write",
                str(target),
            ]
        )
        == 0
    )
    assert "nurture: lead_capture → lead_qualification → nurture" in capsys.readouterr().out
    assert main(["test", str(target)]) == 0


def test_diff_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    """`diff --format markdown` without a database: the table of changes."""
    assert (
        main(
            [
                "diff",
                str(MAVEN / "playbook.yaml"),
                str(MAVEN / "playbook-v2.yaml"),
                "--format",
                "markdown",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("### Playbook `maven-crm`: version 1 → 2")
    assert "| + | entry criterion of engaging `account_known` | condition has(account) |" in out


def test_diff_of_two_playbooks_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Two different playbook ids cannot be compared."""
    assert (
        main(["diff", str(PLAYBOOKS / "b2b-project-sales.yaml"), str(MAVEN / "playbook.yaml")]) == 2
    )
    assert "PB910" in capsys.readouterr().err


def test_diff_and_migrate_on_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Impact on imported deals, then the migration they need, through the CLI."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    deals = tmp_path / "deals.csv"
    deals.write_text(
        "id,stage,product,account\nA,engaging,GTX Pro,\nB,engaging,GTX Pro,Acme\nC,prospecting,,\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "external_id: id\nstage: stage\nfields: {product: product, account: account}\n"
    )
    assert main(["db", "init", "--db", url]) == 0
    assert (
        main(
            [
                "deals",
                "import",
                str(deals),
                "--playbook",
                str(MAVEN / "playbook.yaml"),
                "--mapping",
                str(mapping),
                "--db",
                url,
                "--now",
                NOW,
            ]
        )
        == 0
    )
    capsys.readouterr()
    code = main(
        [
            "diff",
            str(MAVEN / "playbook.yaml"),
            str(MAVEN / "playbook-v2.yaml"),
            "--db",
            url,
            "--now",
            "2026-03-30T10:00:00+08:00",
            "--format",
            "json",
        ]
    )
    assert code == 0
    impact = json.loads(capsys.readouterr().out)["impact"]
    assert impact["open_deals"] == 3
    assert impact["failing_criteria"] == {"engaging.account_known": {"deals": 1, "examples": ["A"]}}
    assert impact["escalations_start"]["idle_prospect"]["examples"] == ["C"]
    assert impact["created_after_now"] == 0
    before_import = ["--now", "2026-02-01T10:00:00+08:00", "--format", "markdown"]
    assert main(["diff", str(MAVEN / "playbook.yaml"), str(MAVEN / "playbook-v2.yaml"),
                 "--db", url, *before_import]) == 0  # fmt: skip
    shown = capsys.readouterr().out
    assert "- **0 deals start an escalation today**" in shown
    assert (
        "- :information_source: 3 of the deals were created after 2026-02-01: no escalation "
        "can be due for them that day (is `--now` right?)"
    ) in shown
    args = ["migrate", "--from-version", "1", "--to-version", "2", "--db", url, "--now", NOW]
    assert main([*args, "--playbook", str(MAVEN / "playbook-v2.yaml"), "--dry-run"]) == 0
    assert "would move 3 open deal(s) from version 1 to 2" in capsys.readouterr().out
    assert main([*args]) == 2  # a real migration needs a role
    assert "--as ROLE" in capsys.readouterr().err
    assert main([*args, "--as", "sales_agent", "--actor", "li"]) == 1  # not an override role
    assert "PB530" in capsys.readouterr().err
    assert main(["audit", "--db", url, "--action", "migrate"]) == 0
    assert "li (sales_agent)  migrate 1→2" in capsys.readouterr().out
    assert main([*args, "--as", "manager", "--actor", "wang"]) == 0  # version 2 is in the store
    assert "moved 3 open deal(s)" in capsys.readouterr().out


def test_graph_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Mermaid and DOT on stdout or to a file."""
    assert main(["graph", str(PLAYBOOKS / "sales-cycle-kpis.yaml")]) == 0
    assert capsys.readouterr().out.startswith("flowchart LR")
    target = tmp_path / "g.dot"
    assert (
        main(
            [
                "graph",
                str(PLAYBOOKS / "sales-cycle-kpis.yaml"),
                "--format",
                "dot",
                "-o",
                str(target),
            ]
        )
        == 0
    )
    assert target.read_text(encoding="utf-8").startswith('digraph "sales-cycle-kpis" {')


def test_graph_of_an_invalid_playbook_shows_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid playbook: its validation diagnostics and exit 1, not a traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("playbook: bad\nversion: 1\ntitle: Bad\nstages:\n  - {id: a, title: A}\n")
    assert main(["graph", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4:" in err or f"{bad}:5:" in err
    assert "PB308" in err
    assert "Traceback" not in err


def test_docs_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`docs --check` fails on a stale handbook; `--write --check` rewrites it, failing once."""
    playbook = tmp_path / "cycle.yaml"
    playbook.write_bytes((PLAYBOOKS / "sales-cycle-kpis.yaml").read_bytes())
    handbook = tmp_path / "cycle.handbook.md"
    assert main(["docs", str(playbook), "--check"]) == 1
    assert main(["docs", str(playbook), "--write", "--check"]) == 1
    assert handbook.read_text(encoding="utf-8").startswith("# 销售七步法与考核指标")
    assert main(["docs", str(playbook), "--check"]) == 0
    assert main(["docs", str(playbook), "--format", "html", "--lang", "en"]) == 0
    assert "<h1>Seven-stage sales cycle with KPIs" in capsys.readouterr().out


def test_init_scaffolds_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`init` writes a playbook and scenarios that pass; a second time it exits 2."""
    assert main(["init", "acme", "--template", "cycle", "--dir", str(tmp_path)]) == 0
    assert main(["test", str(tmp_path), "--min-coverage", "100"]) == 0
    assert main(["init", "acme", "--dir", str(tmp_path)]) == 2
    assert "PB940" in capsys.readouterr().err
