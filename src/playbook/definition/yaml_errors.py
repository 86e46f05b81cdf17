"""YAML syntax errors as diagnostics that point where the mistake stands.

libyaml reports where it gave up, which is often not where the mistake is:
a key written ``probability：0.25`` (a full-width colon, typed on a Chinese
keyboard) is reported at the start of the *next* line ("could not find
expected ':'"), a full-width comma inside ``{en: X，zh: Y}`` at the key after
it. :func:`syntax_diagnostic` looks between the place libyaml started the
construct it could not finish (its ``context_mark``) and the place it gave up
(its ``problem_mark``) for a full-width character that stands in for YAML
punctuation (``：，（）“”　`` and the like), points at it and says what to
type instead, in English and Chinese. Full-width characters are legitimate
inside text (``{en: Lead, zh: 线索：初筛}``): they are only looked at once
the parse has failed. A tab or an ideographic space in the indentation is
``PB105``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import yaml

from playbook.diagnostics import Diagnostic
from playbook.i18n import Message, catalogue, say

__all__ = [
    "FULL_WIDTH",
    "indent_diagnostic",
    "odd_indent_key",
    "parser_phrase",
    "syntax_diagnostic",
]

FULL_WIDTH: dict[str, tuple[str, str]] = {
    "：": (":", "colon"),
    "，": (",", "comma"),
    "、": (",", "comma"),
    "；": (";", "semicolon"),
    "（": ("(", "parenthesis"),
    "）": (")", "parenthesis"),
    "“": ('"', "quote"),
    "”": ('"', "quote"),
    "‘": ("'", "quote"),
    "’": ("'", "quote"),
    "＂": ('"', "quote"),
    "＇": ("'", "quote"),
    "［": ("[", "bracket"),
    "］": ("]", "bracket"),
    "【": ("[", "bracket"),
    "】": ("]", "bracket"),
    "｛": ("{", "brace"),
    "｝": ("}", "brace"),
    "－": ("-", "hyphen"),
    "＃": ("#", "hash"),
    "\u3000": (" ", "space"),
}
"""Full-width characters a Chinese keyboard types for YAML punctuation: the ASCII character
meant, and the catalogue's name of the kind (``common.yaml_fullwidth.<kind>``)."""

_INDENT = "\t\u3000"


@dataclass(frozen=True, slots=True)
class _Place:
    line: int  # 1-based
    column: int  # 1-based, in characters


def syntax_diagnostic(exc: yaml.YAMLError, text: str, file: str) -> Diagnostic:
    """The diagnostic for a YAML syntax error: ``PB111`` for a second document, ``PB105`` for
    a tab or ideographic space in the indentation, else ``PB104`` at the mistake, with a hint
    when a full-width character stands near it."""
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    context = getattr(exc, "context", None)
    if "but found another document" in problem or (context and "single document" in context):
        place = _place(problem_mark or context_mark)
        return _diag(
            file,
            "PB111",
            Message("diag.loader.file_holds_more_than"),
            place,
            Message("diag.loader.keep_one_playbook_per"),
        )
    lines = text.splitlines()
    end, start = _place(problem_mark or context_mark), _place(context_mark)
    for candidate in dict.fromkeys((end.line, start.line)):
        indented = indent_diagnostic(lines, candidate, file)
        if indented is not None:
            return indented
    message = Message(
        "diag.loader.yaml_syntax_error",
        message=Message(
            "diag.loader.message", context=parser_phrase(context), problem=parser_phrase(problem)
        )
        if context
        else parser_phrase(problem),
    )
    culprit = _full_width_near(lines, start if context_mark else _Place(end.line, 1), end)
    if culprit is not None:
        place, char = culprit
        return _diag(file, "PB104", message, place, full_width_hint(char))
    if context_mark is not None and "expected ':'" in problem and start.line < end.line:
        # A key without its colon: libyaml notices on the next line; the key is the mistake.
        return _diag(file, "PB104", message, start)
    return _diag(file, "PB104", message, end)


def parser_phrase(text: str) -> Message:
    """A problem or context phrase of the YAML parser, in the reader's language when known.

    The English rendering is the parser's own text; a phrase the catalogue lacks
    (PyYAML's phrases that quote the character found, say) is shown as it is.
    """
    key = _phrase_keys().get(text)
    return Message(key) if key else Message("common.text", text=text)


@functools.cache
def _phrase_keys() -> dict[str, str]:
    # The catalogue's area of these phrases: diag.yaml_phrase.<phrase in words>.
    return {say(key, "en"): key for key in catalogue() if key.split(".")[:2] == _PHRASE_AREA}


_PHRASE_AREA = ["diag", "yaml_phrase"]


def indent_diagnostic(lines: list[str], line: int, file: str) -> Diagnostic | None:
    """``PB105`` when ``line`` has a tab or an ideographic space before its content.

    Checked only after a syntax error (or on a key that starts with one): a
    tab inside a block scalar or a flow collection is valid YAML.
    """
    if not 1 <= line <= len(lines):
        return None
    source = lines[line - 1]
    lead = source[: len(source) - len(source.lstrip(" \t\u3000-?"))]
    found = next((char for char in lead if char in _INDENT), None)
    if found is None:
        return None
    place = _Place(line, lead.index(found) + 1)
    if found == "\t":
        return _diag(
            file,
            "PB105",
            Message("diag.loader.tab_character_used_indentation"),
            place,
            Message("diag.loader.indent_spaces"),
        )
    return _diag(
        file,
        "PB105",
        Message("diag.loader.ideographic_space_indentation"),
        place,
        full_width_hint(found),
    )


def odd_indent_key(key: str) -> bool:
    """True for a mapping key that starts with a tab or an ideographic space: YAML read the
    indentation as part of the key (``　　title:``), which no playbook key is."""
    return bool(key) and key[0] in _INDENT


def full_width_hint(char: str) -> Message:
    """What to type instead of the full-width ``char``, in the reader's language."""
    ascii_char, kind = FULL_WIDTH[char]
    code = f"U+{ord(char):04X}"
    if ascii_char == " ":
        return Message("common.yaml_fullwidth_space_hint", code=code)
    return Message(
        "common.yaml_fullwidth_hint",
        found=char,
        code=code,
        name=Message(f"common.yaml_fullwidth.{kind}"),
        ascii=ascii_char,
    )


def _full_width_near(lines: list[str], start: _Place, end: _Place) -> tuple[_Place, str] | None:
    """The last full-width punctuation from ``start`` up to ``end`` (the failure), else the
    first one on the failing line after it."""
    found: tuple[_Place, str] | None = None
    for number in range(start.line, min(end.line, len(lines)) + 1):
        source = lines[number - 1]
        first = start.column - 1 if number == start.line else 0
        last = end.column if number == end.line else len(source)
        for index in range(first, min(last, len(source))):
            if source[index] in FULL_WIDTH:
                found = (_Place(number, index + 1), source[index])
    if found is not None or not 1 <= end.line <= len(lines):
        return found
    source = lines[end.line - 1]
    after = next((i for i in range(end.column - 1, len(source)) if source[i] in FULL_WIDTH), None)
    return None if after is None else (_Place(end.line, after + 1), source[after])


def _place(mark: Any) -> _Place:
    return _Place(mark.line + 1, mark.column + 1) if mark is not None else _Place(1, 1)


def _diag(
    file: str, code: str, message: Message, place: _Place, hint: Message | None = None
) -> Diagnostic:
    return Diagnostic(
        file=file,
        line=place.line,
        column=place.column,
        severity="error",
        code=code,
        msg=message,
        hint_msg=hint,
    )
