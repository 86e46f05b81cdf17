"""Diagnostic formatters: text with carets, JSON, GitHub workflow commands, SARIF."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from playbook.definition.loader import read_text
from playbook.diagnostics import RULES, Diagnostic
from playbook.render.diagnostics import (
    format_github,
    format_json,
    format_sarif,
    format_text,
    summary_line,
)

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / ".." / "shared" / "reference" / "sarif-schema-2.1.0.json"


def _diag(
    line: int = 1,
    column: int = 1,
    *,
    file: str = "p.yaml",
    severity: Any = "error",
    code: str = "PB202",
    message: str = "unknown key 'stagse' in the playbook",
    hint: str | None = None,
    end_column: int | None = None,
    path: str = "stagse",
) -> Diagnostic:
    return Diagnostic(file, line, column, severity, code, message, path, hint, end_column)


def _caret_line(output: str) -> str:
    return next(line for line in output.splitlines() if "^" in line)


def _source_line(output: str) -> str:
    return output.splitlines()[1]


# --- text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "column", "cells_before"),
    [
        ("stagse: []", 1, 0),
        ("  outcome: wonn", 12, 11),
        ("title: 需求分析, x: no", 16, 19),
        ("标题: {zh: 签约并回款, en: Sign, and collect}", 27, 33),
        ("x: 😀 no", 6, 6),
        ("e\u0301t\u0301e\u0301: no", 9, 5),
        ("a:\tno", 4, 3),
        ("ｆｕｌｌ: no", 7, 10),
    ],
)
def test_caret_sits_under_the_column_in_terminal_cells(
    source: str, column: int, cells_before: int
) -> None:
    """Wide characters take two cells and combining marks none, so the caret lines up."""
    output = format_text([_diag(1, column)], {"p.yaml": source})
    gutter = _source_line(output).index("|") + 2
    assert _caret_line(output).index("^") - gutter == cells_before


def test_end_column_underlines_the_whole_token() -> None:
    """With an end column the caret becomes ^~~~ over the token, wide characters counted twice."""
    output = format_text([_diag(1, 8, end_column=10)], {"p.yaml": "field: 金额 > 0"})
    assert _caret_line(output).endswith("| " + " " * 7 + "^~~~")


def test_text_block_has_heading_source_caret_and_hint() -> None:
    """One diagnostic: `file:line:col: severity code message`, the line, the caret, the hint."""
    document = read_text("playbook: demo\nstagse: []\n", "p.yaml").document
    assert document is not None
    output = format_text([_diag(2, 1, hint="did you mean 'stages'?")], {"p.yaml": document})
    assert output.splitlines() == [
        "p.yaml:2:1: error PB202 unknown key 'stagse' in the playbook",
        " 2 | stagse: []",
        "   | ^",
        "  hint: did you mean 'stages'?",
        "1 error, 0 warnings in 1 file",
    ]


@pytest.mark.parametrize(
    ("severity", "lang", "word"),
    [
        ("error", "zh", "错误"),
        ("warning", "zh", "警告"),
        ("note", "zh", "注意"),
        ("error", "en", "error"),
        ("warning", "en", "warning"),
    ],
)
def test_text_severity_word_is_in_the_reader_language(severity: Any, lang: str, word: str) -> None:
    """People read the text format: its severity word is translated (like GCC's zh_CN)."""
    output = format_text([_diag(severity=severity)], {"p.yaml": ""}, lang=lang)
    heading = output.splitlines()[0]
    assert heading == f"p.yaml:1:1: {word} PB202 unknown key 'stagse' in the playbook"


def test_machine_formats_keep_english_severity_tokens_in_chinese() -> None:
    """json, github and sarif are read by tools: ``error``/``warning`` stay English in zh."""
    found = [_diag(), _diag(severity="warning")]
    data = json.loads(format_json(found, 1, lang="zh"))
    assert [d["severity"] for d in data["diagnostics"]] == ["error", "warning"]
    assert [line.split(" ")[0] for line in format_github(found, "zh").splitlines()] == [
        "::error",
        "::warning",
    ]
    sarif = json.loads(format_sarif(found, 1, "0", lang="zh"))
    assert [r["level"] for r in sarif["runs"][0]["results"]] == ["error", "warning"]


def test_no_snippet_without_the_source() -> None:
    """A file that could not be read has no line to show: heading and hint only."""
    output = format_text([_diag(hint="save the file as UTF-8")], {"p.yaml": ""})
    assert "|" not in output
    assert "hint: save the file as UTF-8" in output


@pytest.mark.parametrize(
    ("severities", "files", "expected"),
    [
        ([], 0, "0 errors, 0 warnings in 0 files"),
        ([], 3, "0 errors, 0 warnings in 3 files"),
        (["error"], 1, "1 error, 0 warnings in 1 file"),
        (["error", "error", "warning"], 2, "2 errors, 1 warning in 2 files"),
        (["warning", "note"], 1, "0 errors, 1 warning, 1 note in 1 file"),
    ],
)
def test_summary_line_counts(severities: list[Any], files: int, expected: str) -> None:
    """The summary counts errors, warnings (and notes when any) and files, in good English."""
    assert summary_line([_diag(severity=s) for s in severities], files) == expected


def test_summary_counts_every_file_checked() -> None:
    """Clean files count in the summary: they were checked."""
    output = format_text([_diag()], {"p.yaml": "x", "clean.yaml": "y", "other.yaml": "z"})
    assert output.endswith("1 error, 0 warnings in 3 files\n")


@pytest.mark.parametrize(("color", "escapes"), [(False, 0), (True, 1)])
def test_colour_only_when_asked(color: bool, escapes: int) -> None:
    """ANSI escapes appear only with color=True."""
    output = format_text([_diag(severity="warning")], {"p.yaml": "stagse: []"}, color)
    assert min(output.count("\x1b["), 1) == escapes
    assert re.sub(r"\x1b\[[0-9;]*m", "", output) == format_text(
        [_diag(severity="warning")], {"p.yaml": "stagse: []"}
    )


# --- JSON ----------------------------------------------------------------------------


def test_json_has_exactly_the_documented_keys() -> None:
    """`files_checked` and `diagnostics`; each with the seven keys, plus hint when present."""
    data = json.loads(format_json([_diag(), _diag(2, 3, hint="did you mean 'stages'?")], 4))
    assert set(data) == {"files_checked", "files_skipped", "diagnostics"}
    assert data["files_checked"] == 4
    keys = {"file", "line", "column", "severity", "code", "message", "path"}
    assert [set(d) for d in data["diagnostics"]] == [keys, keys | {"hint"}]
    assert data["diagnostics"][1]["column"] == 3


def test_json_keeps_chinese_readable() -> None:
    """Chinese text is written as UTF-8, not as \\u escapes."""
    output = format_json([_diag(message="未知的键 '阶段'")], 1)
    assert "未知的键" in output
    assert "\\u" not in output


# --- GitHub ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("diagnostic", "expected"),
    [
        (
            _diag(3, 5),
            "::error file=p.yaml,line=3,col=5,title=PB202::unknown key 'stagse' in the playbook",
        ),
        (
            _diag(severity="warning", code="PB312", message="unused"),
            "::warning file=p.yaml,line=1,col=1,title=PB312::unused",
        ),
        (
            _diag(severity="note", message="fyi"),
            "::notice file=p.yaml,line=1,col=1,title=PB202::fyi",
        ),
        (
            _diag(message="100% done\r\nnext"),
            "::error file=p.yaml,line=1,col=1,title=PB202::100%25 done%0D%0Anext",
        ),
        (_diag(message="a: b, c"), "::error file=p.yaml,line=1,col=1,title=PB202::a: b, c"),
        (
            _diag(file="dir:a,b%.yaml", message="m"),
            "::error file=dir%3Aa%2Cb%25.yaml,line=1,col=1,title=PB202::m",
        ),
        (_diag(message="m", hint="h"), "::error file=p.yaml,line=1,col=1,title=PB202::m%0Ahint: h"),
        (
            _diag(2, 4, message="m", end_column=9),
            "::error file=p.yaml,line=2,col=4,endColumn=9,title=PB202::m",
        ),
    ],
)
def test_github_workflow_commands(diagnostic: Diagnostic, expected: str) -> None:
    """One command per diagnostic, with GitHub's escaping of data and properties."""
    assert format_github([diagnostic]) == expected + "\n"


