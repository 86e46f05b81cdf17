"""A message that is not yet words: a catalogue key and the values for its placeholders.

Errors and diagnostics carry a :class:`Message` rather than a sentence so that
whoever shows them (the CLI, a report, an embedding server) picks the language:
``message.render("zh")``. ``str(message)`` is the English text. :class:`Items`
(a list ended with "and"/"or") and :class:`Translated` (a text already written
in each language, such as an engine reason) are values a message may hold.

All three are immutable, comparable, hashable and picklable. A leaf like the
rest of :mod:`playbook.i18n`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, NoReturn

from playbook.i18n.texts import join, say, spoken

__all__ = ["Items", "Message", "Translated", "as_message"]

_Last = Literal["and", "or", "clause"] | None


class _Value:
    """What the three values share: immutability, equality by state, English ``str()``."""

    __slots__ = ()

    def _state(self) -> tuple[Any, ...]:
        """The arguments that rebuild the value (pickling) and define its equality."""
        raise NotImplementedError

    def render(self, lang: str | None) -> str:
        """The value in ``lang`` (English for None or a language the catalogue lacks)."""
        raise NotImplementedError

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self).__name__, self._state()))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._state() == other._state()

    def __hash__(self) -> int:
        return hash(self._state())

    def __str__(self) -> str:
        return self.render("en")


class Items(_Value):
    """A list to show as ``A, B and C`` (or ``A, B or C``) in the reader's language.

    A plain list or tuple value of a :class:`Message` is joined with commas
    only (``A, B, C``); wrap it in ``Items`` to end it with "and" or "or", or
    to separate clauses (``A; B``, ``A，B`` in Chinese) with ``last="clause"``.
    """

    __slots__ = ("last", "values")

    values: tuple[object, ...]
    last: _Last

    def __init__(self, values: Iterable[object], last: _Last = "and") -> None:
        object.__setattr__(self, "values", tuple(values))
        object.__setattr__(self, "last", last)

    def _state(self) -> tuple[Any, ...]:
        return (self.values, self.last)

    def render(self, lang: str | None) -> str:
        """The items joined in ``lang``; items that are messages rendered in it too."""
        shown = [str(_shown(item, lang)) for item in self.values]
        if self.last == "clause":
            return say("list.clause", lang).join(shown)
        return join(shown, lang, self.last)

    def __repr__(self) -> str:
        return f"Items({self.values!r}, last={self.last!r})"


class Message(_Value):
    """The catalogue message ``key`` with its placeholder ``values``; immutable and picklable.

    Values that are messages (or :class:`Items`, :class:`Translated`) are
    rendered in the same language; a list or tuple is joined with the
    language's comma; any other value is formatted as it is (so ``{name!r}``
    and ``{amount:,}`` work in the templates). Rendering raises
    :class:`KeyError` for a key the catalogue does not have or a placeholder
    without a value: a bug in our code.
    """

    __slots__ = ("key", "values")

    key: str
    values: tuple[tuple[str, object], ...]

    def __init__(self, key: str, /, **values: object) -> None:
        frozen = tuple((name, _frozen(value)) for name, value in values.items())
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "values", frozen)

    def _state(self) -> tuple[Any, ...]:
        return (self.key, self.values)

    def render(self, lang: str | None) -> str:
        """The message in ``lang`` (English for None or a language the catalogue lacks)."""
        return say(self.key, lang, **{name: _shown(v, lang) for name, v in self.values})

    @property
    def arguments(self) -> Mapping[str, object]:
        """The placeholder values, by name."""
        return dict(self.values)

    def __repr__(self) -> str:
        args = "".join(f", {name}={value!r}" for name, value in self.values)
        return f"Message({self.key!r}{args})"


class Translated(_Value):
    """A text already written in each language (an engine reason, a playbook label).

    Rendered in the reader's language, else English, else any it has.
    """

    __slots__ = ("texts",)

    texts: tuple[tuple[str, str], ...]

    def __init__(self, texts: Mapping[str, str]) -> None:
        object.__setattr__(self, "texts", tuple(sorted(texts.items())))

    def _state(self) -> tuple[Any, ...]:
        return (self.texts,)

    def render(self, lang: str | None) -> str:
        """The text in ``lang``, else in English, else the first there is."""
        found = dict(self.texts)
        return found.get(spoken(lang)) or found.get("en") or next(iter(found.values()), "")

    def __repr__(self) -> str:
        return f"Translated({dict(self.texts)!r})"


def as_message(text: Message | str) -> Message:
    """``text`` as a message: a plain string (an embedder's own words) is shown as it is."""
    return text if isinstance(text, Message) else Message("common.text", text=text)


def _rebuild(kind: str, state: tuple[Any, ...]) -> _Value:
    if kind == "Message":
        key, values = state
        return Message(key, **dict(values))
    if kind == "Items":
        return Items(*state)
    return Translated(dict(*state))


def _frozen(value: object) -> object:
    """Lists become tuples, so that a message never changes after it is made."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


def _shown(value: object, lang: str | None) -> object:
    if isinstance(value, _Value):
        return value.render(lang)
    if isinstance(value, tuple):
        return join([str(_shown(item, lang)) for item in value], lang, None)
    return value
