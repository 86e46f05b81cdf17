"""Golden examples through ``playbook validate --strict --format json``.

Every playbook in ``tests/examples/valid/`` and ``playbooks/`` must validate
cleanly, with no diagnostic at all. Every file in ``tests/examples/invalid/``
states what it must produce in header comments::

    # expect: PB402 line 16 col 25 mentions "budget_confirmed"

(code, 1-based line, optional 1-based column in characters, optional text the
message or hint must contain). A file that cannot hold a comment, such as an
empty one, has the same lines in a sidecar ``<name>.expect`` file. Inputs that
should not be committed (binary, non-UTF-8, 50 MB) are generated here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from playbook.cli import main
from playbook.definition.validate import find_playbooks

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "tests" / "examples"
VALID_FILES = sorted(Path(p) for p in find_playbooks([EXAMPLES / "valid", REPO / "playbooks"]))
INVALID_FILES = sorted(p for p in (EXAMPLES / "invalid").iterdir() if p.suffix != ".expect")

_EXPECT_PREFIX = re.compile(r"^\s*#?\s*expects?\b")
_EXPECT = re.compile(
    r"""^\s*\#?\s*expect:\s*
        (?P<code>PB\d{3})\s+line\s+(?P<line>\d+)
        (?:\s+col\s+(?P<column>\d+))?
        (?:\s+mentions\s+"(?P<mentions>[^"]+)")?
        \s*$""",
    re.VERBOSE,
)

# Codes the golden files must keep covering, so that a deleted example is noticed.
REQUIRED_CODES = frozenset(
    {
        "PB104",
        "PB105",
        "PB319",
        "PB320",
        "PB321",
        "PB330",
        "PB331",
        "PB332",
        "PB333",
        "PB334",
        "PB335",
        "PB336",
        "PB337",
        "PB350",
        "PB351",
        "PB352",
        "PB106",
        "PB107",
        "PB108",
        "PB109",
        "PB110",
        "PB112",
        "PB201",
        "PB202",
        "PB301",
        "PB302",
        "PB304",
        "PB306",
        "PB307",
        "PB308",
        "PB309",
        "PB311",
        "PB402",
        "PB403",
        "PB406",
    }
)


@dataclass(frozen=True, slots=True)
class Expectation:
    """One diagnostic that a golden file must produce."""

    code: str
    line: int
    column: int | None = None
    mentions: str | None = None

    def met_by(self, diagnostic: dict[str, Any]) -> bool:
        """True when ``diagnostic`` (JSON form) has this code and position, and the text."""
        if (diagnostic["code"], diagnostic["line"]) != (self.code, self.line):
            return False
        if self.column is not None and diagnostic["column"] != self.column:
            return False
        words = f"{diagnostic['message']} {diagnostic.get('hint') or ''}"
        return self.mentions is None or self.mentions in words

    def __str__(self) -> str:
        text = f"{self.code} line {self.line}"
        if self.column is not None:
            text += f" col {self.column}"
        if self.mentions is not None:
            text += f' mentions "{self.mentions}"'
        return text


def parse_expectation(text: str) -> Expectation | None:
    """The expectation on one line, None for other lines; ValueError for a malformed one."""
    if not _EXPECT_PREFIX.match(text):
        return None
    found = _EXPECT.match(text)
    if found is None:
        raise ValueError(f"malformed expectation: {text!r}")
    column = int(found["column"]) if found["column"] else None
    return Expectation(found["code"], int(found["line"]), column, found["mentions"])


def expectations_of(path: Path) -> list[Expectation]:
    """The expectations of a golden file: from its sidecar ``.expect`` file, else its header."""
    sidecar = path.with_suffix(".expect")
    source = sidecar if sidecar.exists() else path
    lines = source.read_text(encoding="utf-8").splitlines()
    return [e for e in map(parse_expectation, lines) if e is not None]


def validate_json(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, dict[str, Any]]:
    """Run ``playbook validate --strict --format json`` in-process: exit code and parsed output."""
    code = main(["validate", *map(str, paths), "--strict", "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def _names(paths: list[Path]) -> list[str]:
    return [p.relative_to(REPO).as_posix() for p in paths]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("# expect: PB110 line 1", Expectation("PB110", 1)),
        ("expect: PB110 line 1", Expectation("PB110", 1)),
        ("# expect: PB402 line 12 col 23", Expectation("PB402", 12, 23)),
        (
            '# expect: PB202 line 8 col 65 mentions "goal"',
            Expectation("PB202", 8, 65, "goal"),
        ),
        ('# expect: PB406 line 3 mentions "能源"', Expectation("PB406", 3, None, "能源")),
        ("# A comment about the mistake.", None),
        ("playbook: example", None),
    ],
)
def test_parse_expectation(line: str, expected: Expectation | None) -> None:
    """Expectation lines are read with their optional column and text; other lines are ignored."""
    assert parse_expectation(line) == expected


@pytest.mark.parametrize(
    "line", ["# expect: PB402", "# expect: PB402 line x", "# expect PB110 line 1", "# expects: x"]
)
def test_parse_expectation_refuses_malformed_lines(line: str) -> None:
    """A mistyped expectation fails loudly instead of silently expecting nothing."""
    with pytest.raises(ValueError, match="malformed expectation"):
        parse_expectation(line)


@pytest.mark.parametrize("path", VALID_FILES, ids=_names(VALID_FILES))
def test_valid_playbook_passes_strict_validation(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid golden file or sample playbook validates with exit 0 and no diagnostic at all."""
    code, report = validate_json(capsys, path)
    assert report["diagnostics"] == []
    assert report["files_checked"] == 1
    assert code == 0


