"""The bounds of a condition: its nesting depth, and the numbers and dates both databases store.

Every recursive walk of a condition (parse, type check, render, ``to_python``,
``to_sql``, SQLAlchemy's own compiler, ``is_satisfiable``) recurses once per
nesting level, so bounding the depth where a condition is read keeps each of
them far from Python's stack limit. The number bounds are what SQLite and
PostgreSQL both store and compare exactly like Python does; they are checked
before any conversion that could fail on a huge value (``int()`` refuses over
4,300 digits, ``float()`` overflows).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from playbook.i18n import Message

__all__ = [
    "DECIMAL_DIGITS",
    "DECIMAL_LIMIT",
    "DECIMAL_PLACES",
    "FIRST_DATE",
    "INTEGER_LIMIT",
    "LAST_DATE",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "decimal_problem",
    "shown",
]

MAX_DEPTH = 64
"""Nesting levels of a condition (``not``, parentheses, ``all``/``any``/``not`` mappings).

The same number as the YAML loader's depth limit
(:data:`playbook.definition.yaml_compose.MAX_DEPTH`, which is defined from this one).
"""

MAX_DIGITS = 30
"""Digits of an integer written in a condition or a playbook, checked before ``int()``."""

INTEGER_LIMIT = 2**63
"""Integer values are 64-bit (BIGINT): ``-INTEGER_LIMIT < n < INTEGER_LIMIT``."""

DECIMAL_DIGITS = 15
"""Significant digits of a decimal literal: SQLite compares decimals as REAL, exact to 15 digits."""

DECIMAL_PLACES = 15
"""Digits after the point of a decimal literal."""

DECIMAL_LIMIT = Decimal(10) ** 15
"""Decimal literals are below this in magnitude (a NUMERIC(30, 15) holds every one).

Below 2**53, a whole decimal is an exact double, so SQLite (which compares a
decimal as REAL) agrees with Python when it meets an integer of the same value.
"""

FIRST_DATE = date(1900, 1, 1)
LAST_DATE = date(2999, 12, 31)
"""Date and datetime literals lie in these years: every time computed from them stays in range."""

# Integers longer than this many bits are shown by size: str() refuses past 4,300 digits.
_SHOWN_BITS = 256


def shown(value: object) -> str:
    """``repr(value)`` for a message, but a huge integer is described by its size, not printed."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _SHOWN_BITS:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    return repr(value)


def decimal_problem(value: Decimal) -> Message | None:
    """Why ``value`` (finite) is outside the decimals both databases compare exactly, or None."""
    if abs(value) >= DECIMAL_LIMIT:
        return Message("diag.limits.decimals_below", limit=DECIMAL_LIMIT)
    digits = value.normalize().as_tuple()
    if len(digits.digits) > DECIMAL_DIGITS:
        return Message("diag.limits.decimal_digits", digits=DECIMAL_DIGITS)
    if isinstance(digits.exponent, int) and -digits.exponent > DECIMAL_PLACES:
        return Message("diag.limits.decimal_places", places=DECIMAL_PLACES)
    return None
