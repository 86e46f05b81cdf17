"""Every user-visible sentence, label and list separator, in English and Chinese.

One catalogue, read through :func:`say`: keys are dotted by area
(``reason.PB541``, ``cli.blocked``, ``report.funnel``, ``handbook.goal``,
``list.or``, ``unit.days``), each with one text per language of
:data:`LANGUAGES`; ``{name}`` placeholders are filled with
:meth:`str.format_map`. The texts live in one module per area
(:mod:`playbook.i18n.engine`, :mod:`~playbook.i18n.cli`,
:mod:`~playbook.i18n.report`, :mod:`~playbook.i18n.handbook`,
:mod:`~playbook.i18n.common`); this module only merges and reads them.

A language this package does not speak (or None) reads English. A key that is
not in the catalogue, or a placeholder left without a value, raises
:class:`KeyError`: keys are constants of our own code, so either is a bug that
the tests in ``tests/unit/test_i18n.py`` catch, never a user's mistake.

A leaf: imports nothing from the project.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal

from playbook.i18n import cli, common, engine, handbook, report

__all__ = ["CATALOGUE", "LANGUAGES", "join", "say", "spoken"]

LANGUAGES: tuple[str, ...] = ("en", "zh")
"""The languages every message is written in; English first, the fallback."""

_SPOKEN = frozenset(LANGUAGES)

CATALOGUE: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        **common.MESSAGES,
        **engine.MESSAGES,
        **cli.MESSAGES,
        **report.MESSAGES,
        **handbook.MESSAGES,
    }
)
"""Every message: its dotted key, then its text per language."""


def say(key: str, lang: str | None, **values: object) -> str:
    """The message ``key`` in ``lang`` (English for None or an unknown language).

    ``{name}`` placeholders are filled from ``values``. Raises :class:`KeyError`
    for a key the catalogue does not have or a placeholder without a value.
    """
    try:
        texts = CATALOGUE[key]
    except KeyError:
        raise KeyError(f"no message {key!r} in playbook.i18n") from None
    return texts[spoken(lang)].format_map(values)


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
