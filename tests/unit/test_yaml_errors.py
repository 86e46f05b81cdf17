"""YAML syntax errors point at the mistake, show the line, and name a full-width character."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from playbook.cli import main
from playbook.definition.loader import read_text
from playbook.definition.yaml_errors import parser_phrase
from playbook.i18n import say

HEAD = "playbook: p\nversion: 1\n"


@pytest.mark.parametrize(
    ("body", "code", "line", "column", "char"),
    [
        # The colon: libyaml notices on the next line; the mistake is on this one.
        ("stages:\n  - id: lead\n    probability：0.25\n    title: x\n", "PB104", 5, 16, "："),
        ("title: {en: Example，zh: 示例}\n", "PB104", 3, 20, "，"),
        ("stages:\n  - id: lead\n  　title: Lead\n", "PB105", 5, 3, "\u3000"),
        ("a:\n　　b: 1\n", "PB105", 4, 1, "\u3000"),
        ("title: “Lead: first”\n", "PB104", 3, 8, "“"),
        ("title: {en: Lead, zh: 线索（初筛: 电话）}\n", "PB104", 3, 25, "（"),
    ],
)
def test_full_width_character_is_pointed_at_and_named(
    body: str, code: str, line: int, column: int, char: str
) -> None:
    """The diagnostic stands on the full-width character, and its hint says so in en and zh."""
    diagnostics = read_text(HEAD + body, "p.yaml").diagnostics
    found = [d for d in diagnostics if d.code == code]
    assert [(d.line, d.column) for d in found] == [(line, column)]
    for lang in ("en", "zh"):
        hint = found[0].hint_in(lang) or ""
        assert f"U+{ord(char):04X}" in hint
        if char != "\u3000":
            assert char in hint
    chinese = found[0].hint_in("zh") or ""
    assert any("\u4e00" <= c <= "\u9fff" for c in chinese)  # the Chinese hint


def test_key_without_colon_is_reported_on_its_own_line() -> None:
    """Without any full-width character, a key missing its colon is reported where it stands,
    not on the next line where libyaml gave up."""
    diagnostics = read_text(
        HEAD + "stages:\n  - id: lead\n    probability 0.25\n    x: 1\n"
    ).diagnostics
    assert [(d.code, d.line, d.column, d.hint) for d in diagnostics] == [("PB104", 5, 5, None)]


@pytest.mark.parametrize(
    "body",
    [
        "title: {en: Lead, zh: 线索：初筛}\n",
        "title: 线索，初筛（首次）“确认”\n",
        "description: 全角空格　在文字里\n",
        'title: "赢单：签约"\n',
    ],
)
def test_full_width_characters_inside_text_stay_valid(body: str) -> None:
    """Full-width punctuation inside a value is text: no diagnostic from the loader."""
    result = read_text(HEAD + body)
    assert result.diagnostics == []
    assert result.document is not None


def test_hint_is_written_in_both_languages() -> None:
    """The hint reads the catalogue in English and Chinese."""
    diagnostics = read_text(HEAD + "title: {en: Example，zh: 示例}\n").diagnostics
    assert say("common.yaml_fullwidth.comma", "en") in (diagnostics[0].hint_in("en") or "")
    assert say("common.yaml_fullwidth.comma", "zh") in (diagnostics[0].hint_in("zh") or "")


def test_syntax_error_shows_the_source_line_with_a_caret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``playbook validate`` prints the line of a syntax error and a caret under the column."""
    path = tmp_path / "p.yaml"
    path.write_text(HEAD + "stages:\n  - id: lead\n    probability：0.25\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert " 5 |     probability：0.25\n" in out
    assert "\n   |                ^" in out


# --- the parser's own words, in Chinese --------------------------------------------------

_PHRASE = re.compile(r'"((?:while|found|expected|could not|did not|mapping|second)[^"%]*)"')


def _fixed_pyyaml_phrases() -> set[str]:
    """The problem/context phrases PyYAML's scanner, parser and composer write without a value."""
    source = Path(yaml.__file__).parent
    texts = [(source / name).read_text(encoding="utf-8") for name in _PYYAML_MODULES]
    return {match for text in texts for match in _PHRASE.findall(text)}


_PYYAML_MODULES = ("scanner.py", "parser.py", "composer.py")


def test_every_fixed_pyyaml_phrase_has_chinese_words() -> None:
    """Each fixed phrase of the installed PyYAML is in the table, its en text the phrase itself."""
    phrases = _fixed_pyyaml_phrases()
    assert len(phrases) > 20  # the scan found them (a change of PyYAML's layout fails here)
    untranslated = {p for p in phrases if parser_phrase(p).key == "common.text"}
    assert untranslated == set()
    for phrase in phrases:
        assert parser_phrase(phrase).render("en") == phrase
        assert re.search(r"[\u4e00-\u9fff]", parser_phrase(phrase).render("zh")), phrase


@pytest.mark.parametrize(
    ("body", "en", "zh"),
    [
        (
            "stages: [a, b\n",
            "while parsing a flow sequence, did not find expected ',' or ']'",
            "解析流式序列时，未找到预期的 ',' 或 ']'",
        ),
        (
            "title: {en: a\n",
            "while parsing a flow mapping, did not find expected ',' or '}'",
            "解析流式映射时，未找到预期的 ',' 或 '}'",
        ),
        ("title: a: b\n", "mapping values are not allowed in this context", "此处不允许映射的值"),
    ],
)
def test_parser_words_are_translated_and_english_keeps_them(body: str, en: str, zh: str) -> None:
    """In zh the parser's phrases are Chinese; the English message is the parser's own text."""
    (found,) = read_text(HEAD + body).diagnostics
    assert found.code == "PB104"
    assert found.message_in("zh") == f"YAML 语法错误：{zh}"
    assert found.message_in("en") == f"YAML syntax error: {en}"


def test_an_unknown_parser_phrase_stays_as_it_is() -> None:
    """A phrase the table lacks is shown in its own words in every language."""
    phrase = parser_phrase("expected ',' or ']', but got '<scalar>'")
    assert phrase.render("zh") == phrase.render("en") == "expected ',' or ']', but got '<scalar>'"
