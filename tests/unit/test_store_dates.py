"""Dates of import files read with a mapping's ``date_formats`` (playbook.store.dates)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from playbook.store.dates import DateReader, check_date_format

SHANGHAI = ZoneInfo("Asia/Shanghai")
ALL = ["iso", "%Y/%m/%d", "%Y年%m月%d日", "excel"]


def _midnight(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-09-15", _midnight(2026, 9, 15)),
        ("2026/9/15", _midnight(2026, 9, 15)),
        ("2026/09/05", _midnight(2026, 9, 5)),
        ("2026年9月15日", _midnight(2026, 9, 15)),
        ("46280", _midnight(2026, 9, 15)),  # Excel: days since 1899-12-30
        ("46280.5", datetime(2026, 9, 15, 12, tzinfo=SHANGHAI).astimezone(UTC)),
        ("2026-09-15T09:30:00+00:00", datetime(2026, 9, 15, 9, 30, tzinfo=UTC)),
        ("2026-09-15T09:30:00", datetime(2026, 9, 15, 1, 30, tzinfo=UTC)),
    ],
)
def test_declared_formats_read_dates_on_the_playbook_clock(text: str, expected: datetime) -> None:
    """Each declared format reads its spelling; a time without an offset is on the clock."""
    assert DateReader(ALL, SHANGHAI).read(text) == expected


@pytest.mark.parametrize(
    ("formats", "text"),
    [
        (["iso"], "2026/9/15"),
        (["iso"], "46280"),
        (["%Y/%m/%d"], "2026-09-15"),
        (ALL, "15.09.2026"),
        (ALL, "2026/13/01"),
        (ALL, "0"),  # before Excel's first day
        (ALL, "nan"),
        (ALL, "inf"),
    ],
)
def test_a_date_in_another_format_is_refused(formats: list[str], text: str) -> None:
    """Only the declared formats are tried: anything else is a ValueError (a row error)."""
    with pytest.raises(ValueError, match=re.escape(text)):
        DateReader(formats, SHANGHAI).read(text)


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [("iso", None), ("excel", None), ("%Y/%m/%d", None), ("YYYY/MM/DD", "strptime pattern")],
)
def test_date_formats_in_a_mapping_are_checked(fmt: str, problem: str | None) -> None:
    """iso, excel and strptime patterns are formats; anything else says what is expected."""
    found = check_date_format(fmt)
    assert (found is None) if problem is None else (problem in str(found))
