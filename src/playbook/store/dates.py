"""Dates in import files: ISO by default, or the formats a mapping declares.

A mapping's ``date_formats`` lists, in order, the formats its date columns may
use: ``iso`` (``2026-09-15``, ``2026-09-15T09:30:00+08:00``), ``excel`` (a
serial day number as Excel stores it, ``46280`` or ``46280.5``), or a
``strptime`` pattern (``%Y/%m/%d`` reads ``2026/9/15``, ``%Y年%m月%d日`` reads
``2026年9月15日``). A date without an offset is on the playbook's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo

from playbook.i18n import Message

__all__ = ["DEFAULT_DATE_FORMATS", "DateReader", "check_date_format"]

DEFAULT_DATE_FORMATS: tuple[str, ...] = ("iso",)
"""What a mapping without ``date_formats`` reads."""

_EXCEL_EPOCH = datetime(1899, 12, 30)
"""Day 0 of Excel's serial numbers (it counts 1900 as a leap year, so day 60 is that epoch's)."""
_EXCEL_LAST = 2_958_465
"""9999-12-31, the largest serial Excel shows as a date."""
_KEYWORDS = ("iso", "excel")


def check_date_format(text: str) -> Message | None:
    """Why ``text`` is not a usable date format, or None when it is."""
    if text in _KEYWORDS:
        return None
    if "%" not in text:
        return Message("error.dates.not_a_format")
    try:
        datetime(2026, 9, 15, 9, 30).strftime(text)
    except ValueError as error:
        return Message("error.dates.not_strptime", error=str(error))
    return None


class DateReader:
    """Reads a cell's text as a UTC instant with the first format that fits."""

    def __init__(self, formats: Sequence[str], tz: tzinfo) -> None:
        self.formats = tuple(formats) or DEFAULT_DATE_FORMATS
        self.tz = tz

    def read(self, text: str) -> datetime:
        """``text`` as an aware UTC datetime; ValueError when no declared format reads it."""
        for fmt in self.formats:
            moment = self._one(fmt, text)
            if moment is not None:
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=self.tz)
                return moment.astimezone(UTC)
        raise ValueError(text)

    def describe(self) -> str:
        """The declared formats, for a message: ``iso, %Y/%m/%d``."""
        return ", ".join(self.formats)

    @staticmethod
    def _one(fmt: str, text: str) -> datetime | None:
        try:
            if fmt == "iso":
                return _iso(text)
            if fmt == "excel":
                return _excel(text)
            return datetime.strptime(text, fmt)
        except (ValueError, OverflowError):
            return None


def _iso(text: str) -> datetime:
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day)
    return datetime.fromisoformat(text)


def _excel(text: str) -> datetime:
    serial = float(text)
    if not 1 <= serial <= _EXCEL_LAST:
        raise ValueError(text)
    # Whole seconds: a serial's fraction of a day carries float noise below that.
    return _EXCEL_EPOCH + timedelta(seconds=round(serial * 86_400))
