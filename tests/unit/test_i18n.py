"""The message catalogue: complete in every language, placeholders that agree, one home.

``say`` with a key the catalogue does not have raises :class:`KeyError` (a bug in
our code, never a user's mistake); the same for a placeholder left without a
value. The source scans below keep it that way: every key the code names
exists, and no language tuple or Chinese list separator lives outside
``playbook.i18n``.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path
from typing import Literal

import pytest

from playbook import i18n
from playbook.i18n import AREAS, LANGUAGES, area_messages, catalogue, join, say

CATALOGUE = catalogue()

SRC = Path(__file__).resolve().parents[2] / "src" / "playbook"
I18N = SRC / "i18n"
KEY = re.compile(r"^[a-z]+(\.[A-Za-z0-9_]+)+$")
NAMESPACES = (
    "reason",
    "cli",
    "report",
    "handbook",
    "graph",
    "list",
    "unit",
    "outcome",
    "common",
    "people",
    "period",
    "escalation",
    "error",
    "diag",
    "web",
)
SEPARATORS = frozenset({"、", "，", "或", "和", " 且 ", " 或 "})
# The condition lexer reads a full-width comma as a comma: syntax, not a separator; the YAML
# error hints name the full-width characters a Chinese keyboard types for punctuation.
ALLOWED_SEPARATORS = {
    ("conditions/lexer.py", "，"),
    ("definition/yaml_errors.py", "，"),
    ("definition/yaml_errors.py", "、"),
}


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _sources() -> list[tuple[str, ast.Module]]:
    """Every module of the package outside ``playbook.i18n``, parsed."""
    return [
        (path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SRC.rglob("*.py"))
        if I18N not in path.parents
    ]


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_key_is_dotted_and_written_in_every_language(key: str) -> None:
    """A dotted key, and a non-empty text in exactly the languages of LANGUAGES."""
    texts = CATALOGUE[key]
    assert KEY.match(key)
    assert key.split(".")[0] in NAMESPACES
    assert tuple(texts) == LANGUAGES
    assert all(texts[lang] for lang in LANGUAGES)


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_language_has_the_same_placeholders(key: str) -> None:
    """The same ``{name}`` slots in en and zh (and the templates parse)."""
    english, *others = (_placeholders(CATALOGUE[key][lang]) for lang in LANGUAGES)
    assert all(names == english for names in others), key


def test_the_areas_do_not_share_a_key() -> None:
    """Merging the area files drops nothing: no key is defined twice."""
    assert sum(len(area_messages(area)) for area in AREAS) == len(CATALOGUE)
    assert sorted(path.stem for path in I18N.glob("*.toml")) == sorted(AREAS)


@pytest.mark.parametrize(
    ("key", "lang", "values", "expected"),
    [
        ("cli.allowed", "en", {}, "ALLOWED"),
        ("cli.allowed", "zh", {}, "允许"),
        ("cli.allowed", None, {}, "ALLOWED"),
        ("cli.allowed", "fr", {}, "ALLOWED"),
        ("cli.in_stage", "en", {"deal": "D-1", "stage": "Lead"}, "D-1 is in Lead"),
        ("cli.in_stage", "zh", {"deal": "D-1", "stage": "线索"}, "商机 D-1 当前阶段：线索"),
        ("reason.PB545.due", "en", {"due": "{due}"}, "; due {due}"),
    ],
)
def test_say_fills_the_message_in_the_language(
    key: str, lang: str | None, values: dict[str, str], expected: str
) -> None:
    """Placeholders filled; English for None or a language the catalogue does not speak."""
    assert say(key, lang, **values) == expected


def test_say_raises_key_error_for_an_unknown_key() -> None:
    """An unknown key is a bug in our code: KeyError, naming the key."""
    with pytest.raises(KeyError, match=r"no message 'cli\.nope' in playbook\.i18n"):
        say("cli.nope", "en")


def test_say_raises_key_error_for_a_placeholder_without_value() -> None:
    """A placeholder left without a value is a bug in our code too."""
    with pytest.raises(KeyError, match="stage"):
        say("cli.missing", "en")


@pytest.mark.parametrize(
    ("items", "lang", "last", "expected"),
    [
        ([], "en", "and", ""),
        (["A"], "zh", "or", "A"),
        (["A", "B"], "en", "and", "A and B"),
        (["A", "B", "C"], "en", "and", "A, B and C"),
        (["A", "B", "C"], "en", "or", "A, B or C"),
        (["A", "B", "C"], "en", None, "A, B, C"),
        (["A", "B", "C"], "zh", "and", "A、B、C"),
        (["A", "B", "C"], "zh", "or", "A、B或C"),
        (["A", "B", "C"], "zh", None, "A、B、C"),
        (["A", "B"], None, "or", "A or B"),
    ],
)
def test_join_lists_with_the_language_separators(
    items: list[str], lang: str | None, last: Literal["and", "or"] | None, expected: str
) -> None:
    """Commas between items, the language's 'and' or 'or' before the last."""
    assert join(items, lang, last) == expected


def _named_keys(tree: ast.Module) -> list[str]:
    """The string constants of a module that look like catalogue keys."""
    pattern = re.compile(rf"^({'|'.join(NAMESPACES)})\.[A-Za-z_][\w.]*$")
    # The fixed part of an f-string key (``f"handbook.{kind}"``) is not a key itself.
    parts = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    # A foreign key names a column (``ForeignKey("people.name")``), never a message.
    parts |= {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and "ForeignKey" in (getattr(node.func, "attr", None), getattr(node.func, "id", None))
        for arg in node.args
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in parts
        and pattern.match(node.value)
    ]


def test_every_key_the_code_names_is_in_the_catalogue() -> None:
    """A key written out in the code (``say("report.funnel", ...)``) exists."""
    named = [(name, key) for name, tree in _sources() for key in _named_keys(tree)]
    assert len(named) > 50  # the scan does find the keys the code names
    assert [f"{name}: {key}" for name, key in named if key not in CATALOGUE] == []


def test_no_language_list_or_list_separator_outside_i18n() -> None:
    """``("en", "zh")`` and the Chinese list separators are written in playbook.i18n only."""
    found: list[str] = []
    for name, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                words = {item.value for item in node.elts if isinstance(item, ast.Constant)}
                if {"en", "zh"} <= words:
                    found.append(f"{name}:{node.lineno}: a language list")
            elif (
                isinstance(node, ast.Constant)
                and node.value in SEPARATORS
                and (name, node.value) not in ALLOWED_SEPARATORS
            ):
                found.append(f"{name}:{node.lineno}: separator {node.value!r}")
    assert found == []


def test_i18n_is_a_leaf() -> None:
    """playbook.i18n imports nothing from the project (its own modules aside)."""
    outside = [
        f"{path.name}: {node.module}"
        for path in I18N.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("playbook")
        and not node.module.startswith("playbook.i18n")
    ]
    assert outside == []
    assert i18n.catalogue() is CATALOGUE  # read once
