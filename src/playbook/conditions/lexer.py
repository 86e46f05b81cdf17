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
from playbook.i18n import Message

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
_SLIPS: tuple[tuple[str, Message], ...] = (
    ("=>", Message("diag.lexer.write_ge")),
    ("=<", Message("diag.lexer.write_le")),
    ("<>", Message("diag.lexer.write_ne")),
    ("&&", Message("diag.lexer.write_and")),
    ("||", Message("diag.lexer.write_or")),
    ("=", Message("diag.lexer.write_eq")),
    ("!", Message("diag.lexer.write_not")),
    ("&", Message("diag.lexer.write_and")),
    ("|", Message("diag.lexer.write_or")),
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
            Message("diag.lexer.not_number", whole=whole),
            base.span(match.start(), len(whole)),
            Message("diag.lexer.write_numbers_digits_at"),
        )
    raw = match.group()
    digits = len(raw.split(".")[0].lstrip("-"))
    if digits > MAX_DIGITS:
        # int() refuses past 4,300 digits; no field holds a number of even 31.
        raise problem(
            "PB406",
            Message("diag.lexer.number_digits_before_point", digits=digits),
            base.span(match.start(), len(raw)),
            Message("diag.lexer.numbers_are_below_1e", MAX_DIGITS=MAX_DIGITS),
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
                    Message("diag.lexer.unknown_escape_text_value", escaped=escaped),
                    base.span(pos, 1 + len(escaped)),
                    Message("diag.lexer.only_are_escapes_write"),
                )
            out.append(_ESCAPES[escaped])
            pos += 2
            continue
        out.append(char)
        pos += 1
    raise problem(
        "PB401",
        Message("diag.lexer.quoted_text_value_not"),
        base.span(start, len(text) - start),
        Message("diag.lexer.end", quote=quote),
    )


def _unexpected(text: str, pos: int, base: Loc) -> ConditionError:
    char = text[pos]
    for slip, hint in _SLIPS:
        if text.startswith(slip, pos):
            return problem(
                "PB401",
                Message("diag.lexer.unexpected", slip=slip),
                base.span(pos, len(slip)),
                hint,
            )
    if char in _FULLWIDTH:
        return problem(
            "PB401",
            Message("diag.lexer.unexpected_full_width_character", char=char),
            base.span(pos, 1),
            Message("diag.lexer.write_ascii_character_instead", FULLWIDTH=_FULLWIDTH[char]),
        )
    word = _WORD.match(text, pos)
    if word:
        return problem(
            "PB401",
            Message("diag.lexer.unexpected_text_values_must", group=word.group()),
            base.span(pos, len(word.group())),
            Message("diag.lexer.write", group=word.group()),
        )
    return problem(
        "PB401", Message("diag.lexer.unexpected_character", char=char), base.span(pos, 1)
    )
