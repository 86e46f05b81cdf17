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
from playbook.i18n import Message

__all__ = ["convert", "describe"]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)
_NUMBER_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_MAX_LISTED = 8
_T = TypeVar("_T")


def describe(raw: object) -> Message:
    """How a literal reads in a message: ``the text 'abc'``, ``the number 5``, ``true``."""
    if isinstance(raw, bool):
        return Message("common.text", text="true" if raw else "false")
    if isinstance(raw, str):
        return Message("diag.literals.the_text", text=raw)
    if isinstance(raw, int):
        return Message("diag.literals.the_number", number=shown(raw))
    if isinstance(raw, float | Decimal):
        return Message("diag.literals.the_number", number=str(raw))
    if isinstance(raw, list | tuple):
        return Message("diag.literals.a_list")
    if isinstance(raw, dict):
        return Message("diag.literals.a_mapping")
    return Message("common.text", text=repr(raw))


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


def _mismatch(raw: object, what: str, loc: Loc, hint: Message | None = None) -> ConditionError:
    return problem(
        "PB403",
        Message("diag.literals.cannot_compared", what=what, describe=describe(raw)),
        loc,
        hint,
    )


def _bool_hint(raw: object) -> Message | None:
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return Message("diag.literals.write_without_quotes", word=raw.lower())
    return Message("diag.literals.compare_boolean")


def _number(raw: object, kind: str, what: str, loc: Loc) -> LiteralValue:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        hint = None
        if isinstance(raw, str) and _NUMBER_TEXT.fullmatch(raw.strip()):
            hint = Message("diag.literals.write_number_without_quotes", strip=raw.strip())
        raise _mismatch(raw, what, loc, hint)
    if isinstance(raw, float | Decimal) and not math.isfinite(raw):
        raise problem(
            "PB406",
            Message("diag.literals.not_number_field_can", raw=raw),
            loc,
            Message("diag.literals.write_finite_number"),
        )
    if abs(raw) >= 10**MAX_DIGITS:
        # Before float() (which overflows) and int() (str() of it fails past 4,300 digits).
        raise _too_large(raw, loc, Message("diag.literals.numbers_below", digits=MAX_DIGITS))
    if kind == "number":
        return _float(raw, loc)
    if kind == "decimal":
        return _decimal(Decimal(str(raw)) if isinstance(raw, float) else Decimal(raw), loc)
    if isinstance(raw, int) or raw == int(raw):
        return _integer(int(raw), what, loc)
    raise problem(
        "PB406",
        Message("diag.literals.holds_whole_numbers_not", what=what, raw=raw),
        loc,
        Message("diag.literals.compare_whole_number"),
    )


def _too_large(raw: int | float | Decimal, loc: Loc, hint: Message) -> ConditionError:
    text = shown(raw) if isinstance(raw, int) else str(raw)
    return problem("PB406", Message("diag.literals.outside_what_field_can", text=text), loc, hint)


def _float(raw: int | float | Decimal, loc: Loc) -> float:
    value = float(raw)
    if abs(value) >= float(10**MAX_DIGITS):  # rounding up to 1e30 would render as 31 digits
        raise _too_large(raw, loc, Message("diag.literals.numbers_below", digits=MAX_DIGITS))
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
        Message("diag.literals.holds_64_bit_integers", what=what, value=value),
        loc,
        Message("diag.literals.compare_whole_number_between"),
    )


def _text(raw: object, what: str, loc: Loc, kind: str) -> str:
    if isinstance(raw, str):
        return raw
    hint = (
        Message("diag.literals.quote", shown=shown(raw))
        if isinstance(raw, int | float | Decimal)
        else None
    )
    if kind == "date":
        hint = Message("diag.literals.write_date_as_quoted")
    elif kind == "datetime":
        hint = Message("diag.literals.write_time_as_quoted")
    raise _mismatch(raw, what, loc, hint)


def _date(text: str, loc: Loc) -> date:
    day = _iso(_DATE, date.fromisoformat, text)
    if day is not None:
        return _in_range(day, text, loc)
    raise problem(
        "PB406",
        Message("diag.literals.not_date", text=text),
        loc,
        Message("diag.literals.write_dates_as_yyyy"),
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
        Message("diag.literals.not_date_time", text=text),
        loc,
        Message("diag.literals.write_iso_8601_2026"),
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
        Message(
            "diag.literals.outside_years", text=text, year=FIRST_DATE.year, year2=LAST_DATE.year
        ),
        loc,
        Message(
            "diag.literals.write_date_between",
            isoformat=FIRST_DATE.isoformat(),
            isoformat2=LAST_DATE.isoformat(),
        ),
    )


def _choice(text: str, values: tuple[str, ...], what: str, loc: Loc) -> None:
    if text in values:
        return
    hint = did_you_mean(text, values)
    if hint is None:
        listed = ", ".join(values[:_MAX_LISTED]) + (", …" if len(values) > _MAX_LISTED else "")
        hint = (
            Message("diag.literals.values_are", listed=listed)
            if values
            else Message("diag.literals.field_declares_no_values")
        )
    raise problem("PB406", Message("diag.literals.not_value", text=text, what=what), loc, hint)
