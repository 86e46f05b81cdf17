"""The declared type of a deal field, as the condition language sees it.

The model builds one :class:`FieldType` per declared field; conditions are
type-checked against a mapping from field id to :class:`FieldType`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["NUMERIC_KINDS", "FieldKind", "FieldType", "family"]

FieldKind = Literal[
    "string", "number", "integer", "decimal", "boolean", "date", "datetime", "enum", "list"
]

NUMERIC_KINDS: frozenset[str] = frozenset({"number", "integer", "decimal"})
"""Kinds whose values compare with each other and with numeric literals."""

_FAMILIES: dict[str, str] = {
    "number": "number",
    "integer": "number",
    "decimal": "number",
    "string": "text",
    "enum": "text",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "list": "list",
}


@dataclass(frozen=True, slots=True)
class FieldType:
    """A field's kind, and for ``enum`` its values (for ``list`` the allowed items, if any)."""

    kind: FieldKind
    values: tuple[str, ...] | None = None


def family(kind: str) -> str:
    """The comparison family of a kind: two operands compare only within one family."""
    return _FAMILIES[kind]