def test_github_output_is_one_line_per_diagnostic() -> None:
    """Newlines inside messages never break a command over two lines."""
    output = format_github([_diag(message="a\nb"), _diag(hint="x\ny")])
    assert len(output.splitlines()) == 2


# --- SARIF -----------------------------------------------------------------------------


def _sarif_validator() -> Draft7Validator:
    if not SARIF_SCHEMA.is_file():
        pytest.skip(
            f"the SARIF 2.1.0 schema is not at {SARIF_SCHEMA} (the shared reference folder)"
        )
    return Draft7Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))


SARIF_CASES = [
    [],
    [_diag()],
    [
        _diag(2, 3, hint="did you mean 'stages'?"),
        _diag(
            5, 1, file="其他/销售.yaml", severity="warning", code="PB312", message="未使用", path=""
        ),
        _diag(1, 1, code="PB999", message="a code the catalogue lacks"),
        _diag(4, 2, severity="note", end_column=7),
    ],
]


@pytest.mark.parametrize("diagnostics", SARIF_CASES, ids=["clean", "one", "mixed"])
def test_sarif_is_valid_against_the_official_schema(diagnostics: list[Diagnostic]) -> None:
    """The log validates against the OASIS SARIF 2.1.0 schema."""
    log = json.loads(format_sarif(diagnostics, 3, "1.2.3"))
    errors = sorted(_sarif_validator().iter_errors(log), key=str)
    assert errors == []


