"""The strict YAML loader: text to plain data, positions in characters, every trap reported."""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from playbook.definition.loader import (
    MAX_FILE_BYTES,
    Document,
    iter_paths,
    load_document,
    read_document,
    read_text,
)
from playbook.definition.yaml_compose import MAX_DEPTH
from playbook.errors import InputFileError

# --- YAML that loads cleanly --------------------------------------------------------

CLEAN = [
    ("a: 1\nb: [1, 2]\n", {"a": 1, "b": [1, 2]}),
    (
        "名字: 销售\n阶段: [需求分析, 方案制定]\n",
        {"名字": "销售", "阶段": ["需求分析", "方案制定"]},
    ),
    ("country: 'no'\nok: \"yes\"\n", {"country": "no", "ok": "yes"}),
    (
        "t: true\nf: False\nn: null\nm: ~\ne:\n",
        {"t": True, "f": False, "n": None, "m": None, "e": None},
    ),
    ("i: -12\nh: 0x1F\no: 0o17\nz: +0\n", {"i": -12, "h": 31, "o": 15, "z": 0}),
    ("x: 1.5\ny: .5\nz: 1.0e3\nw: -.inf\n", {"x": 1.5, "y": 0.5, "z": 1000.0, "w": -math.inf}),
    (
        "close: 2026-03-01\nat: 2026-03-01T10:00:00\n",
        {"close": "2026-03-01", "at": "2026-03-01T10:00:00"},
    ),
    ("a: !!str 1\nb: ! 2\nc: !!int '3'\nd: !!float 4\n", {"a": "1", "b": "2", "c": 3, "d": 4.0}),
    (
        "a: !!bool true\nb: !!null ''\nc: !!seq [1]\nd: !!map {k: v}\n",
        {"a": True, "b": None, "c": [1], "d": {"k": "v"}},
    ),
    ("b: |\n  x\n  \ty\n", {"b": "x\n\ty\n"}),
    ("a: [1,\n\t2]\n", {"a": [1, 2]}),
    ("a: 'x\n\ty'\n", {"a": "x y"}),
    ("\ufeffa: 1\n", {"a": 1}),
    ("a: 1\r\nb: 2\r\n", {"a": 1, "b": 2}),
    ("base: &b {k: 1}\ncopy: *b\n", {"base": {"k": 1}, "copy": {"k": 1}}),
    ("%YAML 1.1\n---\na: 1\n...\n", {"a": 1}),
    ("'<<': 1\n", {"<<": 1}),
    ("1: one\nnull: none\n", {"1": "one", "null": "none"}),
    ("- a\n- b\n", ["a", "b"]),
    ("just text\n", "just text"),
]


@pytest.mark.parametrize(("text", "expected"), CLEAN)
def test_clean_yaml_loads_to_plain_data(text: str, expected: Any) -> None:
    """Valid YAML gives YAML 1.2 core data and no diagnostic at all."""
    result = read_text(text, "t.yaml")
    assert result.diagnostics == []
    assert result.document is not None
    assert result.document.data == expected
    assert result.ok


# --- YAML that is reported: code, line, column --------------------------------------

REPORTED = [
    # YAML 1.1 versus 1.2 (the Norway problem and friends)
    ("country: no\n", "PB107", 1, 10),
    ("enabled: yes\n", "PB107", 1, 10),
    ("x: On\n", "PB107", 1, 4),
    ("start: 09:00\n", "PB107", 1, 8),
    ("code: 010\n", "PB107", 1, 7),
    ("amount: 1_000\n", "PB107", 1, 9),
    ("big: 1e3\n", "PB107", 1, 6),
    ("bits: 0b101\n", "PB107", 1, 7),
    # columns count characters, not bytes
    ("名字: 销售\nx: {标题: 需求分析, y: no}\n", "PB107", 2, 18),
    ("x: {a: 😀, b: no}\n", "PB107", 1, 14),
    ("- 需求分析\n- {阶段: 方案, 中: off}\n", "PB107", 2, 15),
    # structure
    ("a: 1\na: 2\n", "PB106", 2, 1),
    ("销售: 1\n销售: 2\n", "PB106", 2, 1),
    ("x: &a {k: 1}\ny:\n  <<: *a\n", "PB112", 3, 3),
    ("? [a, b]\n: 1\n", "PB113", 1, 3),
    # tags
    ("x: !!python/object:os.system 1\n", "PB108", 1, 4),
    ("x: !!python/name:os.system\n", "PB108", 1, 4),
    ("x: !foo 1\n", "PB108", 1, 4),
    ("x: !!int ten\n", "PB108", 1, 4),
    ("x: !!binary aGVsbG8=\n", "PB108", 1, 4),
    # tabs in indentation
    ("a:\n\tb: 1\n", "PB105", 2, 1),
    ("a:\n  b: 1\n \tc: 2\n", "PB105", 3, 2),
    ("- a\n-\tb\n", "PB105", 2, 2),
    ("a: 1\n\t# a comment\n", "PB105", 2, 1),
    # syntax and documents
    ("a: [1, 2\n", "PB104", 2, 1),
    ("a: b: c\n", "PB104", 1, 5),
    ("a: *missing\n", "PB104", 1, 4),
    ("a: 1\n---\nb: 2\n", "PB111", 2, 1),
    ("", "PB110", 1, 1),
    ("# nothing but a comment\n", "PB110", 1, 1),
    # nesting
    ("a: " + "[" * 70 + "]" * 70 + "\n", "PB115", 1, 67),
    ("a: &x [*x]\n", "PB115", 1, 4),
]


