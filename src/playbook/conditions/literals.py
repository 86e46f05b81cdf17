"""Convert a literal as written to the Python type of the field it is compared with.

Conversion happens once, when a condition is compiled: ``'2026-12-31'`` against
a date field becomes a ``date``, ``50000.5`` against a decimal field becomes
``Decimal('50000.5')`` (floats from YAML go through ``str`` so that ``0.1``
stays ``0.1``), naive datetimes are read in the playbook's timezone and
normalised to UTC.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import TypeVar

from playbook.conditions.fieldtypes import NUMERIC_KINDS, FieldType
from playbook.conditions.ir import LiteralValue
from playbook.conditions.limits import (
    FIRST_DATE,
    INTEGER_LIMIT,
    LAST_DATE,
    MAX_DIGITS,
    decimal_problem,
    shown,
)
from playbook.conditions.syntax import Loc, did_you_mean, problem
from playbook.errors import ConditionError

__all__ = ["convert", "describe"]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_NUMBER_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_MAX_LISTED = 8
_T = TypeVar("_T")


def describe(raw: object) -> str:
    """How a literal reads in a message: ``the text 'abc'``, ``the number 5``, ``true``."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        return f"the text {raw!r}"
    if isinstance(raw, int):
        return f"the number {shown(raw)}"
    if isinstance(raw, float | Decimal):
        return f"the number {raw}"
    if isinstance(raw, list | tuple):
        return "a list"
    if isinstance(raw, dict):
        return "a mapping"
    return repr(raw)


def convert(raw: object, target: FieldType, what: str, loc: Loc, tz: tzinfo) -> LiteralValue:
    """``raw`` as a value of ``target``'s kind; PB403 for the wrong type, PB406 for a bad value.

    ``what`` names the operand in messages (``'amount' (decimal)``). ``raw`` is never None:
    the type checker refuses null before it gets here.
    """
    kind = target.kind
    if kind in NUMERIC_KINDS:
        return _number(raw, kind, what, loc)
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise _mismatch(raw, what, loc, _bool_hint(raw))
        return raw
    text = _text(raw, what, loc, kind)
    if kind == "date":
        return _date(text, loc)
    if kind == "datetime":
        return _datetime(text, loc, tz)
    if target.values is not None and kind in ("enum", "list"):
        _choice(text, target.values, what, loc)
    return text


def _mismatch(raw: object, what: str, loc: Loc, hint: str | None = None) -> ConditionError:
    return problem("PB403", f"{what} cannot be compared with {describe(raw)}", loc, hint)


def _bool_hint(raw: object) -> str | None:
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return f"write {raw.lower()} without quotes"
    return "compare a boolean field with true or false"


def _number(raw: object, kind: str, what: str, loc: Loc) -> LiteralValue:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        hint = None
        if isinstance(raw, str) and _NUMBER_TEXT.fullmatch(raw.strip()):
            hint = f"write the number without quotes: {raw.strip()}"
        raise _mismatch(raw, what, loc, hint)
    if isinstance(raw, float | Decimal) and not math.isfinite(raw):
        raise problem(
            "PB406", f"{raw} is not a number a field can hold", loc, "write a finite number"
        )
    if abs(raw) >= 10**MAX_DIGITS:
        # Before float() (which overflows) and int() (str() of it fails past 4,300 digits).
        raise _too_large(raw, loc, f"numbers are below 1e{MAX_DIGITS} in magnitude")
    if kind == "number":
        return _float(raw, loc)
    if kind == "decimal":
        return _decimal(Decimal(str(raw)) if isinstance(raw, float) else Decimal(raw), loc)
    if isinstance(raw, int) or raw == int(raw):
        return _integer(int(raw), what, loc)
    raise problem(
        "PB406", f"{what} holds whole numbers, not {raw}", loc, "compare with a whole number"
    )


def _too_large(raw: int | float | Decimal, loc: Loc, hint: str) -> ConditionError:
    text = shown(raw) if isinstance(raw, int) else str(raw)
    return problem("PB406", f"{text} is outside what a field can hold", loc, hint)


def _float(raw: int | float | Decimal, loc: Loc) -> float:
    value = float(raw)
    if abs(value) >= float(10**MAX_DIGITS):  # rounding up to 1e30 would render as 31 digits
        raise _too_large(raw, loc, f"numbers are below 1e{MAX_DIGITS} in magnitude")
    return value


def _decimal(value: Decimal, loc: Loc) -> Decimal:
    # SQLite compares decimals as REAL: past these bounds it would disagree with Python.
    why = decimal_problem(value)
    if why is not None:
        raise _too_large(value, loc, why)
    return value


def _integer(value: int, what: str, loc: Loc) -> int:
    if -INTEGER_LIMIT < value < INTEGER_LIMIT:
        return value
    raise problem(
        "PB406",
        f"{what} holds 64-bit integers, not {value}",
        loc,
        "compare with a whole number between -9223372036854775807 and 9223372036854775807",
    )


def _text(raw: object, what: str, loc: Loc, kind: str) -> str:
    if isinstance(raw, str):
        return raw
    hint = f"quote it: '{shown(raw)}'" if isinstance(raw, int | float | Decimal) else None
    if kind == "date":
        hint = "write the date as quoted text: '2026-12-31'"
    elif kind == "datetime":
        hint = "write the time as quoted text: '2026-12-31T18:00:00+08:00'"
    raise _mismatch(raw, what, loc, hint)


def _date(text: str, loc: Loc) -> date:
    day = _iso(_DATE, date.fromisoformat, text)
    if day is not None:
        return _in_range(day, text, loc)
    raise problem(
        "PB406", f"{text!r} is not a date", loc, "write dates as 'YYYY-MM-DD', e.g. '2026-12-31'"
    )


def _datetime(text: str, loc: Loc, tz: tzinfo) -> datetime:
    moment = _iso(_DATETIME, datetime.fromisoformat, text)
    if moment is not None:
        # Checked before astimezone(), which overflows for year 1 east of UTC.
        _in_range(moment.date(), text, loc)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment.astimezone(UTC)
    raise problem(
        "PB406",
        f"{text!r} is not a date and time",
        loc,
        "write ISO 8601: '2026-12-31T18:00:00+08:00' (without an offset, the playbook's timezone)",
    )


def _iso(pattern: re.Pattern[str], parse: Callable[[str], _T], text: str) -> _T | None:
    """``parse(text)`` when ``text`` has the ISO shape ``pattern`` and is a real date."""
    if not pattern.fullmatch(text):
        return None
    try:
        return parse(text)
    except ValueError:
        return None


def _in_range(day: date, text: str, loc: Loc) -> date:
    if FIRST_DATE <= day <= LAST_DATE:
        return day
    raise problem(
        "PB406",
        f"{text!r} is outside the years {FIRST_DATE.year} to {LAST_DATE.year}",
        loc,
        f"write a date between {FIRST_DATE.isoformat()} and {LAST_DATE.isoformat()}",
    )


def _choice(text: str, values: tuple[str, ...], what: str, loc: Loc) -> None:
    if text in values:
        return
    hint = did_you_mean(text, values)
    if hint is None:
        listed = ", ".join(values[:_MAX_LISTED]) + (", …" if len(values) > _MAX_LISTED else "")
        hint = f"the values are: {listed}" if values else "this field declares no values"
    raise problem("PB406", f"{text!r} is not a value of {what}", loc, hint)