def test_sample_playbooks_and_valid_examples_exist() -> None:
    """The three sample playbooks and at least three valid golden files are present."""
    names = {p.name for p in VALID_FILES}
    samples = {"b2b-project-sales.yaml", "smb-standard-funnel.yaml", "sales-cycle-kpis.yaml"}
    assert samples <= names
    assert len(VALID_FILES) - len(samples) >= 3


@pytest.mark.parametrize("path", INVALID_FILES, ids=_names(INVALID_FILES))
def test_invalid_example_reports_its_expected_diagnostics(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid golden file exits 1 and reports every (code, line[, col]) its header expects."""
    expected = expectations_of(path)
    assert expected, f"{path.name} states no `# expect:` line"
    code, report = validate_json(capsys, path)
    found = report["diagnostics"]
    missing = [str(e) for e in expected if not any(e.met_by(d) for d in found)]
    got = [f"{d['code']} line {d['line']} col {d['column']}: {d['message']}" for d in found]
    assert not missing, f"missing {missing}; got {got}"
    assert code == 1


def test_invalid_examples_cover_the_required_codes() -> None:
    """Between them, the invalid golden files exercise every code listed in REQUIRED_CODES."""
    covered = {e.code for path in INVALID_FILES for e in expectations_of(path)}
    assert sorted(REQUIRED_CODES - covered) == []


def test_alias_bomb_is_refused_fast(capsys: pytest.CaptureFixture[str]) -> None:
    """The alias bomb (387 million nodes once expanded) is refused in well under a second."""
    started = time.perf_counter()
    code, report = validate_json(capsys, EXAMPLES / "invalid" / "alias-bomb.yaml")
    elapsed = time.perf_counter() - started
    assert [d["code"] for d in report["diagnostics"]] == ["PB109"]
    assert code == 1
    assert elapsed < 1.0


def _binary_garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 16)


def _latin1_text(path: Path) -> None:
    path.write_bytes("playbook: cafe\nversion: 1\ntitle: Caf\u00e9 sales\n".encode("latin-1"))


def _gb18030_text(path: Path) -> None:
    path.write_bytes("playbook: gbk\ntitle: 项目型销售\n".encode("gb18030"))


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (_binary_garbage, Expectation("PB103", 1)),
        (_latin1_text, Expectation("PB102", 3, 11)),
        (_gb18030_text, Expectation("PB102", 2, 8)),
    ],
    ids=["binary-garbage", "latin-1", "gb18030"],
)
def test_generated_unreadable_file_is_refused(
    write: Callable[[Path], None],
    expected: Expectation,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Binary and non-UTF-8 files are refused with their code, at the first bad byte."""
    path = tmp_path / "generated.yaml"
    write(path)
    code, report = validate_json(capsys, path)
    assert any(expected.met_by(d) for d in report["diagnostics"]), report["diagnostics"]
    assert code == 1


def test_fifty_megabyte_file_is_refused_fast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 50 MB file is refused as too large in under a second, without being parsed."""
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.write(b"playbook: huge\nversion: 1\ndescription: ")
        handle.write(b"x" * (50 * 1024 * 1024))
    started = time.perf_counter()
    code, report = validate_json(capsys, path)
    elapsed = time.perf_counter() - started
    assert [d["code"] for d in report["diagnostics"]] == ["PB101"]
    assert code == 1
    assert elapsed < 1.0


def test_all_valid_files_in_one_run(capsys: pytest.CaptureFixture[str]) -> None:
    """Validating every valid file in one command checks each of them and stays clean."""
    code, report = validate_json(capsys, *VALID_FILES)
    assert report == {"files_checked": len(VALID_FILES), "files_skipped": [], "diagnostics": []}
    assert code == 0
