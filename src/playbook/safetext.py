"""Text that is safe to show: spreadsheet cells that cannot become formulas, lines without escapes.

Values come from people and from other systems' exports; shown as they are,
a cell starting with ``=`` runs as a formula when the CSV is opened in Excel
or LibreOffice, and an ``ESC [`` sequence repaints a terminal. OWASP's
advice for CSV is followed: a cell starting with ``= + - @``, a tab or a
carriage return gets a leading ``'`` (numbers such as ``-500`` are left
alone), and the import strips that quote again so that an export reads back
unchanged.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["FORMULA_STARTS", "MAX_LINK", "neutralise_cell", "printable", "restore_cell", "web_link"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional
# overrides and isolates that can reorder what a reader sees.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ESCAPE_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|.)?")


MAX_LINK = 2000
"""The longest link kept (browsers and chat services cut longer ones)."""


def web_link(text: str) -> str | None:
    """``text`` when it is an http(s) link safe to follow, else None.

    A link has the ``http`` or ``https`` scheme and a host, no white space or
    control character, no user name or password (they would be shown to every
    reader) and at most :data:`MAX_LINK` characters; ``javascript:``,
    ``file:`` and ``data:`` links are never one.
    """
    if not text or len(text) > MAX_LINK or _UNSAFE_IN_LINK.search(text):
        return None
    try:
        parts = urllib.parse.urlsplit(text)
        host, _port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    return text


_UNSAFE_IN_LINK = re.compile(r"[\s\x00-\x1f\x7f-\x9f\\<>\"]")


def neutralise_cell(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula."""
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def restore_cell(text: str) -> str:
    """The value a :func:`neutralise_cell` cell stood for (the import reads exports back)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def printable(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tabs become spaces)."""
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _UNPRINTABLE.sub("", text.replace("\t", " "))
