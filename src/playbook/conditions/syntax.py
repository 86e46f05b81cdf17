"""The untyped syntax tree that both condition forms parse into, and problem reporting.

The string parser and the structured-form reader build these nodes, each with
the :class:`Loc` it came from; the type checker turns them into the IR. Keeping
one tree for both forms is what makes them mean exactly the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from playbook.diagnostics import did_you_mean
from playbook.errors import ConditionError
from playbook.i18n import Message

__all__ = [
    "ROOT",
    "Loc",
    "SAll",
    "SAny",
    "SBare",
    "SCompare",
    "SCond",
    "SConst",
    "SContains",
    "SField",
    "SHas",
    "SIn",
    "SLen",
    "SLit",
    "SNot",
    "SValue",
    "did_you_mean",
    "problem",
]

Subpath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a node came from: a subpath in the structured form, an offset in a string, or both."""

    subpath: Subpath = ()
    offset: int | None = None
    length: int | None = None

    def child(self, *parts: str | int) -> Loc:
        """The location of a part of this (structured) node."""
        return Loc(self.subpath + parts)

    def span(self, offset: int, length: int) -> Loc:
        """A location inside the condition string found at this location."""
        return replace(self, offset=offset, length=length)

    def details(self) -> dict[str, Any]:
        """The ``details`` a :class:`ConditionError` carries for this location."""
        found: dict[str, Any] = {}
        if self.subpath:
            found["subpath"] = self.subpath
        if self.offset is not None:
            found["offset"] = self.offset
            found["length"] = self.length or 0
        return found


ROOT = Loc()
"""The location of a whole condition."""


def problem(code: str, message: Message, loc: Loc, hint: Message | None = None) -> ConditionError:
    """The :class:`ConditionError` of one problem at ``loc``, for the caller to raise."""
    return ConditionError(message, hint=hint, code=code, details=loc.details())


# --- values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SField:
    """A field name as written."""

    name: str
    loc: Loc


@dataclass(frozen=True, slots=True)
class SLen:
    """``len(field)``."""

    field: SField
    loc: Loc


@dataclass(frozen=True, slots=True)
class SLit:
    """A literal as written: str, int, Decimal or float, bool, None (null), or a list of those."""

    value: object
    loc: Loc


SValue = SField | SLen | SLit


# --- conditions -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SConst:
    """``true`` / ``false`` used as a condition."""

    value: bool
    loc: Loc


@dataclass(frozen=True, slots=True)
class SAll:
    """``a and b`` / ``{all: [...]}``."""

    items: tuple[SCond, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class SAny:
    """``a or b`` / ``{any: [...]}``."""

    items: tuple[SCond, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class SNot:
    """``not a`` / ``{not: a}``."""

    item: SCond
    loc: Loc


@dataclass(frozen=True, slots=True)
class SCompare:
    """``left op right`` with one of ``== != < <= > >=``."""

    op: str
    left: SValue
    right: SValue
    loc: Loc
    op_loc: Loc


@dataclass(frozen=True, slots=True)
class SIn:
    """``operand in [...]`` or ``operand not in [...]``; ``items`` is a list literal."""

    operand: SValue
    items: SLit
    negated: bool
    loc: Loc
    op_loc: Loc


@dataclass(frozen=True, slots=True)
class SContains:
    """``operand contains item``."""

    operand: SValue
    item: SValue
    loc: Loc
    op_loc: Loc


@dataclass(frozen=True, slots=True)
class SHas:
    """``has(field)``."""

    field: SField
    loc: Loc


@dataclass(frozen=True, slots=True)
class SBare:
    """A value used as a whole condition: fine for a boolean field, an error otherwise."""

    value: SValue
    loc: Loc


SCond = SConst | SAll | SAny | SNot | SCompare | SIn | SContains | SHas | SBare
