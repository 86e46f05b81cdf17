"""`playbook validate` end to end: exit codes, output formats and options.

Run in process through ``playbook.cli.main`` (fast, output captured) and as a
real subprocess for the exit codes a shell or CI sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

import playbook
from playbook.cli import main
from playbook.definition.validate import (
    ValidationReport,
    find_playbooks,
    validate_file,
    validate_paths,
    validate_text,
)
from playbook.errors import InvalidPlaybookError, PathNotFoundError

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / ".." / "shared" / "reference" / "sarif-schema-2.1.0.json"

GOOD = """\
playbook: good
version: 1
title: {en: Good, zh: 良好}
stages:
  - {id: lead, title: 线索}
  - {id: won, title: 赢单, outcome: won}
"""
WARNING = GOOD + "fields:\n  unused: {type: string}\n"
BAD = GOOD.replace("outcome: won", "outcome: wonn")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder with a clean playbook, one with a warning and one with an error."""
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "warning.yaml").write_text(WARNING, encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(BAD, encoding="utf-8")
    return tmp_path


def _validate(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- exit codes ---------------------------------------------------------------------------

EXIT_CODES = [
    (["good.yaml"], 0),
    (["warning.yaml"], 0),
    (["warning.yaml", "--strict"], 1),
    (["good.yaml", "--strict"], 0),
    (["bad.yaml"], 1),
    (["good.yaml", "bad.yaml"], 1),
    (["."], 1),
    (["missing.yaml"], 2),
    (["good.yaml", "missing.yaml"], 2),
    (["good.yaml", "--bogus"], 2),
    (["good.yaml", "--format", "xml"], 2),
    ([], 2),
]


@pytest.mark.parametrize(("args", "expected"), EXIT_CODES)
def test_exit_codes(
    files: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: int,
) -> None:
    """0 clean, 1 problems (warnings only with --strict), 2 usage errors."""
    monkeypatch.chdir(files)
    code, out, err = _validate(capsys, *args)
    assert code == expected
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["good.yaml"], 0), (["bad.yaml"], 1), (["missing.yaml"], 2), (["--bogus", "good.yaml"], 2)],
)
def test_exit_codes_of_the_real_command(files: Path, args: list[str], expected: int) -> None:
    """The same exit codes from a real process, as a shell or CI sees them."""
    done = subprocess.run(
        [sys.executable, "-m", "playbook", "validate", *args],
        cwd=files,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == expected
    assert "Traceback" not in done.stdout + done.stderr


def test_missing_path_is_a_usage_error(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path that does not exist: PB001 on stderr, nothing checked, nothing on stdout."""
    code, out, err = _validate(capsys, files / "good.yaml", files / "nope.yaml")
    assert code == 2
    assert out == ""
    assert "PB001" in err
    assert "nope.yaml" in err


def test_directory_without_playbooks_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Validating an empty folder is a mistake worth stopping for, not a silent success."""
    (tmp_path / "notes.txt").write_text("not a playbook", encoding="utf-8")
    code, _, err = _validate(capsys, tmp_path)
    assert code == 2
    assert "no playbook files" in err


# --- formats --------------------------------------------------------------------------


def test_text_output(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Compiler-style lines with the source and a caret, then the summary; no colour in a pipe."""
    code, out, _ = _validate(capsys, files / "bad.yaml", files / "good.yaml")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        f"{files / 'bad.yaml'}:6:35: error PB204 stages[1].outcome is 'wonn', "
        "which is not one of: open, won, lost"
    )
    assert lines[1] == " 6 |   - {id: won, title: 赢单, outcome: wonn}"
    assert lines[3] == "  hint: did you mean 'won'?"
    assert lines[-1] == "1 error, 0 warnings in 2 files"
    assert "\x1b[" not in out


def test_json_output(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format json: files_checked and diagnostics with the documented keys."""
    code, out, _ = _validate(capsys, files, "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert data["files_checked"] == 3
    found = [(Path(d["file"]).name, d["code"], d["severity"]) for d in data["diagnostics"]]
    assert found == [("bad.yaml", "PB204", "error"), ("warning.yaml", "PB312", "warning")]
    assert set(data["diagnostics"][0]) == {
        "file",
        "line",
        "column",
        "severity",
        "code",
        "message",
        "path",
        "hint",
    }


def test_github_output(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format github: one workflow command per diagnostic."""
    _, out, _ = _validate(capsys, files, "--format", "github")
    lines = out.splitlines()
    assert [line.split(" ")[0] for line in lines] == ["::error", "::warning"]
    assert lines[0].startswith(f"::error file={str(files / 'bad.yaml').replace(':', '%3A')},")
    assert ",line=6,col=35,title=PB204::" in lines[0]


def test_sarif_output_is_valid_sarif(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format sarif validates against the official SARIF 2.1.0 schema."""
    if not SARIF_SCHEMA.is_file():
        pytest.skip(
            f"the SARIF 2.1.0 schema is not at {SARIF_SCHEMA} (the shared reference folder)"
        )
    _, out, _ = _validate(capsys, files, "--format", "sarif")
    log = json.loads(out)
    validator = Draft7Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))
    assert sorted(validator.iter_errors(log), key=str) == []
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["PB204", "PB312"]


# --- options --------------------------------------------------------------------------


def test_output_option_writes_the_report_to_a_file(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output FILE: the report goes to the file, nothing to stdout, same exit code."""
    target = files / "out" / "report.json"
    target.parent.mkdir()
    code, out, _ = _validate(capsys, files / "bad.yaml", "--format", "json", "--output", target)
    assert (code, out) == (1, "")
    assert json.loads(target.read_text(encoding="utf-8"))["diagnostics"][0]["code"] == "PB204"


def test_unwritable_output_is_a_usage_error(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output into a folder that does not exist: exit 2 with a message, no traceback."""
    code, _, err = _validate(capsys, files / "good.yaml", "--output", files / "no" / "r.txt")
    assert code == 2
    assert "--output" in err
    assert "Traceback" not in err


def test_summary_describes_each_valid_playbook(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--summary: id, version, title in the playbook's language, stage path and counts."""
    code, out, _ = _validate(capsys, files, "--summary")
    assert code == 1
    assert f"good v1: Good  ({files / 'good.yaml'})" in out
    assert "  stages: lead → won (won)" in out
    assert "  0 fields, 0 roles, 0 actions, 0 KPIs, 0 escalations" in out
    assert "bad v1" not in out


def test_summary_uses_the_playbook_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A playbook with `language: zh` is summarised with its Chinese title."""
    (tmp_path / "zh.yaml").write_text(GOOD + "language: zh\n", encoding="utf-8")
    _, out, _ = _validate(capsys, tmp_path, "--summary")
    assert "good v1: 良好" in out


def test_summary_keeps_machine_output_parseable(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --format json the summary goes to stderr and stdout stays one JSON document."""
    _, out, err = _validate(capsys, files, "--summary", "--format", "json")
    assert json.loads(out)["files_checked"] == 3
    assert "good v1" in err


# --- finding files ------------------------------------------------------------------------


def test_directories_expand_to_sorted_playbooks(tmp_path: Path) -> None:
    """*.yaml and *.yml below a directory, sorted; scenarios and hidden folders skipped."""
    for name in [
        "b.yaml",
        "a.yml",
        "sub/c.yaml",
        "sub/c.test.yaml",
        ".git/d.yaml",
        "sub/.hidden/e.yaml",
        "notes.md",
    ]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(GOOD, encoding="utf-8")
    found = [Path(p).relative_to(tmp_path).as_posix() for p in find_playbooks([tmp_path])]
    assert found == ["a.yml", "b.yaml", "sub/c.yaml"]


MAPPING = """\
# an import mapping kept next to the playbooks
external_id: opportunity_id
"owner": sales_agent
stage:
  column: deal_stage
"""


@pytest.mark.parametrize(
    ("text", "taken"),
    [
        (MAPPING, False),
        ("ci:\n  steps: [validate]\n", False),
        (GOOD, True),
        (GOOD.replace("playbook: good", "playbok: good"), True),  # misspelt, but has stages:
        ("---\n'playbook': x\n", True),
        ("", True),  # empty: PB110
        ("- a\n- b\n", True),  # a list: PB201
        ("{playbook: x, stages: []}\n", True),  # flow style
        ("\ufeff# BOM\nplaybook: x\n", True),
        ("a:\n\tb: 1\n", True),  # tabs: PB105
        ("a: 1\na: 2\n", True),  # duplicate key: PB106
        (b"\xff\xfe\x00binary".decode("latin-1"), True),  # PB102/PB103
    ],
)
def test_a_directory_passes_over_yaml_that_is_plainly_not_a_playbook(
    tmp_path: Path, text: str, taken: bool
) -> None:
    """Only a clean mapping with keys but neither `playbook` nor `stages` is passed over."""
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    other = tmp_path / "other.yaml"
    other.write_bytes(text.encode("latin-1" if "binary" in text else "utf-8"))
    report = validate_paths([tmp_path])
    checked = [result.path for result in report.files]
    assert (str(other) in checked, report.skipped == (str(other),)) == (taken, not taken)
    for named in ([other], [tmp_path, other], [other, tmp_path]):  # named: always checked
        report = validate_paths(named)
        assert (str(other) in [result.path for result in report.files], report.skipped) == (
            True,
            (),
        )


def test_skipped_files_are_reported_as_notes_in_every_format(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PB116 note per skipped file; it is not counted as checked and changes no exit code."""
    mapping = files / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    (files / "bad.yaml").unlink()
    code, out, _ = _validate(capsys, files, "--strict", "--format", "json")
    data = json.loads(out)
    assert (data["files_checked"], data["files_skipped"]) == (2, [str(mapping)])
    notes = [d for d in data["diagnostics"] if d["code"] == "PB116"]
    assert [(d["file"], d["severity"]) for d in notes] == [(str(mapping), "note")]
    code_text, out, _ = _validate(capsys, files)
    assert f"{mapping}:1:1: note PB116" in out
    assert out.rstrip().endswith(
        "0 errors, 1 warning, 1 note in 2 files (1 other YAML file skipped: not playbooks)"
    )
    assert code_text == 0
    assert code == 1  # --strict: the warning of warning.yaml, not the note


def test_a_directory_of_mappings_only_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of import mappings has nothing to check: exit 2, saying why."""
    (tmp_path / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    code, _, err = _validate(capsys, tmp_path)
    assert code == 2
    assert "no playbook files" in err
    assert "1 other YAML file(s) skipped: not playbooks" in err


def test_named_files_are_taken_as_given_and_once(tmp_path: Path) -> None:
    """A file named explicitly is checked whatever its name, and only once."""
    scenario = tmp_path / "x.test.yaml"
    scenario.write_text(GOOD, encoding="utf-8")
    assert find_playbooks([scenario, tmp_path / "x.test.yaml", str(scenario)]) == [str(scenario)]


def test_missing_path_raises_before_anything_is_read(tmp_path: Path) -> None:
    """The library raises PathNotFoundError (exit code 2) for a path that does not exist."""
    with pytest.raises(PathNotFoundError) as raised:
        validate_paths([tmp_path / "nope.yaml"])
    assert (raised.value.code, raised.value.exit_code) == ("PB001", 2)


# --- the library behind the command ---------------------------------------------------------


def test_validate_file_builds_the_playbook_of_a_clean_file(files: Path) -> None:
    """A file without error comes with its model; a file with an error without one."""
    good, bad = validate_file(files / "good.yaml"), validate_file(files / "bad.yaml")
    assert good.ok
    assert good.playbook is not None
    assert [s.id for s in good.playbook.stages] == ["lead", "won"]
    assert not bad.ok
    assert bad.playbook is None
    assert bad.document is not None


def test_validate_text_matches_validate_file(files: Path) -> None:
    """A playbook in memory gives the same diagnostics as the same text in a file."""
    from_file = validate_file(files / "bad.yaml")
    from_text = validate_text(BAD, str(files / "bad.yaml"))
    assert from_text.diagnostics == from_file.diagnostics
    assert validate_text(GOOD).playbook is not None


def test_load_returns_the_model_even_with_warnings(files: Path) -> None:
    """playbook.load gives the engine its model; warnings do not stop it."""
    model = playbook.load(files / "warning.yaml")
    assert (model.id, model.version) == ("good", 1)


def test_load_raises_with_every_error(files: Path) -> None:
    """An invalid playbook raises InvalidPlaybookError carrying its error diagnostics."""
    with pytest.raises(InvalidPlaybookError) as raised:
        playbook.load(files / "bad.yaml")
    error = raised.value
    assert [d.code for d in error.diagnostics] == ["PB204"]
    assert (error.line, error.column, error.exit_code) == (6, 35, 2)
    assert "playbook validate" in str(error.hint)


def test_unreadable_file_has_no_document(tmp_path: Path) -> None:
    """A file that is not text has a diagnostic and no document."""
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\x00\x01\x02")
    result = validate_file(path)
    assert (result.document, [d.code for d in result.diagnostics]) == (None, ["PB103"])


@pytest.mark.parametrize(
    ("names", "strict", "expected"),
    [
        ([], False, 0),
        (["good.yaml"], True, 0),
        (["warning.yaml"], False, 0),
        (["warning.yaml"], True, 1),
        (["bad.yaml", "good.yaml"], False, 1),
    ],
)
def test_report_exit_code(files: Path, names: list[str], strict: bool, expected: int) -> None:
    """The report's exit code: errors fail, warnings fail only when strict."""
    report = ValidationReport(tuple(validate_file(files / name) for name in names))
    assert report.exit_code(strict) == expected


def test_report_counts_and_sorts(files: Path) -> None:
    """Counts by severity, and one sorted list of every diagnostic."""
    report = validate_paths([files])
    assert report.counts == {"error": 1, "warning": 1, "note": 0}
    assert [Path(d.file).name for d in report.diagnostics] == ["bad.yaml", "warning.yaml"]
    assert set(report.sources) == {
        str(files / n) for n in ("bad.yaml", "good.yaml", "warning.yaml")
    }


# --- no traceback, whatever the input -----------------------------------------------------


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: t.encode("utf-8")),
        st.sampled_from([GOOD, BAD, WARNING]).map(lambda t: t.encode("utf-8")),
        st.tuples(st.sampled_from([GOOD, BAD]), st.binary(max_size=40)).map(
            lambda pair: pair[0].encode("utf-8") + pair[1]
        ),
    ),
    output_format=st.sampled_from(["text", "json", "github", "sarif"]),
)
def test_any_bytes_give_an_answer_not_a_traceback(
    capsys: pytest.CaptureFixture[str], content: bytes, output_format: str
) -> None:
    """Random bytes in a file: the command exits 0, 1 or 2, and never shows a traceback."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.yaml"
        path.write_bytes(content)
        code, out, err = _validate(capsys, path, "--format", output_format)
    assert code in (0, 1, 2)
    assert "Traceback" not in out + err
    assert "internal error" not in err


def test_garbage_files_in_a_real_process(tmp_path: Path) -> None:
    """A folder of broken files through the real command: exit 1 and a report, no traceback."""
    samples = {
        "nul.yaml": b"a: \x00",
        "latin1.yaml": b"name: caf\xe9",
        "deep.yaml": b"a: " + b"[" * 100_000,
        "bomb.yaml": b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + b"".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n".encode()
            for i in range(8)
        ),
        "list.yaml": b"- 1\n- 2\n",
        "tabs.yaml": b"a:\n\tb: 1\n",
    }
    for name, content in samples.items():
        (tmp_path / name).write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "playbook", "validate", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    codes = {Path(d["file"]).name: d["code"] for d in json.loads(done.stdout)["diagnostics"]}
    assert codes == {
        "bomb.yaml": "PB109",
        "deep.yaml": "PB115",
        "latin1.yaml": "PB102",
        "list.yaml": "PB201",
        "nul.yaml": "PB103",
        "tabs.yaml": "PB105",
    }
