"""Split a one-line condition into tokens, with friendly errors for common slips.

Offsets are character offsets into the condition string (so Chinese text
counts one per character). The lexer knows nothing about keywords: ``and``,
``in``, ``true``… are names that the parser recognises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from playbook.conditions.limits import MAX_DIGITS
from playbook.conditions.syntax import ROOT, Loc, problem
from playbook.errors import ConditionError

__all__ = ["Token", "TokenKind", "tokenize"]

TokenKind = Literal["name", "number", "string", "op", "punct", "end"]


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, source text, decoded value (numbers, strings) and position."""

    kind: TokenKind
    text: str
    offset: int
    value: object = None

    @property
    def end(self) -> int:
        """The offset just after the token."""
        return self.offset + len(self.text)


_SPACE = re.compile(r"\s+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# What may not follow a number directly: 1_000, 1e3, 1.2.3, 10k.
_NUMBER_TAIL = re.compile(r"[\w.]+")
_WORD = re.compile(r"\w+")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_PUNCT = "()[],"
_ESCAPES = {"\\": "\\", "'": "'", '"': '"'}

# Slips from other languages and from Chinese input methods, with what to write instead.
_SLIPS: tuple[tuple[str, str], ...] = (
    ("=>", "write >= for 'greater than or equal'"),
    ("=<", "write <= for 'less than or equal'"),
    ("<>", "write != for 'not equal'"),
    ("&&", "write 'and'"),
    ("||", "write 'or'"),
    ("=", "write == to compare"),
    ("!", "write 'not'"),
    ("&", "write 'and'"),
    ("|", "write 'or'"),
)
_FULLWIDTH = {
    "（": "(",
    "）": ")",
    "【": "[",
    "】": "]",
    "，": ",",
    "＝": "=",
    "＜": "<",
    "＞": ">",
    "！": "!",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
}


def tokenize(text: str, base: Loc = ROOT) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token; ConditionError PB401 on bad input."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
            continue
        token = _token_at(text, pos, base)
        tokens.append(token)
        pos = token.end
    tokens.append(Token("end", "", len(text)))
    return tokens


def _token_at(text: str, pos: int, base: Loc) -> Token:
    char = text[pos]
    if char in "'\"":
        return _string(text, pos, base)
    number = _NUMBER.match(text, pos)
    if number:
        return _number(text, number, base)
    name = _NAME.match(text, pos)
    if name:
        return Token("name", name.group(), pos)
    for op in _OPERATORS:
        if text.startswith(op, pos):
            return Token("op", op, pos)
    if char in _PUNCT:
        return Token("punct", char, pos)
    raise _unexpected(text, pos, base)


def _number(text: str, match: re.Match[str], base: Loc) -> Token:
    tail = _NUMBER_TAIL.match(text, match.end())
    if tail:
        whole = match.group() + tail.group()
        raise problem(
            "PB401",
            f"'{whole}' is not a number",
            base.span(match.start(), len(whole)),
            "write numbers with digits and at most one decimal point, "
            "no separators or exponents: 1000000.50",
        )
    raw = match.group()
    digits = len(raw.split(".")[0].lstrip("-"))
    if digits > MAX_DIGITS:
        # int() refuses past 4,300 digits; no field holds a number of even 31.
        raise problem(
            "PB406",
            f"a number of {digits} digits before the point is too large",
            base.span(match.start(), len(raw)),
            f"numbers are below 1e{MAX_DIGITS} in magnitude",
        )
    value: int | Decimal = Decimal(raw) if "." in raw else int(raw)
    return Token("number", raw, match.start(), value)


def _string(text: str, start: int, base: Loc) -> Token:
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return Token("string", text[start : pos + 1], start, "".join(out))
        if char == "\\":
            escaped = text[pos + 1 : pos + 2]
            if escaped not in _ESCAPES:
                raise problem(
                    "PB401",
                    f"unknown escape '\\{escaped}' in a text value",
                    base.span(pos, 1 + len(escaped)),
                    "only \\\\, \\' and \\\" are escapes; write \\\\ for one backslash",
                )
            out.append(_ESCAPES[escaped])
            pos += 2
            continue
        out.append(char)
        pos += 1
    raise problem(
        "PB401",
        "a quoted text value is not closed",
        base.span(start, len(text) - start),
        f"end it with {quote}",
    )


def _unexpected(text: str, pos: int, base: Loc) -> ConditionError:
    char = text[pos]
    for slip, hint in _SLIPS:
        if text.startswith(slip, pos):
            return problem("PB401", f"unexpected '{slip}'", base.span(pos, len(slip)), hint)
    if char in _FULLWIDTH:
        return problem(
            "PB401",
            f"unexpected full-width character '{char}'",
            base.span(pos, 1),
            f"write the ASCII character {_FULLWIDTH[char]} instead",
        )
    word = _WORD.match(text, pos)
    if word:
        return problem(
            "PB401",
            f"unexpected '{word.group()}': text values must be quoted",
            base.span(pos, len(word.group())),
            f"write '{word.group()}'",
        )
    return problem("PB401", f"unexpected character '{char}'", base.span(pos, 1))