@pytest.mark.parametrize(("text", "code", "line", "column"), REPORTED)
def test_problems_are_reported_at_their_position(
    text: str, code: str, line: int, column: int
) -> None:
    """Each trap gives its own code at the 1-based line and character column."""
    result = read_text(text, "t.yaml")
    assert [(d.code, d.line, d.column) for d in result.diagnostics][:1] == [(code, line, column)]
    assert all(d.file == "t.yaml" and d.severity == "error" for d in result.diagnostics)
    assert not result.ok


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("country: no\n", 'write "no" in quotes'),
        ("a: 1\na: 2\n", "first defined at line 1"),
        ("x: &a {k: 1}\ny:\n  <<: *a\n", "write the keys out"),
        ("a:\n\tb: 1\n", "indent with spaces"),
        ("a: 1\n---\nb: 2\n", "one playbook per file"),
    ],
)
def test_messages_say_what_to_do(text: str, words: str) -> None:
    """The message or hint tells the author how to fix the file."""
    (first, *_) = read_text(text).diagnostics
    assert words in f"{first.message} {first.hint}"


def test_ambiguous_scalars_keep_their_text() -> None:
    """A reported YAML 1.1 word still loads as the text written, never as a boolean."""
    result = read_text("country: no\nstart: 09:00\n")
    assert result.document is not None
    assert result.document.data == {"country": "no", "start": "09:00"}


def test_duplicate_key_keeps_the_first_value() -> None:
    """Of two equal keys, the first one stays and the second is reported."""
    result = read_text("a: 1\na: 2\n")
    assert result.document is not None
    assert result.document.data == {"a": 1}


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deep_nesting_is_refused_without_exhausting_the_stack(depth: int) -> None:
    """Hundreds of thousands of [ are refused quickly instead of crashing the interpreter."""
    started = time.perf_counter()
    result = read_text("a: " + "[" * depth + "]" * depth + "\n")
    assert [d.code for d in result.diagnostics] == ["PB115"]
    assert time.perf_counter() - started < 2


def test_nesting_up_to_the_limit_is_accepted() -> None:
    """Nesting exactly MAX_DEPTH collections deep is still a document."""
    depth = MAX_DEPTH - 1
    result = read_text("[" * depth + "1" + "]" * depth)
    assert result.diagnostics == []


# --- alias bombs ----------------------------------------------------------------------


def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast() -> None:
    """A billion-laughs document (9**9 nodes) is refused in milliseconds, pointing into it."""
    started = time.perf_counter()
    result = read_text(_alias_bomb(9), "bomb.yaml")
    elapsed = time.perf_counter() - started
    assert result.document is None
    assert [(d.code, d.path) for d in result.diagnostics] == [("PB109", "a5")]
    assert "aliases" in result.diagnostics[0].message
    assert elapsed < 0.5


def test_small_alias_use_is_allowed() -> None:
    """Aliases that expand to a reasonable size are fine."""
    result = read_text(_alias_bomb(3))
    assert result.diagnostics == []
    assert result.document is not None
    assert len(result.document.data["a2"]) == 9


def test_node_limit_is_configurable() -> None:
    """The limit on expanded nodes is a parameter of read_text."""
    assert read_text(_alias_bomb(3), max_nodes=50).diagnostics[0].code == "PB109"


# --- reading files -------------------------------------------------------------------

FILE_PROBLEMS = [
    (b"a: 1\nb: \xff\n", "PB102", 2, 4),
    (b"name: caf\xe9\n", "PB102", 1, 10),
    ("a: 1".encode("utf-16"), "PB103", 1, 1),
    (b"a: 1\n\x00\x00\x00", "PB103", 2, 1),
    (b"a: 1\nb: x\x07y\n", "PB103", 2, 5),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PB103", 3, 1),
]


