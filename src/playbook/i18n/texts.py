"""The catalogue's texts and :func:`say`, the one way to read them.

One catalogue, read through :func:`say`: keys are dotted by area
(``reason.PB541``, ``cli.blocked``, ``report.funnel``, ``handbook.goal``,
``list.or``, ``unit.days``), each with one text per language of
:data:`LANGUAGES`; ``{name}`` placeholders are filled with
:meth:`str.format_map`. The texts are data, one TOML file per area next to
this module (``common``, ``engine``, ``cli``, ``report``, ``handbook``,
``errors``, ``diagnostics``), read
once, when a first message is asked for.

A language the catalogue does not speak (or None) reads English. A key that is
not in the catalogue, or a placeholder left without a value, raises
:class:`KeyError`: keys are constants of our own code, so either is a bug that
the tests in ``tests/unit/test_i18n.py`` catch, never a user's mistake.

A leaf: imports nothing from the project.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Literal

__all__ = ["AREAS", "LANGUAGES", "area_messages", "catalogue", "counted", "join", "say", "spoken"]

LANGUAGES: tuple[str, ...] = ("en", "zh")
"""The languages every message is written in; English first, the fallback."""

AREAS: tuple[str, ...] = (
    "common",
    "engine",
    "cli",
    "report",
    "handbook",
    "escalation",
    "errors",
    "diagnostics",
    "web",
)
"""The catalogue's files, ``playbook/i18n/<area>.toml``."""

_SPOKEN = frozenset(LANGUAGES)


def area_messages(area: str) -> dict[str, dict[str, str]]:
    """The messages of one area's file, as written: key, then text per language."""
    text = files("playbook.i18n").joinpath(f"{area}.toml").read_text(encoding="utf-8")
    return {
        str(key): {str(lang): str(words) for lang, words in texts.items()}
        for key, texts in tomllib.loads(text).items()
    }


@cache
def catalogue() -> Mapping[str, Mapping[str, str]]:
    """Every message of every area, read-only: its dotted key, then its text per language."""
    merged = {
        key: MappingProxyType(texts) for area in AREAS for key, texts in area_messages(area).items()
    }
    return MappingProxyType(merged)


def say(key: str, lang: str | None, /, **values: object) -> str:
    """The message ``key`` in ``lang`` (English for None or an unknown language).

    ``{name}`` placeholders are filled from ``values``. Raises :class:`KeyError`
    for a key the catalogue does not have or a placeholder without a value.
    """
    try:
        texts = catalogue()[key]
    except KeyError:
        raise KeyError(f"no message {key!r} in playbook.i18n") from None
    return texts[spoken(lang)].format_map(values)


def counted(key: str, count: int, lang: str | None) -> str:
    """``1 error``, ``2 errors`` (``2 个错误``): the message ``key.one`` or ``key.many``."""
    return say(f"{key}.{'one' if count == 1 else 'many'}", lang, count=count)


def spoken(lang: str | None) -> str:
    """``lang`` when the catalogue speaks it, else English (``en``)."""
    return lang if lang in _SPOKEN else "en"


def join(items: Iterable[str], lang: str | None, last: Literal["and", "or"] | None = "and") -> str:
    """``A, B and C`` (``A、B、C`` in Chinese); ``A, B or C`` (``A、B或C``) with ``last="or"``.

    With ``last=None`` every separator is the comma: ``A, B, C`` (``A、B、C``).
    One item is returned as it is, none as the empty string.
    """
    names = list(items)
    if len(names) < 2:
        return "".join(names)
    comma = say("list.comma", lang)
    if last is None:
        return comma.join(names)
    return comma.join(names[:-1]) + say(f"list.{last}", lang) + names[-1]