def test_sarif_rules_are_the_catalogue() -> None:
    """Every RULES entry is a rule, with its name, summary, level and help link."""
    driver = json.loads(format_sarif([], 0, "1.2.3"))["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("playbook", "1.2.3")
    assert [r["id"] for r in driver["rules"]] == list(RULES)
    unused = next(r for r in driver["rules"] if r["id"] == "PB312")
    assert unused["name"] == "unused-field"
    assert unused["shortDescription"]["text"] == RULES["PB312"].summary
    assert unused["defaultConfiguration"]["level"] == "warning"
    assert unused["helpUri"].endswith("#pb312")


def test_sarif_results_point_at_their_rule_and_place() -> None:
    """ruleIndex finds the rule; the location has the relative URI, line and column."""
    run = json.loads(format_sarif(SARIF_CASES[2], 3, "1.2.3"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    first = run["results"][0]
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "p.yaml"
    assert location["region"] == {"startLine": 2, "startColumn": 3}
    assert (
        first["message"]["text"]
        == "unknown key 'stagse' in the playbook\nhint: did you mean 'stages'?"
    )
    assert [r["level"] for r in run["results"]] == ["error", "warning", "error", "note"]
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["properties"]["filesChecked"] == 3


@pytest.mark.parametrize(
    ("file", "uri"),
    [
        ("playbooks/b2b.yaml", "playbooks/b2b.yaml"),
        ("其他/销售 流程.yaml", "%E5%85%B6%E4%BB%96/%E9%94%80%E5%94%AE%20%E6%B5%81%E7%A8%8B.yaml"),
        (str(Path.cwd() / "sub" / "x.yaml"), "sub/x.yaml"),
        ("/elsewhere/x.yaml", "file:///elsewhere/x.yaml"),
    ],
)
def test_sarif_uris_are_relative_posix_and_encoded(file: str, uri: str) -> None:
    """Files under the working directory get relative URIs; others file: URIs."""
    run = json.loads(format_sarif([_diag(file=file)], 1, "1"))["runs"][0]
    assert run["artifacts"] == [{"location": {"uri": uri}}]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == uri


# --- the documentation ---------------------------------------------------------------------


def test_docs_table_lists_exactly_the_catalogue() -> None:
    """docs/diagnostics.md has one row per code of RULES, with its name and severity."""
    text = (REPO / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(PB\d{3})` \| ([a-z0-9-]+) \| (error|warning|note) \|", text, re.M)
    assert rows == [(r.code, r.name, r.severity) for r in RULES.values()]