@pytest.mark.parametrize(("raw", "code", "line", "column"), FILE_PROBLEMS)
def test_bytes_that_are_not_text_are_refused(
    tmp_path: Path, raw: bytes, code: str, line: int, column: int
) -> None:
    """Non-UTF-8, NUL bytes and control characters are reported before any parsing."""
    path = tmp_path / "bad.yaml"
    path.write_bytes(raw)
    result = read_document(path)
    assert result.document is None
    assert [(d.code, d.line, d.column) for d in result.diagnostics] == [(code, line, column)]


def test_utf8_with_bom_is_read(tmp_path: Path) -> None:
    """A byte order mark, as Windows editors write, is not part of the document."""
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeff标题: 演示\n".encode())
    result = read_document(path)
    assert result.document is not None
    assert result.document.data == {"标题": "演示"}


def test_display_name_is_used_in_diagnostics(tmp_path: Path) -> None:
    """Diagnostics name the file as the caller asked, not by its absolute path."""
    path = tmp_path / "x.yaml"
    path.write_text("a: no\n", encoding="utf-8")
    result = read_document(path, display_name="playbooks/x.yaml")
    assert {d.file for d in result.diagnostics} == {"playbooks/x.yaml"}


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_unreadable_path_is_a_diagnostic(tmp_path: Path, make: str) -> None:
    """A path that cannot be opened as a file gives PB114, not an exception."""
    path = tmp_path / "x.yaml"
    if make == "directory":
        path.mkdir()
    result = read_document(path)
    assert [d.code for d in result.diagnostics] == ["PB114"]


def test_large_file_is_refused(tmp_path: Path) -> None:
    """A 50 MB file is refused as too large (PB101) in a blink."""
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    started = time.perf_counter()
    result = read_document(path)
    assert [d.code for d in result.diagnostics] == ["PB101"]
    assert time.perf_counter() - started < 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_large_input_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    """Fed 50 MB through a pipe, the loader stops reading just past the size limit."""
    pipe = tmp_path / "stream.yaml"
    os.mkfifo(pipe)
    written = 0

    def feed() -> None:
        nonlocal written
        chunk = b"a" * (1024 * 1024)
        try:
            with pipe.open("wb") as handle:
                for _ in range(50):
                    handle.write(chunk)
                    written += len(chunk)
        except BrokenPipeError:
            pass  # the reader closed its end: what this test wants

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result = read_document(pipe)
    writer.join(timeout=10)
    assert [d.code for d in result.diagnostics] == ["PB101"]
    assert written < 8 * 1024 * 1024


def test_file_at_the_size_limit_is_read(tmp_path: Path) -> None:
    """Exactly MAX_FILE_BYTES is still allowed: the limit is inclusive."""
    path = tmp_path / "big.yaml"
    line = b"# " + b"x" * 97 + b"\n"
    body = b"a: 1\n" + line * ((MAX_FILE_BYTES - 5) // len(line))
    path.write_bytes(body + b"#" * (MAX_FILE_BYTES - len(body)))
    assert len(path.read_bytes()) == MAX_FILE_BYTES
    assert read_document(path).diagnostics == []


# --- positions -----------------------------------------------------------------------

POSITIONED = """\
playbook: 演示
stages:
  - id: 需求
    title: {en: Needs, zh: "需求分析"}
"""


@pytest.mark.parametrize(
    ("path", "key", "line", "column"),
    [
        (("playbook",), False, 1, 11),
        (("playbook",), True, 1, 1),
        (("stages", 0), False, 3, 5),
        (("stages", 0, "id"), False, 3, 9),
        (("stages", 0, "title", "zh"), False, 4, 28),
        (("stages", 0, "title", "zh"), True, 4, 24),
        (("stages", 0, "title", "fr"), False, 4, 12),
        (("stages", 0), True, 3, 5),
        ((), False, 1, 1),
    ],
)
def test_marks_of_values_and_keys(path: tuple[Any, ...], key: bool, line: int, column: int) -> None:
    """Every value and key has a mark; an unknown path falls back to its nearest ancestor."""
    document = _document(POSITIONED)
    mark = document.mark(path, key=key)
    assert (mark.line, mark.column) == (line, column)


@pytest.mark.parametrize(
    ("text", "path", "offset", "expected"),
    [
        ("c: amount > 0\n", ("c",), 9, (1, 13)),
        ("c: 'amount > 0'\n", ("c",), 9, (1, 14)),
        ('c: "金额 > 0"\n', ("c",), 3, (1, 8)),
        ("c: >\n  amount\n  > 0\n", ("c",), 7, (1, 4)),
    ],
)
def test_offsets_inside_a_scalar(
    text: str, path: tuple[Any, ...], offset: int, expected: tuple[int, int]
) -> None:
    """A character offset in a one-line scalar maps to its line and column; else its start."""
    assert _document(text).locate_in_scalar(path, offset) == expected


def test_line_text_returns_the_source_line() -> None:
    """The text of a line, for printing under a diagnostic; "" past the end."""
    document = _document(POSITIONED)
    assert document.line_text(3) == "  - id: 需求"
    assert document.line_text(99) == ""


def test_every_path_has_a_position() -> None:
    """The position map covers every node of the data."""
    document = _document(POSITIONED)
    assert set(iter_paths(document.data)) <= set(document.positions)


def test_load_document_raises_the_first_error(tmp_path: Path) -> None:
    """load_document is the raising variant: InputFileError with the code and position."""
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\nb: yes\n", encoding="utf-8")
    with pytest.raises(InputFileError) as raised:
        load_document(path)
    assert (raised.value.code, raised.value.line, raised.value.column) == ("PB107", 2, 4)


def test_load_document_returns_a_clean_document(tmp_path: Path) -> None:
    """A clean file comes back as a Document."""
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    assert load_document(path).data == {"a": 1}


def _document(text: str) -> Document:
    result = read_text(text)
    assert result.document is not None, result.diagnostics
    return result.document


# --- round trip ------------------------------------------------------------------------

# PyYAML's emitter writes NEL, LS and PS raw inside quotes, where YAML folds them:
# a dumper bug, not a loader one, so they are left out.
_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x85\u2028\u2029"),
    max_size=12,
)
# Integers of 30 digits or more are refused (PB204): see test_huge_integers_are_refused.
_INTEGERS = st.integers(min_value=-(10**30) + 1, max_value=10**30 - 1)
_SCALARS = st.none() | st.booleans() | _INTEGERS | st.floats(allow_nan=False) | _TEXT
_DATA = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(data=_DATA, flow=st.booleans())
def test_dumped_plain_data_loads_back_equal(data: Any, flow: bool) -> None:
    """Anything yaml.safe_dump writes loads back equal, unless an ambiguity is reported."""
    text = yaml.safe_dump(data, allow_unicode=True, default_flow_style=flow)
    result = read_text(text)
    codes = {d.code for d in result.diagnostics}
    assert codes <= {"PB107"}, result.diagnostics
    assert result.document is not None
    if not codes:
        assert result.document.data == data


def test_nesting_refused_by_libyaml_itself_is_pb115_at_its_line() -> None:
    """libyaml (PyYAML >= 6.0.4) refuses deep nesting itself: still PB115, on the right line."""
    text = "playbook: x\nversion: 1\nstages: " + "[" * 5000 + "]" * 5000 + "\n"
    result = read_text(text, "deep.yaml")
    assert [(d.code, d.line) for d in result.diagnostics] == [("PB115", 3)]


@pytest.mark.parametrize(
    "scalar",
    [
        "9" * 31,
        "-" + "9" * 31,
        "9" * 4301,
        "1" + "0" * 30,
        "0x" + "f" * 3600,
        "0x" + "f" * 25,
        "0o" + "7" * 40,
    ],
    ids=["31-digits", "negative", "past-int-limit", "1e30", "huge-hex", "hex-past-1e30", "octal"],
)
def test_huge_integers_are_refused(scalar: str) -> None:
    """An integer of 1e30 or more is PB204 at its position, read before int() can fail."""
    result = read_text(f"title: T\nversion: {scalar}\n")
    assert [(d.code, d.line, d.column, d.path) for d in result.diagnostics] == [
        ("PB204", 2, 10, "version")
    ]
    assert result.document is not None
    assert result.document.data["version"] is None


@pytest.mark.parametrize("scalar", ["9" * 30, "-" + "9" * 30, "0x" + "f" * 24])
def test_integers_below_1e30_load(scalar: str) -> None:
    """Integers below 1e30 in magnitude load as ints, with no diagnostic."""
    result = read_text(f"version: {scalar}\n")
    assert not result.diagnostics
    assert result.document is not None
    assert result.document.data["version"] == int(scalar, 0)


def test_a_refused_integer_is_reported_once_by_full_validation() -> None:
    """The schema does not also call the refused (null) value missing: one problem per place."""
    from playbook.definition.validate import validate_text

    text = "playbook: p\nversion: " + "9" * 4301 + "\ntitle: T\nstages: [{id: a, title: A}]\n"
    result = validate_text(text, "t.yaml")
    assert [(d.code, d.line, d.column) for d in result.diagnostics] == [("PB204", 2, 10)]
    assert result.playbook is None
